"""The package's interfaces: import, constants, serialize round trip, conversions."""

import math

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from reasonact_ros.msg import BehaviorDecision, SceneObservation, TrackedObject

from reasonact_ros.nodes import conversions
from reasonact_ros.scene import (
    Behavior,
    Decision,
    DecisionSource,
    ObjectClass,
    Pose2D,
    Scene,
    SensorHealth,
    Velocity2D,
    Walkway,
)
from reasonact_ros.scene import TrackedObject as TrackedObjectData


def test_constants_match_the_core_enums():
    assert BehaviorDecision.PASS_RIGHT == Behavior.PASS_RIGHT
    assert BehaviorDecision.FOLLOW_WALKWAY == Behavior.FOLLOW_WALKWAY
    assert BehaviorDecision.SOURCE_FALLBACK == DecisionSource.FALLBACK
    assert TrackedObject.CLASS_PEDESTRIAN == ObjectClass.PEDESTRIAN
    assert TrackedObject.CLASS_OBSTACLE == ObjectClass.OBSTACLE
    for behavior in Behavior:
        assert getattr(BehaviorDecision, behavior.name) == behavior.value


def _scene():
    walkway = Walkway(np.array([[0.0, 1.5], [20.0, 1.5]]), np.array([[0.0, -1.5], [20.0, -1.5]]))
    person = TrackedObjectData(id=7, label=ObjectClass.PEDESTRIAN, x=4.0, y=0.5, vx=-1.2,
                               vy=0.1, radius=0.3, confidence=0.9, age_s=2.5, on_walkway=True)
    post = TrackedObjectData(id=8, label=ObjectClass.OBSTACLE, x=6.0, y=-2.0, radius=0.4)
    return Scene(stamp=12.25, robot=Pose2D(1.0, 0.2, 0.3), robot_velocity=Velocity2D(0.8, 0.1),
                 objects=(person, post), walkway=walkway,
                 health=SensorHealth(scan_ok=True, camera_ok=False, odom_ok=True,
                                     messages=("camera stale for 1.2 s",)))


def test_scene_survives_serialization_round_trip():
    scene = _scene()
    data = serialize_message(conversions.scene_to_msg(scene))
    back = conversions.scene_from_msg(deserialize_message(data, SceneObservation))
    assert back.stamp == pytest.approx(scene.stamp)
    assert back.robot.yaw == pytest.approx(0.3)
    assert [o.id for o in back.objects] == [7, 8]
    person = back.objects[0]
    assert person.label == ObjectClass.PEDESTRIAN and person.on_walkway
    assert person.vx == pytest.approx(-1.2) and person.confidence == pytest.approx(0.9)
    np.testing.assert_allclose(back.walkway.left, scene.walkway.left)
    assert not back.health.camera_ok and back.health.messages == ("camera stale for 1.2 s",)


def test_decision_survives_serialization_round_trip():
    decision = Decision(behavior=Behavior.PASS_RIGHT, max_speed=0.7, min_clearance=2.0,
                        valid_until=13.5, source=DecisionSource.LLM, target_id=7,
                        rationale="pedestrian ahead, walking towards us", stamp=12.5,
                        clearance_floor=2.0)
    data = serialize_message(conversions.decision_to_msg(decision))
    back = conversions.decision_from_msg(deserialize_message(data, BehaviorDecision))
    assert back.behavior == Behavior.PASS_RIGHT and back.source == DecisionSource.LLM
    assert back.max_speed == pytest.approx(0.7) and back.valid_until == pytest.approx(13.5)
    assert back.target_id == 7 and back.rationale.startswith("pedestrian ahead")
    assert back.clearance_floor == pytest.approx(2.0)


def test_decision_with_unknown_behaviour_is_refused():
    msg = conversions.decision_to_msg(Decision(Behavior.STOP, 0.0, 1.0, 1.0))
    msg.behavior = 200
    with pytest.raises(ValueError, match="unknown behaviour"):
        conversions.decision_from_msg(msg)


def test_decision_with_non_finite_speed_is_refused():
    msg = conversions.decision_to_msg(Decision(Behavior.PROCEED, 1.0, 1.0, 1.0))
    msg.max_speed = math.nan
    with pytest.raises(ValueError, match="not finite"):
        conversions.decision_from_msg(msg)
    msg.max_speed, msg.clearance_floor = 1.0, math.inf
    with pytest.raises(ValueError, match="not finite"):
        conversions.decision_from_msg(msg)


def test_scene_with_non_finite_object_is_refused():
    msg = conversions.scene_to_msg(_scene())
    msg.objects[0].position.x = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        conversions.scene_from_msg(msg)


def test_time_conversion_clamps_what_a_message_cannot_hold():
    assert conversions.seconds_to_time(-3.0).sec == 0
    assert conversions.seconds_to_time(math.nan).sec == 0
    stamp = conversions.seconds_to_time(5.9999999999)
    assert stamp.nanosec <= 999_999_999


def test_a_goal_pose_is_read_in_our_frame_and_refused_in_another_or_not_finite():
    from geometry_msgs.msg import PoseStamped

    goal = PoseStamped()
    goal.pose.position.x, goal.pose.position.y = 4.0, -1.5
    assert conversions.goal_point_from_msg(goal, frame="odom") == (4.0, -1.5)  # "" is ours
    goal.header.frame_id = "odom"
    assert conversions.goal_point_from_msg(goal, frame="odom") == (4.0, -1.5)
    goal.header.frame_id = "map"
    with pytest.raises(ValueError, match="frame 'map' is not 'odom'"):
        conversions.goal_point_from_msg(goal, frame="odom")
    assert conversions.goal_point_from_msg(goal) == (4.0, -1.5)  # no frame asked: any
    goal.pose.position.x = math.nan
    with pytest.raises(ValueError, match="non-finite"):
        conversions.goal_point_from_msg(goal)
