"""MPPI in closed loop with a perfect unicycle: goals, obstacles, people, decisions."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from reasonact_ros.planning import PlannerInput, make_planner
from reasonact_ros.planning.mppi import MPPIConfig, MPPIPlanner, overtaking_us
from reasonact_ros.scene import (
    Behavior,
    Decision,
    Goal,
    Limits,
    ObjectClass,
    Pose2D,
    TrackedObject,
    Velocity2D,
    Walkway,
)

DT = 0.05
LIMITS = Limits()


@pytest.fixture(autouse=True)
def one_torch_thread():
    # Small tensors gain nothing from a second thread, and on a shared CI machine the
    # OpenMP barrier waits for a descheduled peer; restore the caller's setting after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def decision(behavior=Behavior.PROCEED, max_speed=1.2, min_clearance=0.6, target_id=-1):
    return Decision(behavior, max_speed, min_clearance, valid_until=1e9, target_id=target_id)


def small_planner(**overrides) -> MPPIPlanner:
    # Fewer samples keep the closed loops fast and still find the behaviours under test.
    params = {"samples": 400, "seed": 1} | overrides
    return MPPIPlanner(MPPIConfig(**params))


def ring(cx, cy, radius, count=40):
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.column_stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)])


NO_POINTS = np.zeros((0, 2))


def run(planner, goal, *, people=(), obstacles=NO_POINTS, walkway=None, decide=None,
        seconds=12.0, start=None, speed=0.0):
    """Drive a perfect unicycle from ``start`` (the origin) at ``speed``; people walk at
    constant velocity."""
    decide = decide or decision()
    pose, velocity = start or Pose2D(), Velocity2D(speed, 0.0)
    people = list(people)
    log = {"poses": [], "commands": [], "people": [], "status": []}
    for step in range(int(seconds / DT)):
        now = step * DT
        result = planner.plan(PlannerInput(now, pose, velocity, goal, tuple(people), obstacles,
                                           walkway, decide, LIMITS))
        log["poses"].append(pose)
        log["commands"].append(result.command)
        log["people"].append(tuple(people))
        log["status"].append(result.status)
        if result.status == "goal_reached":
            break
        v, w = result.command.linear, result.command.angular
        pose = Pose2D(pose.x + v * math.cos(pose.yaw + 0.5 * w * DT) * DT,
                      pose.y + v * math.sin(pose.yaw + 0.5 * w * DT) * DT, pose.yaw + w * DT)
        velocity = result.command
        people = [TrackedObject(p.id, p.label, p.x + p.vx * DT, p.y + p.vy * DT, p.vx, p.vy,
                                p.radius) for p in people]
    return log


def min_gap_to_people(log, robot_radius=0.3):
    gaps = [math.hypot(pose.x - p.x, pose.y - p.y) - robot_radius - p.radius
            for pose, people in zip(log["poses"], log["people"], strict=True) for p in people]
    return min(gaps)


def oncoming(x=7.0, y=0.0, speed=1.0):
    return TrackedObject(7, ObjectClass.PEDESTRIAN, x, y, -speed, 0.0)


def test_reaches_goal_in_open_space():
    log = run(small_planner(), Goal(((5.0, 2.0),)))
    assert log["status"][-1] == "goal_reached"
    last = log["poses"][-1]
    assert math.hypot(last.x - 5.0, last.y - 2.0) <= 0.3


def test_goes_around_a_static_obstacle_without_touching_it():
    obstacle = np.vstack([ring(2.5, 0.0, r, 40) for r in (0.1, 0.2, 0.3)])
    log = run(small_planner(), Goal(((5.0, 0.0),)), obstacles=obstacle)
    assert log["status"][-1] == "goal_reached"
    closest = min(np.min(np.hypot(obstacle[:, 0] - p.x, obstacle[:, 1] - p.y))
                  for p in log["poses"])
    assert closest > 0.3  # the footprint radius: no contact
    assert max(abs(p.y) for p in log["poses"]) > 0.5  # it really went around


def test_keeps_min_clearance_from_an_oncoming_pedestrian():
    min_clearance = 0.8
    log = run(small_planner(), Goal(((10.0, 0.0),)), people=[oncoming()],
              decide=decision(min_clearance=min_clearance), seconds=14.0)
    assert log["status"][-1] == "goal_reached"
    assert min_gap_to_people(log) >= min_clearance - 0.05


def test_the_pedestrian_prediction_is_what_keeps_the_clearance():
    # Without people costs (a planner blind to people) the same run comes much closer:
    # proves the clearance in the test above is the planner's doing.
    blind = small_planner(person_clearance_weight=0.0, proxemics_weight=0.0,
                          collision_weight=0.0)
    log = run(blind, Goal(((10.0, 0.0),)), people=[oncoming()],
              decide=decision(min_clearance=0.8), seconds=6.0)  # they meet after ~3.5 s
    assert min_gap_to_people(log) < 0.4


def lateral_when_level(log):
    """The robot's y minus the person's y when they are level along x."""
    for pose, people in zip(log["poses"], log["people"], strict=True):
        if people and pose.x >= people[0].x:
            return pose.y - people[0].y
    raise AssertionError("the robot never drew level with the person")


@pytest.mark.parametrize("behavior, sign", [(Behavior.PASS_LEFT, 1.0),
                                            (Behavior.PASS_RIGHT, -1.0)])
def test_pass_left_and_right_choose_the_side(behavior, sign):
    # The person walks slightly off the line to make one side the natural choice for
    # PASS_LEFT and the other for PASS_RIGHT: the decision must override it both ways.
    person = oncoming(y=0.05 * sign)
    log = run(small_planner(), Goal(((10.0, 0.0),)), people=[person],
              decide=decision(behavior, min_clearance=0.6, target_id=7), seconds=14.0)
    assert sign * lateral_when_level(log) > 1.0


def test_stop_commands_zero_and_reports_waiting():
    planner = small_planner()
    inp = PlannerInput(0.0, Pose2D(), Velocity2D(1.0, 0.2), Goal(((5.0, 0.0),)), (),
                       np.zeros((0, 2)), None, decision(Behavior.STOP), LIMITS)
    result = planner.plan(inp)
    assert result.status == "waiting"
    assert result.command == Velocity2D(0.0, 0.0)
    log = run(small_planner(), Goal(((5.0, 0.0),)), decide=decision(Behavior.STOP),
              seconds=1.0)
    assert log["poses"][-1] == Pose2D()


def test_max_speed_and_slow_cap_the_commands():
    log = run(small_planner(), Goal(((8.0, 0.0),)), decide=decision(max_speed=0.4),
              seconds=3.0)
    speeds = [c.linear for c in log["commands"]]
    assert max(speeds) <= 0.4 + 1e-6
    assert max(speeds) > 0.3  # it does drive, at the cap
    slow = run(small_planner(slow_speed=0.25), Goal(((8.0, 0.0),)),
               decide=decision(Behavior.SLOW, max_speed=1.2), seconds=3.0)
    assert max(c.linear for c in slow["commands"]) <= 0.25 + 1e-6


def test_commands_respect_the_acceleration_limits():
    log = run(small_planner(), Goal(((6.0, 3.0),)), seconds=3.0)
    commands = [Velocity2D()] + log["commands"]
    dv = [abs(b.linear - a.linear) for a, b in zip(commands, commands[1:], strict=False)]
    dw = [abs(b.angular - a.angular) for a, b in zip(commands, commands[1:], strict=False)]
    assert max(dv) <= LIMITS.max_linear_accel * DT + 1e-5
    assert max(dw) <= LIMITS.max_angular_accel * DT + 1e-5


def test_yield_waits_for_a_crossing_pedestrian_then_goes():
    crossing = TrackedObject(3, ObjectClass.PEDESTRIAN, 3.0, -3.0, 0.0, 1.0)
    log = run(small_planner(), Goal(((6.0, 0.0),)), people=[crossing],
              decide=decision(Behavior.YIELD, min_clearance=0.6), seconds=14.0)
    yielding = [c for c, s in zip(log["commands"], log["status"], strict=True)
                if s == "yielding"]
    assert yielding and all(c.linear == 0.0 for c in yielding)
    assert log["status"][-1] == "goal_reached"
    assert min_gap_to_people(log) >= 0.6


def test_follow_walkway_keeps_right():
    walkway = Walkway(left=np.array([[-5.0, 2.0], [30.0, 2.0]]),
                      right=np.array([[-5.0, -2.0], [30.0, -2.0]]))
    log = run(small_planner(), Goal(((12.0, 0.0),)), walkway=walkway,
              decide=decision(Behavior.FOLLOW_WALKWAY), seconds=6.0)
    assert log["poses"][-1].y < -0.5  # the right half of a 4 m walkway
    assert min(p.y for p in log["poses"]) > -2.0 + 0.3  # and still on it


WALKWAY_3M = Walkway(left=np.array([[-10.0, 1.5], [40.0, 1.5]]),
                     right=np.array([[-10.0, -1.5], [40.0, -1.5]]))


def group_abreast(x=9.0, speed=1.1):
    """Three people walking towards the robot side by side, filling a 3 m walkway."""
    return [TrackedObject(i, ObjectClass.PEDESTRIAN, x, y, -speed, 0.0, 0.25)
            for i, y in enumerate((0.9, 0.0, -0.9), start=1)]


def test_a_group_filling_the_walkway_is_met_on_the_verge_not_fled_from():
    log = run(small_planner(), Goal(((20.0, -0.75),)), people=group_abreast(),
              walkway=WALKWAY_3M, decide=decision(Behavior.PASS_RIGHT, 0.8, 1.0), seconds=9.0)
    assert min(p.x for p in log["poses"]) > -0.5  # never turned back along the walkway
    assert min(p.y for p in log["poses"]) < -1.5  # stepped off on the right
    assert min_gap_to_people(log) > 0.45  # and stayed out of their intimate space
    assert log["poses"][-1].x > 4.0  # and went on once they were by


def test_the_verge_is_only_granted_for_people_who_leave_no_room():
    one = [TrackedObject(1, ObjectClass.PEDESTRIAN, 6.0, 0.9, -1.0, 0.0, 0.25)]
    assert _verge_for(one, Behavior.PASS_RIGHT) == 0
    group = group_abreast(x=6.0)
    assert _verge_for(group, Behavior.PASS_RIGHT) == -1.0
    assert _verge_for(group, Behavior.PASS_LEFT) == 1.0
    walking_our_way = [TrackedObject(i, ObjectClass.PEDESTRIAN, 6.0, y, 1.0, 0.0, 0.25)
                       for i, y in enumerate((0.9, 0.0, -0.9))]
    assert _verge_for(walking_our_way, Behavior.PASS_RIGHT) == 0
    assert _verge_for(group, Behavior.FOLLOW_WALKWAY) == 0  # never granted yet
    assert _verge_for(standing_pair(), Behavior.PASS_RIGHT, clearance=1.2) == -1.0
    assert _verge_for(standing_pair(y=0.9), Behavior.PASS_RIGHT, clearance=1.2) == 0  # 1.95 m


def test_people_we_catch_up_with_or_are_level_with_count_for_the_verge():
    # A crowd walking both ways: the robot at 0.8 m/s closes in on people walking our way
    # at 0.5 m/s as on people coming towards it, and the verge must not be withdrawn while
    # those it passes are level with it, or it steps back in among them.
    slower_our_way = [TrackedObject(i, ObjectClass.PEDESTRIAN, 6.0, y, 0.5, 0.0, 0.25)
                      for i, y in enumerate((0.9, 0.0, -0.9))]
    assert _verge_for(slower_our_way, Behavior.PASS_RIGHT) == -1.0
    faster_our_way = [TrackedObject(i, ObjectClass.PEDESTRIAN, 6.0, y, 1.0, 0.0, 0.25)
                      for i, y in enumerate((0.9, 0.0, -0.9))]
    assert _verge_for(faster_our_way, Behavior.PASS_RIGHT) == 0  # they draw away
    assert _verge_for(group_abreast(x=-1.0), Behavior.PASS_RIGHT) == -1.0  # level
    assert _verge_for(group_abreast(x=-3.0), Behavior.PASS_RIGHT) == 0  # behind us


def standing_pair(x=6.0, y=0.7):
    """Two people standing chatting on the left of a 3 m walkway (the standing scenario)."""
    return [TrackedObject(1, ObjectClass.PEDESTRIAN, x, y, 0.0, 0.0, 0.25),
            TrackedObject(2, ObjectClass.PEDESTRIAN, x + 0.7, y - 0.2, 0.0, 0.0, 0.25)]


def test_people_standing_who_leave_too_little_room_are_passed_on_the_verge():
    # Beside them 1.55 m of walkway is left, 0.25 m short of the robot's width plus the
    # 1.2 m asked: the robot steps onto the verge. Without it, it stood level with them
    # (status recovering) until the end.
    log = run(small_planner(), Goal(((14.0, -0.75),)), people=standing_pair(y=0.5),
              walkway=WALKWAY_3M, decide=decision(Behavior.PASS_RIGHT, 0.8, 1.2), seconds=22.0)
    assert min(p.y for p in log["poses"]) < -1.2  # its edge beyond the walkway's
    assert min_gap_to_people(log) > 1.15
    assert log["status"][-1] == "goal_reached"
    assert "recovering" not in log["status"]  # passed without a stall


def test_a_slow_walker_leaving_too_little_room_is_overtaken_on_the_verge():
    # A 0.5 m/s walker on a 3 m walkway leaves 1.05 m on the left, where the robot's width
    # plus 1.2 m is needed. Without the passing cost reaching behind them the robot followed
    # at their pace 4 m back, edged left, for the whole walkway.
    walker = [TrackedObject(1, ObjectClass.PEDESTRIAN, 3.0, 0.2, 0.5, 0.0, 0.25)]
    log = run(small_planner(), Goal(((20.0, 0.0),)), people=walker, walkway=WALKWAY_3M,
              decide=decision(Behavior.PASS_LEFT, 0.8, 1.2), seconds=25.0)
    overtaken = [pose.x > people[0].x + 1.0
                 for pose, people in zip(log["poses"], log["people"], strict=True)]
    assert any(overtaken)
    assert min_gap_to_people(log) > 1.1
    assert max(p.y for p in log["poses"]) < 1.5 + 1.2  # on the verge, not roaming the grass


def _verge_for(people, behavior, clearance=1.0):
    # A fresh planner each time: a verge once granted is held for a while.
    passing = decision(behavior, 0.8, clearance)
    return small_planner()._verge_side(
        PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((20.0, 0.0),)), tuple(people),
                     NO_POINTS, WALKWAY_3M, passing, LIMITS), passing)


def test_stale_decision_falls_back_to_the_conservative_default():
    stale = Decision(Behavior.PROCEED, 1.5, 0.5, valid_until=-1.0)
    log = run(small_planner(), Goal(((8.0, 0.0),)), decide=stale, seconds=4.0)
    assert max(c.linear for c in log["commands"]) <= 0.5 + 1e-6  # default_decision's cap


def test_reports_trajectory_and_predictions():
    person = oncoming()
    result = small_planner().plan(PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((5.0, 0.0),)),
                                               (person,), np.zeros((0, 2)), None, decision(),
                                               LIMITS))
    assert result.trajectory.shape == (56, 3)
    assert result.predictions[7].shape == (56, 2)
    assert result.predictions[7][-1] == pytest.approx([7.0 - 56 * DT, 0.0])
    assert result.compute_ms > 0.0


def test_blocked_when_even_braking_collides():
    # 1.5 m/s with a wall 0.6 m ahead of the footprint: braking at 1 m/s^2 takes 1.1 m.
    wall = np.column_stack([np.full(61, 0.9), np.linspace(-3.0, 3.0, 61)])
    fast = PlannerInput(0.0, Pose2D(), Velocity2D(1.5, 0.0), Goal(((5.0, 0.0),)), (), wall,
                        None, decision(max_speed=1.5), LIMITS)
    result = small_planner().plan(fast)
    assert result.status == "blocked"
    assert result.command == Velocity2D(0.0, 0.0)
    # Standing still in front of the same wall is not blocked: waiting is collision-free.
    still = PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((5.0, 0.0),)), (), wall, None,
                         decision(), LIMITS)
    assert small_planner().plan(still).status == "tracking"


def test_not_frozen_where_someone_would_walk_into_us():
    # Walked into from behind and from ahead within half a second, every way out hits
    # someone in the first second, and so does standing still: stopping is no safer than
    # the least bad way out (held-out replay 81: the robot stopped and was walked into).
    people = (TrackedObject(1, ObjectClass.PEDESTRIAN, -1.0, 0.0, 1.4, 0.0, 0.25),
              TrackedObject(2, ObjectClass.PEDESTRIAN, 1.0, 0.0, -1.4, 0.0, 0.25))
    sandwiched = PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((8.0, 0.0),)), people,
                              NO_POINTS, None, decision(), LIMITS)
    assert small_planner().plan(sandwiched).status == "tracking"
    # The same two standing a step further off walk into nobody: then it is blocked.
    still = tuple(dataclasses.replace(p, vx=0.0) for p in people)
    braking = dataclasses.replace(sandwiched, velocity=Velocity2D(1.5, 0.0), people=still)
    assert small_planner().plan(braking).status == "blocked"


def test_no_goal_holds_still():
    result = small_planner().plan(PlannerInput(0.0, Pose2D(), Velocity2D(0.5, 0.0), None, (),
                                               np.zeros((0, 2)), None, decision(), LIMITS))
    assert result.status == "no_goal" and result.command == Velocity2D(0.0, 0.0)


def test_same_seed_same_commands():
    goal = Goal(((5.0, 2.0),))
    first = run(small_planner(seed=5), goal, seconds=1.0)["commands"]
    second = run(small_planner(seed=5), goal, seconds=1.0)["commands"]
    assert first == second


@pytest.mark.parametrize("bad", [{"samples": 1}, {"dt": 0.0}, {"temperature": -1.0},
                                 {"smoothing_window": 4}, {"linear_noise": float("nan")},
                                 {"steps": 3.5}, {"proxemics_stride": 2.0}, {"seed": -1},
                                 {"arrival_radius": 2.0, "arrival_exit_radius": 1.5}])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        MPPIConfig(**bad)


def test_make_planner_names_the_choices():
    assert isinstance(make_planner("mppi", samples=100), MPPIPlanner)
    with pytest.raises(ValueError, match="mppi, dwa"):
        make_planner("rrt")
    with pytest.raises(ValueError, match="sample"):
        make_planner("mppi", sample=100)


def test_planner_input_rejects_bad_state_and_drops_nan_points():
    with pytest.raises(ValueError):
        PlannerInput(0.0, Pose2D(float("nan"), 0.0), Velocity2D(), None, (), np.zeros((0, 2)),
                     None, decision(), LIMITS)
    with pytest.raises(ValueError):
        PlannerInput(0.0, Pose2D(), Velocity2D(), None, (), np.zeros((3, 3)), None,
                     decision(), LIMITS)
    inp = PlannerInput(0.0, Pose2D(), Velocity2D(), None, (),
                       np.array([[1.0, 2.0], [np.nan, 1.0]]), None, decision(), LIMITS)
    assert inp.obstacle_points.shape == (1, 2)


def test_follows_a_route_through_its_waypoints():
    route = Goal(((3.0, 0.0), (3.0, 3.0), (0.0, 3.0)))
    log = run(small_planner(), route, seconds=20.0)
    assert log["status"][-1] == "goal_reached"
    # Turning at up to 1.5 m/s rounds a corner by 0.5-0.65 m (seeds 1-4); cutting it
    # (straight to the carrot round it) would pass it 1 m or more away.
    for x, y in route.waypoints[:-1]:
        assert min(math.hypot(p.x - x, p.y - y) for p in log["poses"]) < 0.7


def test_non_finite_people_and_decision_numbers_never_reach_the_command():
    ghost = TrackedObject(9, ObjectClass.PEDESTRIAN, float("nan"), 1.0)
    bad = Decision(Behavior.PROCEED, float("nan"), 0.6, valid_until=1e9)
    inp = PlannerInput(0.0, Pose2D(), Velocity2D(0.3, 0.0), Goal(((5.0, 0.0),)), (ghost,),
                       NO_POINTS, None, bad, LIMITS)
    assert inp.people == ()
    result = small_planner().plan(inp)
    assert math.isfinite(result.command.linear) and math.isfinite(result.command.angular)
    assert result.command.linear <= 0.5  # the conservative default's cap


def test_yield_with_a_target_yields_to_that_person_only():
    crossing = TrackedObject(3, ObjectClass.PEDESTRIAN, 3.0, -3.0, 0.0, 1.0)
    bystander = TrackedObject(4, ObjectClass.PEDESTRIAN, -5.0, 5.0, 0.0, 0.0)

    def status(target_id):
        inp = PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((6.0, 0.0),)),
                           (crossing, bystander), NO_POINTS, None,
                           decision(Behavior.YIELD, target_id=target_id), LIMITS)
        return small_planner().plan(inp).status

    assert status(3) == "yielding"
    assert status(4) == "tracking"  # the crossing person is not the one to yield to
    assert status(-1) == "yielding"  # no target: anyone crossing


def test_passes_behind_a_crossing_pedestrian_not_in_front():
    # Without the personal-space term this encounter is passed in front of the person
    # (proxemics_weight=0 does); ahead of a walking person is where their space is largest.
    crossing = TrackedObject(3, ObjectClass.PEDESTRIAN, 3.0, -3.5, 0.0, 1.0)
    log = run(small_planner(), Goal(((7.0, 0.0),)), people=[crossing],
              decide=decision(min_clearance=0.5), seconds=12.0)
    assert log["status"][-1] == "goal_reached"
    for pose, people in zip(log["poses"], log["people"], strict=True):
        if pose.x >= people[0].x:  # level with the person along x
            assert pose.y < people[0].y  # they have already crossed our line: behind them
            break
    else:
        raise AssertionError("never drew level with the person")


def test_random_scenes_give_finite_commands_within_limits():
    rng = np.random.default_rng(11)
    planner = small_planner(samples=200)
    for index in range(30):
        people = tuple(TrackedObject(i, ObjectClass.PEDESTRIAN, *rng.uniform(-4.0, 4.0, 2),
                                     *rng.normal(0.0, 1.0, 2)) for i in range(rng.integers(0, 6)))
        points = rng.uniform(-5.0, 5.0, (int(rng.integers(0, 200)), 2))
        behavior = Behavior(int(rng.integers(0, len(Behavior))))
        max_speed = float(rng.uniform(0.0, 1.5))
        inp = PlannerInput(0.05 * index, Pose2D(0.0, 0.0, float(rng.uniform(-3.0, 3.0))),
                           Velocity2D(float(rng.uniform(0.0, 1.0)), 0.0),
                           Goal((tuple(rng.uniform(-6.0, 6.0, 2)),)), people, points, None,
                           decision(behavior, max_speed=max_speed,
                                    target_id=int(rng.integers(-1, 6))), LIMITS)
        command = planner.plan(inp).command
        assert math.isfinite(command.linear) and math.isfinite(command.angular)
        cap = min(max_speed, 0.5) if behavior == Behavior.SLOW else max_speed
        assert -1e-6 <= command.linear <= cap + 1e-6
        assert abs(command.angular) <= LIMITS.max_angular_speed + 1e-6


def cup(x_back=3.5, depth=1.0, half_width=1.2):
    """A U of lidar points open towards the robot: the trap of a straight-line goal term."""
    step = 0.05
    back = [(x_back, y) for y in np.arange(-half_width, half_width + 1e-9, step)]
    arms = [(x, s * half_width) for x in np.arange(x_back - depth, x_back, step) for s in (-1, 1)]
    return np.array(back + arms)


@pytest.mark.parametrize("around_obstacles", [True, False])
def test_the_goal_path_length_leads_out_of_a_cup(around_obstacles):
    overrides = {} if around_obstacles else {"goal_clearance": 0.0}
    log = run(small_planner(**overrides), Goal(((6.0, 0.0),)), obstacles=cup(), seconds=20.0)
    if around_obstacles:
        assert log["status"][-1] == "goal_reached"
    else:  # the straight line keeps the robot in the cup: what the field is for
        assert log["status"][-1] != "goal_reached"
        assert max(p.x for p in log["poses"]) < 3.5


def test_someone_walking_up_behind_along_a_route_through_the_goal_does_not_chase_us_off_it():
    # The end of an overtake: the robot, 2 m from its goal, is ahead of a 0.5 m/s walker
    # whose route runs through the goal. Counting what a rollout would meet after it
    # arrived, the robot fled before them past the goal (to x = 5.4 m in 12 s).
    walker = TrackedObject(1, ObjectClass.PEDESTRIAN, -2.0, 0.2, 0.5, 0.0, 0.25)
    log = run(small_planner(), Goal(((2.0, 0.0),)), people=[walker], walkway=WALKWAY_3M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 0.8, 1.2), seconds=8.0,
              start=Pose2D(0.0, 0.8, 0.0))
    assert log["status"][-1] == "goal_reached"
    assert max(p.x for p in log["poses"]) < 2.3
    assert min_gap_to_people(log) > 1.0


def test_slows_down_over_the_last_metre_to_the_goal():
    planner = small_planner()
    gain, least = planner.config.approach_gain, planner.config.approach_min_speed
    log = run(planner, Goal(((4.0, 0.0),)))
    assert log["status"][-1] == "goal_reached"
    for pose, command in zip(log["poses"], log["commands"], strict=True):
        left = math.hypot(4.0 - pose.x, pose.y) - 0.3
        assert command.linear <= max(least, gain * left) + 1e-6
    assert min(c.linear for c in log["commands"][-5:]) < 0.6  # it did slow down
    assert max(c.linear for c in log["commands"]) > 1.0  # far from the goal it cruises


def test_keeps_cruising_speed_until_the_approach_cap_takes_over():
    # The goal is a circle: a rollout that enters it has arrived, wherever it would have
    # rolled on. Asked to stop at the centre instead, the robot braked from 3 m out, and
    # the last metres of every episode took a second more than the approach cap needs.
    planner = small_planner()
    gain = planner.config.approach_gain
    log = run(planner, Goal(((8.0, 0.0),)), walkway=WALKWAY_3M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), start=Pose2D(0.0, -0.7, 0.0))
    assert log["status"][-1] == "goal_reached"
    cruising = False
    for pose, command in zip(log["poses"], log["commands"], strict=True):
        left = math.hypot(8.0 - pose.x, pose.y) - 0.3
        cruising = cruising or command.linear >= 1.45
        if cruising and gain * left >= 1.5:  # the cap allows full speed here
            assert command.linear >= 1.3, f"braked {left:.2f} m before the goal"


def test_facing_away_from_the_carrot_costs_per_radian_beyond_the_threshold():
    from reasonact_ros.planning.costs import path_angle_cost

    x = torch.zeros((3, 2))
    y = torch.zeros((3, 2))
    yaw = torch.tensor([[0.0, 0.5], [1.5, 1.5], [math.pi, -math.pi]])
    cost = path_angle_cost(x, y, yaw, (5.0, 0.0), threshold=1.0, weight=2.0)
    assert cost.tolist() == pytest.approx([0.0, 2.0 * 0.5 * 2, 2.0 * (math.pi - 1.0) * 2])


def test_facing_away_from_the_way_costs_per_radian_beyond_the_threshold():
    from reasonact_ros.planning.costs import heading_error_cost

    yaw = torch.tensor([[0.0, 0.5], [1.5, 1.5], [math.pi, -math.pi]])
    wanted = torch.tensor([[0.0, 0.0], [0.0, math.nan], [0.0, 0.0]])
    cost = heading_error_cost(yaw, wanted, threshold=1.0, weight=2.0)
    # NaN (no way known there) costs nothing.
    assert cost.tolist() == pytest.approx([0.0, 2.0 * 0.5, 2.0 * (math.pi - 1.0) * 2])


def road_works(post=True):
    """narrow_passage's barrier (x 9-11, y -1.5..0.3) and the post before it at (8.7, 0)
    (without it when the post is given as a tracked person instead)."""
    step = 0.05
    xs, ys = np.arange(9.0, 11.0 + 1e-9, step), np.arange(-1.5, 0.3 + 1e-9, step)
    box = np.vstack([np.column_stack([xs, np.full_like(xs, -1.5)]),
                     np.column_stack([xs, np.full_like(xs, 0.3)]),
                     np.column_stack([np.full_like(ys, 9.0), ys]),
                     np.column_stack([np.full_like(ys, 11.0), ys])])
    return np.vstack([box, ring(8.7, 0.0, 0.15, 20)]) if post else box


NARROW_WALKWAY = Walkway(left=np.array([[-3.0, 1.5], [25.0, 1.5]]),
                         right=np.array([[-3.0, -1.5], [25.0, -1.5]]))


def test_out_of_the_corner_before_a_barrier_through_the_gap():
    # Where the robot stood until the timeout in the evaluation: in the corner between
    # the post and the barrier, facing the post, the gap on its left behind the post.
    # Keeping right holds it there (the gap is on the left); the stall relief and the
    # heading along the way round get it out and through.
    log = run(small_planner(), Goal(((14.0, 0.0),)), obstacles=road_works(),
              walkway=NARROW_WALKWAY, decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.0),
              seconds=20.0, start=Pose2D(7.9, -0.4, -1.0))
    assert log["status"][-1] == "goal_reached"
    assert "recovering" in log["status"]
    assert max(p.y for p in log["poses"]) > 0.6  # through the gap, not over the barrier


def test_the_stall_relief_lets_the_robot_pass_a_post_taken_for_a_person():
    # The lidar sees narrow_passage's post as a person standing. Passing it on the left
    # with the 1.2 m asked needs 1.65 m beside it, beyond the walkway's edge; short of
    # that, every way forward cost more than standing still before or beside it, relieved
    # or not (7 of 9 timeouts in one 42-seed run stood 6-19 s by the post). The relief's
    # smaller clearance from people standing now holds for the passing side too.
    post = TrackedObject(1, ObjectClass.PEDESTRIAN, 8.7, 0.0, 0.0, 0.0, 0.15)
    log = run(small_planner(), Goal(((14.0, 0.0),)), people=[post],
              obstacles=road_works(post=False), walkway=NARROW_WALKWAY,
              decide=decision(Behavior.PASS_LEFT, 0.8, 1.2), seconds=20.0,
              start=Pose2D(6.0, 1.0, -0.6))
    assert log["status"][-1] == "goal_reached"
    assert "recovering" in log["status"]
    assert min_gap_to_people(log) > LIMITS.min_person_clearance


def test_waiting_on_purpose_is_no_stall():
    planner = small_planner(stall_time=1.0)
    log = run(planner, Goal(((5.0, 0.0),)), decide=decision(Behavior.STOP, 0.0), seconds=3.0)
    assert set(log["status"]) == {"waiting"}
    # The watch starts afresh when the STOP ends: moving away at once is no stall.
    log = run(planner, Goal(((5.0, 0.0),)), seconds=3.0)
    assert "recovering" not in log["status"]


def test_only_people_closing_in_count_for_ending_on_their_way():
    # Ending the horizon on the way of someone oncoming costs; ending on the way of
    # someone following us at our pace does not (they keep their distance; kept out of
    # a follower's way, the robot drove past its goal on the walkway's edge in crowd).
    planner = small_planner()
    follower = TrackedObject(1, ObjectClass.PEDESTRIAN, -2.0, 0.0, 1.0, 0.0, 0.25)
    oncoming_person = TrackedObject(2, ObjectClass.PEDESTRIAN, 9.0, 0.0, -1.0, 0.0, 0.25)
    ends_x = torch.tensor([[3.0, 3.0]])  # (S=1, T=2): both steps on the x axis
    ends_y = torch.tensor([[0.0, 0.0]])
    robot, moving = Pose2D(), Velocity2D(1.0, 0.0)

    def cost_of(person):
        predicted = np.array([[[person.x + person.vx * t, person.y] for t in (0.0, 2.8)]])
        inp = PlannerInput(0.0, robot, moving, Goal(((20.0, 0.0),)), (person,), NO_POINTS,
                           None, decision(), LIMITS)
        total = torch.zeros(1)
        planner._add_in_their_way_cost(inp, ends_x, ends_y, np.zeros(2), predicted,
                                       np.array([[person.vx, person.vy]]),
                                       np.array([abs(person.vx)]), np.array([person.radius]),
                                       total)
        return float(total[0])

    assert cost_of(follower) == 0.0
    assert cost_of(oncoming_person) > 0.0


WALKWAY_4M = Walkway(left=np.array([[-10.0, 2.0], [40.0, 2.0]]),
                     right=np.array([[-10.0, -2.0], [40.0, -2.0]]))


def test_a_robot_held_back_downstream_still_speeds_up_to_what_is_allowed():
    # The safety filter halves every command in its slow zone. Counting the speed-up
    # from the measured speed, each command was that speed plus one step's acceleration,
    # halved again: the robot crept at 0.05 m/s (narrow_passage, 13 s beside the barrier).
    planner = small_planner()
    pose, velocity, goal = Pose2D(), Velocity2D(), Goal(((6.0, 0.0),))
    for step in range(int(4.0 / DT)):
        command = planner.plan(PlannerInput(step * DT, pose, velocity, goal, (), NO_POINTS,
                                            None, decision(), LIMITS)).command
        velocity = Velocity2D(0.5 * command.linear, 0.5 * command.angular)  # the slow zone
        pose = Pose2D(pose.x + velocity.linear * math.cos(pose.yaw) * DT,
                      pose.y + velocity.linear * math.sin(pose.yaw) * DT,
                      pose.yaw + velocity.angular * DT)
    assert velocity.linear > 0.4  # half the 1.2 m/s allowed, give or take the arrival
    assert pose.x > 1.5


def test_someone_beyond_the_goal_is_not_passed():
    # crowd seed 18: 0.6 m from the goal, told to pass on the left of someone walking
    # away 4 m beyond it, the robot looped away from the goal to get on their left, and
    # circled the goal until the timeout. We arrive before we reach them: no passing.
    walker = TrackedObject(5, ObjectClass.PEDESTRIAN, -3.8, 1.2, -1.0, 0.0, 0.25)
    log = run(small_planner(), Goal(((0.0, 0.0),)), people=[walker], walkway=WALKWAY_4M,
              decide=decision(Behavior.PASS_LEFT, 0.8, 1.2, target_id=5), seconds=4.0,
              start=Pose2D(0.37, -0.53, 2.88))
    assert log["status"][-1] == "goal_reached"
    assert max(math.hypot(p.x, p.y) for p in log["poses"]) < 0.7


def test_no_relief_passes_closer_than_the_decisions_floor():
    # Someone stands 1.5 m beside the goal. On the last 2 m the planner may pass people
    # closer than asked (crowd: the goal lies where people walk), and a stalled robot
    # likewise; an operator's "keep 1.6 m away" (the decision's floor) holds all the same:
    # the robot waits outside it rather than reach the goal.
    person = TrackedObject(1, ObjectClass.PEDESTRIAN, 4.0, 1.5, 0.0, 0.0, 0.25)
    asked = decision(Behavior.PROCEED, 1.0, 1.6)
    relieved = run(small_planner(), Goal(((4.0, 0.0),)), people=[person], decide=asked,
                   seconds=10.0)
    assert relieved["status"][-1] == "goal_reached"
    assert min_gap_to_people(relieved) < 1.4
    floored = run(small_planner(), Goal(((4.0, 0.0),)), people=[person], seconds=10.0,
                  decide=dataclasses.replace(asked, clearance_floor=1.6))
    assert floored["status"][-1] != "goal_reached"
    assert min_gap_to_people(floored) > 1.55


def test_overtaking_us_is_judged_in_the_walkers_frame():
    # Robot at the origin facing +x at 1 m/s. Behind us walking our way at our pace or
    # faster: overtaking. Ahead walking our way, oncoming, standing, slower behind us
    # (someone we overtook): not. Facing across (+y), a walker coming along x from behind
    # our back is crossing our path, not passing us.
    positions = np.array([[-2.0, 1.0], [2.0, 1.0], [3.0, 0.5], [-1.0, 0.0], [-1.5, -1.0]])
    velocities = np.array([[1.3, 0.0], [1.3, 0.0], [-1.2, 0.0], [0.0, 0.0], [0.5, 0.0]])
    speeds = np.hypot(velocities[:, 0], velocities[:, 1])
    here = np.zeros(2)
    assert overtaking_us(positions, velocities, speeds, here, 0.0, 1.0).tolist() == [
        True, False, False, False, False]
    assert overtaking_us(positions, velocities, speeds, here, 0.0, 0.0)[4]
    assert not overtaking_us(positions, velocities, speeds, here, math.pi / 2, 1.0).any()


def test_we_do_not_turn_into_the_goal_across_the_way_of_someone_overtaking_us():
    # crowd seed 69: on the walkway's right edge at 1.35 m/s, level with the goal 1.7 m to
    # our left, and a walker 2 m behind at 1.5 m/s between us and it. Asked only the least
    # clearance of someone overtaking, the robot turned across their way in front of them
    # (here into contact; in the episode 0.43 m).
    walker = TrackedObject(300, ObjectClass.PEDESTRIAN, -2.76, -0.7, 1.5, 0.0, 0.25)
    log = run(small_planner(), Goal(((0.0, 0.0),)), people=[walker], walkway=WALKWAY_4M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), seconds=8.0,
              start=Pose2D(-0.76, -1.7, 0.19), speed=1.35)
    assert log["status"][-1] == "goal_reached"
    assert min_gap_to_people(log) > 0.45  # never within the intimate zone


def test_we_do_not_crawl_into_the_goal_while_someone_walks_past_where_we_stand():
    # crowd seed 59: 0.54 m from the goal, turning into it with someone coming up behind
    # 1.6 m away at 1.4 m/s. At the approach cap's floor (0.3 m/s) the robot was still on
    # its way in when they passed (here 0.20 m from them; in the episode 0.31 m).
    walker = TrackedObject(300, ObjectClass.PEDESTRIAN, -1.77, -0.71, 1.38, 0.0, 0.25)
    log = run(small_planner(), Goal(((0.0, 0.0),)), people=[walker], walkway=WALKWAY_4M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), seconds=4.0,
              start=Pose2D(-0.13, -0.52, math.radians(79.0)), speed=0.38)
    assert log["status"][-1] == "goal_reached"
    assert min_gap_to_people(log) > 0.45


def test_the_approach_floor_rises_only_for_someone_walking_past_where_we_stand():
    planner = small_planner()
    least, higher = planner.config.approach_min_speed, planner.config.approach_passed_speed

    def cap(*people):
        inp = PlannerInput(0.0, Pose2D(-0.3, 0.0, 0.0), Velocity2D(), Goal(((0.0, 0.0),)),
                           people, NO_POINTS, WALKWAY_4M,
                           decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), LIMITS)
        return planner._speed_cap(inp, inp.decision)

    def walker(x, y, vx, vy=0.0):
        return TrackedObject(1, ObjectClass.PEDESTRIAN, x, y, vx, vy, 0.25)

    assert cap() == pytest.approx(least)
    assert cap(walker(-2.0, 0.5, 1.2)) == pytest.approx(higher)  # walks through our spot
    assert cap(walker(-2.0, 0.5, -1.2)) == pytest.approx(least)  # walking away
    assert cap(walker(-5.0, 0.5, 1.2)) == pytest.approx(least)  # not within 2 s
    assert cap(walker(-2.0, 1.5, 1.2)) == pytest.approx(least)  # 0.95 m between us
    assert cap(walker(-0.3, 0.7, 0.0)) == pytest.approx(least)  # standing close by


def test_arriving_we_keep_right_of_a_walker_along_their_walk_not_the_goals_bearing():
    # crowd seed 98: 0.96 m from the goal and heading in, told to pass on the right of a
    # walker coming west 2.8 m to our right, just past the goal. Kept right of the goal's
    # bearing, the robot went north-east behind them, past the goal, and circled it 30 s
    # (here 3.2 m past it and not there in 8 s). Along their walk, right is this side of
    # their way: wait there for them to pass.
    people = [TrackedObject(204, ObjectClass.PEDESTRIAN, -0.06, 0.82, -1.21, 0.0, 0.25),
              TrackedObject(205, ObjectClass.PEDESTRIAN, 2.79, 1.0, -0.99, 0.0, 0.25)]
    log = run(small_planner(), Goal(((0.0, 0.0),)), people=people, walkway=WALKWAY_4M,
              decide=decision(Behavior.PASS_RIGHT, 0.8, 1.2, target_id=205), seconds=8.0,
              start=Pose2D(0.53, -0.8, math.radians(76.0)), speed=0.57)
    assert log["status"][-1] == "goal_reached"
    assert max(p.x for p in log["poses"]) < 1.0
    assert min_gap_to_people(log) > 0.45


def test_just_past_the_goal_we_wait_for_it_rather_than_run_ahead_of_the_walkers_behind():
    # crowd seed 105: the way in blocked by a walker, the robot went on 1.2 m past the
    # goal, 2.0 m from it, where arriving ended; asked the full clearance of the walkers
    # coming up behind again, it ran ahead of them off the walkway's end (here to x = 14 m
    # in 10 s). Once arriving, it stays so until arrival_exit_radius.
    people = [TrackedObject(300, ObjectClass.PEDESTRIAN, -1.95, -0.44, 1.45, 0.0, 0.25),
              TrackedObject(301, ObjectClass.PEDESTRIAN, -3.16, -0.41, 1.47, 0.0, 0.25),
              TrackedObject(206, ObjectClass.PEDESTRIAN, 1.18, 0.90, -1.27, 0.0, 0.25)]
    planner = small_planner()
    assert math.hypot(1.23, -1.56) < planner.config.arrival_radius  # arriving at the start
    log = run(planner, Goal(((0.0, 0.0),)), people=people, walkway=WALKWAY_4M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), seconds=10.0,
              start=Pose2D(1.23, -1.56, 0.02), speed=0.64)
    assert log["status"][-1] == "goal_reached"
    assert max(p.x for p in log["poses"]) < 2.0
    assert min_gap_to_people(log) > 0.45


def test_arriving_holds_past_the_goal_for_that_goal_only():
    planner = small_planner()

    def arriving_after(goal, x):
        planner.plan(PlannerInput(0.0, Pose2D(x, 0.0, 0.0), Velocity2D(), goal, (), NO_POINTS,
                                  WALKWAY_4M, decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2),
                                  LIMITS))
        return planner._arriving_at is goal

    here, there = Goal(((0.0, 0.0),)), Goal(((0.0, 0.0),))
    assert not arriving_after(here, 2.5)  # outside arrival_radius (2 m)
    assert arriving_after(here, 1.9)
    assert arriving_after(here, 2.5)  # gone on past it: still arriving
    assert not arriving_after(there, 2.5)  # a new goal starts afresh
    assert arriving_after(here, 1.9)
    assert not arriving_after(here, 3.1)  # beyond arrival_exit_radius (3 m)


def test_someone_overtaking_us_near_the_goal_is_let_by_not_run_from():
    # crowd seeds 13, 16, 43: 1.6 m from the goal, someone walking our way passes 0.8 m to
    # our left. Letting them by fell short of the clearance asked on arrival, so the
    # robot ran ahead of them at their pace, past the goal (here to x = 9.6 m in 8 s).
    walker = TrackedObject(1, ObjectClass.PEDESTRIAN, -2.5, -0.7, 1.3, 0.0, 0.25)
    log = run(small_planner(), Goal(((0.5, 0.0),)), people=[walker], walkway=WALKWAY_4M,
              decide=decision(Behavior.FOLLOW_WALKWAY, 1.5, 1.2), seconds=8.0,
              start=Pose2D(0.0, -1.5, 0.0))
    assert log["status"][-1] == "goal_reached"
    assert max(p.x for p in log["poses"]) < 1.5
    assert min_gap_to_people(log) > 0.45  # never within the intimate zone
