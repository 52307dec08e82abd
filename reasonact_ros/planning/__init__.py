"""Local planners: MPPI (torch, social costs) and DWA (numpy baseline and fallback)."""

import os

# torch's OpenMP threads spin at every barrier by default. On a machine shared with
# other nodes a spinning thread starves the one doing the work: measured here with two
# threads under load, MPPI cycles went from ~20 ms (passive) to over a second (spinning).
# Only takes effect if torch is not loaded yet; set it in the launch environment too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from reasonact_ros.planning.interface import (  # noqa: E402  (after the environment)
    Planner,
    PlannerInput,
    PlanResult,
    make_planner,
)

__all__ = ["Planner", "PlannerInput", "PlanResult", "make_planner"]
