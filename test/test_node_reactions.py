"""The fast path from a scan to a slower command: each node reacts on arrival, not on
its next timer tick. Callbacks are called directly, so nothing here depends on timing."""

import math

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


def _decision(node, behavior, max_speed):
    now = _now(node)
    return conversions.decision_to_msg(Decision(
        behavior, max_speed, 1.0, valid_until=now + 1.0, source=DecisionSource.RULES,
        stamp=now))


def test_planner_slows_at_once_when_a_decision_lowers_the_limit(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa")
    sent = []
    node._cmd._send = sent.append
    node._cmd.publish(Velocity2D(1.2, 0.4))  # what the last cycle sent
    node._on_decision(_decision(node, Behavior.PASS_RIGHT, 1.4))
    assert sent == [Velocity2D(1.2, 0.4)]  # a higher limit changes nothing between cycles
    node._on_decision(_decision(node, Behavior.SLOW, 0.6))
    assert sent[-1].linear == pytest.approx(0.6)
    assert sent[-1].angular == pytest.approx(0.2)  # the same arc, slower
    node._on_decision(_decision(node, Behavior.STOP, 0.0))
    assert sent[-1] == Velocity2D(0.0, 0.0)
    assert all(math.isfinite(v.linear) for v in sent)


def test_planner_without_decisions_ignores_them_between_cycles(nodes):
    from reasonact_ros.nodes.planner_node import PlannerNode

    node = nodes.make(PlannerNode, planner="dwa", use_decisions=False)
    sent = []
    node._cmd._send = sent.append
    node._cmd.publish(Velocity2D(1.2, 0.0))
    node._on_decision(_decision(node, Behavior.STOP, 0.0))
    assert sent == [Velocity2D(1.2, 0.0)]
