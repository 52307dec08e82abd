"""The world: determinism, the robot's limits and timeout, events and ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reasonact_ros import scene
from reasonact_ros.sim import World, load_scenario
from reasonact_ros.sim.events import EpisodeEvent
from reasonact_ros.sim.scenario import (
    ObstacleSpec,
    PedestrianSpec,
    RobotParams,
    Scenario,
    WalkwaySpec,
)


def make_scenario(**overrides) -> Scenario:
    fields = dict(name="test", path=Path("test.yaml"), seed=0, duration_s=30.0,
                  robot_start=scene.Pose2D(), goal=scene.Goal(((20.0, 0.0),)),
                  bounds=(-5.0, -5.0, 25.0, 5.0),
                  walkways=(WalkwaySpec("main", ((-5.0, 0.0), (25.0, 0.0)), 3.0),))
    fields.update(overrides)
    return Scenario(**fields)


def drive(world: World, linear: float, angular: float = 0.0, seconds: float = 1.0,
          dt: float = 0.05) -> list[EpisodeEvent]:
    events = []
    for _ in range(int(round(seconds / dt))):
        world.command(scene.Velocity2D(linear, angular))
        events += world.step(dt)
    return events


def test_same_seed_and_commands_give_identical_trajectories():
    runs = []
    for _ in range(2):
        world = World(load_scenario("crowd"), seed=42)
        trace = []
        for k in range(100):
            world.command(scene.Velocity2D(1.0, 0.3 * math.sin(0.1 * k)))
            world.step(0.05)
            if k % 3 == 0:
                world.scan()  # scanning must not disturb the people's random stream
            people = world.people()
            trace.append((world.robot_pose(), people.ids.copy(), people.positions.copy()))
        runs.append((trace, world.scan().ranges))
    (trace_a, scan_a), (trace_b, scan_b) = runs
    for (pose_a, ids_a, pos_a), (pose_b, ids_b, pos_b) in zip(trace_a, trace_b, strict=True):
        assert pose_a == pose_b
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(pos_a, pos_b)
    np.testing.assert_array_equal(scan_a, scan_b)


def test_a_different_seed_gives_a_different_crowd():
    a, b = World(load_scenario("crowd"), seed=1), World(load_scenario("crowd"), seed=2)
    for world in (a, b):
        drive(world, 0.0, seconds=3.0)
    assert not np.array_equal(a.people().positions, b.people().positions)


def test_how_often_the_caller_scans_does_not_change_the_people():
    quiet, busy = World(load_scenario("crowd")), World(load_scenario("crowd"))
    for _ in range(60):
        quiet.step(0.05)
        busy.step(0.05)
        busy.scan()
    np.testing.assert_array_equal(quiet.people().positions, busy.people().positions)


def test_robot_respects_speed_and_acceleration_limits():
    params = RobotParams(max_linear_speed=1.5, max_linear_accel=1.0, max_angular_speed=1.0)
    world = World(make_scenario(robot=params))
    world.command(scene.Velocity2D(5.0, 9.0))
    world.step(0.1)
    assert world.robot_velocity().linear == pytest.approx(0.1)  # 1 m/s^2 for 0.1 s
    drive(world, 5.0, 9.0, seconds=3.0)
    assert world.robot_velocity().linear == pytest.approx(1.5)
    assert world.robot_velocity().angular == pytest.approx(1.0)


def test_robot_drives_a_circle_of_the_commanded_radius():
    world = World(make_scenario())
    drive(world, 1.0, 0.5, seconds=4.0)  # reach the command first
    start = world.robot_pose()
    drive(world, 1.0, 0.5, seconds=2.0 * math.pi / 0.5)
    end = world.robot_pose()
    assert math.hypot(end.x - start.x, end.y - start.y) < 0.02


def test_robot_stops_when_commands_stop_decelerating_within_limits():
    world = World(make_scenario())
    drive(world, 1.0, seconds=2.0)
    assert world.robot_velocity().linear == pytest.approx(1.0)
    speeds = []
    for _ in range(40):  # no commands from here on
        world.step(0.05)
        speeds.append(world.robot_velocity().linear)
    # Still moving before the 0.5 s timeout, then braking at <= 1 m/s^2 until stopped.
    assert speeds[8] == pytest.approx(1.0)
    assert all(a - b <= 0.05 + 1e-9 for a, b in zip(speeds, speeds[1:], strict=False))
    assert speeds[-1] == 0.0


def test_non_finite_command_is_rejected():
    world = World(make_scenario())
    with pytest.raises(ValueError, match="finite"):
        world.command(scene.Velocity2D(math.nan, 0.0))
    with pytest.raises(TypeError):
        world.command((1.0, 0.0))
    with pytest.raises(ValueError, match="dt"):
        world.step(0.0)


def test_driving_into_a_standing_person_is_one_event_and_the_robots_fault():
    person = PedestrianSpec(id=9, start=(3.0, 0.0), robot_reaction=0.0, walkway_attraction=0.0)
    world = World(make_scenario(pedestrians=(person,)))
    events = drive(world, 0.8, seconds=6.0)
    collisions = [e for e in events if e.kind == "collision_person"]
    assert len(collisions) == 1
    assert collisions[0].other_id == 9 and collisions[0].robot_at_fault
    assert world.min_person_distance < 0.0
    assert world.events == events


def test_contact_ends_and_a_new_contact_is_a_new_event():
    person = PedestrianSpec(id=9, start=(1.0, 0.0), robot_reaction=0.0, walkway_attraction=0.0,
                            desired_speed=0.0)
    world = World(make_scenario(pedestrians=(person,)))
    first = [e for e in drive(world, 0.6, seconds=1.5) if e.kind == "collision_person"]
    backed = drive(world, -0.3, seconds=4.0)
    again = [e for e in drive(world, 0.6, seconds=3.0) if e.kind == "collision_person"]
    assert len(first) == 1 and not [e for e in backed if e.kind == "collision_person"]
    assert len(again) == 1


def test_driving_into_an_obstacle_is_one_event_and_the_robot_cannot_pass():
    wall = ObstacleSpec(id=77, shape="box", x=3.0, y=0.0, length=0.4, width=4.0)
    world = World(make_scenario(obstacles=(wall,)))
    events = drive(world, 1.0, seconds=6.0)
    collisions = [e for e in events if e.kind == "collision_obstacle"]
    assert len(collisions) == 1
    assert collisions[0].other_id == 77 and collisions[0].robot_at_fault
    assert world.robot_pose().x == pytest.approx(3.0 - 0.2 - 0.3, abs=1e-6)


def test_goal_reached_ends_the_episode_with_one_event():
    world = World(make_scenario(goal=scene.Goal(((3.0, 0.0),), tolerance=0.3)))
    events = drive(world, 1.0, seconds=6.0)
    assert [e.kind for e in events] == ["goal_reached"]
    assert world.done and world.outcome == "goal_reached"
    assert 2.6 < events[0].time < 4.5


def test_route_waypoints_must_be_passed_in_order():
    goal = scene.Goal(((3.0, 3.0), (4.0, 0.0)), tolerance=0.3)
    straight = World(make_scenario(goal=goal))
    drive(straight, 1.0, seconds=6.0)  # straight past the final point, skipping the first
    assert not straight.done and straight.next_waypoint_index == 0


def test_timeout_ends_the_episode():
    world = World(make_scenario(duration_s=1.0))
    events = drive(world, 0.0, seconds=1.5)
    assert [e.kind for e in events] == ["timeout"]
    assert world.outcome == "timeout" and world.done
    assert events[0].time == pytest.approx(1.0)


def test_ground_truth_reports_people_and_obstacles_with_walkway_flags():
    person = PedestrianSpec(id=4, start=(5.0, 0.5), waypoints=((-5.0, 0.5),))
    bin_ = ObstacleSpec(id=80, shape="circle", x=6.0, y=3.0, radius=0.3)
    world = World(make_scenario(pedestrians=(person,), obstacles=(bin_,)))
    drive(world, 0.0, seconds=1.0)
    truth = {o.id: o for o in world.ground_truth()}
    assert truth[4].label == scene.ObjectClass.PEDESTRIAN and truth[4].on_walkway
    assert truth[4].vx < -0.5 and truth[4].age_s == pytest.approx(1.0)
    assert truth[80].label == scene.ObjectClass.OBSTACLE and not truth[80].on_walkway
    assert truth[80].radius == pytest.approx(0.3)
    walkway = world.walkway()
    np.testing.assert_allclose(walkway.left[0], [-5.0, 1.5])
    np.testing.assert_allclose(walkway.right[0], [-5.0, -1.5])


def test_min_person_distance_is_surface_to_surface():
    person = PedestrianSpec(id=1, start=(2.0, 0.0))
    world = World(make_scenario(pedestrians=(person,)))
    assert world.min_person_distance == pytest.approx(2.0 - 0.25 - 0.3)
    assert World(make_scenario()).min_person_distance == math.inf


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError):
        World("head_on")
    with pytest.raises(ValueError, match="seed"):
        World(make_scenario(), seed=-1)
    with pytest.raises(ValueError, match="kind"):
        EpisodeEvent(0.0, "explosion")


def test_legs_lidar_model_sees_a_walking_person_as_two_legs(tmp_path):
    from reasonact_ros.sim.scenario import LidarParams

    person = PedestrianSpec(id=1, start=(4.0, 0.0), walkway_attraction=0.0)
    body = World(make_scenario(pedestrians=(person,), lidar=LidarParams(noise_std=0.0,
                                                                        beams=1440)))
    legs = World(make_scenario(pedestrians=(person,), lidar=LidarParams(
        noise_std=0.0, beams=1440, people_model="legs")))
    body_hits = np.isfinite(body.scan().ranges)
    leg_hits = np.isfinite(legs.scan().ranges)
    assert 0 < np.count_nonzero(leg_hits) < np.count_nonzero(body_hits)
    assert np.min(legs.scan().ranges) > np.min(body.scan().ranges) + 0.1
