"""The benchmark helpers run and report what `reasonact bench` prints (no timing asserts)."""

import numpy as np
import pytest
import torch

from reasonact_ros.planning.benchmark import busy_walkway_input, mppi_cycle_times
from reasonact_ros.scene import Pose2D, Velocity2D


def test_mppi_cycle_times_reports_percentiles_and_restores_threads():
    threads = torch.get_num_threads()
    times = mppi_cycle_times(samples=64, steps=10, people=3, cycles=3, warmup=1, threads=1)
    assert set(times) == {"p50", "p95", "max", "cpu_p50", "cpu_p95"}
    assert 0.0 < times["p50"] <= times["p95"] <= times["max"]
    assert torch.get_num_threads() == threads


def test_dwa_can_be_timed_too():
    assert mppi_cycle_times(people=2, cycles=2, warmup=0, planner="dwa")["p50"] > 0.0


def test_busy_walkway_has_the_people_asked_for():
    inp = busy_walkway_input(0.0, Pose2D(), Velocity2D(), 10, np.random.default_rng(0))
    assert len(inp.people) == 10 and inp.walkway is not None and len(inp.obstacle_points)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        mppi_cycle_times(cycles=0)
    with pytest.raises(ValueError):
        mppi_cycle_times(samples=64, steps=10, cycles=1, threads=0)
