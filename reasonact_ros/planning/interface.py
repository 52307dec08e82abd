"""What every local planner takes and returns, and how the nodes pick one.

Frames: everything is in ``odom`` (REP-105) except ``PlanResult.command``,
which is a body-frame ``Velocity2D``. Clearance to people is measured surface
to surface: centre distance minus the robot radius minus the person's radius,
the same quantity ``Limits.min_person_clearance`` bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from reasonact_ros.scene import Decision, Goal, Limits, Pose2D, TrackedObject, Velocity2D, Walkway

# Status strings a planner may report; the nodes publish them verbatim.
STATUS_TRACKING = "tracking"
STATUS_GOAL_REACHED = "goal_reached"
STATUS_WAITING = "waiting"  # the decision says STOP
STATUS_YIELDING = "yielding"  # the decision says YIELD and someone's path crosses ours
STATUS_NO_GOAL = "no_goal"
STATUS_BLOCKED = "blocked"  # every rollout collides: stand still rather than guess


@dataclass
class PlannerInput:
    now: float  # [s] caller's clock
    robot: Pose2D  # odom
    velocity: Velocity2D  # current body-frame velocity (odometry)
    goal: Goal | None
    people: tuple[TrackedObject, ...]  # tracked people in odom; velocities drive prediction
    obstacle_points: np.ndarray  # (K, 2) odom points from the lidar, (0, 2) when none
    walkway: Walkway | None
    decision: Decision  # already validated; the planner obeys speed, clearance, behaviour
    limits: Limits

    def __post_init__(self):
        points = np.asarray(self.obstacle_points, dtype=float)
        if points.size == 0:
            points = np.zeros((0, 2))
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"obstacle_points must be (K, 2), got {points.shape}")
        # Non-finite lidar points carry no information; dropping them keeps every cost finite.
        self.obstacle_points = points[np.all(np.isfinite(points), axis=1)]
        state = (self.now, self.robot.x, self.robot.y, self.robot.yaw,
                 self.velocity.linear, self.velocity.angular)
        if not all(np.isfinite(state)):
            raise ValueError(f"planner time, pose and velocity must be finite, got {state}")
        self.people = tuple(self.people)


@dataclass
class PlanResult:
    command: Velocity2D
    trajectory: np.ndarray  # (T, 3) x, y, yaw of the chosen rollout (odom)
    predictions: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 2) odom
    status: str = STATUS_TRACKING
    compute_ms: float = 0.0


class Planner(Protocol):
    def plan(self, inp: PlannerInput) -> PlanResult: ...

    def reset(self) -> None: ...


PLANNER_NAMES = ("mppi", "dwa")


def make_planner(name: str, **params) -> Planner:
    """Build a planner by name; ``params`` are fields of its config dataclass."""
    if name == "mppi":
        from reasonact_ros.planning.mppi import MPPIConfig, MPPIPlanner

        return MPPIPlanner(MPPIConfig(**params))
    if name == "dwa":
        from reasonact_ros.planning.dwa import DWAConfig, DWAPlanner

        return DWAPlanner(DWAConfig(**params))
    raise ValueError(f"unknown planner {name!r}; choose one of {', '.join(PLANNER_NAMES)}")
