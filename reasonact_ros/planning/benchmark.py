"""Planner timing for ``reasonact bench``: a busy walkway, closed loop, wall-clock times.

Not a test: numbers depend on the machine and on what else it is running.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from reasonact_ros.planning.interface import PlannerInput, make_planner
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


def busy_walkway_input(now: float, robot: Pose2D, velocity: Velocity2D, people: int,
                       rng: np.random.Generator) -> PlannerInput:
    """A 4 m walkway with walls, a 360-beam worth of lidar points and ``people`` walkers."""
    wall_x = np.linspace(robot.x - 6.0, robot.x + 12.0, 180)
    walls = np.vstack([np.column_stack([wall_x, np.full_like(wall_x, 2.3)]),
                       np.column_stack([wall_x, np.full_like(wall_x, -2.3)])])
    walkers = []
    for index in range(people):
        x = robot.x + 1.5 + 7.0 * rng.random()
        y = -1.8 + 3.6 * rng.random()
        heading = math.pi if rng.random() < 0.6 else 0.0
        heading += rng.normal(0.0, 0.3)
        speed = 0.6 + 0.8 * rng.random()
        walkers.append(TrackedObject(index, ObjectClass.PEDESTRIAN, x, y,
                                     speed * math.cos(heading), speed * math.sin(heading)))
    walkway = Walkway(left=np.array([[-10.0, 2.0], [40.0, 2.0]]),
                      right=np.array([[-10.0, -2.0], [40.0, -2.0]]))
    limits = Limits()
    decision = Decision(Behavior.FOLLOW_WALKWAY, 1.2, 0.8, now + 1.0)
    return PlannerInput(now, robot, velocity, Goal(((robot.x + 20.0, -1.0),)), tuple(walkers),
                        walls, walkway, decision, limits)


def mppi_cycle_times(samples: int = 2000, steps: int = 56, people: int = 10, cycles: int = 40,
                     warmup: int = 3, seed: int = 0, threads: int | None = None,
                     planner: str = "mppi") -> dict[str, float]:
    """p50/p95/max of one planning cycle [ms], closed loop on a busy walkway.

    Wall-clock times, plus ``cpu_p50``/``cpu_p95``: the process CPU time per cycle (all
    threads), which on a machine shared with other work shows what the cycle costs
    rather than how long it waited. ``threads`` sets torch's intra-op threads for the
    run and restores them after; None keeps the process setting. ``planner='dwa'``
    times the baseline instead.
    """
    if cycles < 1 or warmup < 0:
        raise ValueError(f"need cycles >= 1 and warmup >= 0, got {cycles}, {warmup}")
    params = {"samples": samples, "steps": steps, "seed": seed} if planner == "mppi" else {}
    chosen = make_planner(planner, **params)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        times, cpu_times = _closed_loop(chosen, people, cycles, warmup, seed)
    finally:
        torch.set_num_threads(previous_threads)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
            "max": float(times.max()), "cpu_p50": float(np.percentile(cpu_times, 50)),
            "cpu_p95": float(np.percentile(cpu_times, 95))}


def _closed_loop(planner, people: int, cycles: int, warmup: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    robot, velocity, dt = Pose2D(), Velocity2D(0.5, 0.0), 0.05
    times, cpu_times = [], []
    for cycle in range(warmup + cycles):
        inp = busy_walkway_input(cycle * dt, robot, velocity, people, rng)
        started, cpu_started = time.perf_counter(), time.process_time()
        result = planner.plan(inp)
        elapsed = (time.perf_counter() - started) * 1e3
        cpu_elapsed = (time.process_time() - cpu_started) * 1e3
        if cycle >= warmup:
            times.append(elapsed)
            cpu_times.append(cpu_elapsed)
        velocity = result.command
        robot = Pose2D(robot.x + velocity.linear * math.cos(robot.yaw) * dt,
                       robot.y + velocity.linear * math.sin(robot.yaw) * dt,
                       robot.yaw + velocity.angular * dt)
    return np.asarray(times), np.asarray(cpu_times)
