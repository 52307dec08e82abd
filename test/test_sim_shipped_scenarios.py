"""Each shipped scenario poses the situation its name promises."""

from __future__ import annotations

import numpy as np

from reasonact_ros import scene
from reasonact_ros.sim import World, load_scenario


def run(world: World, seconds: float, linear: float = 1.2, every=None) -> None:
    for _ in range(int(round(seconds / 0.05))):
        world.command(scene.Velocity2D(linear, 0.0))
        world.step(0.05)
        if every is not None:
            every(world)


def lidar_hits_on(world: World, person_id: int) -> int:
    people = world.people()
    k = people.ids.tolist().index(person_id)
    points = world.scan().points_odom()
    return int(np.count_nonzero(
        np.linalg.norm(points - people.positions[k], axis=1) < people.radii[k] + 0.05))


def person(world: World, person_id: int) -> scene.TrackedObject:
    return next(o for o in world.ground_truth() if o.id == person_id)


def test_head_on_person_walks_at_the_robot_along_the_centre():
    world = World(load_scenario("head_on"))
    run(world, 2.0, linear=0.0)
    walker = person(world, 1)
    assert walker.vx < -1.0 and abs(walker.y) < 0.2 and walker.on_walkway


def test_crossing_person_crosses_the_walkway_in_front_of_the_robot():
    world = World(load_scenario("crossing"))
    ys = []
    run(world, 12.0, every=lambda w: ys.append(person(w, 1).y) if w.people().count else None)
    assert min(ys) < -1.5 and max(ys) > 1.5


def test_overtaking_person_walks_slowly_ahead_in_the_robots_direction():
    world = World(load_scenario("overtaking"))
    run(world, 3.0, linear=0.0)
    walker = person(world, 1)
    assert 0.3 < walker.vx < 0.7 and walker.x > 4.0


def test_standing_people_stay_where_they_are():
    world = World(load_scenario("standing"))
    start = {o.id: (o.x, o.y) for o in world.ground_truth()}
    run(world, 10.0, linear=0.0)
    for o in world.people().ids.tolist():
        now = person(world, o)
        assert np.hypot(now.x - start[o][0], now.y - start[o][1]) < 0.3


def test_group_walks_together_towards_the_robot():
    world = World(load_scenario("group"))
    run(world, 8.0, linear=0.0)
    members = [person(world, i) for i in (1, 2, 3)]
    xs = [m.x for m in members]
    assert max(xs) - min(xs) < 1.5 and all(m.vx < -0.5 for m in members)


def test_crowd_has_at_least_fifteen_people_on_the_walkway():
    world = World(load_scenario("crowd"))
    people = [o for o in world.ground_truth() if o.label == scene.ObjectClass.PEDESTRIAN]
    assert len(people) >= 15 and all(p.on_walkway for p in people)
    run(world, 10.0, linear=0.0)
    assert world.people().count >= 15


def test_narrow_passage_leaves_a_gap_the_person_comes_through():
    scenario = load_scenario("narrow_passage")
    barrier = next(o for o in scenario.obstacles if o.shape == "box")
    gap = scenario.walkways[0].width / 2 - (barrier.y + barrier.width / 2)
    assert 2 * scenario.robot.radius + 0.4 < gap < 1.5
    world = World(scenario)
    beside = []
    run(world, 14.0, linear=0.0,
        every=lambda w: beside.append(person(w, 1).y)
        if w.people().count and abs(person(w, 1).x - barrier.x) < 0.5 else None)
    assert beside and min(beside) > barrier.y + barrier.width / 2


def test_child_runs_across_at_two_and_a_half_metres_per_second_or_more():
    world = World(load_scenario("child_running"))
    speeds, ys = [], []

    def note(w):
        if 1 in w.people().ids:
            child = person(w, 1)
            speeds.append(child.speed)
            ys.append(child.y)

    run(world, 12.0, every=note)
    assert max(speeds) >= 2.5 and min(ys) < -3.0 and max(ys) > 3.0


def test_occluded_person_is_hidden_from_the_lidar_until_stepping_out():
    world = World(load_scenario("occluded_stepout"))
    assert lidar_hits_on(world, 1) == 0
    hidden_until = []

    def note(w):
        # Scans at 10 Hz, as the sim node would.
        if not hidden_until and round(w.time * 20) % 2 == 0 and lidar_hits_on(w, 1) > 0:
            hidden_until.append((w.robot_pose().x, person(w, 1)))

    run(world, 10.0, every=note)
    robot_x, seen = hidden_until[0]
    assert robot_x > 5.0  # hidden for the first metres of the approach
    assert seen.speed > 0.5  # first seen while stepping out, not while waiting
    assert seen.x - robot_x < 6.0  # and then it is close
