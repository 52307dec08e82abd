"""What every local planner takes and returns, and how the nodes pick one.

Frames: everything is in ``odom`` (REP-105) except ``PlanResult.command``,
which is a body-frame ``Velocity2D``. Clearance to people is measured surface
to surface: centre distance minus the robot radius minus the person's radius,
the same quantity ``Limits.min_person_clearance`` bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from reasonact_ros.scene import (
    Decision,
    Goal,
    Limits,
    Pose2D,
    TrackedObject,
    Velocity2D,
    Walkway,
    default_decision,
)

# Status strings a planner may report; the nodes publish them verbatim.
STATUS_TRACKING = "tracking"
STATUS_GOAL_REACHED = "goal_reached"
STATUS_WAITING = "waiting"  # the decision says STOP
STATUS_YIELDING = "yielding"  # the decision says YIELD and someone's path crosses ours
STATUS_NO_GOAL = "no_goal"
STATUS_RECOVERING = "recovering"  # tracking, but stalled: soft costs relaxed (MPPI)
STATUS_BLOCKED = "blocked"  # even the best rollout (braking included) collides within 1 s


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
        # A track with a non-finite position or size cannot be avoided, only mis-avoided;
        # a non-finite velocity is handled by the prediction (treated as standing).
        self.people = tuple(p for p in self.people
                            if all(np.isfinite((p.x, p.y, p.radius))) and p.radius >= 0.0)

    def distance_to_goal(self) -> float:
        """Straight-line distance [m] from the robot to the final waypoint; inf without
        a goal."""
        if self.goal is None:
            return math.inf
        return math.hypot(self.goal.final[0] - self.robot.x, self.goal.final[1] - self.robot.y)


@dataclass
class PlanResult:
    command: Velocity2D
    trajectory: np.ndarray  # (T, 3) x, y, yaw of the chosen rollout (odom)
    predictions: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 2) odom
    status: str = STATUS_TRACKING
    compute_ms: float = 0.0  # wall time of the plan() call
    compute_cpu_ms: float = 0.0  # CPU time of the calling thread in it (load-independent)


def usable_decision(inp: PlannerInput) -> Decision:
    """The decision, or the conservative default if it is stale or not finite.

    Decisions arrive validated; this is the planner's own last line, because a NaN speed
    cap would turn every rollout cost into NaN.
    """
    decision = inp.decision
    numbers_ok = all(math.isfinite(v) for v in (decision.max_speed, decision.min_clearance,
                                                 decision.clearance_floor))
    if numbers_ok and decision.is_valid_at(inp.now):
        return decision
    return default_decision(inp.now, inp.limits)


class GoalChecker:
    """Within the goal's tolerance is reached, and reached stays reached until a new
    goal object comes (Nav2's stateful goal checker): a robot still braking as it enters
    the circle may stop just beyond its edge, and must not drive back to it."""

    def __init__(self):
        self._reached: Goal | None = None

    def reset(self) -> None:
        self._reached = None

    def reached(self, inp: PlannerInput) -> bool:
        if inp.goal is self._reached:
            return True
        if inp.distance_to_goal() <= inp.goal.tolerance:
            self._reached = inp.goal
            return True
        return False


class Planner(Protocol):
    def plan(self, inp: PlannerInput) -> PlanResult: ...

    def reset(self) -> None: ...


PLANNER_NAMES = ("mppi", "dwa")


def make_planner(name: str, **params) -> Planner:
    """Build a planner by name; ``params`` are fields of its config dataclass."""
    if name == "mppi":
        from reasonact_ros.planning.mppi import MPPIConfig, MPPIPlanner

        return MPPIPlanner(_config(MPPIConfig, name, params))
    if name == "dwa":
        from reasonact_ros.planning.dwa import DWAConfig, DWAPlanner

        return DWAPlanner(_config(DWAConfig, name, params))
    raise ValueError(f"unknown planner {name!r}; choose one of {', '.join(PLANNER_NAMES)}")


def _config(config_type, name: str, params: dict):
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown {name} parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return config_type(**params)
