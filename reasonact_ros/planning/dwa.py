"""Dynamic Window Approach: the numpy baseline, and the fallback when MPPI is late.

It scores constant-(v, w) arcs reachable within one control period (the dynamic
window) by progress to the carrot, clearance and speed. People are static
circular obstacles at their current positions and the behaviour is ignored,
except for what is a limit: ``max_speed`` and STOP (a speed limit of zero).
That is the point of a baseline: it shows what the social terms of MPPI add.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from reasonact_ros.planning.distance_grid import DistanceGrid
from reasonact_ros.planning.interface import (
    STATUS_BLOCKED,
    STATUS_GOAL_REACHED,
    STATUS_NO_GOAL,
    STATUS_TRACKING,
    STATUS_WAITING,
    GoalChecker,
    PlannerInput,
    PlanResult,
    usable_decision,
)
from reasonact_ros.planning.route import RouteTracker
from reasonact_ros.scene import Behavior, Velocity2D


@dataclass
class DWAConfig:
    sim_time: float = 2.0  # [s] how far each arc is simulated
    sim_dt: float = 0.1  # [s]
    control_period: float = 0.1  # [s] the window is what the limits allow in this time
    linear_samples: int = 11
    angular_samples: int = 21
    robot_radius: float = 0.3  # [m]
    obstacle_margin: float = 0.3  # [m] clearance beyond the footprint that starts to cost
    goal_weight: float = 2.0  # per metre from the arc's end to the carrot
    clearance_weight: float = 4.0  # per metre of margin used up
    speed_weight: float = 0.5  # per m/s below the speed cap
    grid_resolution: float = 0.05  # [m]
    prediction_steps: int = 20  # length of the (static) predictions reported for people

    def __post_init__(self):
        for name in ("sim_time", "sim_dt", "control_period", "robot_radius", "grid_resolution"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        for name in ("linear_samples", "angular_samples", "prediction_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
        for name in ("obstacle_margin", "goal_weight", "clearance_weight", "speed_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


class DWAPlanner:
    def __init__(self, config: DWAConfig | None = None):
        self.config = config or DWAConfig()
        self._route = RouteTracker()
        self._goal_checker = GoalChecker()

    def reset(self) -> None:
        self._route.reset()
        self._goal_checker.reset()

    def plan(self, inp: PlannerInput) -> PlanResult:
        started, cpu_started = time.perf_counter(), time.thread_time()
        result = self._plan(inp)
        result.compute_ms = (time.perf_counter() - started) * 1e3
        result.compute_cpu_ms = (time.thread_time() - cpu_started) * 1e3
        return result

    def _plan(self, inp: PlannerInput) -> PlanResult:
        cfg = self.config
        steps = int(math.ceil(cfg.sim_time / cfg.sim_dt))
        # People stand still in this planner; the reported predictions say so.
        predictions = {p.id: np.tile([p.x, p.y], (cfg.prediction_steps, 1))
                       for p in inp.people}
        here = np.array([inp.robot.x, inp.robot.y])
        decision = usable_decision(inp)
        if decision.behavior == Behavior.STOP:
            return self._hold(inp, STATUS_WAITING, steps, predictions)
        if inp.goal is None:
            return self._hold(inp, STATUS_NO_GOAL, steps, predictions)
        if self._goal_checker.reached(inp):
            return self._hold(inp, STATUS_GOAL_REACHED, steps, predictions)

        limits = inp.limits
        cap = min(limits.max_linear_speed, max(decision.max_speed, 0.0))
        v0, w0 = inp.velocity.linear, inp.velocity.angular
        dv, dw = limits.max_linear_accel * cfg.control_period, \
            limits.max_angular_accel * cfg.control_period
        v_lo, v_hi = max(-limits.max_reverse_speed, v0 - dv), min(cap, v0 + dv)
        if v_lo > v_hi:  # over the cap already: slowing down is always in the window
            v_lo = v_hi = min(max(v0 - dv, -limits.max_reverse_speed), cap)
        w_lo = max(-limits.max_angular_speed, w0 - dw)
        w_hi = min(limits.max_angular_speed, w0 + dw)
        v_grid, w_grid = np.meshgrid(np.linspace(v_lo, v_hi, cfg.linear_samples),
                                     np.linspace(w_lo, w_hi, cfg.angular_samples), indexing="ij")
        v, w = v_grid.ravel(), w_grid.ravel()

        times = cfg.sim_dt * np.arange(1, steps + 1)
        yaw = inp.robot.yaw + w[:, None] * times[None, :]
        turning = np.abs(w) > 1e-6
        safe_w = np.where(turning, w, 1.0)[:, None]
        straight_x = inp.robot.x + v[:, None] * math.cos(inp.robot.yaw) * times
        straight_y = inp.robot.y + v[:, None] * math.sin(inp.robot.yaw) * times
        arc_x = inp.robot.x + v[:, None] / safe_w * (np.sin(yaw) - math.sin(inp.robot.yaw))
        arc_y = inp.robot.y - v[:, None] / safe_w * (np.cos(yaw) - math.cos(inp.robot.yaw))
        x = np.where(turning[:, None], arc_x, straight_x)
        y = np.where(turning[:, None], arc_y, straight_y)

        reach = max(abs(v_lo), abs(v_hi)) * cfg.sim_time + cfg.robot_radius + 1.0
        grid = DistanceGrid.from_points(inp.obstacle_points, (inp.robot.x, inp.robot.y), reach,
                                        cfg.grid_resolution, max_distance=2.0)
        clearance = grid.lookup(x, y) - cfg.robot_radius
        for person in inp.people:
            gap = np.hypot(x - person.x, y - person.y) - person.radius - cfg.robot_radius
            clearance = np.minimum(clearance, gap)
        min_clearance = clearance.min(axis=1)
        collides = min_clearance <= 0.0

        target = self._route.carrot(inp.goal, here, max(1.0, cap * cfg.sim_time))
        to_goal = np.hypot(x[:, -1] - target[0], y[:, -1] - target[1])
        cost = (cfg.goal_weight * to_goal
                + cfg.clearance_weight * np.clip(cfg.obstacle_margin - min_clearance, 0.0, None)
                + cfg.speed_weight * (cap - v))
        cost[collides] = np.inf
        if not np.isfinite(cost).any():
            # Every arc hits something: the safest move is to stop (rotation may also hit).
            return self._hold(inp, STATUS_BLOCKED, steps, predictions)
        best = int(np.argmin(cost))
        trajectory = np.column_stack([x[best], y[best], yaw[best]])
        return PlanResult(Velocity2D(float(v[best]), float(w[best])), trajectory, predictions,
                          STATUS_TRACKING)

    def _hold(self, inp, status, steps, predictions) -> PlanResult:
        trajectory = np.tile([inp.robot.x, inp.robot.y, inp.robot.yaw], (steps, 1))
        return PlanResult(Velocity2D(0.0, 0.0), trajectory, predictions, status)
