"""`reasonact bench`: core timings and two end-to-end measurements between processes.

Core timings call each core's ``benchmark`` module; a core that is missing or
fails gives ``null`` and its reason in ``reasons`` instead of ending the bench.

End to end, the perception, reasoning, planner and safety nodes run as separate
processes (wall clock, no sim time) on a private ROS domain, and this process
plays the robot: it publishes ``odom`` (integrating the ``cmd_vel`` it receives)
and 360-beam ``scan`` messages at 10 Hz, like a lidar.

- reaction latency: with the robot cruising steadily down a clear 6 m corridor
  (walls, so that the scan is valid) under its clear-way decision, a person-sized
  cluster (radius 0.25 m) appears 4 m ahead; the latency is the wall time from
  publishing that first scan to the first of three consecutive ``cmd_vel``
  commands slower than 80 % of the cruise speed (median of the second before).
  The same on ``cmd_vel_nav`` gives the planner's share (the safety node can also
  react on its own to the raw scan); the arrival of the first ``scene`` showing the
  person and of the first slower ``decision`` split the time by stage. Between
  trials the person goes, the robot is put back on the centre line and the trial
  waits for the clear-way decision.
- LLM stall: the reasoning node uses backend ``llm`` against a local HTTP server
  that answers every request after 5 s; while the first request hangs, the
  planner's ``cmd_vel_nav`` messages are timed. A cycle is on time when it follows
  the previous one within 1.5 control periods.
- composed reaction latency: the same trials against ``reasonact launch stack``, the
  four nodes in one process (how a robot runs the stack without ``ros2 launch``).

Not a test: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reasonact_ros.process_lifetime import tied_to_this_process

PERSON_RADIUS_M = 0.25
PERSON_AHEAD_M = 4.0
WALLS_Y = (-3.0, 3.0)  # [m] in odom: a 6 m wide corridor along the robot's way
REDUCED_FRACTION = 0.8  # a command below this fraction of the cruise speed is a reaction
PERSON_MATCH_M = 0.75  # a scene object this close to the injected person is the person
MIN_CRUISE_MPS = 0.3
LLM_STALL_S = 5.0
ON_TIME_FACTOR = 1.5
NODES = ("perception_node", "reasoning_node", "planner_node", "safety_node")

BENCH_KEYS = ("mppi_cycle_ms_p50", "mppi_cycle_ms_p95", "mppi_samples", "mppi_steps",
              "safety_scan_ms_p50", "lidar_perception_ms_p50", "camera_detector_fps",
              "sim_rtf_no_camera", "sim_rtf_camera", "reaction_latency_ms_p50",
              "reaction_latency_ms_p95", "planner_on_time_fraction_during_llm_stall",
              "composed_reaction_latency_ms_p50", "composed_reaction_latency_ms_p95")


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]


def _planner_params() -> dict:
    import yaml

    from reasonact_ros.share import share_path

    data = yaml.safe_load(share_path("config", "reasonact.yaml").read_text(encoding="utf-8"))
    return data["planner_node"]["ros__parameters"]


# ---------------------------------------------------------------------------------------------
# Core timings
# ---------------------------------------------------------------------------------------------

def core_timings(quick: bool, results: dict, reasons: dict, log: Callable[[str], None]) -> None:
    params = _planner_params()
    samples, steps = int(params.get("mppi_samples", 2000)), int(params.get("mppi_steps", 56))
    results["mppi_samples"], results["mppi_steps"] = samples, steps

    def measure(keys: tuple[str, ...], what: str, fn) -> None:
        log(f"bench: {what} ...")
        try:
            values = fn()
        except Exception as error:  # a core in progress or missing: report, carry on
            for key in keys:
                results[key] = None
                reasons[key] = _reason(error)
            return
        for key, value in zip(keys, values, strict=True):
            results[key] = None if value is None else round(float(value), 3)

    def mppi():
        from reasonact_ros.planning.benchmark import mppi_cycle_times

        times = mppi_cycle_times(samples=samples, steps=steps, cycles=10 if quick else 40)
        # CPU time per cycle (where the core reports it) separates cost from waiting.
        return times["p50"], times["p95"], times.get("cpu_p50"), times.get("cpu_p95")

    def safety():
        from reasonact_ros.safety.benchmark import safety_scan_time_ms

        return (safety_scan_time_ms(repeats=100 if quick else 500),)

    def lidar():
        from reasonact_ros.perception.benchmark import lidar_perception_ms_p50

        return (lidar_perception_ms_p50(scans=50 if quick else 200),)

    def camera():
        from reasonact_ros.perception.benchmark import camera_detector_fps

        return (camera_detector_fps("trained", frames=10 if quick else 50),)

    def sim():
        from reasonact_ros.sim.benchmark import measure_real_time_factor

        seconds = 5.0 if quick else 30.0
        return (measure_real_time_factor("crowd", seconds, camera=False),
                measure_real_time_factor("crowd", seconds, camera=True))

    measure(("mppi_cycle_ms_p50", "mppi_cycle_ms_p95", "mppi_cycle_cpu_ms_p50",
             "mppi_cycle_cpu_ms_p95"), f"MPPI cycle ({samples} samples)", mppi)
    measure(("safety_scan_ms_p50",), "safety filter", safety)
    measure(("lidar_perception_ms_p50",), "lidar perception", lidar)
    measure(("camera_detector_fps",), "camera detector (trained, the default)", camera)
    measure(("sim_rtf_no_camera", "sim_rtf_camera"), "simulator real-time factor", sim)
    results["load_average_1min"] = round(os.getloadavg()[0], 2)
    results["camera_detector"] = "trained"
    results["sim_rtf_scenario"] = "crowd"


# ---------------------------------------------------------------------------------------------
# The node graph as processes
# ---------------------------------------------------------------------------------------------

def scan_ranges(robot: tuple[float, float, float], people: list[tuple[float, float, float]],
                beams: int = 360, range_max: float = 12.0,
                walls_y: tuple[float, ...] = WALLS_Y) -> np.ndarray:
    """A full-circle scan from ``robot`` (x, y, yaw) of circular ``people`` (x, y, r)
    between endless walls along x at ``walls_y``; inf where a beam hits nothing (REP-117).
    The walls make a "clear" scan a valid one: perception and safety both refuse a scan
    with no return at all."""
    angles = -math.pi + 2.0 * math.pi * np.arange(beams) / beams + robot[2]
    direction = np.column_stack([np.cos(angles), np.sin(angles)])
    ranges = np.full(beams, np.inf)
    for wall in walls_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = (wall - robot[1]) / direction[:, 1]
        hit = np.isfinite(distance) & (distance > 0.0) & (distance <= range_max)
        ranges = np.where(hit & (distance < ranges), distance, ranges)
    for px, py, radius in people:
        offset = np.array([px - robot[0], py - robot[1]])
        along = direction @ offset
        miss = float(offset @ offset) - along ** 2
        hit = (along > 0.0) & (miss <= radius ** 2)
        distance = along - np.sqrt(np.maximum(radius ** 2 - miss, 0.0))
        ranges = np.where(hit & (distance < ranges) & (distance <= range_max), distance, ranges)
    return ranges


def node_environment(domain_id: int) -> dict:
    env = dict(os.environ)
    # The ROS wheels' bootstrapper marks a process as set up; a child sets itself up again.
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


class NodeProcesses:
    """The stack's nodes, one process each, or with ``composed`` all four in one
    (``reasonact launch stack``); stopped with INT, then TERM, then KILL."""

    def __init__(self, domain_id: int, overrides: dict[str, list[str]], log_dir: Path,
                 composed: bool = False):
        from reasonact_ros.share import share_path

        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        params = str(share_path("config", "reasonact.yaml"))
        env = node_environment(domain_id)
        log_dir.mkdir(parents=True, exist_ok=True)
        commands = {}
        if composed:
            args = [sys.executable, "-m", "reasonact_ros.cli", "launch", "stack",
                    "--params-file", params]
            for name in NODES:
                for override in overrides.get(name, []):
                    args += ["-p", f"{name}.{override}"]
            commands["stack"] = args
        else:
            for name in NODES:
                args = [sys.executable, "-m", f"reasonact_ros.nodes.{name}", "--ros-args",
                        "--params-file", params]
                for override in overrides.get(name, []):
                    args += ["-p", override]
                commands[name] = args
        for name, args in commands.items():
            log = log_dir / f"{name}.log"
            self.logs[name] = log
            with log.open("w") as handle:
                self.processes[name] = subprocess.Popen(
                    args, env=env, stdout=handle, stderr=subprocess.STDOUT,
                    preexec_fn=tied_to_this_process())

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def tail(self, name: str, lines: int = 3) -> str:
        """The last lines of a node's log (the composed stack's, when composed)."""
        log = self.logs.get(name, self.logs.get("stack"))
        try:
            text = log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in self.processes.values() if p.poll() is None]
            if not alive:
                break
            for process in alive:
                process.send_signal(sig)
            deadline = time.monotonic() + 5.0
            for process in alive:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    continue

    def __enter__(self) -> NodeProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class RobotStandIn:
    """This process's part: odom from integrated cmd_vel, scans with optional people,
    and the arrival times of cmd_vel and cmd_vel_nav."""

    def __init__(self, domain_id: int):
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import LaserScan

        from reasonact_ros.msg import BehaviorDecision, SceneObservation
        from reasonact_ros.nodes import qos

        self._rclpy = rclpy
        self._Odometry, self._LaserScan = Odometry, LaserScan
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("bench_robot", context=self.context)
        self.lock = threading.Lock()
        self.pose = [0.0, 0.0, 0.0]
        self.cmd = (0.0, 0.0)
        self.people: list[tuple[float, float, float]] = []
        self.inject_pending = False
        self.injected_at: float | None = None
        self.cmd_log: list[tuple[float, float]] = []  # (monotonic s, linear m/s)
        self.nav_log: list[tuple[float, float]] = []
        # Where the time goes, stage by stage: (monotonic s, the person seen?, confirmed?)
        # per scene, and (monotonic s, behaviour, max speed) per decision.
        self.scene_log: list[tuple[float, bool, bool]] = []
        self.decision_log: list[tuple[float, str, float]] = []
        self._last_step = time.monotonic()
        self._scan_pub = self.node.create_publisher(LaserScan, "scan", qos.SENSOR)
        self._odom_pub = self.node.create_publisher(Odometry, "odom", qos.SENSOR)
        self.node.create_subscription(Twist, "cmd_vel", self._on_cmd, qos.COMMAND)
        self.node.create_subscription(Twist, "cmd_vel_nav", self._on_nav, qos.COMMAND)
        self.node.create_subscription(BehaviorDecision, "decision", self._on_decision,
                                      qos.COMMAND)
        self.node.create_subscription(SceneObservation, "scene", self._on_scene, qos.COMMAND)
        self.last_decision = self.last_behavior = "none"
        self.behavior_since = time.monotonic()
        self.node.create_timer(0.05, self._publish_odom)
        self.node.create_timer(0.1, self._publish_scan)
        # Short callbacks only; one thread spares the nodes under test the GIL hand-offs
        # of a thread pool on the same two cores.
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()

    def _on_cmd(self, msg) -> None:
        now = time.monotonic()
        with self.lock:
            if math.isfinite(msg.linear.x) and math.isfinite(msg.angular.z):
                self.cmd = (msg.linear.x, msg.angular.z)
            self.cmd_log.append((now, msg.linear.x))

    def _on_decision(self, msg) -> None:
        from reasonact_ros.scene import Behavior

        try:
            name = Behavior(msg.behavior).name
        except ValueError:
            name = str(msg.behavior)
        now = time.monotonic()
        if name != self.last_behavior:
            self.behavior_since = now
        self.last_behavior = name
        self.last_decision = f"{name} {msg.max_speed:.2f} m/s"
        with self.lock:
            self.decision_log.append((now, name, msg.max_speed))

    def _on_scene(self, msg) -> None:
        now = time.monotonic()
        with self.lock:
            people = list(self.people)
        near = [o for o in msg.objects if any(
            math.hypot(o.position.x - px, o.position.y - py) <= PERSON_MATCH_M
            for px, py, _ in people)]
        with self.lock:
            self.scene_log.append((now, bool(near), any(o.confirmed for o in near)))

    def _on_nav(self, msg) -> None:
        with self.lock:
            self.nav_log.append((time.monotonic(), msg.linear.x))

    def _publish_odom(self) -> None:
        now = time.monotonic()
        with self.lock:
            dt = min(0.2, now - self._last_step)
            self._last_step = now
            v, w = self.cmd
            x, y, yaw = self.pose
            self.pose = [x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt, yaw + w * dt]
            x, y, yaw = self.pose
        msg = self._Odometry()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id, msg.child_frame_id = "odom", "base_link"
        msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
        msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = (math.sin(yaw / 2),
                                                                    math.cos(yaw / 2))
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, w
        self._odom_pub.publish(msg)

    def _publish_scan(self) -> None:
        with self.lock:
            if self.inject_pending:
                x, y, yaw = self.pose
                self.people = [(x + PERSON_AHEAD_M * math.cos(yaw),
                                y + PERSON_AHEAD_M * math.sin(yaw), PERSON_RADIUS_M)]
            pose, people = tuple(self.pose), list(self.people)
            injecting = self.inject_pending
        msg = self._LaserScan()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = "base_scan"
        msg.angle_min, msg.angle_increment = -math.pi, 2.0 * math.pi / 360
        msg.angle_max = msg.angle_min + msg.angle_increment * 359
        msg.range_min, msg.range_max = 0.05, 12.0
        msg.scan_time, msg.time_increment = 0.1, 0.0
        msg.ranges = scan_ranges(pose, people).astype(float).tolist()
        self._scan_pub.publish(msg)
        if injecting:
            with self.lock:
                self.injected_at = time.monotonic()
                self.inject_pending = False

    # --- used by the measurements -------------------------------------------------------
    def cruise_speed(self, window_s: float = 1.0) -> float | None:
        """Median cmd_vel speed over the last ``window_s`` if the robot moves at a steady
        speed (within 10 % of the median), else None."""
        now = time.monotonic()
        with self.lock:
            recent = [v for t, v in self.cmd_log if t >= now - window_s]
        if len(recent) < 5 or min(recent) < MIN_CRUISE_MPS:
            return None
        median = float(np.median(recent))
        if max(recent) - min(recent) > 0.1 * median:
            return None
        return median

    def wait_cruising(self, timeout_s: float, behavior: str | None = None,
                      settle_s: float = 1.5) -> float | None:
        """Wait for a steady cruise (under ``behavior`` for at least ``settle_s``, so the
        speed has followed the decision, if given); its speed or None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            speed = self.cruise_speed()
            settled = behavior is None or (
                self.last_behavior == behavior
                and time.monotonic() - self.behavior_since >= settle_s)
            if speed is not None and settled:
                return speed
            time.sleep(0.1)
        return None

    def inject_person(self) -> None:
        with self.lock:
            self.injected_at = None
            self.inject_pending = True

    def clear(self, recentre: bool = True) -> None:
        """Remove the person; with ``recentre`` also put the robot back on the corridor's
        centre line facing along it (a passing manoeuvre may have turned it towards a
        wall), so that every trial starts from the same situation."""
        with self.lock:
            self.people = []
            if recentre:
                self.pose = [self.pose[0], 0.0, 0.0]

    def first_reduced(self, log: list, since: float, below: float, timeout_s: float,
                      persist: int = 3) -> float | None:
        """Arrival time of the first of ``persist`` consecutive commands after ``since``
        that are all slower than ``below``: a single dip of the planner is not a reaction."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                after = [(t, v) for t, v in log if t >= since]
            for k in range(len(after) - persist + 1):
                if all(v < below for _, v in after[k:k + persist]):
                    return after[k][0]
            time.sleep(0.01)
        return None

    def stages(self, since: float, below: float) -> dict:
        """Arrival [monotonic s] of the first scene after ``since`` that shows the person
        (and whether it was already a confirmed track) and of the first decision slower
        than ``below``; None where there was none."""
        with self.lock:
            scene = next(((t, confirmed) for t, seen, confirmed in self.scene_log
                          if t >= since and seen), (None, None))
            decision = next(((t, name) for t, name, speed in self.decision_log
                             if t >= since and speed < below), (None, None))
        return {"scene": scene[0], "scene_confirmed": scene[1],
                "decision": decision[0], "decision_behavior": decision[1]}

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._spinner.join(timeout=2.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def _route_override() -> str:
    return "route:=[1000.0, 0.0]"  # a goal far ahead: the robot cruises the whole time


def measure_reaction_latency(domain_id: int, trials: int, log_dir: Path,
                             log: Callable[[str], None], control_period_s: float = 0.05,
                             baseline_s: float = LLM_STALL_S, composed: bool = False) -> dict:
    """Wall time [ms] from a person appearing in the scan to the first slower cmd_vel;
    with ``composed`` the keys start with ``composed_``."""
    overrides = {"planner_node": [_route_override()], "reasoning_node": ["backend:=rules"]}
    robot = RobotStandIn(domain_id)
    latencies, planner_latencies, failures, stages = [], [], [], []
    where = "composed" if composed else "reaction"
    try:
        with NodeProcesses(domain_id, overrides, log_dir / where, composed) as nodes:
            if robot.wait_cruising(60.0) is None:
                raise RuntimeError("the stack never cruised above "
                                   f"{MIN_CRUISE_MPS} m/s (dead: {nodes.dead()}; "
                                   f"planner log: {nodes.tail('planner_node')})")
            # The behaviour on a clear way; each trial waits for it again, so the previous
            # person's track has gone and every trial starts from the same state.
            clear_behavior = robot.last_behavior
            time.sleep(baseline_s)  # a stretch of plain cruising for the baseline regularity
            with robot.lock:
                since = time.monotonic() - baseline_s
                baseline = [t for t, _ in robot.nav_log if t >= since]
            for trial in range(trials):
                cruise = robot.wait_cruising(20.0, clear_behavior)
                cruise_decision = robot.last_decision
                if cruise is None:
                    with robot.lock:
                        x, y, yaw = robot.pose
                        recent = [round(v, 2) for _, v in robot.cmd_log[-5:]]
                    failures.append(f"trial {trial}: no steady cruise under {clear_behavior} "
                                    f"(now {robot.last_decision}, robot at ({x:.1f}, {y:.1f}, "
                                    f"{yaw:.2f} rad), last cmd_vel {recent})")
                    continue
                robot.inject_person()
                while robot.injected_at is None:
                    time.sleep(0.005)
                start = robot.injected_at
                reacted = robot.first_reduced(robot.cmd_log, start, REDUCED_FRACTION * cruise,
                                              5.0)
                planned = robot.first_reduced(robot.nav_log, start,
                                              REDUCED_FRACTION * cruise, 1.0)
                times = robot.stages(start, REDUCED_FRACTION * cruise)
                if planned is not None:
                    planner_latencies.append(1e3 * (planned - start))
                if reacted is None:
                    failures.append(f"trial {trial}: no reduced cmd_vel within 5 s")
                else:
                    latencies.append(1e3 * (reacted - start))
                    stage = {"total": latencies[-1],
                             "planner": None if planned is None else planner_latencies[-1],
                             "first_seen_confirmed": times["scene_confirmed"],
                             "decision_behavior": times["decision_behavior"]}
                    for name in ("scene", "decision"):
                        stage[name] = (None if times[name] is None
                                       else 1e3 * (times[name] - start))
                    stages.append(stage)
                    log(f"bench: {where} trial {trial + 1}/{trials}: "
                        f"{latencies[-1]:.0f} ms (scene {_ms(stage['scene'])}, decision "
                        f"{_ms(stage['decision'])} {stage['decision_behavior']}, planner "
                        f"{_ms(stage['planner'])}; cruise {cruise:.2f} m/s under "
                        f"{cruise_decision}, then {robot.last_decision})")
                robot.clear()
    finally:
        robot.close()
    out = {"reaction_latency_trials": len(latencies), "reaction_latency_failures": failures,
           "reaction_latency_stages_ms": stages,
           "planner_on_time_fraction_baseline": on_time_fraction(baseline, control_period_s)}
    if latencies:
        out["reaction_latency_ms_p50"] = float(np.percentile(latencies, 50))
        out["reaction_latency_ms_p95"] = float(np.percentile(latencies, 95))
    if planner_latencies:
        out["planner_reaction_latency_ms_p50"] = float(np.percentile(planner_latencies, 50))
    for name in ("scene", "decision"):
        values = [stage[name] for stage in stages if stage[name] is not None]
        if values:
            out[f"{name}_reaction_latency_ms_p50"] = float(np.percentile(values, 50))
    return {f"composed_{key}": value for key, value in out.items()} if composed else out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


class HangingLLMServer:
    """An OpenAI-compatible endpoint that holds every request for ``delay_s`` seconds."""

    def __init__(self, delay_s: float):
        self.requests: list[float] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _hang(self):
                server.requests.append(time.monotonic())
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                time.sleep(delay_s)
                body = json.dumps({"error": "stalled on purpose"}).encode()
                try:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up first

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._hang()

            def do_POST(self):  # noqa: N802
                self._hang()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def on_time_fraction(times: list[float], period_s: float, factor: float = ON_TIME_FACTOR
                     ) -> float | None:
    """Fraction of intervals between consecutive messages no longer than factor x period."""
    if len(times) < 2:
        return None
    gaps = np.diff(np.asarray(sorted(times)))
    return float(np.mean(gaps <= factor * period_s))


def measure_llm_stall(domain_id: int, log_dir: Path, log: Callable[[str], None],
                      control_rate_hz: float) -> dict:
    server = HangingLLMServer(LLM_STALL_S)
    overrides = {"planner_node": [_route_override()],
                 "reasoning_node": ["backend:=llm", f"llm_endpoint:={server.endpoint}",
                                    f"llm_timeout:={LLM_STALL_S + 3.0}"]}
    robot = RobotStandIn(domain_id)
    try:
        with NodeProcesses(domain_id, overrides, log_dir / "llm_stall") as nodes:
            deadline = time.monotonic() + 60.0
            while not server.requests and time.monotonic() < deadline:
                if nodes.dead():
                    break
                time.sleep(0.05)
            if not server.requests:
                raise RuntimeError(f"the reasoning node never called the LLM (dead: "
                                   f"{nodes.dead()}; log: {nodes.tail('reasoning_node')})")
            # The planner (torch) starts slower than the reasoning node: time a stall that
            # begins once the robot cruises, so start-up is not counted as irregularity.
            if robot.wait_cruising(60.0) is None:
                raise RuntimeError(f"the stack never cruised (dead: {nodes.dead()}; planner "
                                   f"log: {nodes.tail('planner_node')})")
            cruising_since = time.monotonic()
            deadline = cruising_since + 3.0 * LLM_STALL_S
            while time.monotonic() < deadline and not any(
                    t >= cruising_since for t in server.requests):
                time.sleep(0.02)
            first = next((t for t in server.requests if t >= cruising_since), None)
            if first is None:
                raise RuntimeError("no new LLM request while cruising")
            time.sleep(max(0.0, first + LLM_STALL_S - time.monotonic()))
            with robot.lock:
                times = [t for t, _ in robot.nav_log if first <= t <= first + LLM_STALL_S]
    finally:
        robot.close()
        server.close()
    log(f"bench: {len(times)} planner cycles during a {LLM_STALL_S:.0f} s LLM stall")
    fraction = on_time_fraction(times, 1.0 / control_rate_hz)
    if fraction is None:
        raise RuntimeError("the planner published nothing during the LLM stall")
    return {"planner_on_time_fraction_during_llm_stall": fraction,
            "planner_rate_hz_during_llm_stall": len(times) / LLM_STALL_S,
            "llm_requests_during_stall": sum(1 for t in server.requests
                                             if first <= t <= first + LLM_STALL_S)}


# ---------------------------------------------------------------------------------------------
# The whole bench
# ---------------------------------------------------------------------------------------------

def run_bench(quick: bool, out_dir: Path, log: Callable[[str], None] | None = None,
              end_to_end: bool = True) -> dict:
    """Measure everything, write out_dir/bench.json and return the results."""
    from reasonact_ros.evaluation.ros_domains import claim_domain

    log = log or (lambda text: print(text, file=sys.stderr))
    results: dict = {key: None for key in BENCH_KEYS}
    reasons: dict[str, str] = {}
    started = time.monotonic()
    core_timings(quick, results, reasons, log)
    if end_to_end:
        # The node processes get a domain no other reasonact run holds (see ros_domains).
        with claim_domain() as claim:
            domain = claim.domain
            control_rate = float(_planner_params().get("control_rate", 20.0))
            for keys, what, fn in (
                    (("reaction_latency_ms_p50", "reaction_latency_ms_p95"),
                     "reaction latency (node processes)",
                     lambda: measure_reaction_latency(domain, 3 if quick else 15,
                                                      out_dir / "logs", log, 1.0 / control_rate)),
                    (("planner_on_time_fraction_during_llm_stall",),
                     "planner during LLM stall (node processes)",
                     lambda: measure_llm_stall(domain, out_dir / "logs", log, control_rate)),
                    (("composed_reaction_latency_ms_p50", "composed_reaction_latency_ms_p95"),
                     "reaction latency (one process: reasonact launch stack)",
                     lambda: measure_reaction_latency(domain, 3 if quick else 15,
                                                      out_dir / "logs", log, 1.0 / control_rate,
                                                      composed=True))):
                log(f"bench: {what} ...")
                try:
                    measured = fn()
                except Exception as error:
                    for key in keys:
                        reasons[key] = _reason(error)
                    continue
                for key, value in measured.items():
                    results[key] = round(value, 3) if isinstance(value, float) else value
                for key in keys:
                    if results.get(key) is None:
                        reasons.setdefault(key, "; ".join(
                            measured.get("reaction_latency_failures", [])
                            + measured.get("composed_reaction_latency_failures", []))
                            or "no measurement")
    else:
        for key in ("reaction_latency_ms_p50", "reaction_latency_ms_p95",
                    "planner_on_time_fraction_during_llm_stall",
                    "composed_reaction_latency_ms_p50", "composed_reaction_latency_ms_p95"):
            reasons[key] = "end-to-end measurements skipped"
    results["quick"] = quick
    results["cpu_count"] = os.cpu_count()
    results["wall_time_s"] = round(time.monotonic() - started, 1)
    results["reasons"] = reasons
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def bench_table(results: dict) -> str:
    lines = [f"{'metric':<46} value"]
    reasons = results.get("reasons", {})
    for key in BENCH_KEYS:
        value = results.get(key)
        shown = ("null  (" + reasons.get(key, "not measured") + ")") if value is None else (
            f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append(f"{key:<46} {shown}")
    return "\n".join(lines)
