"""Lidar perception: a scan becomes odom points, clusters, cluster features and a class.

Segmentation walks the returns in beam order and splits wherever two neighbouring
returns jump further apart than the beam spacing at that range can explain. A fixed
distance threshold (plain DBSCAN with a large eps) cannot do both jobs: it merges two
people walking side by side near the sensor, or shatters one person far away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reasonact_ros.scene import ObjectClass, ScanData

# A circle seen from afar shows its near half; beams sample it evenly across its width, so
# the returns' mean lies pi/4 * radius nearer the sensor than the centre.
VISIBLE_ARC_OFFSET = math.pi / 4.0


@dataclass(frozen=True)
class LidarConfig:
    """How a scan is cut into objects and what counts as person-sized."""

    gap: float = 0.25  # [m] the largest jump inside one object, whatever the range
    near_gap: float = 0.10  # [m] the jump allowed next to the sensor
    range_ratio: float = 2.0  # allowed jump grows by this many beam spacings (r * dtheta)
    min_points: int = 2
    person_min_width: float = 0.08  # [m] narrower is a post or noise
    person_max_width: float = 0.80  # [m] wider is furniture, a car or a wall
    person_min_bulge: float = 0.06  # arc depth / width; a flat face is ~0, a body ~0.3-0.4
    person_radius_min: float = 0.12  # [m]
    person_radius_max: float = 0.45  # [m]
    centroid_offset_gain: float = VISIBLE_ARC_OFFSET
    obstacle_cell: float = 1.0  # [m] big obstacles are cut into odom grid cells of this size

    def __post_init__(self):
        for name in ("gap", "near_gap", "range_ratio", "person_max_width", "obstacle_cell"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"lidar {name} must be finite and > 0, got {value!r}")
        if self.min_points < 1:
            raise ValueError(f"lidar min_points must be >= 1, got {self.min_points}")
        if not 0.0 <= self.person_min_width < self.person_max_width:
            raise ValueError("lidar person_min_width must be in [0, person_max_width)")


@dataclass(frozen=True)
class Cluster:
    """One segment of neighbouring returns and the features used to classify it."""

    centroid: np.ndarray  # [m] odom, bias-corrected estimate of the object's centre
    raw_centroid: np.ndarray  # [m] odom, plain mean of the returns
    radius: float  # [m] estimated object radius
    n_points: int
    width: float  # [m] distance between the first and last return
    linearity: float  # 0 for a round blob, 1 for points on a line
    bulge: float  # mean depth of the returns behind their chord, over the width
    range: float  # [m] from the sensor to the raw centroid
    person_sized: bool
    points: np.ndarray  # (n_points, 2) odom

    @property
    def shape_class(self) -> ObjectClass:
        """What the shape alone says: PEDESTRIAN-like or OBSTACLE (motion decides later)."""
        return ObjectClass.PEDESTRIAN if self.person_sized else ObjectClass.OBSTACLE


def _split_indices(points: np.ndarray, gap: float, sensor_origin, near_gap: float,
                   range_ratio: float) -> np.ndarray:
    """Indices i where the object ends between points[i] and points[i + 1]."""
    jumps = np.hypot(*np.diff(points, axis=0).T)
    if sensor_origin is None:
        return np.flatnonzero(jumps > gap)
    rel = points - np.asarray(sensor_origin, dtype=float)[:2]
    ranges = np.hypot(rel[:, 0], rel[:, 1])
    bearings = np.arctan2(rel[:, 1], rel[:, 0])
    dtheta = np.abs(np.angle(np.exp(1j * np.diff(bearings))))
    spacing = np.minimum(ranges[:-1], ranges[1:]) * dtheta
    # Near the sensor allow little more than the beam spacing; far away never split an
    # object merely because the beams are sparse there.
    allowed = np.maximum(np.minimum(gap, near_gap + range_ratio * spacing), 1.5 * spacing)
    return np.flatnonzero(jumps > allowed)


def segment_points(points: np.ndarray, gap: float = 0.25, min_points: int = 2, *,
                   sensor_origin=None, near_gap: float = 0.10, range_ratio: float = 2.0,
                   wraps: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment beam-ordered points; returns (order, starts, stops) into points[order].

    ``order`` is a rotation of the indices so that a segment spanning the seam of a
    full 360-degree scan (``wraps``) is contiguous.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (K, 2), got {points.shape}")
    if min_points < 1:
        raise ValueError(f"min_points must be >= 1, got {min_points}")
    if not math.isfinite(gap) or gap <= 0.0:
        raise ValueError(f"gap must be finite and > 0, got {gap!r}")
    count = len(points)
    order = np.arange(count)
    empty = np.zeros(0, dtype=int)
    if count == 0:
        return order, empty, empty
    splits = _split_indices(points, gap, sensor_origin, near_gap, range_ratio)
    if wraps and count > 2 and len(splits) > 0:
        seam = np.vstack([points[-1], points[0]])
        seam_split = _split_indices(seam, gap, sensor_origin, near_gap, range_ratio)
        if len(seam_split) == 0:
            # The last and first returns belong together: start the walk after a real split,
            # which then becomes the end of the rotated sequence.
            shift = int(splits[0]) + 1
            order = np.roll(order, -shift)
            splits = splits[1:] - shift
    starts = np.concatenate([[0], splits + 1])
    stops = np.concatenate([splits + 1, [count]])
    keep = stops - starts >= min_points
    return order, starts[keep], stops[keep]


def cluster_points(points: np.ndarray, gap: float = 0.25, min_points: int = 2, *,
                   sensor_origin=None, near_gap: float = 0.10, range_ratio: float = 2.0,
                   wraps: bool = False) -> list[np.ndarray]:
    """Split beam-ordered (K, 2) points into clusters of neighbouring returns.

    Without ``sensor_origin`` a fixed jump ``gap`` splits; with it the allowed jump
    follows the beam spacing at each range (see LidarConfig), capped by ``gap``.
    """
    points = np.asarray(points, dtype=float)
    order, starts, stops = segment_points(points, gap, min_points, sensor_origin=sensor_origin,
                                          near_gap=near_gap, range_ratio=range_ratio,
                                          wraps=wraps)
    ordered = points[order]
    return [ordered[a:b] for a, b in zip(starts, stops, strict=True)]


def scan_covers_full_circle(scan: ScanData) -> bool:
    span = abs(scan.angle_increment) * len(scan.ranges)
    return span >= 2.0 * math.pi - 1.5 * abs(scan.angle_increment)


def extract_clusters(scan: ScanData, config: LidarConfig = LidarConfig(),
                     points: np.ndarray | None = None) -> list[Cluster]:
    """Scan -> clusters with features, in odom. ``points`` may pass scan.points_odom()."""
    if points is None:
        points = scan.points_odom()
    origin = np.array([scan.sensor_pose.x, scan.sensor_pose.y])
    order, starts, stops = segment_points(
        points, config.gap, config.min_points, sensor_origin=origin,
        near_gap=config.near_gap, range_ratio=config.range_ratio,
        wraps=scan_covers_full_circle(scan))
    if len(starts) == 0:
        return []
    return clusters_from_segments(points[order], starts, stops, origin, config)


def clusters_from_segments(points: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                           origin: np.ndarray, config: LidarConfig) -> list[Cluster]:
    """Features for every segment at once (vectorised: one scan has dozens of segments)."""
    n = stops - starts
    labels = np.repeat(np.arange(len(starts)), n)
    members = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
    p = points[members]
    x, y = p[:, 0], p[:, 1]
    mean_x = np.bincount(labels, x) / n
    mean_y = np.bincount(labels, y) / n
    dx, dy = x - mean_x[labels], y - mean_y[labels]
    sxx = np.bincount(labels, dx * dx) / n
    syy = np.bincount(labels, dy * dy) / n
    sxy = np.bincount(labels, dx * dy) / n
    half_trace = 0.5 * (sxx + syy)
    root = np.sqrt(np.maximum(0.25 * (sxx - syy) ** 2 + sxy**2, 0.0))
    big, small = half_trace + root, np.maximum(half_trace - root, 0.0)
    linearity = np.where(big > 1e-12, 1.0 - small / np.maximum(big, 1e-12), 1.0)

    first, last = points[starts], points[stops - 1]
    chord = last - first
    width = np.hypot(chord[:, 0], chord[:, 1])
    safe_width = np.maximum(width, 1e-9)
    # Depth of each return behind the chord, signed so that bulging towards the sensor is +.
    normal = np.column_stack([-chord[:, 1], chord[:, 0]]) / safe_width[:, None]
    to_sensor = origin - 0.5 * (first + last)
    normal *= np.where(np.sum(normal * to_sensor, axis=1) < 0.0, -1.0, 1.0)[:, None]
    depth = np.sum((p - first[labels]) * normal[labels], axis=1)
    bulge = np.bincount(labels, depth) / n / safe_width

    raw = np.column_stack([mean_x, mean_y])
    away = raw - origin
    rng = np.hypot(away[:, 0], away[:, 1])
    away /= np.maximum(rng, 1e-9)[:, None]
    # Beams stop short of the silhouette by up to one beam spacing; add half of it back.
    spacing = np.where(n > 1, width / np.maximum(n - 1, 1), 0.0)
    radius = 0.5 * (width + spacing)
    person_sized = ((width >= config.person_min_width) & (width <= config.person_max_width)
                    & ((bulge >= config.person_min_bulge) | (n < 4)))
    radius = np.where(person_sized,
                      np.clip(radius, config.person_radius_min, config.person_radius_max),
                      np.maximum(radius, 0.05))
    offset = np.where(person_sized, config.centroid_offset_gain * radius, 0.0)
    centre = raw + away * offset[:, None]
    return [
        Cluster(centroid=centre[i], raw_centroid=raw[i], radius=float(radius[i]),
                n_points=int(n[i]), width=float(width[i]), linearity=float(linearity[i]),
                bulge=float(bulge[i]), range=float(rng[i]), person_sized=bool(person_sized[i]),
                points=points[starts[i]:stops[i]])
        for i in range(len(starts))
    ]


def classify_cluster(cluster: Cluster, speed: float = 0.0, moving_speed: float = 0.3
                     ) -> ObjectClass:
    """Shape and motion -> class: person-sized and moving is a pedestrian; big or flat is an
    obstacle; person-sized but (so far) static stays UNKNOWN."""
    if not cluster.person_sized:
        return ObjectClass.OBSTACLE
    return ObjectClass.PEDESTRIAN if speed >= moving_speed else ObjectClass.UNKNOWN
