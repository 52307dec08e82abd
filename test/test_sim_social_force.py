"""Social-force people: passing, obstacles, standing, groups, robot reaction, spawning."""

from __future__ import annotations

import numpy as np
import pytest

from reasonact_ros.sim.scenario import (
    ObstacleSpec,
    PedestrianSpec,
    SocialForceParams,
    SpawnerSpec,
    WalkwaySpec,
)
from reasonact_ros.sim.social_force import Crowd, ObstacleField, RobotAgent

WALKWAY = (WalkwaySpec("main", ((-10.0, 0.0), (30.0, 0.0)), 3.0),)


def make_crowd(people, obstacles=(), spawners=(), walkways=WALKWAY, seed=0, **params):
    return Crowd(tuple(people), tuple(spawners), tuple(obstacles), walkways,
                 SocialForceParams(**params), np.random.default_rng(seed))


def min_pair_gap(crowd, steps, dt=0.05, robot=None):
    smallest = np.inf
    for k in range(steps):
        crowd.step(dt, k * dt, robot)
        if crowd.count >= 2:
            gap = np.linalg.norm(crowd.pos[0] - crowd.pos[1]) - crowd.radius[0] - crowd.radius[1]
            smallest = min(smallest, gap)
    return smallest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_people_walking_head_on_pass_without_touching(seed):
    crowd = make_crowd([
        PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((12.0, 0.0),), on_finish="stand"),
        PedestrianSpec(id=2, start=(12.0, 0.0), waypoints=((0.0, 0.0),), on_finish="stand"),
    ], seed=seed)
    gap = min_pair_gap(crowd, 240)
    assert gap > 0.1
    assert crowd.pos[0, 0] > 11.0 and crowd.pos[1, 0] < 1.0  # and both got where they went


def test_without_the_interaction_forces_they_would_collide():
    crowd = make_crowd([
        PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((20.0, 0.0),)),
        PedestrianSpec(id=2, start=(20.0, 0.0), waypoints=((0.0, 0.0),)),
    ], person_repulsion=0.0, evasion_strength=0.0, noise_std=0.0)
    assert min_pair_gap(crowd, 300) < 0.0


def test_oncoming_people_keep_to_their_right():
    crowd = make_crowd([
        PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((20.0, 0.0),)),
        PedestrianSpec(id=2, start=(20.0, 0.0), waypoints=((0.0, 0.0),)),
    ], noise_std=0.0)
    lateral = []
    for k in range(160):
        crowd.step(0.05, k * 0.05, None)
        lateral.append(crowd.pos[:, 1].copy())
    lateral = np.array(lateral)
    lowest, highest = lateral.min(axis=0), lateral.max(axis=0)
    assert lowest[0] < -0.1  # walking +x, right is -y
    assert highest[1] > 0.1  # walking -x, right is +y


def _lateral_track(crowd, robot, steps=200):
    """The person's y at each step, walking past ``robot`` (standing)."""
    track = []
    for k in range(steps):
        crowd.step(0.05, k * 0.05, robot)
        track.append(crowd.pos[0, 1])
    return np.array(track)


def test_someone_standing_just_right_of_our_line_is_passed_on_the_short_side():
    # Keeping right is for meeting people. A robot standing 0.3 m right of a walker's
    # line is passed on the walker's left: going round its right side is the long way,
    # and it took walkers into a robot at the walkway's edge (crowd 31, 49).
    robot = RobotAgent(6.0, -0.3, 0.0, 0.0, 0.3)
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((14.0, 0.0),))],
                       walkways=(WalkwaySpec("main", ((-10.0, 0.0), (30.0, 0.0)), 6.0),),
                       noise_std=0.0)
    track = _lateral_track(crowd, robot)
    assert track.min() > -0.05  # never to the robot's far (right) side
    assert track.max() > 0.3  # stepped left, round it


def test_someone_standing_near_the_edge_is_passed_on_the_side_with_room():
    # Dead ahead of a walker near the walkway's right edge, a standing robot is passed
    # on the walkway's side, not squeezed past on the edge (the keep-right side).
    robot = RobotAgent(6.0, -1.0, 0.0, 0.0, 0.3)
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, -1.0), waypoints=((14.0, -1.0),))],
                       noise_std=0.0)  # 3 m walkway: its right edge is at y = -1.5
    track = _lateral_track(crowd, robot)
    assert track.max() > -0.5  # round the robot's middle-of-the-walkway side
    assert track.min() > -1.2


def test_a_person_walks_around_an_obstacle_in_their_way():
    pillar = ObstacleSpec(id=50, shape="circle", x=5.0, y=0.0, radius=0.4)
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 0.05), waypoints=((10.0, 0.0),),
                                       on_finish="stand")], obstacles=[pillar])
    field = ObstacleField((pillar,))
    closest = np.inf
    for k in range(300):
        crowd.step(0.05, k * 0.05, None)
        closest = min(closest, field.distances(crowd.pos)[0][0, 0] - crowd.radius[0])
    assert closest > 0.0
    assert crowd.pos[0, 0] > 9.0


def test_box_obstacle_distance_and_normal():
    box = ObstacleSpec(id=1, shape="box", x=0.0, y=0.0, length=2.0, width=1.0, yaw=np.pi / 2)
    distance, normals = ObstacleField((box,)).distances(np.array([[0.0, 3.0], [2.0, 0.0],
                                                                 [0.0, 0.9]]))
    np.testing.assert_allclose(distance[:, 0], [2.0, 1.5, -0.1], atol=1e-9)
    np.testing.assert_allclose(normals[0, 0], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(normals[1, 0], [1.0, 0.0], atol=1e-9)


def test_a_standing_person_stays_put():
    crowd = make_crowd([PedestrianSpec(id=1, start=(3.0, 0.5))])
    min_pair_gap(crowd, 200)
    np.testing.assert_allclose(crowd.pos[0], [3.0, 0.5], atol=0.1)


def test_waiting_person_starts_when_the_robot_comes_near():
    crowd = make_crowd([PedestrianSpec(id=1, start=(10.0, -3.0), waypoints=((10.0, 3.0),),
                                       start_when_robot_within=5.0, walkway_attraction=0.0)])
    far = RobotAgent(0.0, 0.0, 0.0, 0.0, 0.3)
    for k in range(40):
        crowd.step(0.05, k * 0.05, far)
    assert crowd.pos[0, 1] == pytest.approx(-3.0, abs=0.05)
    near = RobotAgent(7.0, 0.0, 0.0, 0.0, 0.3)
    for k in range(40):
        crowd.step(0.05, 2.0 + k * 0.05, near)
    assert crowd.pos[0, 1] > -1.5


def test_people_who_finish_their_route_leave():
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((3.0, 0.0),))])
    min_pair_gap(crowd, 100)
    assert crowd.count == 0


def test_looping_people_keep_walking_their_route():
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 0.0), loop=True,
                                       waypoints=((4.0, 0.0), (0.0, 0.0)))])
    xs = []
    for k in range(300):
        crowd.step(0.05, k * 0.05, None)
        xs.append(crowd.pos[0, 0])
    assert crowd.count == 1
    assert sum(1 for a, b in zip(xs, xs[1:], strict=False) if a < 2.0 <= b) >= 2


def test_walkway_users_stay_on_the_walkway():
    crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 1.0), waypoints=((20.0, 2.5),))])
    worst = 0.0
    for k in range(300):
        crowd.step(0.05, k * 0.05, None)
        worst = max(worst, crowd.pos[0, 1])
    assert worst < 1.5  # the waypoint lies 1 m off the walkway's edge
    free = make_crowd([PedestrianSpec(id=1, start=(0.0, 1.0), waypoints=((20.0, 2.5),),
                                      walkway_attraction=0.0)])
    min_pair_gap(free, 300)
    assert free.pos[0, 1] > 2.0


def test_group_members_stay_together():
    group = [PedestrianSpec(id=i, start=(0.0, y), waypoints=((20.0, y),), group="g",
                            desired_speed=speed)
             for i, (y, speed) in enumerate([(0.8, 1.5), (0.0, 1.0), (-0.8, 1.2)], start=1)]
    alone = [PedestrianSpec(id=i, start=(0.0, y), waypoints=((20.0, y),), desired_speed=speed)
             for i, (y, speed) in enumerate([(0.8, 1.5), (0.0, 1.0), (-0.8, 1.2)], start=1)]
    spreads = []
    for people in (group, alone):
        crowd = make_crowd(people)
        for k in range(200):
            crowd.step(0.05, k * 0.05, None)
        spreads.append(np.ptp(crowd.pos[:, 0]))
    assert spreads[0] < 1.5 < spreads[1]


def test_robot_reaction_sets_how_much_people_avoid_the_robot():
    robot = RobotAgent(10.0, 0.0, -1.0, 0.0, 0.3)
    gaps = []
    for reaction in (0.0, 1.0, 3.0):
        crowd = make_crowd([PedestrianSpec(id=1, start=(0.0, 0.0), waypoints=((20.0, 0.0),),
                                           robot_reaction=reaction)], noise_std=0.0)
        closest = np.inf
        for k in range(120):
            moving = RobotAgent(robot.x - k * 0.05, 0.0, -1.0, 0.0, 0.3)
            crowd.step(0.05, k * 0.05, moving)
            closest = min(closest, np.hypot(crowd.pos[0, 0] - moving.x, crowd.pos[0, 1]))
        gaps.append(closest)
    assert gaps[0] < 0.1 < gaps[1] < gaps[2]


def test_spawner_adds_people_at_its_rate_and_they_walk_away():
    spawner = SpawnerSpec(id_start=200, rate=2.0, start=(0.0, 0.0), waypoints=((30.0, 0.0),),
                          spread=1.0, max_alive=50)
    crowd = make_crowd([], spawners=[spawner], seed=3)
    for k in range(200):
        crowd.step(0.05, k * 0.05, None)
    assert 10 <= crowd.count <= 35  # Poisson(20)
    assert crowd.ids.min() == 200 and len(set(crowd.ids.tolist())) == crowd.count
    assert np.all(np.abs(crowd.pos[:, 1]) <= 1.5)


def test_nobody_arrives_inside_the_robot_standing_in_the_entrance():
    spawner = SpawnerSpec(id_start=200, rate=5.0, start=(0.0, 0.0), waypoints=((30.0, 0.0),),
                          spread=1.0, max_alive=50)
    crowd = make_crowd([], spawners=[spawner], seed=3)
    in_the_way = RobotAgent(0.5, 0.4, 0.0, 0.0, 0.3)
    for k in range(40):
        crowd.step(0.05, k * 0.05, in_the_way)
    assert crowd.count == 0  # they wait beyond the edge of the map
    aside = RobotAgent(0.5, 3.0, 0.0, 0.0, 0.3)
    for k in range(40, 80):
        crowd.step(0.05, k * 0.05, aside)
    assert crowd.count >= 1  # the entrance is clear: they come
    gaps = np.hypot(crowd.pos[:, 0] - 0.5, crowd.pos[:, 1] - 3.0) - 0.3 - crowd.radius
    assert np.all(gaps > 0.0)


def test_spawner_respects_max_alive():
    spawner = SpawnerSpec(id_start=200, rate=5.0, start=(0.0, 0.0), waypoints=((30.0, 0.0),),
                          max_alive=3)
    crowd = make_crowd([], spawners=[spawner])
    for k in range(100):
        crowd.step(0.05, k * 0.05, None)
    assert crowd.count == 3


def test_spawned_people_skip_ids_already_in_use():
    spawner = SpawnerSpec(id_start=5, rate=5.0, start=(0.0, 0.0), waypoints=((30.0, 0.0),))
    crowd = Crowd((PedestrianSpec(id=6, start=(10.0, 3.0)),), (spawner,), (), WALKWAY,
                  SocialForceParams(), np.random.default_rng(0), reserved_ids=frozenset({7}))
    for k in range(20):
        crowd.step(0.05, k * 0.05, None)
    ids = crowd.ids.tolist()
    assert len(ids) == len(set(ids)) >= 4
    assert ids.count(6) == 1 and 7 not in ids and 5 in ids
