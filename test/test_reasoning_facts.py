"""Scene → facts and text, on hand-made scenes with known geometry."""

import dataclasses
import math

import numpy as np
import pytest

from reasonact_ros.reasoning.facts import (
    describe_scene,
    scene_facts,
    time_to_collision,
)
from reasonact_ros.scene import (
    ObjectClass,
    Pose2D,
    Scene,
    SensorHealth,
    TrackedObject,
    Velocity2D,
    Walkway,
)

HEALTHY = SensorHealth()
WALKWAY = Walkway(left=np.array([[-5.0, 1.5], [30.0, 1.5]]),
                  right=np.array([[-5.0, -1.5], [30.0, -1.5]]))


def person(object_id, x, y, vx=0.0, vy=0.0, **kwargs):
    return TrackedObject(object_id, ObjectClass.PEDESTRIAN, x, y, vx, vy, **kwargs)


def scene(*objects, speed=0.0, yaw=0.0, x=0.0, y=0.0, walkway=WALKWAY, health=HEALTHY):
    return Scene(stamp=0.0, robot=Pose2D(x, y, yaw), robot_velocity=Velocity2D(speed, 0.0),
                 objects=tuple(objects), walkway=walkway, health=health)


def test_approaching_pedestrian_has_time_to_collision_from_closing_speed():
    (fact,) = scene_facts(scene(person(1, 5.0, 0.0, vx=-1.0), speed=1.0))
    assert fact.relative_motion == "approaching"
    assert fact.side == "ahead" and fact.ahead
    assert fact.distance_m == pytest.approx(5.0)
    # closing at 2 m/s, contact at 5 - (0.3 + 0.35) metres
    assert fact.time_to_collision_s == pytest.approx((5.0 - 0.65) / 2.0)
    assert fact.on_walkway


def test_crossing_standing_same_direction_and_moving_away_are_told_apart():
    facts = {f.id: f for f in scene_facts(scene(
        person(1, 4.0, 3.0, vy=-1.2),
        person(2, 3.0, 0.2),
        person(3, 6.0, 0.0, vx=0.6),
        person(4, -4.0, 0.0, vx=-1.0),
    ))}
    assert facts[1].relative_motion == "crossing"
    assert facts[2].relative_motion == "standing"
    assert facts[3].relative_motion == "same_direction"
    assert facts[4].relative_motion == "moving_away"


def test_bearing_and_side_are_in_the_robot_frame():
    # Robot faces +y; a person at odom (-2, 3) is ahead and to its left.
    (fact,) = scene_facts(scene(person(1, -2.0, 3.0), yaw=math.pi / 2, walkway=None))
    assert fact.forward_m == pytest.approx(3.0)
    assert fact.lateral_m == pytest.approx(2.0)
    assert fact.bearing_rad == pytest.approx(math.atan2(2.0, 3.0))
    assert fact.side == "left" and fact.ahead


def test_facts_are_sorted_by_distance_and_skip_non_finite_tracks():
    facts = scene_facts(scene(person(1, 9.0, 0.0), person(2, 2.0, 1.0),
                              person(3, float("nan"), 0.0), person(4, 5.0, -1.0)))
    assert [f.id for f in facts] == [2, 4, 1]


def test_time_to_collision_is_infinite_when_paths_do_not_meet():
    assert time_to_collision(np.array([5.0, 3.0]), np.array([-1.0, 0.0]), 0.65) == math.inf
    assert time_to_collision(np.array([5.0, 0.0]), np.array([1.0, 0.0]), 0.65) == math.inf
    assert time_to_collision(np.array([0.3, 0.0]), np.array([0.0, 0.0]), 0.65) == 0.0


def test_walkway_polygon_decides_on_walkway():
    facts = {f.id: f for f in scene_facts(scene(person(1, 4.0, 0.0), person(2, 4.0, 4.0)))}
    assert facts[1].on_walkway and not facts[2].on_walkway


def test_describe_scene_names_the_approaching_pedestrian_with_time_to_collision():
    text = describe_scene(scene(person(1, 4.2, 0.0, vx=-1.0), speed=1.0))
    assert text.startswith("We are on a walkway.")
    assert ("A pedestrian is on the walkway 4.2 m ahead, walking towards us "
            "(time to collision 1.8 s).") in text


def test_describe_scene_says_where_the_goal_is_in_our_frame():
    # The rules leave out whoever stays beyond the goal; a model is told where it is.
    at = dataclasses.replace
    base = scene(yaw=math.pi / 2)  # facing +y
    assert "Our goal is 1.6 m away, ahead." in describe_scene(at(base, goal=(0.0, 1.6)))
    assert "Our goal is 2.0 m away, to the right." in describe_scene(at(base, goal=(2.0, 0.0)))
    assert "behind us" in describe_scene(at(base, goal=(0.0, -3.0)))
    assert "goal" not in describe_scene(base)


def test_describe_scene_empty_crossing_runner_and_sensor_trouble():
    assert "the way is clear" in describe_scene(scene(walkway=None))
    runner = describe_scene(scene(person(1, 3.0, 2.0, vy=-2.5)))
    assert "running across our path" in runner
    broken = describe_scene(scene(health=SensorHealth(camera_ok=False)))
    assert "Sensor trouble: camera" in broken


def test_describe_scene_counts_the_people_it_does_not_name():
    crowd = [person(i, 2.0 + i, 0.5) for i in range(10)]
    text = describe_scene(scene(*crowd))
    assert text.count("A pedestrian") == 6
    assert "Further away: 4 more people." in text


def test_a_close_sideways_walker_is_crossing_not_approaching():
    # At 49° bearing, line of sight alone would call this person "approaching".
    (fact,) = scene_facts(scene(person(1, 1.5, 1.7, vy=-1.2), speed=0.8))
    assert fact.relative_motion == "crossing"
    assert fact.enters_path_s == pytest.approx((1.7 - 1.1) / 1.2)
    assert "reaching our lane in 0.5 s" in describe_scene(scene(person(1, 1.5, 1.7, vy=-1.2)))


def test_a_sideways_walker_leaving_our_lane_is_moving_away_and_never_enters():
    (fact,) = scene_facts(scene(person(1, 3.0, 2.0, vy=1.2)))
    assert fact.relative_motion == "moving_away"
    assert fact.enters_path_s == math.inf


def test_describe_scene_with_ids_names_each_object():
    text = describe_scene(scene(person(7, 4.0, 0.0, vx=-1.0)), with_ids=True)
    assert "A pedestrian (id 7) is on the walkway 4.0 m ahead" in text


def test_tentative_tracks_are_left_out_of_facts_and_text_unless_asked_for():
    from reasonact_ros.reasoning.facts import describe_scene, scene_facts
    from reasonact_ros.scene import ObjectClass, Pose2D, Scene, TrackedObject

    scene = Scene(stamp=0.0, robot=Pose2D(), objects=(
        TrackedObject(1, ObjectClass.PEDESTRIAN, 3.0, 0.0),
        TrackedObject(2, ObjectClass.PEDESTRIAN, 2.0, 0.0, confirmed=False)))
    assert [f.id for f in scene_facts(scene)] == [1]
    assert [(f.id, f.confirmed) for f in scene_facts(scene, include_unconfirmed=True)] == [
        (2, False), (1, True)]
    assert "2.0 m" not in describe_scene(scene)
    assert [o.id for o in scene.people()] == [1]


def test_on_a_walkway_motion_and_offset_are_judged_along_it_not_the_momentary_heading():
    import numpy as np

    from reasonact_ros.reasoning.facts import motion_axis, scene_facts
    from reasonact_ros.scene import ObjectClass, Pose2D, Scene, TrackedObject, Walkway

    walkway = Walkway(left=np.array([[-5.0, 2.0], [30.0, 2.0]]),
                      right=np.array([[-5.0, -2.0], [30.0, -2.0]]))
    oncoming = TrackedObject(1, ObjectClass.PEDESTRIAN, 3.0, 1.0, vx=-1.2)
    turned = Pose2D(0.0, 0.0, math.radians(50.0))  # mid-dodge
    on_walkway = Scene(stamp=0.0, robot=turned, objects=(oncoming,), walkway=walkway)
    assert scene_facts(on_walkway)[0].relative_motion == "approaching"
    assert motion_axis(on_walkway) == pytest.approx([1.0, 0.0])
    # Turned sharply, 70 deg, to cross to the walkway's right: still travelling along it.
    sharply = Scene(stamp=0.0, robot=Pose2D(0.0, 0.0, math.radians(-70.0)),
                    objects=(TrackedObject(1, ObjectClass.PEDESTRIAN, 3.0, -1.0, vx=-1.2),),
                    walkway=walkway)
    assert motion_axis(sharply) == pytest.approx([1.0, 0.0])
    assert scene_facts(sharply)[0].relative_motion == "approaching"
    # Without a walkway, the heading is all there is: sideways to it, that is crossing.
    # Their side too: 1 m left of our line along the walkway, right of our heading.
    fact = scene_facts(on_walkway)[0]
    assert fact.axis_lateral_m == pytest.approx(1.0) and fact.lateral_m < 0.0
    open_ground = Scene(stamp=0.0, robot=turned, objects=(oncoming,))
    assert scene_facts(open_ground)[0].relative_motion == "crossing"
    assert scene_facts(open_ground)[0].axis_lateral_m == scene_facts(open_ground)[0].lateral_m
    # Facing back along the walkway, "our way" is back along it; across it, our heading.
    back = Scene(stamp=0.0, robot=Pose2D(0.0, 0.0, math.pi), walkway=walkway)
    assert motion_axis(back) == pytest.approx([-1.0, 0.0])
    across = Scene(stamp=0.0, robot=Pose2D(0.0, 0.0, math.radians(85.0)), walkway=walkway)
    assert motion_axis(across) == pytest.approx([math.cos(math.radians(85.0)),
                                                  math.sin(math.radians(85.0))])


def test_at_a_corner_the_walkway_has_no_one_direction_and_the_heading_counts():
    import numpy as np

    from reasonact_ros.reasoning.facts import motion_axis
    from reasonact_ros.scene import Pose2D, Scene, Walkway

    # An L: along +x, then up +y; the inner corner at (8, 1), the outer at (10, -1).
    corner = Walkway(left=np.array([[0.0, 1.0], [8.0, 1.0], [8.0, 10.0]]),
                     right=np.array([[0.0, -1.0], [10.0, -1.0], [10.0, 10.0]]))
    assert corner.direction_at((2.0, 0.0)) == pytest.approx([1.0, 0.0])
    assert corner.direction_at((9.0, 4.0)) == pytest.approx([0.0, 1.0])
    for beyond_the_inner_corner in ((9.3, 0.0), (9.5, -0.3)):
        assert corner.direction_at(beyond_the_inner_corner) is None
    turning = Pose2D(9.3, 0.0, math.radians(45.0))
    assert motion_axis(Scene(stamp=0.0, robot=turning, walkway=corner)) == pytest.approx(
        [math.cos(math.radians(45.0)), math.sin(math.radians(45.0))])
