"""Safety filter timing for ``reasonact bench``: one scan plus one update, wall clock.

Not a test: numbers depend on the machine and on what else it is running.
"""

from __future__ import annotations

import math
import time

import numpy as np

from reasonact_ros.safety.filter import SafetyConfig, SafetyFilter
from reasonact_ros.scene import ScanData, Velocity2D


def safety_scan_time_ms(beams: int = 360, repeats: int = 500, seed: int = 0) -> float:
    """Median time [ms] of on_scan + on_command + update with a cluttered ``beams`` scan."""
    if beams < 1 or repeats < 1:
        raise ValueError(f"beams and repeats must be >= 1, got {beams}, {repeats}")
    rng = np.random.default_rng(seed)
    safety = SafetyFilter(SafetyConfig())
    increment = 2.0 * math.pi / beams
    times = []
    for index in range(repeats):
        now = 0.05 * index
        # Walls 1.5-4 m away with a few NaN beams, different every time.
        ranges = rng.uniform(1.5, 4.0, beams)
        ranges[rng.random(beams) < 0.02] = np.nan
        scan = ScanData(ranges, -math.pi, increment, 0.05, 30.0)
        started = time.perf_counter()
        safety.on_command(now, Velocity2D(0.8, 0.3))
        safety.on_scan(now, scan)
        safety.update(now)
        times.append((time.perf_counter() - started) * 1e3)
    return float(np.median(times))
