"""Fuzz the nodes' own callbacks directly: deterministic, fast, one node at a time.

The closed-loop fuzz (fuzz.py) shows what the running graph does, but DDS drops
best-effort messages under load and threads interleave, so what a node actually
saw varies between runs. Here each node is built (real class, real parameters, an
rclpy context, no spinning) and its subscription callbacks and timer callback are
called with fuzz messages in a fixed order: every message reaches the node, and an
exception is attributed to exactly one callback and one fuzz case.

Each ``fuzz_*`` function returns a ``CallbackReport`` with the exceptions raised
(by callback and case) and the outputs the node published, so a test can check
both "never raises" and "output stays within limits".
"""

from __future__ import annotations

import collections
import math
import traceback
from dataclasses import dataclass, field

import rclpy
from geometry_msgs.msg import Twist
from rclpy.parameter import Parameter

from reasonact_ros.robustness.messages import MessageFuzzer
from reasonact_ros.scene import Limits


@dataclass
class CallbackReport:
    node: str
    calls: collections.Counter = field(default_factory=collections.Counter)  # topic -> n
    exceptions: collections.Counter = field(default_factory=collections.Counter)  # cb:case
    first_tracebacks: dict[str, str] = field(default_factory=dict)
    outputs: list = field(default_factory=list)

    @property
    def exception_count(self) -> int:
        return sum(self.exceptions.values())

    def call(self, name: str, case: str, function, *args):
        self.calls[name] += 1
        try:
            return function(*args)
        except Exception:  # noqa: BLE001 - what the executor would re-raise; counted here
            key = f"{name}:{case}"
            self.exceptions[key] += 1
            self.first_tracebacks.setdefault(key, traceback.format_exc()[-1500:])
            return None

    def summary(self) -> str:
        return (f"{self.node}: calls {dict(self.calls)}, exceptions "
                f"{dict(self.exceptions) or 0}")


class Recorder:
    """Stands in for a Publisher: keeps what would have been published."""

    def __init__(self, store: list):
        self.store = store

    def publish(self, msg) -> None:
        self.store.append(msg)

    def get_subscription_count(self) -> int:
        return 0


class NodeContext:
    """An rclpy context for building nodes that are never spun."""

    def __enter__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.nodes = []
        return self

    def make(self, node_class, **parameters):
        node = node_class(context=self.context, parameter_overrides=[
            Parameter(name, value=value) for name, value in parameters.items()])
        self.nodes.append(node)
        return node

    def __exit__(self, *exc):
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _now(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def fuzz_perception(nodes: NodeContext, fuzzer: MessageFuzzer, count: int) -> CallbackReport:
    """Give the fuzzer ``exclude={"scan": ("huge_array",)}`` for a quick run: a random
    100k-beam scan takes seconds to cluster (see docs/SAFETY.md, known issues)."""
    from reasonact_ros.nodes.perception_node import PerceptionNode

    node = nodes.make(PerceptionNode, camera_detector="hog")
    report = CallbackReport("perception_node")
    node._scene_publisher = Recorder(report.outputs)
    node._marker_publisher = Recorder([])
    node._debug_publisher = Recorder([])
    good_odom = fuzzer.plausible("odom", _now(node))
    node._on_odom(good_odom)
    node._on_camera_info(fuzzer.plausible("camera/camera_info", _now(node)))
    for topic, callback in (("scan", node._on_scan), ("camera/camera_info",
                                                      node._on_camera_info),
                            ("camera/image_raw", node._on_image), ("odom", None)):
        for i in range(count):
            msg, case = fuzzer.make(topic, _now(node))
            if topic == "odom":
                # A bad odometry is only used when a scan arrives: pair each with one.
                node._on_odom(msg)
                scan = fuzzer.plausible("scan", _now(node))
                report.call("odom+scan", case, node._on_scan, scan)
                continue
            report.call(topic, case, callback, msg)
            if topic == "camera/camera_info" and i % 10 == 9:
                node._on_camera_info(fuzzer.plausible("camera/camera_info", _now(node)))
        node._on_odom(good_odom)
    return report


def fuzz_planner(nodes: NodeContext, fuzzer: MessageFuzzer, count: int,
                 cycle_every: int = 10) -> CallbackReport:
    """Inputs fuzzed one topic at a time; a control cycle runs every ``cycle_every``."""
    from reasonact_ros.nodes.conversions import scene_to_msg
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.scene import Pose2D, Scene

    node = nodes.make(PlannerNode, planner="mppi", mppi_samples=100, mppi_steps=20,
                      route=[20.0, 0.0])
    report = CallbackReport("planner_node")
    commands: list[Twist] = report.outputs
    node._cmd._publisher = Recorder(commands)
    node._path_publisher = Recorder([])
    node._prediction_publisher = Recorder([])
    good_odom = fuzzer.plausible("odom", _now(node))

    def fresh_scene():
        node._on_scene(scene_to_msg(Scene(stamp=_now(node), robot=Pose2D())))

    node._on_odom(good_odom)
    for topic, callback in (("decision", node._on_decision), ("goal_pose", node._on_goal),
                            ("scan", node._on_scan), ("odom", node._on_odom)):
        for i in range(count):
            msg, case = fuzzer.make(topic, _now(node))
            report.call(topic, case, callback, msg)
            if i % cycle_every == 0:
                fresh_scene()
                report.call("cycle", f"after {topic}:{case}", node._cycle)
        node._on_odom(good_odom)
        node._on_goal(fuzzer.plausible("goal_pose", _now(node)))
    return report


def fuzz_safety(nodes: NodeContext, fuzzer: MessageFuzzer, count: int) -> CallbackReport:
    from reasonact_ros.nodes.safety_node import SafetyNode

    node = nodes.make(SafetyNode)
    report = CallbackReport("safety_node")
    node._output._publisher = Recorder(report.outputs)
    node._state_publisher = Recorder([])
    for topic, callback in (("scan", node._on_scan), ("cmd_vel_nav", node._on_command)):
        for _ in range(count):
            # The other input fresh and valid first, so the fuzz case is what decides.
            if topic == "scan":
                node._on_command(fuzzer.plausible("cmd_vel_nav", _now(node)))
            else:
                node._on_scan(fuzzer.plausible("scan", _now(node)))
            msg, case = fuzzer.make(topic, _now(node))
            report.call(topic, case, callback, msg)
            report.call("update", case, node._update)
    return report


def fuzz_reasoning(nodes: NodeContext, fuzzer: MessageFuzzer, count: int) -> CallbackReport:
    from reasonact_ros.nodes.conversions import scene_to_msg
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.scene import Pose2D, Scene

    node = nodes.make(ReasoningNode)
    report = CallbackReport("reasoning_node")
    node._decision_publisher = Recorder(report.outputs)
    for i in range(count):
        msg, case = fuzzer.make("instruction", _now(node))
        report.call("instruction", case, node._answer_instruction, msg)
        scene = scene_to_msg(Scene(stamp=_now(node), robot=Pose2D()))
        if i % 2:
            scene.robot_pose.position.x = math.nan  # a scene the node must reject
        report.call("scene", "nan_robot" if i % 2 else "plausible", node._on_scene, scene)
        report.call("decide", case, node._decide)
    return report


def command_violations(commands, limits: Limits) -> list[str]:
    """Published Twists (or TwistStamped) that break the hard limits."""
    from reasonact_ros.robustness.harness import Command, limit_violation

    found = []
    for msg in commands:
        twist = getattr(msg, "twist", msg)
        why = limit_violation(Command(0.0, twist.linear.x, twist.angular.z), limits)
        if why:
            found.append(why)
    return found
