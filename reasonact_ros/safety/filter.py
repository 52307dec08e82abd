"""The last stage before the wheels: zones, time to collision, watchdog, limits.

Depends on raw data only (the commanded velocity and the raw scan) and on
``scene.py``; it imports nothing from perception, reasoning or planning, so it
keeps working when they are dead or wrong. Rules, most restrictive first:

  estop           an operator e-stop is engaged: zero
  watchdog        no command for ``watchdog_timeout``: zero
  no_scan         no scan, or the last one is older than ``scan_timeout``: zero
  scan_invalid    the last scan had no informative beam (all NaN): zero; an all-+inf
                  scan is open space (REP-117) and valid
  invalid_command the last command was NaN/Inf: zero until a finite one arrives
  stop_zone       a return inside the stop polygon: zero linear velocity; rotation
                  in place is kept (``stop_allows_rotation``) because a circular
                  footprint sweeps no new area when it turns, and turning is how a
                  forward-only base gets out; Nav2's collision monitor zeros both
                  because its footprints need not be round
  approach        the footprint, driven forward along the commanded arc, would hit a
                  return sooner than ``time_before_collision``: scale (v, w) alike
                  (same arc) so the collision is no sooner than that
  slow_zone       a return inside the slow polygon: scale (v, w) by ``slow_factor``
                  (when both apply, the stronger scaling acts and names the state)
  limited         the command exceeded a speed or acceleration limit and was clamped

Speed limits are applied first, so the zones and the approach check judge the
command that could actually be sent. Returns come from the raw scan in the
lidar frame, moved into base_link by the configured mount (``lidar_x``,
``lidar_y``, ``lidar_yaw``); the scan's own odom pose is not used.

Acceleration limits apply to speeding up only, relative to the last output:
slowing towards zero is always allowed at once, so no stop is ever rate-limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from reasonact_ros.scene import Limits, ScanData, Velocity2D, points_in_polygon

# More beams than any 2-D lidar sends: treated as invalid so a flood cannot stall the filter.
MAX_SCAN_BEAMS = 8192

STATE_OK = "ok"
STATE_STOP_ZONE = "stop_zone"
STATE_SLOW_ZONE = "slow_zone"
STATE_APPROACH = "approach"
STATE_WATCHDOG = "watchdog"
STATE_ESTOP = "estop"
STATE_INVALID_COMMAND = "invalid_command"
STATE_NO_SCAN = "no_scan"
STATE_SCAN_INVALID = "scan_invalid"
STATE_LIMITED = "limited"


def box_polygon(x_min: float, x_max: float, half_width: float) -> np.ndarray:
    """A robot-frame rectangle as a (4, 2) polygon, counter-clockwise."""
    return np.array([[x_min, -half_width], [x_max, -half_width],
                     [x_max, half_width], [x_min, half_width]])


def _default_stop_polygon() -> np.ndarray:
    # From the base centre to 0.35 m past the front of a 0.3 m radius robot, a little wider.
    return box_polygon(0.0, 0.65, 0.32)


def _default_slow_polygon() -> np.ndarray:
    return box_polygon(0.0, 1.3, 0.5)


@dataclass
class SafetyConfig:
    stop_polygon: np.ndarray = field(default_factory=_default_stop_polygon)  # (N, 2) base_link
    slow_polygon: np.ndarray | None = field(default_factory=_default_slow_polygon)  # or None
    slow_factor: float = 0.5  # (0, 1] scale inside the slow polygon
    stop_allows_rotation: bool = True  # see the module docstring
    approach_enabled: bool = True
    time_before_collision: float = 1.2  # [s] the footprint may not hit anything sooner
    approach_step: float = 0.05  # [m] arc length between simulated footprint poses
    min_approach_scale: float = 0.05  # below this fraction of the command, stop instead
    robot_radius: float = 0.3  # [m] circular footprint for the approach check
    watchdog_timeout: float = 0.15  # [s] without a command -> zero (+1 tick <= 0.2 s)
    scan_timeout: float = 0.5  # [s] without a scan -> zero
    lidar_x: float = 0.0  # [m] lidar pose in base_link
    lidar_y: float = 0.0  # [m]
    lidar_yaw: float = 0.0  # [rad]
    limits: Limits = field(default_factory=Limits)
    max_accel_dt: float = 0.1  # [s] cap on the time step the acceleration limit may use

    def __post_init__(self):
        self.stop_polygon = _checked_polygon("stop_polygon", self.stop_polygon)
        if self.slow_polygon is not None:
            self.slow_polygon = _checked_polygon("slow_polygon", self.slow_polygon)
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits must be a Limits, got {type(self.limits).__name__}")
        if not (math.isfinite(self.slow_factor) and 0.0 < self.slow_factor <= 1.0):
            raise ValueError(f"slow_factor must be in (0, 1], got {self.slow_factor!r}")
        if not (math.isfinite(self.min_approach_scale) and 0.0 <= self.min_approach_scale < 1.0):
            raise ValueError(
                f"min_approach_scale must be in [0, 1), got {self.min_approach_scale!r}")
        for name in ("time_before_collision", "approach_step", "robot_radius",
                     "watchdog_timeout", "scan_timeout", "max_accel_dt"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("lidar_x", "lidar_y", "lidar_yaw"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name} must be finite, got {value!r}")


def _checked_polygon(name: str, polygon) -> np.ndarray:
    polygon = np.asarray(polygon, dtype=float)
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
        raise ValueError(f"{name} must be (N>=3, 2) points, got shape {polygon.shape}")
    if not np.all(np.isfinite(polygon)):
        raise ValueError(f"{name} has non-finite vertices")
    x, y = polygon[:, 0], polygon[:, 1]
    if abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) < 1e-9:
        raise ValueError(f"{name} has zero area")
    return polygon


@dataclass(frozen=True)
class SafetyOutput:
    command: Velocity2D
    state: str  # which rule acted, one of the STATE_* strings


ZERO = Velocity2D(0.0, 0.0)


class SafetyFilter:
    def __init__(self, config: SafetyConfig):
        if not isinstance(config, SafetyConfig):
            raise ValueError(f"config must be a SafetyConfig, got {type(config).__name__}")
        self.config = config
        self.counters = {"invalid_commands": 0, "invalid_scans": 0, "invalid_beams": 0}
        self._beam_key = None
        self._beam_cos = self._beam_sin = None
        self._estop = False
        self.reset()

    def reset(self) -> None:
        """Forget every input; the next update says 'watchdog' until a command arrives."""
        self._command: Velocity2D | None = None
        self._command_time = -math.inf
        self._command_invalid = False
        self._scan_time = -math.inf
        self._scan_valid = False
        self._points = np.zeros((0, 2))  # valid returns in base_link
        self._in_stop_zone = False
        self._in_slow_zone = False
        self._last_output = ZERO
        self._last_change_time: float | None = None  # when _last_output took its value

    # --- inputs -------------------------------------------------------------------------

    def on_command(self, now: float, cmd: Velocity2D) -> None:
        # A non-finite stamp can never be fresh: the watchdog will act.
        self._command_time = now if math.isfinite(now) else -math.inf
        if math.isfinite(cmd.linear) and math.isfinite(cmd.angular):
            self._command = cmd
            self._command_invalid = False
        else:
            self._command = ZERO
            self._command_invalid = True
            self.counters["invalid_commands"] += 1

    def on_scan(self, now: float, scan: ScanData) -> None:
        ranges = np.asarray(scan.ranges, dtype=float).reshape(-1)
        header = (scan.angle_min, scan.angle_increment, scan.range_min, scan.range_max)
        if len(ranges) > MAX_SCAN_BEAMS or not all(math.isfinite(value) for value in header):
            # Beam directions would be NaN and every return would miss every zone: a blind
            # filter. Such a scan is as good as none.
            ranges = np.full(len(ranges), np.nan)
            scan = ScanData(ranges, 0.0, 0.0, 0.0, 0.0)
        cos_beam, sin_beam = self._beam_geometry(len(ranges), scan.angle_min,
                                                 scan.angle_increment)
        # REP-117: -inf is "something too close to measure", so it counts as a return at
        # range_min; +inf is "nothing within range", a valid clear beam; NaN is an error.
        too_close = np.isneginf(ranges)
        ranges = np.where(too_close, scan.range_min, ranges)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(ranges) & (ranges >= scan.range_min) & (ranges <= scan.range_max)
        clear = np.isposinf(ranges)
        self._scan_time = now if math.isfinite(now) else -math.inf
        self.counters["invalid_beams"] += int(len(ranges) - np.count_nonzero(valid | clear))
        # Open space (every beam +inf) is a valid scan; only a scan with no informative
        # beam at all (every beam NaN) leaves the filter blind.
        self._scan_valid = bool(valid.any() or clear.any())
        if not self._scan_valid:
            self.counters["invalid_scans"] += 1
            self._points = np.zeros((0, 2))
            self._in_stop_zone = self._in_slow_zone = False
            return
        r = ranges[valid]
        # Beam directions already include the lidar yaw; add the mount offset.
        points = np.empty((len(r), 2))
        points[:, 0] = self.config.lidar_x + r * cos_beam[valid]
        points[:, 1] = self.config.lidar_y + r * sin_beam[valid]
        self._points = points
        self._in_stop_zone = _any_inside(points, self.config.stop_polygon)
        slow = self.config.slow_polygon
        self._in_slow_zone = slow is not None and _any_inside(points, slow)

    @property
    def has_command(self) -> bool:
        return self._command is not None

    def command_is_fresh(self, now: float) -> bool:
        """Whether the last command may still drive the base (the watchdog's test)."""
        return self._command is not None and _fresh(now, self._command_time,
                                                    self.config.watchdog_timeout)

    def set_estop(self, engaged: bool) -> None:
        self._estop = bool(engaged)

    @property
    def estop_engaged(self) -> bool:
        return self._estop

    def _beam_geometry(self, count: int, angle_min: float, increment: float):
        key = (count, float(angle_min), float(increment), self.config.lidar_yaw)
        if key != self._beam_key:
            angles = angle_min + increment * np.arange(count) + self.config.lidar_yaw
            self._beam_cos, self._beam_sin = np.cos(angles), np.sin(angles)
            self._beam_key = key
        return self._beam_cos, self._beam_sin

    # --- the filter ---------------------------------------------------------------------

    def update(self, now: float) -> SafetyOutput:
        command, state = self._apply_rules(now)
        command = Velocity2D(float(command.linear), float(command.angular))
        # The acceleration limit counts from when the output last changed, not from the
        # last update: on a real clock the timer re-filters the standing command every
        # tick, and a planner command just after a tick was allowed only the few ms since
        # it, so each speed-up waited for the next tick.
        went_back = (self._last_change_time is not None and math.isfinite(now)
                     and now < self._last_change_time)  # a reset clock: count from now
        if command != self._last_output or self._last_change_time is None or went_back:
            self._last_output = command
            if math.isfinite(now):
                self._last_change_time = now
        return SafetyOutput(command, state)

    def _apply_rules(self, now: float) -> tuple[Velocity2D, str]:
        cfg = self.config
        if self._estop:
            return ZERO, STATE_ESTOP
        if not self.command_is_fresh(now):
            return ZERO, STATE_WATCHDOG
        if not _fresh(now, self._scan_time, cfg.scan_timeout):
            return ZERO, STATE_NO_SCAN
        if not self._scan_valid:
            return ZERO, STATE_SCAN_INVALID
        if self._command_invalid:
            return ZERO, STATE_INVALID_COMMAND

        v, w = self._clamp_to_limits(self._command.linear, self._command.angular)
        state = STATE_LIMITED if (v, w) != (self._command.linear, self._command.angular) \
            else STATE_OK
        if self._in_stop_zone and v != 0.0:
            v = 0.0
            if not cfg.stop_allows_rotation:
                w = 0.0
            state = STATE_STOP_ZONE
        elif self._in_stop_zone and not cfg.stop_allows_rotation and w != 0.0:
            w = 0.0
            state = STATE_STOP_ZONE
        if state != STATE_STOP_ZONE and (v != 0.0 or w != 0.0):
            # Both scalings keep the commanded arc; the stronger one wins and names the state.
            approach = self._approach_scale(v, w) if cfg.approach_enabled else 1.0
            slow = cfg.slow_factor if self._in_slow_zone else 1.0
            if approach < 1.0 and approach <= slow:
                v, w = v * approach, w * approach
                state = STATE_APPROACH
            elif slow < 1.0:
                v, w = v * slow, w * slow
                state = STATE_SLOW_ZONE
        v_limited, w_limited = self._limit_acceleration(now, v, w)
        if (v_limited, w_limited) != (v, w) and state == STATE_OK:
            state = STATE_LIMITED
        return Velocity2D(v_limited, w_limited), state

    def _clamp_to_limits(self, v: float, w: float) -> tuple[float, float]:
        limits = self.config.limits
        v = min(max(v, -limits.max_reverse_speed), limits.max_linear_speed)
        w = min(max(w, -limits.max_angular_speed), limits.max_angular_speed)
        return v, w

    def _limit_acceleration(self, now: float, v: float, w: float) -> tuple[float, float]:
        if self._last_change_time is None or not math.isfinite(now):
            dt = self.config.max_accel_dt
        else:
            dt = min(max(now - self._last_change_time, 0.0), self.config.max_accel_dt)
        limits = self.config.limits
        v = _limit_speed_up(self._last_output.linear, v, limits.max_linear_accel * dt)
        w = _limit_speed_up(self._last_output.angular, w, limits.max_angular_accel * dt)
        return v, w

    def _approach_scale(self, v: float, w: float) -> float:
        """Factor in [0, 1] that keeps the first collision along the arc >= the threshold."""
        if v == 0.0 or len(self._points) == 0:
            return 1.0  # a circular footprint turning in place sweeps nothing new
        cfg = self.config
        horizon = cfg.time_before_collision
        radius = cfg.robot_radius
        # Only returns the footprint can reach within the horizon matter.
        reach = abs(v) * horizon + radius
        points = self._points
        near = points[:, 0] ** 2 + points[:, 1] ** 2 <= reach * reach
        if not near.any():
            return 1.0
        points = points[near]
        steps = max(1, min(200, math.ceil(abs(v) * horizon / cfg.approach_step)))
        times = np.arange(1, steps + 1) * (horizon / steps)
        if abs(w) < 1e-6:
            xs, ys = v * times, np.zeros_like(times)
        else:
            xs = v / w * np.sin(w * times)
            ys = v / w * (1.0 - np.cos(w * times))
        dx = points[None, :, 0] - xs[:, None]
        dy = points[None, :, 1] - ys[:, None]
        dist_sq = dx * dx + dy * dy
        now_sq = points[:, 0] ** 2 + points[:, 1] ** 2
        # A hit is a return inside the footprint that is also closer than now: a return
        # already touching the robot does not stop it from driving away.
        hits = (dist_sq < radius * radius) & (dist_sq < now_sq[None, :] - 1e-12)
        hit_steps = np.flatnonzero(hits.any(axis=1))
        if len(hit_steps) == 0:
            return 1.0
        # Hits happen within the step before; take its start as the conservative time.
        collision_time = times[hit_steps[0]] - horizon / steps
        scale = collision_time / horizon
        return 0.0 if scale < cfg.min_approach_scale else scale


def _fresh(now: float, stamp: float, timeout: float) -> bool:
    """Younger than ``timeout``; a stamp far in the future means the clock jumped back
    (a simulation reset), and an input from before the jump is not fresh either."""
    age = now - stamp
    return math.isfinite(age) and -timeout <= age <= timeout


def _limit_speed_up(last: float, target: float, max_change: float) -> float:
    """Move from last towards target; only changes away from zero are rate-limited."""
    if target * last >= 0.0 and abs(target) <= abs(last):
        return target  # slowing down (or holding) in the same direction: always allowed
    start = last if target * last > 0.0 else 0.0  # a reversal drops to zero at once
    return min(max(target, start - max_change), start + max_change)


def _any_inside(points: np.ndarray, polygon: np.ndarray) -> bool:
    # Bounding-box prefilter: most returns are far from the robot.
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    close = np.all((points >= lo) & (points <= hi), axis=1)
    if not close.any():
        return False
    return bool(points_in_polygon(points[close], polygon).any())
