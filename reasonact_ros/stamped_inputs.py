"""Inputs by their stamps: what a node needs to act on one instant, not on arrival order.

Two messages published one after the other on different topics can arrive in
either order. A node that pairs "the latest odometry" with a scan, or plans on
"the latest scene" when the clock ticks, computes something that depends on
which arrived first; in a lockstep simulation that makes one seed give several
outcomes. These helpers let a node ask by stamp instead:

- ``StampedHistory``: the last few values by stamp (odometry, scans), looked up
  at another message's stamp, the way tf2 looks a transform up at a scan's stamp;
- ``SensorSchedule``: when a periodic sensor's next message is due, from its last
  stamp and its period (a LaserScan's ``scan_time``), so a lockstep cycle knows
  whether to wait for it.

No rclpy here: stamps are seconds.
"""

from __future__ import annotations

import bisect
from typing import Generic, TypeVar

T = TypeVar("T")

# Stamps travel as integer nanoseconds and come back as floats; two stamps this close
# are the same instant.
SAME_INSTANT_S = 1e-6


class StampedHistory(Generic[T]):
    """The newest ``size`` values, ordered by stamp (a stamp older than the newest
    is inserted in place, a repeated stamp replaces its value)."""

    def __init__(self, size: int = 20):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._size = size
        self._stamps: list[float] = []
        self._values: list[T] = []

    def __len__(self) -> int:
        return len(self._stamps)

    def clear(self) -> None:
        self._stamps.clear()
        self._values.clear()

    def add(self, stamp: float, value: T) -> None:
        index = bisect.bisect_left(self._stamps, stamp - SAME_INSTANT_S)
        if index < len(self._stamps) and abs(self._stamps[index] - stamp) <= SAME_INSTANT_S:
            self._values[index] = value
            return
        self._stamps.insert(index, stamp)
        self._values.insert(index, value)
        if len(self._stamps) > self._size:
            del self._stamps[0], self._values[0]

    def went_back(self, stamp: float) -> bool:
        """Whether ``stamp`` is older than the newest kept: one publisher's messages
        arrive in order, so its clock went back (a simulator reset)."""
        return bool(self._stamps) and stamp < self._stamps[-1] - SAME_INSTANT_S

    @property
    def newest_stamp(self) -> float | None:
        return self._stamps[-1] if self._stamps else None

    def latest(self) -> T | None:
        return self._values[-1] if self._values else None

    def covers(self, stamp: float) -> bool:
        """Whether a value at or after ``stamp`` has arrived (``at`` will not change)."""
        return bool(self._stamps) and self._stamps[-1] >= stamp - SAME_INSTANT_S

    def at(self, stamp: float) -> T | None:
        """The value at ``stamp``: the newest one not after it, else the oldest kept."""
        if not self._stamps:
            return None
        index = bisect.bisect_right(self._stamps, stamp + SAME_INSTANT_S) - 1
        return self._values[max(index, 0)]


class SensorSchedule:
    """When a periodic sensor publishes next: one period after its last stamp.

    A lockstep simulator publishes a sensor at the first step at or after its last
    stamp plus its period, so "due at t" says whether that sensor's message for
    step t is on its way. Before the first message, the sensor is always due (the
    simulator publishes every sensor with its first state). A period of zero (a
    driver that leaves ``scan_time`` unset) makes the sensor due at every step.
    """

    def __init__(self):
        self.last_stamp: float | None = None
        self.period = 0.0

    def seen(self, stamp: float, period: float) -> None:
        if self.last_stamp is None or stamp > self.last_stamp:
            self.last_stamp = stamp
        self.period = max(float(period), 0.0)

    def reset(self) -> None:
        self.last_stamp = None
        self.period = 0.0

    def due(self, t: float) -> bool:
        """Whether a message stamped ``t`` is still to come for step ``t``: false once it
        has arrived, and between two periods. A clock that went back (the episode
        restarted) makes the sensor due again, as at the start."""
        if self.last_stamp is None or t < self.last_stamp - SAME_INSTANT_S:
            return True
        return self.last_stamp + self.period <= t + SAME_INSTANT_S and not (
            abs(self.last_stamp - t) <= SAME_INSTANT_S)
