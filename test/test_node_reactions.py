"""The fast path from a scan to a slower command: each node reacts on arrival, not on
its next timer tick. Callbacks are called directly, so nothing here depends on timing."""

import math
import time

import numpy as np
import pytest

from reasonact_ros.nodes import conversions
from reasonact_ros.robustness.callbacks import NodeContext
from reasonact_ros.scene import (
    Behavior,
    Decision,
    DecisionSource,
    ObjectClass,
    Pose2D,
    Scene,
    TrackedObject,
    Velocity2D,
)


@pytest.fixture()
def nodes():
    with NodeContext() as context:
        yield context


def _now(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def test_reasoning_decides_on_each_scene_and_slows_for_a_first_sighting(nodes):
    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    # A 1 Hz timer: any decision within these few calls came from a scene arriving.
    node = nodes.make(ReasoningNode, decision_rate=1.0, instruction_embeddings=False)
    published = []
    node._decision_publisher.publish = published.append
    cruising = Scene(stamp=_now(node), robot=Pose2D(), robot_velocity=Velocity2D(1.3, 0.0))
    node._on_scene(conversions.scene_to_msg(cruising))
    newcomer = TrackedObject(7, ObjectClass.PEDESTRIAN, 4.0, 0.0, confirmed=False)
    node._on_scene(conversions.scene_to_msg(Scene(
        stamp=_now(node), robot=Pose2D(), robot_velocity=Velocity2D(1.3, 0.0),
        objects=(newcomer,))))
    decisions = [conversions.decision_from_msg(msg) for msg in published]
    assert [d.behavior for d in decisions] == [Behavior.PROCEED, Behavior.SLOW]
    assert decisions[1].max_speed < 0.8 * decisions[0].max_speed
    # The timer, firing right after, does not decide again: the scenes set the pace.
    node._on_timer()
    assert len(published) == 2


def test_reasoning_on_the_timer_only_when_asked(nodes):
    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    node = nodes.make(ReasoningNode, decide_on_scene=False, instruction_embeddings=False)
    published = []
    node._decision_publisher.publish = published.append
    node._on_scene(conversions.scene_to_msg(Scene(stamp=_now(node), robot=Pose2D())))
    assert published == []
    node._on_timer()
    assert len(published) == 1


def test_reasoning_knows_the_goal_from_the_route_and_from_goal_pose(nodes):
    from geometry_msgs.msg import PoseStamped

    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    # Someone crossing 3.5 m ahead is waited for unless the goal is nearer than where
    # they cross (RulesPolicy: whoever stays beyond our way's end).
    node = nodes.make(ReasoningNode, route=[1.5, 0.0], instruction_embeddings=False)
    published = []
    node._decision_publisher.publish = published.append

    def decide():
        crosser = TrackedObject(1, ObjectClass.PEDESTRIAN, 3.5, -2.0, 0.0, 1.2)
        node._on_scene(conversions.scene_to_msg(Scene(
            stamp=_now(node), robot=Pose2D(), robot_velocity=Velocity2D(0.5, 0.0),
            objects=(crosser,))))
        return conversions.decision_from_msg(published[-1]).behavior

    assert decide() == Behavior.PROCEED
    far = PoseStamped()
    far.header.frame_id = "odom"
    far.pose.position.x = 8.0
    node._on_goal(far)
    assert decide() in (Behavior.YIELD, Behavior.STOP)
    broken = PoseStamped()
    broken.pose.position.x = math.nan  # refused: the goal before it stands
    node._on_goal(broken)
    assert node._goal[:2] == (8.0, 0.0)
    elsewhere = PoseStamped()
    elsewhere.header.frame_id = "map"  # not the scene's frame: decided as if unknown
    elsewhere.pose.position.x = 1.5
    node._on_goal(elsewhere)
    assert decide() in (Behavior.YIELD, Behavior.STOP)
    # Along a longer route the way left is not the straight line to its end.
    winding = nodes.make(ReasoningNode, route=[10.0, 0.0, 1.5, 0.0],
                         instruction_embeddings=False)
    assert winding._with_goal(Scene(stamp=0.0, robot=Pose2D())).goal is None
    with pytest.raises(ValueError, match="route"):
        nodes.make(ReasoningNode, route=[1.5, 0.0, 2.0], instruction_embeddings=False)


def _decision(node, behavior, max_speed):
    now = _now(node)
    return conversions.decision_to_msg(Decision(
        behavior, max_speed, 1.0, valid_until=now + 1.0, source=DecisionSource.RULES,
        stamp=now))


def test_planner_slows_at_once_when_a_decision_lowers_the_limit(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa")
    sent = []
    node._cmd._send = lambda velocity, _stamp: sent.append(velocity)
    node._cmd.publish(Velocity2D(1.2, 0.4))  # what the last cycle sent
    node._on_decision(_decision(node, Behavior.PASS_RIGHT, 1.4))
    assert sent == [Velocity2D(1.2, 0.4)]  # a higher limit changes nothing between cycles
    node._on_decision(_decision(node, Behavior.SLOW, 0.6))
    assert sent[-1].linear == pytest.approx(0.6)
    assert sent[-1].angular == pytest.approx(0.2)  # the same arc, slower
    node._on_decision(_decision(node, Behavior.STOP, 0.0))
    assert sent[-1] == Velocity2D(0.0, 0.0)
    assert all(math.isfinite(v.linear) for v in sent)


def test_planner_takes_decisions_while_its_control_thread_is_busy(nodes):
    """Nothing spins the planner's own executor here, as if one cycle ran forever: a
    decision published on the topic still slows the last command down."""
    import rclpy
    from reasonact_ros.msg import BehaviorDecision

    from reasonact_ros.nodes import qos
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa")
    sent = []
    node._cmd._send = lambda velocity, _stamp: sent.append(velocity)
    node._cmd.publish(Velocity2D(1.2, 0.4))
    reasoning = rclpy.create_node("reasoning_stand_in", context=nodes.context)
    nodes.nodes.append(reasoning)
    publisher = reasoning.create_publisher(BehaviorDecision, "decision", qos.COMMAND)
    deadline = time.monotonic() + 30.0  # discovery on a loaded machine; usually ~0.1 s
    while len(sent) < 2 and time.monotonic() < deadline:
        publisher.publish(_decision(node, Behavior.SLOW, 0.6))
        time.sleep(0.05)
    assert len(sent) >= 2, "the decision never reached the planner"
    assert sent[1].linear == pytest.approx(0.6)
    assert sent[1].angular == pytest.approx(0.2)


def test_a_decision_that_arrives_during_a_cycle_caps_that_cycles_command(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.planning.interface import PlanResult

    node = nodes.make(PlannerNode, planner="dwa")
    node._on_odom(_odom_at(_now(node)))
    node._on_scene(conversions.scene_to_msg(Scene(stamp=_now(node), robot=Pose2D())))
    node._on_decision(_decision(node, Behavior.PROCEED, 1.5))

    def plan_while_a_decision_arrives(_inp):
        time.sleep(0.01)  # the decision is stamped after the cycle began
        node._decision = conversions.decision_from_msg(_decision(node, Behavior.SLOW, 0.6))
        return PlanResult(Velocity2D(1.4, 0.0), trajectory=np.zeros((1, 3)))

    node._planner.plan = plan_while_a_decision_arrives
    sent = []
    node._cmd._send = lambda velocity, _stamp: sent.append(velocity)
    node._cycle()
    assert sent == [Velocity2D(0.6, 0.0)]


def test_an_instructed_distance_outlives_the_reasoning_nodes_silence(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa")
    node._on_scene(conversions.scene_to_msg(Scene(stamp=_now(node), robot=Pose2D())))
    now = _now(node)
    node._on_decision(conversions.decision_to_msg(Decision(
        Behavior.PROCEED, 1.0, 2.0, valid_until=now + 0.01, source=DecisionSource.RULES,
        stamp=now, clearance_floor=2.0)))  # "keep 2 m away"
    later = now + 0.2  # the decision has expired: the conservative default stands in
    fallback = node._current_decision(later)
    assert fallback.source == DecisionSource.FALLBACK
    assert fallback.min_clearance == 2.0 and fallback.clearance_floor == 2.0


def test_planner_without_decisions_ignores_them_between_cycles(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa", use_decisions=False)
    sent = []
    node._cmd._send = lambda velocity, _stamp: sent.append(velocity)
    node._cmd.publish(Velocity2D(1.2, 0.0))
    node._on_decision(_decision(node, Behavior.STOP, 0.0))
    assert sent == [Velocity2D(1.2, 0.0)]


# --- lockstep: inputs matched by stamp, whatever order they arrive in --------------------
# use_sim_time with no /clock: the clock stays at zero, behind every stamp, as a node's
# clock can be a step behind in lockstep when the step's messages beat /clock.

def _odom_at(stamp: float, x: float = 0.0):
    from nav_msgs.msg import Odometry

    msg = Odometry()
    msg.header.stamp = conversions.seconds_to_time(stamp)
    msg.header.frame_id, msg.child_frame_id = "odom", "base_link"
    msg.pose.pose.position.x = x
    msg.pose.pose.orientation.w = 1.0
    return msg


def _scan_at(stamp: float, nearest: float = 10.0):
    """Every beam at ``nearest`` metres; a scan every 0.1 s."""
    from sensor_msgs.msg import LaserScan

    msg = LaserScan()
    msg.header.stamp = conversions.seconds_to_time(stamp)
    msg.header.frame_id = "base_scan"
    msg.angle_min, msg.angle_increment = -math.pi, 2 * math.pi / 360
    msg.angle_max = msg.angle_min + msg.angle_increment * 359
    msg.scan_time, msg.range_min, msg.range_max = 0.1, 0.1, 12.0
    msg.ranges = [nearest] * 360
    return msg


def _scene_at(stamp: float):
    return conversions.scene_to_msg(Scene(stamp=stamp, robot=Pose2D()))


def _decision_at(stamp: float, max_speed: float = 1.0):
    return conversions.decision_to_msg(Decision(
        Behavior.PROCEED, max_speed, 1.0, valid_until=stamp + 1.0,
        source=DecisionSource.RULES, stamp=stamp))


def _twist_at(stamp: float, linear: float):
    from geometry_msgs.msg import TwistStamped

    msg = TwistStamped()
    msg.header.stamp = conversions.seconds_to_time(stamp)
    msg.twist.linear.x = linear
    return msg


def test_lockstep_planner_plans_each_step_once_its_inputs_are_in(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa", lockstep=True, use_stamped_cmd_vel=True,
                      use_sim_time=True, route=[5.0, 0.0])
    sent = []
    node._cmd._send = lambda velocity, stamp: sent.append(stamp)
    # A step with a scan: the scan, its scene and their decision, in a scrambled order.
    node._on_odom(_odom_at(0.1))
    node._on_decision(_decision_at(0.1))
    node._on_scan(_scan_at(0.1))
    assert sent == []  # the scene of that scan is still on its way
    node._on_scene(_scene_at(0.1))
    assert sent == pytest.approx([0.1])
    # Between two scans the odometry alone starts the cycle.
    node._on_odom(_odom_at(0.15))
    assert sent == pytest.approx([0.1, 0.15])
    # The next scan's step: an older scene and decision do not count.
    node._on_odom(_odom_at(0.2))
    node._on_scene(_scene_at(0.2))
    node._on_scan(_scan_at(0.2))
    assert sent == pytest.approx([0.1, 0.15])
    node._on_decision(_decision_at(0.2))
    assert sent == pytest.approx([0.1, 0.15, 0.2])
    assert node.cycles_without_inputs == 0


def test_lockstep_planner_answers_a_step_whose_inputs_never_came(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa", lockstep=True, use_stamped_cmd_vel=True,
                      use_sim_time=True, lockstep_timeout=0.01, route=[5.0, 0.0])
    sent = []
    node._cmd._send = lambda velocity, stamp: sent.append((stamp, velocity))
    node._on_odom(_odom_at(0.1))  # a scan is due: nothing came
    node._run_overdue_cycle()
    assert sent == []  # not yet overdue
    node._pending = (node._pending[0], node._pending[1] - 1.0)
    node._run_overdue_cycle()
    # Planned without a scene: stale, so the robot is told to stop.
    assert [(pytest.approx(0.1), Velocity2D(0.0, 0.0))] == sent
    assert node.cycles_without_inputs == 1
    # And when the simulator moved on without waiting, the old step is answered first.
    node._on_odom(_odom_at(0.15))
    node._on_odom(_odom_at(0.2))
    assert [stamp for stamp, _ in sent] == pytest.approx([0.1, 0.15])


def _lockstep_safety(nodes):
    """A lockstep safety node and the (stamp, linear speed) of what it sends."""
    from reasonact_ros.nodes.safety_node import SafetyNode
    from reasonact_ros.robustness.callbacks import Recorder

    node = nodes.make(SafetyNode, lockstep=True, use_stamped_cmd_vel=True, use_sim_time=True)
    sent = []
    node._output._send = lambda velocity, stamp: sent.append((stamp, velocity.linear))
    node._state_publisher = Recorder([])
    return node, sent


def test_lockstep_safety_filters_a_step_with_that_steps_scan(nodes):
    node, sent = _lockstep_safety(nodes)
    node._on_scan(_scan_at(0.1))
    node._on_command(_twist_at(0.15, 1.0))  # between scans: passed on at once
    assert [stamp for stamp, _ in sent] == pytest.approx([0.15]) and sent[0][1] > 0.0
    node._on_command(_twist_at(0.2, 1.0))  # its scan is due: it waits for it
    assert len(sent) == 1
    node._on_scan(_scan_at(0.2, nearest=0.5))  # a person in the stop zone
    assert sent[1:] == [(pytest.approx(0.2), 0.0)]
    # What the timer re-publishes carries the stamp of the command it came from.
    node._update()
    assert all(stamp == pytest.approx(0.2) for stamp, _ in sent[1:])


def test_perception_places_a_scan_with_the_odometry_at_its_stamp(nodes):
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.robustness.callbacks import Recorder

    node = nodes.make(PerceptionNode, camera_detector="none", use_sim_time=True)
    scenes = []
    node._scene_publisher = Recorder(scenes)
    node._marker_publisher = Recorder([])
    node._on_odom(_odom_at(0.1, x=0.0))
    node._on_scan(_scan_at(0.15))  # newer than any odometry: it waits
    assert scenes == []
    node._on_odom(_odom_at(0.15, x=2.0))
    node._on_odom(_odom_at(0.2, x=4.0))
    node._on_scan(_scan_at(0.2))
    found = [conversions.scene_from_msg(msg) for msg in scenes]
    assert [(s.stamp, s.robot.x) for s in found] == [(pytest.approx(0.15), 2.0),
                                                     (pytest.approx(0.2), 4.0)]


def test_reasoning_stamps_a_decision_with_its_scene_when_the_clock_lags(nodes):
    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    node = nodes.make(ReasoningNode, instruction_embeddings=False, use_sim_time=True)
    published = []
    node._decision_publisher.publish = published.append
    node._on_scene(_scene_at(0.1))
    assert [conversions.decision_from_msg(m).stamp for m in published] == [
        pytest.approx(0.1)]


def test_on_a_real_clock_a_stamp_ahead_is_skew_not_time(nodes):
    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    node = nodes.make(ReasoningNode, instruction_embeddings=False)
    published = []
    node._decision_publisher.publish = published.append
    before = _now(node)
    node._on_scene(_scene_at(before + 5.0))  # a sensor host 5 s ahead of ours
    (stamp,) = [conversions.decision_from_msg(m).stamp for m in published]
    assert before <= stamp < before + 0.1


def test_lockstep_simulator_runs_the_answer_to_its_last_state(nodes):
    from reasonact_ros.nodes.sim_node import SimNode

    sim = nodes.make(SimNode, scenario="empty_walkway", lockstep=True,
                     use_stamped_cmd_vel=True, lockstep_timeout=0.01)
    commanded = []
    sim.world.command = commanded.append
    sim._expect_answer()  # the state at t = 0 is out
    sim._on_command(_twist_at(0.0, 0.8))  # its answer
    sim._on_command(_twist_at(0.0, 0.2))  # the safety timer re-filtering it: too late
    sim._wait_for_answer()
    assert [c.linear for c in commanded] == [0.8]
    sim.world.step(sim.step_dt)
    sim._expect_answer()
    sim._on_command(_twist_at(0.0, 0.3))  # older than the state: not its answer
    sim._on_command(_twist_at(0.05, 0.6))
    sim._on_command(_twist_at(0.0, 0.1))
    sim._wait_for_answer()
    assert [c.linear for c in commanded] == [0.8, 0.6]
    assert sim.steps_without_answer == 0
    # No answer in time: the newest command that came while waiting, as a fallback.
    sim.world.step(sim.step_dt)
    sim._expect_answer()
    sim._on_command(_twist_at(0.05, 0.4))
    sim._wait_for_answer()
    assert [c.linear for c in commanded] == [0.8, 0.6, 0.4]
    # Nothing at all: the robot's own command timeout decides, nothing is re-sent.
    sim._expect_answer()
    sim._wait_for_answer()
    assert len(commanded) == 3
    assert sim.steps_without_answer == 2  # both steps went on without their answer
    sim._on_command(_twist_at(0.1, math.nan))  # rejected, logged; the node goes on
    assert len(commanded) == 3


def test_lockstep_safety_timer_leaves_a_fresh_command_to_the_next_step(nodes):
    # A tick that beat the step's command by a moment used to take the step's time from
    # the acceleration limit: the command then sped up by nothing, or by a full step,
    # depending on which came first.
    node, sent = _lockstep_safety(nodes)
    node._on_scan(_scan_at(0.0))
    node._on_command(_twist_at(0.0, 1.5))
    node._on_command(_twist_at(0.05, 1.5))
    node._on_timer()  # the tick of the next step, before its command
    assert len(sent) == 2
    node._on_scan(_scan_at(0.1))
    node._on_command(_twist_at(0.1, 1.5))
    step = node._filter.config.limits.max_linear_accel * 0.05
    speeds = [speed for _, speed in sent]
    assert speeds[2] - speeds[1] == pytest.approx(step)
    assert speeds[1] - speeds[0] == pytest.approx(step)


def test_on_sim_time_a_stamp_far_ahead_is_a_wrong_stamp_not_time(nodes):
    from reasonact_ros.nodes.reasoning_node import ReasoningNode

    node = nodes.make(ReasoningNode, instruction_embeddings=False, use_sim_time=True)
    published = []
    node._decision_publisher.publish = published.append
    node._on_scene(_scene_at(0.05))  # a step ahead of /clock: the simulation got there
    node._on_scene(_scene_at(1e6))  # a fuzzed stamp: the clock (0) stands
    stamps = [conversions.decision_from_msg(m).stamp for m in published]
    assert stamps[0] == pytest.approx(0.05)
    assert all(stamp < 1.0 for stamp in stamps[1:])


def test_instructions_are_answered_in_order_off_the_thread_that_hands_them_in():
    import threading

    from std_msgs.msg import String

    from reasonact_ros.nodes.reasoning_node import InstructionWorker

    grounding = threading.Event()  # the first instruction "loads a model" until set
    started = threading.Event()
    answered, threads, dropped = [], set(), []

    def answer(msg):
        threads.add(threading.current_thread().name)
        if msg.data == "0":
            started.set()
            grounding.wait()
        answered.append(msg.data)

    worker = InstructionWorker(answer, lambda msg: dropped.append(msg.data),
                               lambda msg, error: None, depth=10)
    try:
        worker.submit(String(data="0"))
        assert started.wait(30.0)
        for k in range(1, 13):  # each returns at once although "0" is still being grounded
            worker.submit(String(data=str(k)))
        assert answered == []
        grounding.set()
        deadline = time.monotonic() + 30.0
        while len(answered) < 11 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        grounding.set()
        worker.close()
    # "1" and "2" were the oldest waiting when "11" and "12" came: dropped, and said so.
    assert answered == ["0", *map(str, range(3, 13))]
    assert dropped == ["1", "2"]
    assert threads == {"instructions"}


def test_an_instruction_that_fails_to_ground_is_reported_and_the_next_is_answered():
    import threading

    from std_msgs.msg import String

    from reasonact_ros.nodes.reasoning_node import InstructionWorker

    answered, errors, done = [], [], threading.Event()

    def answer(msg):
        if msg.data == "bad":
            raise ValueError("grounding bug")
        answered.append(msg.data)
        done.set()

    worker = InstructionWorker(answer, lambda msg: None,
                               lambda msg, error: errors.append((msg.data, str(error))))
    try:
        worker.submit(String(data="bad"))
        worker.submit(String(data="keep right"))
        assert done.wait(30.0)
    finally:
        worker.close()
    assert errors == [("bad", "grounding bug")] and answered == ["keep right"]
