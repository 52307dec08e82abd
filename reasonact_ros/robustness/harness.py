"""The real graph in closed loop, with a probe that injects faults and watches the outcome.

``ClosedLoop`` starts every node of ``bringup.build_nodes`` in one process over real
DDS (lockstep simulator as the clock), plus a separate ``Probe`` node on its own
executor thread that publishes fuzz messages on the graph's input topics and
records what the graph commands (``cmd_vel``, ``cmd_vel_nav``, ``decision``), what
it logs (``/rosout``) and when (sim time). Faults it can inject:

- ``kill(name)``: a node stops existing (removed from the executor, destroyed);
- ``rewind()``: the simulator restarts its episode, so sim time jumps backwards;
- ``drop_scans(fraction)``: the simulator's scan publisher loses that share of scans.

Each node spins on a SingleThreadedExecutor of its own thread (``NodeSpinners``, as in
``reasonact launch``). Crashes are counted, not fatal: an exception out of a callback
ends that executor's ``spin``, so it is recorded and the node spins again; exceptions in
other threads (the simulator's stepping thread, the LLM worker, instruction grounding)
are caught with ``threading.excepthook``.
"""

from __future__ import annotations

import math
import random
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
import yaml
from geometry_msgs.msg import Twist
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from reasonact_ros.bringup import EpisodeOptions, build_nodes
from reasonact_ros.msg import BehaviorDecision, SceneObservation
from reasonact_ros.nodes import qos
from reasonact_ros.nodes.entrypoint import NodeSpinners
from reasonact_ros.robustness.messages import TOPICS
from reasonact_ros.scene import Limits
from reasonact_ros.share import share_path
from reasonact_ros.sim.scenario import load_scenario

# QoS each input is published with: what the graph's own publishers use.
TOPIC_QOS = {
    "scan": qos.SENSOR, "camera/image_raw": qos.SENSOR, "camera/camera_info": qos.SENSOR,
    "odom": qos.SENSOR, "goal_pose": qos.COMMAND, "instruction": qos.LATCHED,
    "decision": qos.COMMAND, "cmd_vel_nav": qos.COMMAND,
}
ROSOUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
WARN = 30  # rcl_interfaces/Log levels
ERROR = 40


@dataclass(frozen=True)
class Command:
    t: float  # [s] sim time at the probe
    linear: float
    angular: float


@dataclass(frozen=True)
class LogLine:
    t: float
    node: str
    level: int
    text: str


def limit_violation(cmd: Command, limits: Limits, eps: float = 1e-6) -> str:
    """Why a command breaks the hard limits, or '' when it does not."""
    if not (math.isfinite(cmd.linear) and math.isfinite(cmd.angular)):
        return f"non-finite ({cmd.linear}, {cmd.angular})"
    if cmd.linear > limits.max_linear_speed + eps:
        return f"linear {cmd.linear:.3f} > {limits.max_linear_speed}"
    if cmd.linear < -limits.max_reverse_speed - eps:
        return f"reverse {cmd.linear:.3f} < -{limits.max_reverse_speed}"
    if abs(cmd.angular) > limits.max_angular_speed + eps:
        return f"|angular| {abs(cmd.angular):.3f} > {limits.max_angular_speed}"
    return ""


class Probe(Node):
    """Publishes on the graph's inputs and records its outputs, on its own executor."""

    def __init__(self, **kwargs):
        super().__init__("robustness_probe", **kwargs)
        self._lock = threading.Lock()
        self.cmd_vel: list[Command] = []
        self.cmd_vel_nav: list[Command] = []
        self.decisions: list[tuple[float, int, int, float]] = []  # t, behavior, source, speed
        self.logs: list[LogLine] = []
        self.explanations: list[str] = []
        self.scene_notes: list[tuple[float, str]] = []
        self.publishers_by_topic = {
            topic: self.create_publisher(msg_type, topic, TOPIC_QOS[topic])
            for topic, msg_type in TOPICS.items()}
        self.create_subscription(Twist, "cmd_vel", self._record(self.cmd_vel), qos.COMMAND)
        self.create_subscription(Twist, "cmd_vel_nav", self._record(self.cmd_vel_nav),
                                 qos.COMMAND)
        self.create_subscription(BehaviorDecision, "decision", self._on_decision, qos.COMMAND)
        self.create_subscription(Log, "/rosout", self._on_log, ROSOUT_QOS)
        # The probe shares one process with the whole graph and can fall seconds behind;
        # a deep reader history keeps every instruction answer until it catches up.
        self.create_subscription(String, "reasoning_node/explanation", self._on_explanation,
                                 QoSProfile(depth=500, reliability=ReliabilityPolicy.RELIABLE,
                                            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.create_subscription(SceneObservation, "scene", self._on_scene, qos.COMMAND)

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def publish(self, topic: str, msg) -> None:
        self.publishers_by_topic[topic].publish(msg)

    def _record(self, store: list):
        def callback(msg: Twist) -> None:
            with self._lock:
                store.append(Command(self.now(), msg.linear.x, msg.angular.z))
        return callback

    def _on_decision(self, msg: BehaviorDecision) -> None:
        with self._lock:
            self.decisions.append((self.now(), msg.behavior, msg.source, msg.max_speed))

    def _on_log(self, msg: Log) -> None:
        if msg.name == self.get_name():
            return
        with self._lock:
            self.logs.append(LogLine(self.now(), msg.name, msg.level, msg.msg))

    def _on_explanation(self, msg: String) -> None:
        with self._lock:
            self.explanations.append(msg.data)

    def _on_scene(self, msg: SceneObservation) -> None:
        if msg.health_messages:
            with self._lock:
                self.scene_notes.extend((self.now(), m) for m in msg.health_messages)

    def snapshot(self) -> dict[str, int]:
        """Current lengths of every record, to slice out what one phase produced."""
        with self._lock:
            return {"cmd_vel": len(self.cmd_vel), "cmd_vel_nav": len(self.cmd_vel_nav),
                    "decisions": len(self.decisions), "logs": len(self.logs),
                    "explanations": len(self.explanations)}


@dataclass
class LoopOptions:
    scenario: str = "empty_walkway"
    planner: str = "mppi"
    reasoner: str = "rules"
    mppi_samples: int = 200
    llm_endpoint: str = ""
    seed: int = 1
    # Extra parameters per node, layered over config/reasonact.yaml.
    parameters: dict[str, dict] = field(default_factory=dict)
    # Restart the episode when it ends, so a long fuzz run always has a moving robot.
    keep_running: bool = True


class ClosedLoop:
    """See the module docstring. Use as a context manager."""

    def __init__(self, options: LoopOptions | None = None):
        self.options = options or LoopOptions()
        self.crashes: list[str] = []
        self.thread_crashes: list[str] = []
        self.nodes: dict[str, Node] = {}
        self.restarts = 0
        self.rewound_at: list[float] = []  # sim time at each restart
        self.limits = Limits()
        self._stopping = threading.Event()
        self._tmp = tempfile.TemporaryDirectory(prefix="reasonact-robustness-")
        self._threads: list[threading.Thread] = []
        self._dead: list[Node] = []
        self.spinners: NodeSpinners | None = None  # one executor thread per node, as launch

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> ClosedLoop:
        opts = self.options
        tmp = Path(self._tmp.name)
        scenario = load_scenario(opts.scenario)
        data = yaml.safe_load(Path(scenario.path).read_text())
        data["duration_s"] = 3600.0  # the harness, not the scenario, decides when to stop
        scenario_path = tmp / f"{scenario.name}.yaml"
        scenario_path.write_text(yaml.safe_dump(data))
        self.scenario = load_scenario(str(scenario_path))
        overlay = tmp / "overlay.yaml"
        overlay.write_text(yaml.safe_dump(
            {name: {"ros__parameters": values} for name, values in opts.parameters.items()}))
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[
            "--ros-args", "--params-file", str(share_path("config", "reasonact.yaml")),
            "--params-file", str(overlay)])
        self._previous_excepthook = threading.excepthook
        threading.excepthook = self._on_thread_exception
        try:
            self.nodes = build_nodes(
                EpisodeOptions(scenario=opts.scenario, planner=opts.planner,
                               reasoner=opts.reasoner, seed=opts.seed,
                               mppi_samples=opts.mppi_samples, llm_endpoint=opts.llm_endpoint,
                               # The timer-driven stack a robot runs, Twist on cmd_vel:
                               # what the faults are injected into.
                               stamped_lockstep=False),
                self.scenario, self.context)
            self.probe = Probe(context=self.context,
                               parameter_overrides=[Parameter("use_sim_time", value=True)])
            self.spinners = NodeSpinners(list(self.nodes.values()), self.context,
                                         on_error=self._on_crash)
            self.spinners.start()
            self.probe_executor = SingleThreadedExecutor(context=self.context)
            self.probe_executor.add_node(self.probe)
            self._start_thread(self.probe_executor.spin, "probe-executor")
            self._wait_for_discovery()
            self.sim.start()
            if opts.keep_running:
                self._start_thread(self._keep_running, "keep-running")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        sim = self.nodes.get("sim")
        if sim is not None:
            sim.stop()
        for node in self.nodes.values():
            shutdown = getattr(node, "on_shutdown", None)
            if shutdown is not None:
                try:
                    shutdown()
                except Exception:  # noqa: BLE001 - shutting down anyway; counted
                    self.crashes.append(traceback.format_exc())
        if self.spinners is not None:
            self.spinners.shutdown(timeout_sec=2.0)
        if getattr(self, "probe_executor", None) is not None:
            self.probe_executor.shutdown(timeout_sec=2.0)
        for node in [*self.nodes.values(), *self._dead, getattr(self, "probe", None)]:
            if node is not None:
                node.destroy_node()
        if getattr(self, "context", None) is not None:
            rclpy.try_shutdown(context=self.context)
        for thread in self._threads:
            thread.join(timeout=5.0)
        threading.excepthook = getattr(self, "_previous_excepthook", threading.excepthook)
        self._tmp.cleanup()

    def _start_thread(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _on_crash(self, error: BaseException) -> bool:
        """A callback raised: count it; its node spins on. Not once stopping: the nodes'
        on_shutdown runs while their executors still spin (so a final zero still goes
        out), and a handle it closes then fails in a spinner, which then ends."""
        if self._stopping.is_set():
            return False
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.crashes.append(f"{threading.current_thread().name}: {text}")
        return True

    def _on_thread_exception(self, args) -> None:
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                  args.exc_traceback))
        self.thread_crashes.append(f"thread {getattr(args.thread, 'name', '?')}: {text}")

    def _wait_for_discovery(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (self.probe.count_subscribers("scan") >= 3
                    and self.probe.count_publishers("cmd_vel") >= 1):
                return
            time.sleep(0.05)

    def _keep_running(self) -> None:
        while not self._stopping.wait(0.2):
            if self.sim.finished:
                self.rewind()

    # --- access -------------------------------------------------------------------------
    @property
    def sim(self):
        return self.nodes["sim"]

    @property
    def sim_time(self) -> float:
        return self.sim.world.time

    def wait_sim(self, seconds: float, wall_timeout_s: float = 120.0) -> float:
        """Block until sim time advanced ``seconds``; returns the sim time reached."""
        target = self.sim_time + seconds
        deadline = time.monotonic() + wall_timeout_s
        while self.sim_time < target and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.sim_time

    def mark(self) -> dict[str, int]:
        """How much the probe has recorded so far: a window's start that, unlike sim
        time, survives the episode restarting (sim time jumps back) within the window."""
        return self.probe.snapshot()

    def commands_since(self, mark: dict[str, int], topic: str = "cmd_vel") -> list[Command]:
        with self.probe._lock:
            return list(getattr(self.probe, topic)[mark[topic]:])

    def decisions_since(self, mark: dict[str, int]) -> list[tuple[float, int, int, float]]:
        with self.probe._lock:
            return list(self.probe.decisions[mark["decisions"]:])

    def logs_since(self, mark: dict[str, int], level: int = WARN) -> list[LogLine]:
        with self.probe._lock:
            logs = list(self.probe.logs[mark["logs"]:])
        return [line for line in logs if line.level >= level]

    def commands_between(self, t0: float, t1: float, topic: str = "cmd_vel") -> list[Command]:
        with self.probe._lock:
            store = list(getattr(self.probe, topic))
        return [c for c in store if t0 <= c.t <= t1]

    def logs_between(self, t0: float, t1: float, level: int = WARN) -> list[LogLine]:
        with self.probe._lock:
            logs = list(self.probe.logs)
        return [line for line in logs if t0 <= line.t <= t1 and line.level >= level]

    # --- faults -------------------------------------------------------------------------
    def kill(self, name: str) -> float:
        """The node stops running (like a dead process); returns the sim time of its death.

        It leaves the executor at once; it is destroyed when the loop ends, because
        destroying a node while another thread waits on its handles makes rclpy raise
        InvalidHandle in that thread (an artefact of killing in-process).
        """
        node = self.nodes.pop(name)
        self.spinners.remove(node)
        self._dead.append(node)
        return self.sim_time

    def rewind(self) -> tuple[float, float]:
        """Restart the simulated episode: sim time jumps back. Returns (before, after).

        SimNode has no reset service, so this does what one would: stop stepping, a new
        World, the sensor schedule back to zero, step again.
        """
        sim = self.sim
        before = sim.world.time
        sim.reset()
        self.restarts += 1
        self.rewound_at.append(before)
        return before, sim.world.time

    def drop_scans(self, fraction: float, seed: int = 0) -> None:
        """The simulator loses ``fraction`` of its scans from now on (seeded; 0 restores)."""
        sim = self.sim
        publisher = getattr(self, "_original_scan_publisher", None) or sim._scan_publisher
        self._original_scan_publisher = publisher
        rng = random.Random(seed)
        counts = self.scan_drops = {"dropped": 0, "sent": 0}

        class Dropping:
            def publish(self, msg) -> None:
                if rng.random() < fraction:
                    counts["dropped"] += 1
                    return
                counts["sent"] += 1
                publisher.publish(msg)

        sim._scan_publisher = Dropping() if fraction > 0.0 else publisher
