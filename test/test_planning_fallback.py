"""FallbackPlanner: hands over to DWA after missed deadlines, and back."""

import numpy as np
import pytest

from reasonact_ros.planning import PlannerInput
from reasonact_ros.planning.dwa import DWAPlanner
from reasonact_ros.planning.fallback import FallbackPlanner
from reasonact_ros.scene import Behavior, Decision, Goal, Limits, Pose2D, Velocity2D

NO_POINTS = np.zeros((0, 2))


class _Late:
    """A primary planner that always takes too long (by its own report)."""

    def __init__(self):
        self.calls = 0
        self.resets = 0

    def plan(self, inp):
        self.calls += 1
        result = DWAPlanner().plan(inp)
        result.compute_ms = 100.0
        result.status = "late"
        return result

    def reset(self):
        self.resets += 1


def test_fallback_takes_over_after_missed_deadlines_and_hands_back():
    late = _Late()
    planner = FallbackPlanner(late, DWAPlanner(), deadline_ms=33.0, misses_to_switch=2,
                              fallback_cycles=3)
    inp = PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((4.0, 0.0),)), (), NO_POINTS, None,
                       Decision(Behavior.PROCEED, 1.0, 0.6, 1e9), Limits())
    statuses = [planner.plan(inp).status for _ in range(7)]
    assert statuses == ["late", "late", "tracking", "tracking", "tracking", "late", "late"]
    assert planner.switches == 2 and planner.using_fallback
    with pytest.raises(ValueError):
        FallbackPlanner(late, DWAPlanner(), deadline_ms=0.0)


def test_a_cpu_clock_deadline_ignores_time_lost_to_other_processes():
    class _Preempted(_Late):
        def plan(self, inp):
            result = super().plan(inp)
            result.compute_cpu_ms = 10.0  # late by the wall clock, quick on its own CPU
            return result

    inp = PlannerInput(0.0, Pose2D(), Velocity2D(), Goal(((4.0, 0.0),)), (), NO_POINTS, None,
                       Decision(Behavior.PROCEED, 1.0, 0.6, 1e9), Limits())
    on_cpu = FallbackPlanner(_Preempted(), DWAPlanner(), deadline_ms=33.0, misses_to_switch=2,
                             clock="cpu")
    on_wall = FallbackPlanner(_Preempted(), DWAPlanner(), deadline_ms=33.0, misses_to_switch=2)
    for _ in range(5):
        on_cpu.plan(inp), on_wall.plan(inp)
    assert on_cpu.switches == 0 and on_wall.switches == 1
    with pytest.raises(ValueError, match="clock"):
        FallbackPlanner(_Late(), DWAPlanner(), clock="sim")
