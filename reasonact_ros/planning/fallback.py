"""A planner that hands over to a cheaper one when the primary keeps missing its deadline.

MPPI's cycle time depends on the machine and its load; DWA's hardly does. After
``misses_to_switch`` consecutive primary cycles over ``deadline_ms``, the fallback
plans for ``fallback_cycles`` cycles, then the primary gets another chance (with a
reset warm start, since its last optimum is stale by then).

``clock`` says which time the deadline judges: ``wall`` on a robot, where a late
command is late whatever the cause; ``cpu`` (the planning thread's own CPU time)
in lockstep simulation, where the world waits for the planner and only the
planner's own cost should decide, not what else the machine runs.
"""

from __future__ import annotations

import math

from reasonact_ros.planning.interface import Planner, PlannerInput, PlanResult

DEADLINE_CLOCKS = ("wall", "cpu")


class FallbackPlanner:
    def __init__(self, primary: Planner, fallback: Planner, deadline_ms: float = 33.0,
                 misses_to_switch: int = 3, fallback_cycles: int = 40, clock: str = "wall"):
        if not (math.isfinite(deadline_ms) and deadline_ms > 0.0):
            raise ValueError(f"deadline_ms must be finite and > 0, got {deadline_ms!r}")
        if clock not in DEADLINE_CLOCKS:
            raise ValueError(f"clock must be one of {DEADLINE_CLOCKS}, got {clock!r}")
        self.clock = clock
        if misses_to_switch < 1 or fallback_cycles < 1:
            raise ValueError("misses_to_switch and fallback_cycles must be >= 1")
        self.primary, self.fallback = primary, fallback
        self.deadline_ms = deadline_ms
        self.misses_to_switch = misses_to_switch
        self.fallback_cycles = fallback_cycles
        self.reset()

    def reset(self) -> None:
        self.primary.reset()
        self.fallback.reset()
        self._misses = 0
        self._fallback_left = 0
        self.switches = 0  # how often the fallback took over: for diagnostics

    @property
    def using_fallback(self) -> bool:
        return self._fallback_left > 0

    def plan(self, inp: PlannerInput) -> PlanResult:
        if self._fallback_left > 0:
            self._fallback_left -= 1
            if self._fallback_left == 0:
                self.primary.reset()
            return self.fallback.plan(inp)
        result = self.primary.plan(inp)
        spent = result.compute_cpu_ms if self.clock == "cpu" else result.compute_ms
        self._misses = self._misses + 1 if spent > self.deadline_ms else 0
        if self._misses >= self.misses_to_switch:
            self._misses = 0
            self._fallback_left = self.fallback_cycles
            self.switches += 1
            self.fallback.reset()
        return result
