"""Local planners: MPPI (torch, social costs) and DWA (numpy baseline and fallback)."""

# OMP_WAIT_POLICY=PASSIVE is set by the package __init__, before torch loads.
from reasonact_ros.planning.interface import (
    Planner,
    PlannerInput,
    PlanResult,
    make_planner,
)

__all__ = ["Planner", "PlannerInput", "PlanResult", "make_planner"]
