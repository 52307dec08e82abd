"""Start the whole graph in one process and run an episode: `reasonact demo`.

Every node is the real node class talking over real DDS topics; they share one
SingleThreadedExecutor so the demo needs no launch system. One thread, not a pool:
in lockstep nothing runs concurrently anyway (the simulator waits for the planner),
and rclpy's MultiThreadedExecutor spent most of an episode handing callbacks between
threads under the GIL (head_on: 0.65x real time with six threads, 2.5x with one).
The reasoning node's LLM calls run on its own worker thread, so a slow model still
never holds up the planner. The simulator is the
clock and runs in lockstep with the stack, so an episode takes as long as the
stack needs to compute, which on 2 cores is faster than real time for rules +
MPPI; ``realtime`` paces it to the wall clock instead.

Lockstep is by stamp (``EpisodeOptions.stamped_lockstep``): commands are
TwistStamped, the planner plans once per simulator step when that step's scan,
scene and decision are in, the safety node filters with that step's scan, and
the simulator runs the command that answers its last state. Which message
arrived first no longer matters, so one seed gives one episode, on a busy
machine as on an idle one (with rules; an LLM answers when it answers).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from reasonact_ros.composition import scenario_parameters
from reasonact_ros.msg import BehaviorDecision
from reasonact_ros.nodes import qos
from reasonact_ros.nodes.entrypoint import spin_until_stopped
from reasonact_ros.scene import Behavior, ObjectClass
from reasonact_ros.share import share_path
from reasonact_ros.sim.scenario import Scenario, load_scenario
from reasonact_ros.stamped_inputs import SAME_INSTANT_S

PLANNERS = ("mppi", "dwa")
REASONERS = ("rules", "llm", "local", "none")


@dataclass
class EpisodeOptions:
    scenario: str = "empty_walkway"
    planner: str = "mppi"
    reasoner: str = "rules"
    instruction: str = ""
    realtime: bool = False
    seed: int = -1
    camera: bool = False
    llm_endpoint: str = ""
    params_file: Path = field(default_factory=lambda: share_path("config", "reasonact.yaml"))
    mppi_samples: int | None = None
    # A wall-clock ceiling, so a stack that stops answering cannot hang a run.
    wall_timeout_s: float = 600.0
    # The stack acts on stamps and the simulator runs each step's answer (see above).
    # False: the timer-driven stack a robot runs, the simulator waiting for cmd_vel_nav;
    # the robustness harness injects its faults into that one.
    stamped_lockstep: bool = True


@dataclass(frozen=True)
class LoggedDecision:
    """One decision as the monitor heard it on the decision topic."""

    stamp: float  # [s] the scene it answers
    behavior: str
    max_speed: float  # [m/s]
    rationale: str


class EpisodeMonitor(Node):
    """Watches what the stack commands, over the same topics a robot would see."""

    def __init__(self, instruction: str, stamped: bool = False, **kwargs):
        super().__init__("episode_monitor", **kwargs)
        self.max_linear_speed = 0.0
        self.max_angular_speed = 0.0
        self.commands = 0
        self.decisions: Counter[str] = Counter()
        self.last_decision = ""
        self.last_logged: LoggedDecision | None = None
        # Every decision: which one a step ran under is looked up by stamp after the
        # episode, not by what had arrived here when the step ended.
        self.decision_log: list[LoggedDecision] = []
        self.create_subscription(TwistStamped if stamped else Twist, "cmd_vel", self._on_cmd,
                                 qos.COMMAND)
        self.create_subscription(BehaviorDecision, "decision", self._on_decision, qos.COMMAND)
        self._instruction = self.create_publisher(String, "instruction", qos.LATCHED)
        if instruction:
            self._instruction.publish(String(data=instruction))

    def _on_cmd(self, msg) -> None:
        if isinstance(msg, TwistStamped):
            msg = msg.twist
        self.commands += 1
        if math.isfinite(msg.linear.x):
            self.max_linear_speed = max(self.max_linear_speed, abs(msg.linear.x))
        if math.isfinite(msg.angular.z):
            self.max_angular_speed = max(self.max_angular_speed, abs(msg.angular.z))

    def _on_decision(self, msg: BehaviorDecision) -> None:
        try:
            name = Behavior(msg.behavior).name
        except ValueError:
            name = f"UNKNOWN_{msg.behavior}"
        self.decisions[name] += 1
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.last_logged = LoggedDecision(stamp, name, float(msg.max_speed), msg.rationale)
        self.decision_log.append(self.last_logged)
        self.last_decision = f"{name} {msg.max_speed:.1f} m/s: {msg.rationale}"


def build_nodes(options: EpisodeOptions, scenario: Scenario, context) -> dict[str, Node]:
    """The graph's nodes with the episode's parameters layered over the params file."""
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.nodes.safety_node import SafetyNode
    from reasonact_ros.nodes.sim_node import SimNode

    sim_time = Parameter("use_sim_time", value=True)
    stamped = options.stamped_lockstep
    # Matched by stamp, every input of a step comes (the simulator drops nothing): a long
    # wait only ever means a starved machine, and waiting keeps the episode the one its
    # seed gives. The planner's 0.5 s default left lockstep under a load average of ~5 on
    # 2 cores (a closed-loop test failed beside a running suite). Without stamps the
    # robustness harness kills nodes on purpose: there the simulator moves on after 1 s.
    planner_wait_s, sim_wait_s = (2.0, 3.0) if stamped else (0.5, 1.0)
    by_stamp = [Parameter("lockstep", value=stamped),
                Parameter("use_stamped_cmd_vel", value=stamped)]
    from_scenario = {node: [Parameter(name, value=value) for name, value in params.items()]
                     for node, params in scenario_parameters(scenario).items()}
    nodes: dict[str, Node] = {}
    nodes["sim"] = SimNode(context=context, parameter_overrides=[
        Parameter("scenario", value=str(scenario.path)),
        Parameter("seed", value=int(options.seed)),
        Parameter("lockstep", value=True),
        Parameter("use_stamped_cmd_vel", value=stamped),
        # Without stamps: wait for the planner itself, so that a slow planner slows the
        # world instead of the safety watchdog stopping the robot.
        Parameter("lockstep_topic", value="cmd_vel_nav"),
        Parameter("lockstep_timeout", value=sim_wait_s),
        Parameter("real_time_factor", value=1.0 if options.realtime else 0.0),
        Parameter("camera_enabled", value=bool(options.camera)),
    ])
    camera_detector = [Parameter("camera_detector", value="trained")] if options.camera else []
    nodes["perception"] = PerceptionNode(context=context, parameter_overrides=[
        sim_time, *from_scenario.get("perception_node", []), *camera_detector])
    if options.reasoner != "none":
        overrides = [sim_time, *from_scenario.get("reasoning_node", []),
                     Parameter("backend", value=options.reasoner)]
        if options.reasoner == "local":
            # Gemma 270M takes seconds per decision on 2 cores; rules decide meanwhile.
            overrides.append(Parameter("llm_timeout", value=30.0))
        if options.llm_endpoint:
            overrides.append(Parameter("llm_endpoint", value=options.llm_endpoint))
        nodes["reasoning"] = ReasoningNode(context=context, parameter_overrides=overrides)
    planner_overrides = [sim_time, *from_scenario.get("planner_node", []),
                         Parameter("planner", value=options.planner),
                         Parameter("use_decisions", value=options.reasoner != "none"),
                         # The world waits for the planner: judge MPPI by its own CPU time,
                         # so a busy machine does not hand episodes over to DWA.
                         Parameter("deadline_clock", value="cpu"),
                         Parameter("lockstep_timeout", value=planner_wait_s), *by_stamp]
    if options.mppi_samples:
        planner_overrides.append(Parameter("mppi_samples", value=int(options.mppi_samples)))
    nodes["planner"] = PlannerNode(context=context, parameter_overrides=planner_overrides)
    nodes["safety"] = SafetyNode(context=context, parameter_overrides=[
        sim_time, *from_scenario.get("safety_node", []), *by_stamp])
    nodes["monitor"] = EpisodeMonitor(options.instruction, stamped, context=context,
                                      parameter_overrides=[sim_time])
    return nodes


def step_record(world, monitor: EpisodeMonitor) -> dict:
    """One simulator step as plain data: what the evaluation metrics are computed from.
    Its decision is the newest the monitor has; ``assign_decisions`` corrects it."""
    pose, velocity = world.robot_pose(), world.robot_velocity()
    people = [(o.id, o.x, o.y, o.vx, o.vy, o.radius)
              for o in world.ground_truth() if o.label == ObjectClass.PEDESTRIAN]
    return {"t": world.time, "x": pose.x, "y": pose.y, "yaw": pose.yaw,
            "v": velocity.linear, "w": velocity.angular, "people": people,
            **_decision_fields(monitor.last_logged)}


def run_episode(options: EpisodeOptions, out_dir: Path | None = None,
                gif: bool = True, trajectory: list | None = None,
                record: Path | None = None, record_storage: str = "mcap") -> dict:
    """Run one closed-loop episode and return (and write) its summary.

    When ``trajectory`` is a list, one ``step_record`` per simulator step is appended;
    with ``record`` the graph's topics are written to that rosbag2 directory.
    """
    scenario = load_scenario(options.scenario)
    context = rclpy.Context()
    rclpy.init(context=context,
               args=["--ros-args", "--params-file", str(options.params_file)])
    recorder = None
    if out_dir is not None and gif:
        from reasonact_ros.sim.render import TopDownRecorder

        recorder = TopDownRecorder(scenario)
    executor = SingleThreadedExecutor(context=context)
    nodes: dict[str, Node] = {}
    spinner = None
    stopping = threading.Event()
    wall_start = time.monotonic()
    try:
        nodes = build_nodes(options, scenario, context)
        if record is not None:
            from reasonact_ros.recording.recorder import BagRecorder

            # Created last so that every publisher it should mirror is already visible.
            nodes["recorder"] = BagRecorder(
                record, storage=record_storage, context=context,
                parameter_overrides=[Parameter("use_sim_time", value=True)])
        for node in nodes.values():
            executor.add_node(node)
        sim, monitor = nodes["sim"], nodes["monitor"]
        def on_step(world):
            if recorder is not None:
                recorder.record(world, caption=monitor.last_decision)
            if trajectory is not None:
                trajectory.append(step_record(world, monitor))

        sim.on_step = on_step
        spinner = threading.Thread(target=spin_until_stopped, args=(executor, stopping.is_set),
                                   name="executor", daemon=True)
        spinner.start()
        if not _wait_for_graph(list(nodes.values()), timeout_s=10.0):
            monitor.get_logger().warning("not every publisher found its subscribers within "
                                         "10 s: the first steps may be taken blind")
        if options.instruction and "reasoning" in nodes:
            _wait_for_instruction(nodes["reasoning"], monitor, timeout_s=120.0)
        sim.start()
        while not sim.finished and time.monotonic() - wall_start < options.wall_timeout_s:
            time.sleep(0.05)
        wall_time = time.monotonic() - wall_start
        sim.stop()
        if trajectory is not None and options.stamped_lockstep:
            assign_decisions(trajectory, monitor.decision_log, sim.step_dt)
        summary = _summary(options, scenario, sim.world, monitor, wall_time,
                           sim.steps_without_answer
                           + nodes["planner"].cycles_without_inputs)
        if "reasoning" in nodes:
            summary["reasoning_stats"] = nodes["reasoning"].stats
        if record is not None:
            summary["recording"] = str(record)
    finally:
        stopping.set()
        for node in nodes.values():
            shutdown = getattr(node, "on_shutdown", None)
            if shutdown is not None:
                shutdown()
        executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            # A spinner still inside rcl when the interpreter exits aborts the process.
            spinner.join(timeout=5.0)
        for node in nodes.values():
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if recorder is not None:
            recorder.save_png(out_dir / "episode.png")
            recorder.save_gif(out_dir / "episode.gif")
            summary["outputs"] = {"png": str(out_dir / "episode.png"),
                                  "gif": str(out_dir / "episode.gif")}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def assign_decisions(trajectory: list[dict], decision_log: list[LoggedDecision],
                     step_dt: float) -> None:
    """Give each step the newest decision stamped by the step's start (what the
    planner's command for it obeyed), instead of whatever had reached the monitor when
    the step ended: the same episode then logs the same decisions."""
    log = sorted(decision_log, key=lambda logged: logged.stamp)
    stamps = [logged.stamp for logged in log]
    for step in trajectory:
        index = bisect.bisect_right(stamps, step["t"] - step_dt + SAME_INSTANT_S) - 1
        step.update(_decision_fields(log[index] if index >= 0 else None))


def _decision_fields(logged: LoggedDecision | None) -> dict:
    """A step record's decision: its behaviour, speed limit and the reasoner's why."""
    if logged is None:
        return {"decision": "", "max_speed": None, "rationale": ""}
    return {"decision": logged.behavior, "max_speed": logged.max_speed,
            "rationale": logged.rationale}


def _wait_for_graph(nodes: list[Node], timeout_s: float) -> bool:
    """Wait until every publisher has found each of the graph's subscriptions to its
    topic, so that no node misses the first state (a lockstep step would then wait
    for an answer that cannot come). False after ``timeout_s``."""
    wanted = Counter((sub.topic_name, sub.msg_type) for node in nodes
                     for sub in node.subscriptions)
    publishers = [(pub, wanted[(pub.topic_name, pub.msg_type)]) for node in nodes
                  for pub in node.publishers if wanted[(pub.topic_name, pub.msg_type)]]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(pub.get_subscription_count() >= count for pub, count in publishers):
            return True
        time.sleep(0.05)
    return False


def _wait_for_instruction(reasoning, monitor: Node, timeout_s: float) -> None:
    """An episode's instruction is given before it starts: wait until the reasoning
    node has answered it (grounding runs on its own thread; the first loads a sentence
    model), or the simulator would run its first seconds without it."""
    deadline = time.monotonic() + timeout_s
    while reasoning.instructions_answered < 1:
        if time.monotonic() >= deadline:
            monitor.get_logger().warning(f"the instruction was not answered within "
                                         f"{timeout_s:.0f} s: the episode starts without it")
            return
        time.sleep(0.02)


def _summary(options: EpisodeOptions, scenario: Scenario, world, monitor: EpisodeMonitor,
             wall_time: float, lockstep_misses: int = 0) -> dict:
    person_hits = [e for e in world.events if e.kind == "collision_person"]
    obstacle_hits = [e for e in world.events if e.kind == "collision_obstacle"]
    reached = [e.time for e in world.events if e.kind == "goal_reached"]
    collisions = len(person_hits) + len(obstacle_hits)
    return {
        "scenario": scenario.name,
        "seed": world.seed,
        "planner": options.planner,
        "reasoner": options.reasoner,
        "instruction": options.instruction,
        "outcome": world.outcome if world.done else "wall_timeout",
        "success": bool(reached) and collisions == 0,
        "collisions": collisions,
        "collisions_person": len(person_hits),
        "collisions_obstacle": len(obstacle_hits),
        "collisions_robot_at_fault": sum(1 for e in world.events if e.robot_at_fault),
        "time_to_goal_s": round(reached[0], 3) if reached else None,
        "min_person_distance_m": (round(world.min_person_distance, 3)
                                  if math.isfinite(world.min_person_distance) else None),
        "max_linear_speed_mps": round(monitor.max_linear_speed, 3),
        "decisions": dict(sorted(monitor.decisions.items())),
        "sim_time_s": round(world.time, 3),
        "wall_time_s": round(wall_time, 3),
        "real_time_factor": round(world.time / wall_time, 2) if wall_time > 0 else None,
        # Non-zero: the episode left lockstep (a starved machine), and another run of the
        # same seed may differ; evaluation reports flag such episodes.
        "lockstep_misses": lockstep_misses,
        "events": [dataclasses.asdict(event) for event in world.events],
    }
