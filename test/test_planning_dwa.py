"""DWA baseline: reaches goals, avoids what it sees, honours limits and STOP."""

import math

import numpy as np
import pytest

from reasonact_ros.planning import PlannerInput, make_planner
from reasonact_ros.planning.dwa import DWAConfig, DWAPlanner
from reasonact_ros.scene import (
    Behavior,
    Decision,
    Goal,
    Limits,
    ObjectClass,
    Pose2D,
    TrackedObject,
    Velocity2D,
)

DT = 0.1
LIMITS = Limits()


def decision(behavior=Behavior.PROCEED, max_speed=1.2):
    return Decision(behavior, max_speed, 0.6, valid_until=1e9)


NO_POINTS = np.zeros((0, 2))


def run(planner, goal, *, obstacles=NO_POINTS, people=(), decide=None, seconds=15.0):
    decide = decide or decision()
    pose, velocity = Pose2D(), Velocity2D()
    poses, commands, status = [], [], ""
    for step in range(int(seconds / DT)):
        result = planner.plan(PlannerInput(step * DT, pose, velocity, goal, tuple(people),
                                           obstacles, None, decide, LIMITS))
        poses.append(pose)
        commands.append(result.command)
        status = result.status
        if status == "goal_reached":
            break
        v, w = result.command.linear, result.command.angular
        pose = Pose2D(pose.x + v * math.cos(pose.yaw + 0.5 * w * DT) * DT,
                      pose.y + v * math.sin(pose.yaw + 0.5 * w * DT) * DT, pose.yaw + w * DT)
        velocity = result.command
    return poses, commands, status


def test_reaches_a_goal():
    poses, _, status = run(DWAPlanner(), Goal(((4.0, -2.0),)))
    assert status == "goal_reached"
    assert math.hypot(poses[-1].x - 4.0, poses[-1].y + 2.0) <= 0.3


def test_avoids_an_obstacle_on_the_line():
    angles = np.linspace(0.0, 2.0 * math.pi, 60, endpoint=False)
    obstacle = np.column_stack([2.5 + 0.3 * np.cos(angles), 0.3 * np.sin(angles)])
    poses, _, status = run(DWAPlanner(), Goal(((5.0, 0.0),)), obstacles=obstacle)
    assert status == "goal_reached"
    closest = min(np.min(np.hypot(obstacle[:, 0] - p.x, obstacle[:, 1] - p.y)) for p in poses)
    assert closest > 0.3


def test_treats_a_person_as_a_static_obstacle():
    person = TrackedObject(1, ObjectClass.PEDESTRIAN, 2.5, 0.0)
    poses, _, status = run(DWAPlanner(), Goal(((5.0, 0.0),)), people=[person])
    assert status == "goal_reached"
    assert min(math.hypot(p.x - 2.5, p.y) for p in poses) > 0.6  # radii 0.3 + 0.3


def test_respects_max_speed_and_stop():
    _, commands, _ = run(DWAPlanner(), Goal(((8.0, 0.0),)), decide=decision(max_speed=0.4),
                         seconds=3.0)
    assert max(c.linear for c in commands) <= 0.4 + 1e-9
    _, commands, status = run(DWAPlanner(), Goal(((8.0, 0.0),)),
                              decide=decision(Behavior.STOP), seconds=0.5)
    assert status == "waiting" and all(c == Velocity2D() for c in commands)


def test_made_by_name():
    assert isinstance(make_planner("dwa", linear_samples=5), DWAPlanner)


@pytest.mark.parametrize("bad", [{"sim_time": 0.0}, {"linear_samples": 1},
                                 {"goal_weight": -1.0}, {"sim_dt": float("nan")}])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        DWAConfig(**bad)
