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
