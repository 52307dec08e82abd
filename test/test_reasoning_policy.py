"""RulesPolicy: each semantic rule on a scene made for it."""

import numpy as np
import pytest

from reasonact_ros.reasoning.intent import Intent
from reasonact_ros.reasoning.policy import Policy, RulesPolicy
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
POLICY = RulesPolicy()


def person(object_id, x, y, vx=0.0, vy=0.0):
    return TrackedObject(object_id, ObjectClass.PEDESTRIAN, x, y, vx, vy)


def decide(*objects, intent=None, walkway=WALKWAY, speed=0.8, health=HEALTHY, robot_y=0.0):
    scene = Scene(stamp=0.0, robot=Pose2D(0.0, robot_y), robot_velocity=Velocity2D(speed, 0.0),
                  objects=tuple(objects), walkway=walkway, health=health)
    return POLICY.propose(scene, intent, 0.0)


def test_rules_policy_satisfies_the_policy_protocol():
    assert isinstance(POLICY, Policy) and POLICY.name == "rules"


def test_empty_walkway_follows_it_and_open_ground_proceeds():
    assert decide()["behavior"] == "FOLLOW_WALKWAY"
    assert decide(walkway=None)["behavior"] == "PROCEED"
    assert decide(walkway=None, intent=Intent(follow_walkway=True))["behavior"] == (
        "FOLLOW_WALKWAY")


def test_pedestrian_approaching_on_walkway_is_passed_on_the_right_slowly():
    action = decide(person(3, 6.0, 0.1, vx=-1.2))
    assert action["behavior"] == "PASS_RIGHT" and action["target_id"] == 3
    assert action["max_speed"] < 1.0 and action["min_clearance"] >= 1.0
    assert "walking towards us" in action["thought"]


def test_someone_walking_up_behind_us_sets_the_pace_we_pass_at():
    oncoming = person(3, 7.0, 0.1, vx=-1.2)
    behind = person(4, -2.5, -0.3, vx=1.25)
    action = decide(oncoming, behind, speed=1.4)
    assert action["behavior"] == "PASS_RIGHT" and action["target_id"] == 3
    assert action["max_speed"] == pytest.approx(1.25)  # not slower than them: no obstacle
    assert action["thought"].startswith("A pedestrian") and "Keep the pace" in action["thought"]
    # Not for someone behind but out of our lane, nor walking the other way, nor far back.
    for other in (person(4, -2.5, -1.6, vx=1.25), person(4, -2.5, -0.3, vx=-1.25),
                  person(4, -5.0, -0.3, vx=1.25)):
        assert decide(oncoming, other, speed=1.4)["max_speed"] == pytest.approx(0.8)


def test_someone_coming_down_the_walkway_is_met_even_while_we_are_turned_off_it():
    # Angled 40 deg towards the walkway's left edge (heading for a gap), the robot has
    # someone 4 m down the walkway, 0.3 m right of our line along it, walking at us: 2.8 m
    # to the right of our heading. They are met, not followed into: on the right, since
    # their way runs through where we are.
    oncoming = person(3, 4.0, -0.3, vx=-1.1)
    turned = Pose2D(0.0, 0.0, 0.7)
    scene = Scene(stamp=0.0, robot=turned, robot_velocity=Velocity2D(0.4, 0.0),
                  objects=(oncoming,), walkway=WALKWAY, health=HEALTHY)
    action = POLICY.propose(scene, None, 0.0)
    assert action["behavior"] == "PASS_RIGHT" and action["target_id"] == 3
    # Well beside our line along the walkway, they are no reason to leave it.
    beside = Scene(stamp=0.0, robot=turned, robot_velocity=Velocity2D(0.4, 0.0),
                   objects=(person(3, 4.0, -2.6, vx=-1.1),), walkway=WALKWAY, health=HEALTHY)
    assert POLICY.propose(beside, None, 0.0)["behavior"] == "FOLLOW_WALKWAY"


@pytest.mark.parametrize("yaw", [-0.6, 0.0, 0.6])
def test_the_side_to_meet_someone_on_is_where_their_way_passes_us_whichever_way_we_face(yaw):
    # Turned towards a gap's mouth, the robot saw someone walking out of the gap straight
    # at it as "on the right" of its heading and waited on the left, in their way out
    # (narrow_passage 13, 29). Where their walk passes us does not turn with us.
    def side(y, vy=0.0):
        scene = Scene(stamp=0.0, robot=Pose2D(0.0, 0.0, yaw), robot_velocity=Velocity2D(0.3, 0.0),
                      objects=(person(3, 5.0, y, vx=-1.2, vy=vy),), walkway=WALKWAY,
                      health=HEALTHY)
        return POLICY.propose(scene, None, 0.0)["behavior"]

    assert side(0.0) == "PASS_RIGHT"  # straight at us: keep right
    assert side(-1.0) == "PASS_LEFT"  # their way passes a metre to our right
    assert side(1.0) == "PASS_RIGHT"  # ... a metre to our left
    # Walking from our line towards our right of it as they come: they pass on our right.
    assert side(0.0, vy=-0.4) == "PASS_LEFT"


def test_keep_left_instruction_passes_an_oncoming_person_on_the_left():
    assert decide(person(3, 6.0, 0.1, vx=-1.2),
                  intent=Intent(keep_side="left"))["behavior"] == "PASS_LEFT"


def test_crossing_pedestrian_makes_us_yield_and_stop_when_imminent():
    assert decide(person(1, 4.0, 2.5, vy=-1.0))["behavior"] == "YIELD"
    assert decide(person(1, 2.0, 1.2, vy=-1.0))["behavior"] == "STOP"


def test_standing_person_ahead_is_passed_on_the_side_with_room():
    assert decide(person(1, 4.0, 0.5))["behavior"] == "PASS_RIGHT"
    assert decide(person(1, 4.0, -0.5))["behavior"] == "PASS_LEFT"


def test_close_person_in_front_means_stop():
    action = decide(person(1, 0.9, 0.1))
    assert action["behavior"] == "STOP" and action["max_speed"] == 0.0


def test_running_child_crossing_means_stop_even_at_a_distance():
    assert decide(person(1, 5.0, 4.0, vy=-3.0))["behavior"] == "STOP"


def test_crowd_ahead_means_slow_with_extra_clearance():
    crowd = [person(i, 4.0 + 0.3 * i, -1.2 + 0.8 * i) for i in range(4)]
    crowd = [TrackedObject(o.id, o.label, o.x, o.y) for o in crowd]
    action = decide(*crowd)
    assert action["behavior"] == "SLOW" and action["min_clearance"] >= 1.5


def test_wait_instruction_stops_and_sensor_trouble_slows():
    assert decide(intent=Intent(wait=True))["behavior"] == "STOP"
    assert decide(health=SensorHealth(scan_ok=False))["behavior"] == "SLOW"


@pytest.mark.parametrize("intent", [Intent(max_speed=0.3), Intent(min_distance=2.2)])
def test_instruction_constraints_bound_the_rules_action(intent):
    action = decide(person(3, 6.0, 0.1, vx=-1.2), intent=intent)
    if intent.max_speed is not None:
        assert action["max_speed"] <= intent.max_speed
    if intent.min_distance is not None:
        assert action["min_clearance"] >= intent.min_distance


def tentative(object_id, x, y):
    return TrackedObject(object_id, ObjectClass.PEDESTRIAN, x, y, confirmed=False)


def test_something_new_in_our_lane_slows_us_on_its_first_scan():
    action = decide(tentative(9, 4.0, 0.2))
    assert action["behavior"] == "SLOW" and action["max_speed"] <= 0.8
    assert "Something new appeared 4.0 m ahead" in action["thought"]
    # Beside the lane, behind us or far ahead, an unconfirmed return changes nothing.
    for x, y in ((4.0, 2.5), (-1.0, 0.0), (9.0, 0.0)):
        assert decide(tentative(9, x, y))["behavior"] == "FOLLOW_WALKWAY"


def test_a_tentative_track_never_stops_us_and_never_relaxes_a_decision():
    # Closer than the stop distance: a confirmed person stops us, an unconfirmed one slows.
    assert decide(person(4, 0.9, 0.0))["behavior"] == "STOP"
    assert decide(tentative(4, 0.9, 0.0))["behavior"] == "SLOW"
    # A slower rule already acting keeps acting.
    crossing = person(5, 2.0, 1.6, vy=-1.0)
    assert decide(crossing, tentative(6, 3.0, 0.0))["behavior"] in ("STOP", "YIELD")


def test_a_post_before_a_barrier_is_passed_on_the_barriers_open_side_from_anywhere():
    # narrow_passage: road works cover the right of the walkway from y=-1.5 to 0.3; a post
    # stands on the centre line just before them. The open side is the left, whichever of
    # the barrier's cells or the post is nearest, and wherever the robot is across the lane.
    post = TrackedObject(500, ObjectClass.UNKNOWN, 4.0, 0.0, radius=0.15)
    barrier = [TrackedObject(600 + k, ObjectClass.OBSTACLE, 5.2, y, radius=0.2)
               for k, y in enumerate((-1.3, -0.9, -0.5, -0.1, 0.1))]
    for robot_y in (-0.4, 0.0, 0.3):
        scene = Scene(stamp=0.0, robot=Pose2D(0.0, robot_y, 0.0),
                      robot_velocity=Velocity2D(0.8, 0.0), objects=(post, *barrier),
                      walkway=WALKWAY, health=HEALTHY)
        assert POLICY.propose(scene, None, 0.0)["behavior"] == "PASS_LEFT", robot_y


def test_a_thing_on_the_walkway_is_passed_at_our_pace_someone_standing_slowly():
    # A thing will not step into our way; someone standing may. The barrier of
    # narrow_passage was passed at the people's passing speed, 6 s along 6 m.
    barrier = TrackedObject(600, ObjectClass.OBSTACLE, 4.0, -0.5, radius=0.4)
    thing = decide(barrier, speed=1.2)
    someone = decide(person(1, 4.0, -0.5), speed=1.2)
    assert thing["behavior"] == someone["behavior"] == "PASS_LEFT"
    assert thing["max_speed"] == 1.5 and someone["max_speed"] == 0.8


def test_someone_standing_close_ahead_is_stopped_for_only_while_we_close_on_them():
    # A STOP for as long as they stand never ends (narrow_passage 29: a post tracked as a
    # person standing 1.1 m ahead held the robot until the timeout). Stopped, we pass.
    assert decide(person(1, 1.0, 0.1), speed=0.8)["behavior"] == "STOP"
    stopped = decide(person(1, 1.0, 0.1), speed=0.0)
    assert stopped["behavior"] in ("PASS_LEFT", "PASS_RIGHT") and stopped["max_speed"] == 0.8
    # Someone walking at us close in front is not passed at any speed: standing would
    # leave us on their line, so we move slowly out of it (the planner steps aside).
    walking_at_us = decide(person(1, 1.0, 0.1, vx=-1.0), speed=0.0)
    assert walking_at_us["behavior"] == "SLOW" and walking_at_us["target_id"] == 1
    assert walking_at_us["max_speed"] <= 0.4


def test_who_crosses_beyond_the_goal_is_no_one_to_wait_for():
    # crowd: 1.5 m from a goal between two streams, the robot stopped again and again for
    # walkers crossing its heading 3.5 m out, where it was never going.
    def crossing_at(x, goal):
        scene = Scene(stamp=0.0, robot=Pose2D(0.0, 0.0), robot_velocity=Velocity2D(0.5, 0.0),
                      objects=(person(1, x, -2.0, vy=1.2),), walkway=WALKWAY,
                      health=HEALTHY, goal=goal)
        return POLICY.propose(scene, None, 0.0)["behavior"]

    assert crossing_at(3.5, goal=None) in ("YIELD", "STOP")
    assert crossing_at(3.5, goal=(1.5, 0.0)) == "FOLLOW_WALKWAY"
    assert crossing_at(3.5, goal=(8.0, 0.0)) in ("YIELD", "STOP")
    assert crossing_at(1.2, goal=(1.5, 0.0)) in ("YIELD", "STOP")  # between us and it


def test_someone_close_ahead_walking_our_way_is_followed_not_stopped_for():
    action = decide(person(1, 0.9, 0.1, vx=1.0))
    assert action["behavior"] == "SLOW" and 0.0 < action["max_speed"] < 1.0
    coming_at_us = decide(person(1, 0.9, 0.1, vx=-1.0))
    assert coming_at_us["behavior"] == "SLOW" and coming_at_us["max_speed"] <= 0.4
    assert "walk into us" in coming_at_us["thought"]


def test_a_box_beside_the_walkway_is_left_to_the_planner_one_on_it_is_passed():
    # Robot on the keep-right line; a 1.8 m box just off the right edge, its lidar cluster
    # a circle of radius 0.9 that reaches into the lane.
    beside = TrackedObject(502, ObjectClass.OBSTACLE, 4.0, -1.3, radius=0.9)
    scene = Scene(stamp=0.0, robot=Pose2D(0.0, -0.75), robot_velocity=Velocity2D(1.2, 0.0),
                  objects=(TrackedObject(502, ObjectClass.OBSTACLE, 4.0, -1.9, radius=0.9),),
                  walkway=WALKWAY, health=HEALTHY)
    assert POLICY.propose(scene, None, 0.0)["behavior"] == "FOLLOW_WALKWAY"
    on_it = Scene(stamp=0.0, robot=Pose2D(0.0, -0.75), robot_velocity=Velocity2D(1.2, 0.0),
                  objects=(beside,), walkway=WALKWAY, health=HEALTHY)
    assert POLICY.propose(on_it, None, 0.0)["behavior"] in ("PASS_LEFT", "PASS_RIGHT")
    # Without a walkway there is no 'beside it': the box in the lane is passed.
    assert POLICY.propose(Scene(stamp=0.0, robot=Pose2D(0.0, -0.75), objects=scene.objects,
                                health=HEALTHY), None, 0.0)["behavior"] in (
        "PASS_LEFT", "PASS_RIGHT")


def beside(robot_y, *objects):
    return decide(*objects, speed=1.0, robot_y=robot_y)


def test_an_overtake_goes_on_once_we_have_pulled_out_beside_the_walker():
    # Pulled out to the walkway's left edge, 1.4 m behind a 0.5 m/s walker on the centre
    # line: they are out of our lane now, and that used to end the overtake.
    # (Within ~1.3 m in front, the close-in-front rule still follows them, slower.)
    for walker_x in (1.4, -0.5):
        action = beside(1.15, person(1, walker_x, 0.0, vx=0.5))
        assert action["behavior"] == "PASS_LEFT" and action["target_id"] == 1, walker_x
        # Beside them and out of their lane, at our own pace: at 1.0 m/s the robot spent
        # 8 s alongside a 0.5 m/s walker.
        assert action["max_speed"] == pytest.approx(1.5), walker_x
    # On their right, we carry on on the right rather than cut across behind them.
    assert beside(-1.15, person(1, 1.0, 0.0, vx=0.5))["behavior"] == "PASS_RIGHT"


def test_someone_slow_is_overtaken_briskly_someone_brisk_is_followed():
    slow, brisk = decide(person(1, 4.0, 0.1, vx=0.5)), decide(person(1, 4.0, 0.1, vx=1.2))
    assert slow["behavior"] == brisk["behavior"] == "PASS_LEFT"
    assert slow["max_speed"] > brisk["max_speed"] >= 0.5


def test_only_someone_slower_and_beside_us_is_overtaken():
    jogger = person(1, 0.3, 0.0, vx=2.8)  # beside us and faster: let them go
    assert beside(1.15, jogger)["behavior"] == "SLOW"
    far_ahead = person(1, 5.0, -1.2, vx=0.5)  # well ahead, out of our lane: no one to pass
    assert beside(1.15, far_ahead)["behavior"] == "FOLLOW_WALKWAY"
    passed = person(1, -1.5, 0.0, vx=0.5)  # behind us: the overtake is over
    assert beside(1.15, passed)["behavior"] == "FOLLOW_WALKWAY"


def test_a_stop_that_would_stand_in_a_walkers_line_slows_instead():
    # Someone about to cross in front asks for a stop; a walker coming up behind us along
    # our line would then walk into the robot standing there (crowd 7, 30). Keep moving
    # slowly, so the planner can step out of their way, and say whose way it is.
    crossing = person(1, 2.0, 1.2, vy=-1.0)
    from_behind = person(2, -1.8, 0.1, vx=1.2)
    action = decide(crossing, from_behind, speed=0.0)
    assert action["behavior"] == "SLOW" and action["target_id"] == 2
    assert 0.0 < action["max_speed"] <= 0.4
    # Seen coming 2.5 s out, not only at the last moment: with 2 s, crowd 30 stood under
    # STOP facing across the walkway until it timed out.
    further_back = person(2, -3.0, 0.1, vx=1.2)
    assert decide(crossing, further_back, speed=0.0)["behavior"] == "SLOW"
    # Passing well to our side, or walking away, they leave the stop as it was.
    assert decide(crossing, person(2, -1.8, 1.4, vx=1.2), speed=0.0)["behavior"] == "STOP"
    assert decide(crossing, person(2, -1.2, 0.1, vx=-1.2), speed=0.0)["behavior"] == "STOP"
    # Told to wait, we wait.
    assert decide(crossing, from_behind, intent=Intent(wait=True))["behavior"] == "STOP"
    # The one we stop for may be that walker: crossing 1 m ahead, they would pass 0.3 m
    # from where we stand, and someone who does not see us would brush past (replay 49).
    close_crossing = person(1, 1.0, 1.4, vy=-1.2)
    action = decide(close_crossing, speed=0.0)
    assert action["behavior"] == "SLOW" and action["target_id"] == 1
