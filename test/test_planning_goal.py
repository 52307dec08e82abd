"""Arrival, the same for every planner: a goal once reached stays reached."""

import dataclasses

import numpy as np
import pytest

from reasonact_ros.planning import PlannerInput, make_planner
from reasonact_ros.scene import Behavior, Decision, Goal, Limits, Pose2D, Velocity2D


@pytest.mark.parametrize("name", ["mppi", "dwa"])
def test_a_reached_goal_stays_reached_until_a_new_goal_comes(name):
    planner = make_planner(name) if name == "dwa" else make_planner(name, samples=200)
    goal = Goal(((2.0, 0.0),))
    at_goal = PlannerInput(0.0, Pose2D(1.8, 0.0, 0.0), Velocity2D(0.5, 0.0), goal, (),
                           np.zeros((0, 2)), None,
                           Decision(Behavior.PROCEED, 1.2, 0.6, valid_until=1e9), Limits())
    assert planner.plan(at_goal).status == "goal_reached"
    # Still rolling as it brakes, it stops just beyond the circle's edge: it stays.
    beyond = dataclasses.replace(at_goal, now=0.05, robot=Pose2D(2.35, 0.0, 0.0))
    result = planner.plan(beyond)
    assert result.status == "goal_reached" and result.command == Velocity2D(0.0, 0.0)
    # The same place sent again as a new goal is driven to; so is the old one after reset.
    again = dataclasses.replace(beyond, now=0.1, goal=Goal(((2.0, 0.0),)))
    assert planner.plan(again).status != "goal_reached"
    planner.reset()
    assert planner.plan(dataclasses.replace(beyond, now=0.15)).status != "goal_reached"
