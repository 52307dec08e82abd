"""The shared vocabulary of every core: plain dataclasses, no rclpy.

Frames follow REP-105: positions and velocities are in the ``odom`` frame
unless a docstring says otherwise; units are SI (REP-103): metres, seconds,
radians, metres per second. Times are seconds as floats on the clock the
caller uses (sim time or wall time); the cores never read a clock themselves.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np


class ObjectClass(enum.IntEnum):
    """What a tracked object is; values match TrackedObject.msg constants."""

    UNKNOWN = 0
    PEDESTRIAN = 1
    OBSTACLE = 2


class Behavior(enum.IntEnum):
    """What the robot should do; values match BehaviorDecision.msg constants."""

    PROCEED = 0
    SLOW = 1
    YIELD = 2
    STOP = 3
    PASS_LEFT = 4
    PASS_RIGHT = 5
    FOLLOW_WALKWAY = 6


class DecisionSource(enum.IntEnum):
    """Who made a decision; values match BehaviorDecision.msg constants."""

    RULES = 0
    LLM = 1
    LOCAL = 2
    FALLBACK = 3


@dataclass(frozen=True)
class Pose2D:
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0  # [rad], counter-clockwise from +x


@dataclass(frozen=True)
class Velocity2D:
    """A body-frame command or state of a differential-drive base."""

    linear: float = 0.0  # [m/s] along base_link +x
    angular: float = 0.0  # [rad/s] about +z

    def at_most(self, max_linear: float) -> Velocity2D:
        """This command scaled down (turn rate too, so the arc stays the same) until its
        forward speed is at most ``max_linear``; itself if it already is."""
        if self.linear <= max_linear:
            return self
        scale = max(max_linear, 0.0) / self.linear
        return Velocity2D(self.linear * scale, self.angular * scale)


@dataclass(frozen=True)
class TrackedObject:
    """One person or obstacle as perception (or ground truth) sees it."""

    id: int
    label: ObjectClass
    x: float  # [m] odom
    y: float  # [m] odom
    vx: float = 0.0  # [m/s] odom
    vy: float = 0.0  # [m/s] odom
    radius: float = 0.3  # [m]
    confidence: float = 1.0  # [0, 1]
    age_s: float = 0.0  # [s] since the track was confirmed
    on_walkway: bool = False
    # False for a tentative track: seen once or twice, not yet as often as the tracker
    # needs. Reported so that the first scan can slow the robot; nothing else uses it.
    confirmed: bool = True

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y])

    @property
    def velocity(self) -> np.ndarray:
        return np.array([self.vx, self.vy])

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


@dataclass(frozen=True)
class Walkway:
    """A walkway as two edge polylines in odom, both ordered along its direction.

    ``left`` and ``right`` are (N, 2) arrays; left is on the left-hand side for
    someone walking in the walkway's direction (from the first point onwards).
    """

    left: np.ndarray
    right: np.ndarray

    def __post_init__(self):
        for name in ("left", "right"):
            edge = np.asarray(getattr(self, name), dtype=float)
            if edge.ndim != 2 or edge.shape[1] != 2 or len(edge) < 2:
                raise ValueError(f"walkway {name} edge must be (N>=2, 2), got {edge.shape}")
            if not np.all(np.isfinite(edge)):
                raise ValueError(f"walkway {name} edge has non-finite points")
            object.__setattr__(self, name, edge)

    def polygon(self) -> np.ndarray:
        """The walkway area as a closed polygon (M, 2)."""
        return np.vstack([self.left, self.right[::-1]])

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the (K, 2) points lie on the walkway."""
        return points_in_polygon(np.atleast_2d(points), self.polygon())

    def direction_at(self, point, max_bend_rad: float = math.radians(30.0)) -> np.ndarray | None:
        """Unit vector of the walkway's direction beside ``point`` (the mean of the two
        edges' nearest segments), or None where the edges disagree by more than
        ``max_bend_rad``: at a corner there is no one direction."""
        directions = []
        for edge in (self.left, self.right):
            distance = distances_to_segments(point, edge)
            ab = np.diff(edge, axis=0)
            # Nearest to a vertex, both segments meeting there are nearest: their mean.
            nearest = distance <= distance.min() + 1e-6
            direction = (ab[nearest] / np.linalg.norm(ab[nearest], axis=1)[:, None]).sum(axis=0)
            directions.append(direction / max(float(np.linalg.norm(direction)), 1e-12))
        if float(directions[0] @ directions[1]) < math.cos(max_bend_rad):
            return None
        total = directions[0] + directions[1]
        return total / float(np.linalg.norm(total))


def distances_to_segments(point, polyline: np.ndarray) -> np.ndarray:
    """Distance from ``point`` to each segment of a (M, 2) polyline: (M - 1,)."""
    point = np.asarray(point, dtype=float)
    a, ab = polyline[:-1], np.diff(polyline, axis=0)
    t = np.clip(np.einsum("ij,ij->i", point - a, ab)
                / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(a + t[:, None] * ab - point, axis=1)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points: (K, 2) x (M, 2) -> (K,) bool."""
    px, py = points[:, 0:1], points[:, 1:2]
    ax, ay = polygon[:, 0], polygon[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    return np.count_nonzero(straddles & (px < x_cross), axis=1) % 2 == 1


# [m] lidar radius from which a static blob of unknown kind may be a standing person
PERSON_SIZED_RADIUS_M = 0.19


@dataclass(frozen=True)
class SensorHealth:
    """Which inputs were fresh and usable when a scene was built."""

    scan_ok: bool = True
    camera_ok: bool = True
    odom_ok: bool = True
    messages: tuple[str, ...] = ()

    @property
    def all_ok(self) -> bool:
        return self.scan_ok and self.camera_ok and self.odom_ok


@dataclass(frozen=True)
class Scene:
    """Everything the reasoning and planning cores know about the moment ``stamp``."""

    stamp: float
    robot: Pose2D
    robot_velocity: Velocity2D = Velocity2D()
    objects: tuple[TrackedObject, ...] = ()
    walkway: Walkway | None = None
    health: SensorHealth = SensorHealth()
    frame_id: str = "odom"
    goal: tuple[float, float] | None = None  # where the robot is going, in frame_id, if known

    def people(self) -> tuple[TrackedObject, ...]:
        """Confirmed pedestrians, and confirmed UNKNOWN blobs of a person's size.

        Tentative tracks have no velocity worth predicting. Someone standing still is, to
        the lidar alone, a person-sized blob that never moved, which perception calls
        UNKNOWN after a while (it may be a bin); whoever plans around it keeps a person's
        distance all the same. A bin given a berth costs a second; a person passed at
        0.5 m is what the personal-space metric counts (the standing scenario: 17 % of
        the time, lidar only). Posts and barrier corners stay obstacles: their lidar
        radius is 0.12-0.15 m, a standing person's 0.21-0.25 m.
        """
        return tuple(o for o in self.objects if o.confirmed and (
            o.label == ObjectClass.PEDESTRIAN
            or (o.label == ObjectClass.UNKNOWN and o.radius >= PERSON_SIZED_RADIUS_M)))

    def find(self, object_id: int) -> TrackedObject | None:
        return next((o for o in self.objects if o.id == object_id), None)


NO_TARGET = -1


@dataclass(frozen=True)
class Decision:
    """A behaviour decision, valid until ``valid_until`` on the caller's clock."""

    behavior: Behavior
    max_speed: float  # [m/s], never above Limits.max_linear_speed once validated
    min_clearance: float  # [m] to people
    valid_until: float  # [s]
    source: DecisionSource = DecisionSource.RULES
    # [m] no planner relief passes people closer (the validator sets the limits' minimum
    # or an instruction's "keep N m"); 0: the planner's own limits decide
    clearance_floor: float = 0.0
    target_id: int = NO_TARGET
    rationale: str = ""
    stamp: float = 0.0

    def is_valid_at(self, now: float) -> bool:
        # A decision stamped after ``now`` comes from before a clock jump: not valid.
        return self.stamp <= now <= self.valid_until


@dataclass(frozen=True)
class Limits:
    """Hard limits from configuration; nothing the reasoning side says exceeds them."""

    max_linear_speed: float = 1.5  # [m/s] walkway robot
    max_reverse_speed: float = 0.0  # [m/s] reversing among people is not allowed by default
    max_angular_speed: float = 1.5  # [rad/s]
    max_linear_accel: float = 1.0  # [m/s^2]
    max_angular_accel: float = 3.0  # [rad/s^2]
    min_person_clearance: float = 0.5  # [m] the least any decision may ask for
    max_person_clearance: float = 3.0  # [m] more than this makes passing impossible

    def __post_init__(self):
        for name, value in self.__dict__.items():
            if not math.isfinite(value) or value < 0.0:
                raise ValueError(f"limit {name} must be finite and >= 0, got {value!r}")
        if self.min_person_clearance > self.max_person_clearance:
            raise ValueError("min_person_clearance must not exceed max_person_clearance")


def default_decision(now: float, limits: Limits, validity_s: float = 0.5,
                     rationale: str = "no fresh decision: conservative default") -> Decision:
    """The conservative decision used when reasoning is stale or absent."""
    return Decision(
        behavior=Behavior.SLOW,
        max_speed=min(0.5, limits.max_linear_speed),
        min_clearance=max(1.2, limits.min_person_clearance),
        valid_until=now + validity_s,
        source=DecisionSource.FALLBACK,
        rationale=rationale,
        stamp=now,
    )


@dataclass(frozen=True)
class Goal:
    """A goal or a route of waypoints in odom; the last waypoint is the goal."""

    waypoints: tuple[tuple[float, float], ...]
    tolerance: float = 0.3  # [m]

    def __post_init__(self):
        if not self.waypoints:
            raise ValueError("a goal needs at least one waypoint")
        for point in self.waypoints:
            if len(point) != 2 or not all(math.isfinite(v) for v in point):
                raise ValueError(f"waypoint must be two finite numbers, got {point!r}")

    @classmethod
    def from_flat(cls, flat, tolerance: float = 0.3) -> Goal:
        """From a ROS parameter's flat x1, y1, x2, y2, ... list."""
        if len(flat) % 2:
            raise ValueError(f"parameter route needs x, y pairs, got {len(flat)} values")
        points = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
        return cls(points, tolerance=tolerance)

    @property
    def final(self) -> tuple[float, float]:
        return self.waypoints[-1]


@dataclass
class ScanData:
    """A planar laser scan in the sensor frame, with the sensor pose in odom."""

    ranges: np.ndarray  # [m], NaN/inf for no return
    angle_min: float  # [rad]
    angle_increment: float  # [rad]
    range_min: float  # [m]
    range_max: float  # [m]
    sensor_pose: Pose2D = field(default_factory=Pose2D)  # in odom at scan time

    def angles(self) -> np.ndarray:
        return self.angle_min + self.angle_increment * np.arange(len(self.ranges))

    def valid_mask(self) -> np.ndarray:
        r = self.ranges
        return np.isfinite(r) & (r >= self.range_min) & (r <= self.range_max)

    def points_sensor(self) -> np.ndarray:
        """Valid returns as (K, 2) points in the sensor frame."""
        mask = self.valid_mask()
        a, r = self.angles()[mask], self.ranges[mask]
        return np.column_stack([r * np.cos(a), r * np.sin(a)])

    def points_odom(self) -> np.ndarray:
        """Valid returns as (K, 2) points in odom."""
        p = self.points_sensor()
        c, s = math.cos(self.sensor_pose.yaw), math.sin(self.sensor_pose.yaw)
        return np.column_stack([
            self.sensor_pose.x + c * p[:, 0] - s * p[:, 1],
            self.sensor_pose.y + s * p[:, 0] + c * p[:, 1],
        ])


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera mounted on the base, looking forward and pitched down.

    Frames: base_link is x forward, y left, z up (REP-103); the optical frame is
    x right, y down, z forward (REP-103 ``_optical``). The simulator renders with
    this model and perception back-projects with it, so both agree by design.
    """

    width: int = 640
    height: int = 480
    fx: float = 400.0  # [px]
    fy: float = 400.0  # [px]
    cx: float = 320.0  # [px]
    cy: float = 240.0  # [px]
    mount_x: float = 0.1  # [m] ahead of base_link
    mount_z: float = 1.0  # [m] above the ground
    pitch: float = 0.25  # [rad] downwards

    def __post_init__(self):
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"camera {name} must be a positive focal length, got {value!r}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")

    def rotation(self) -> np.ndarray:
        """Rows are the optical x, y, z axes expressed in base_link."""
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        return np.array([[0.0, -1.0, 0.0], [-s, 0.0, -c], [c, 0.0, -s]])

    def translation(self) -> np.ndarray:
        return np.array([self.mount_x, 0.0, self.mount_z])

    def project(self, points_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) base_link points -> (N, 2) pixels and an (N,) in-front-of-camera mask."""
        p_cam = (np.atleast_2d(points_base) - self.translation()) @ self.rotation().T
        depth = p_cam[:, 2]
        in_front = depth > 1e-6
        safe = np.where(in_front, depth, 1.0)
        u = self.fx * p_cam[:, 0] / safe + self.cx
        v = self.fy * p_cam[:, 1] / safe + self.cy
        return np.column_stack([u, v]), in_front

    def pixel_to_ground(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) pixels -> (N, 2) ground points (z = 0) in base_link and a hit mask.

        Pixels at or above the horizon never reach the ground; their mask is False.
        """
        pixels = np.atleast_2d(np.asarray(pixels, dtype=float))
        rays_cam = np.column_stack([
            (pixels[:, 0] - self.cx) / self.fx,
            (pixels[:, 1] - self.cy) / self.fy,
            np.ones(len(pixels)),
        ])
        rays_base = rays_cam @ self.rotation()
        hits = rays_base[:, 2] < -1e-9
        scale = np.where(hits, -self.mount_z / np.where(hits, rays_base[:, 2], -1.0), 0.0)
        ground = self.translation()[:2] + rays_base[:, :2] * scale[:, None]
        return ground, hits

    def intrinsic_matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])
