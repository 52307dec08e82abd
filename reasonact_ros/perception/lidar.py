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
    min_points: int = 2  # fewer returns cannot start a track...
    single_returns: bool = True  # ...but may keep one alive (a person mostly hidden)
    valley_depth: float | None = 0.08  # [m] notch in the range profile between two bodies
    valley_min_width: float = 0.6  # [m] narrower is one body (two side by side: >= 0.7)
    person_min_width: float = 0.08  # [m] narrower is a post or noise
    person_max_width: float = 0.80  # [m] wider is furniture, a car or a wall
    person_min_bulge: float = 0.06  # arc depth / width; a flat face is ~0, a body ~0.3-0.4
    person_radius_min: float = 0.12  # [m]
    person_radius_max: float = 0.45  # [m]
    person_radius_nominal: float = 0.25  # [m] assumed when a body shows a single return
    # pi/4 (VISIBLE_ARC_OFFSET) for an evenly sampled circle; the width-based radius runs
    # ~10 % short (beams miss the silhouette), and 0.86 zeroes the radial bias on the
    # simulator's people (-2 cm with pi/4).
    centroid_offset_gain: float = 0.86
    obstacle_cell: float = 1.0  # [m] big obstacles are cut into odom grid cells of this size
    leg_max_width: float = 0.25  # [m] a cluster this narrow may be one leg of a person
    leg_pair_distance: float = 0.45  # [m] two legs this close are one person (0: off)

    def __post_init__(self):
        for name in ("gap", "near_gap", "range_ratio", "person_max_width", "obstacle_cell"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"lidar {name} must be finite and > 0, got {value!r}")
        if self.min_points < 1:
            raise ValueError(f"lidar min_points must be >= 1, got {self.min_points}")
        if not 0.0 <= self.person_min_width < self.person_max_width:
            raise ValueError("lidar person_min_width must be in [0, person_max_width)")


@dataclass(slots=True)
class Cluster:
    """One segment of neighbouring returns and the features used to classify it."""

    centroid: np.ndarray  # [m] odom, bias-corrected estimate of the object's centre
    raw_centroid: np.ndarray  # [m] odom, plain mean of the returns
    radius: float  # [m] estimated object radius
    n_points: int
    width: float  # [m] extent: first-to-last return, or the main-axis spread if larger
    linearity: float  # 0 for a round blob, 1 for points on a line
    bulge: float  # mean depth of the returns behind their chord, over the width
    range: float  # [m] from the sensor to the raw centroid
    person_sized: bool
    points: np.ndarray  # (n_points, 2) odom
    weak: bool = False  # fewer returns than LidarConfig.min_points: too few to judge shape

    @property
    def shape_class(self) -> ObjectClass:
        """What the shape alone says: PEDESTRIAN-like, OBSTACLE, or UNKNOWN when too few
        returns to tell (motion decides later)."""
        if self.weak or (self.n_points < 4 and not self.person_sized and self.width < 0.2):
            return ObjectClass.UNKNOWN  # a sliver: a post, or a person mostly hidden
        return ObjectClass.PEDESTRIAN if self.person_sized else ObjectClass.OBSTACLE


def _typical_increment(bearings: np.ndarray) -> float:
    """Most neighbours are one beam apart; a gap of missed beams must not widen the
    allowed jump, or a wall end would join a person far behind the missing beams."""
    dtheta = np.abs(np.angle(np.exp(1j * np.diff(bearings))))
    return float(np.median(dtheta)) if len(dtheta) else 0.0


def _valley_splits(ranges: np.ndarray, start: int, stop: int, min_points: int,
                   depth: float) -> list[int]:
    """Split points where the range profile dips back: two people shoulder to shoulder
    show two near arcs with a deeper notch between them, which no beam jump reveals.
    Returns indices i (absolute) to split after; recursive for three or more."""
    side = max(min_points, 2)
    if stop - start < 2 * side + 1:
        return []
    r = ranges[start:stop]
    left_min = np.minimum.accumulate(r)
    right_min = np.minimum.accumulate(r[::-1])[::-1]
    k = np.arange(side, len(r) - side)
    notch = r[k] - np.maximum(left_min[k - 1], right_min[k + 1])
    best = int(np.argmax(notch))
    if notch[best] < depth:
        return []
    cut = start + int(k[best])
    # The notch point itself belongs to whichever side it is nearer in range.
    after = cut if abs(ranges[cut] - ranges[cut - 1]) <= abs(ranges[cut] - ranges[cut + 1]) \
        else cut - 1
    return (_valley_splits(ranges, start, after + 1, min_points, depth) + [after]
            + _valley_splits(ranges, after + 1, stop, min_points, depth))


def _split_indices(points: np.ndarray, gap: float, sensor_origin, near_gap: float,
                   range_ratio: float, angle_increment: float | None,
                   line_tolerance: float = 0.03, line_max_jump: float = 1.0) -> np.ndarray:
    """Indices i where the object ends between points[i] and points[i + 1]."""
    jumps = np.hypot(*np.diff(points, axis=0).T)
    if sensor_origin is None:
        return np.flatnonzero(jumps > gap)
    rel = points - np.asarray(sensor_origin, dtype=float)[:2]
    ranges = np.hypot(rel[:, 0], rel[:, 1])
    bearings = np.arctan2(rel[:, 1], rel[:, 0])
    if angle_increment is None:
        angle_increment = _typical_increment(bearings)
    spacing = np.minimum(ranges[:-1], ranges[1:]) * min(abs(angle_increment), math.pi)
    # Near the sensor allow little more than the beam spacing; far away never split an
    # object merely because the beams are sparse there.
    allowed = np.maximum(np.minimum(gap, near_gap + range_ratio * spacing), 1.5 * spacing)
    split = jumps > allowed
    if len(points) >= 3:
        # A wall seen at a grazing angle has returns spaced wider than any threshold that
        # keeps people apart; but evenly spaced returns on a straight line are a wall.
        bend = np.hypot(*np.diff(points, n=2, axis=0).T)  # how p[i+2] misses p[i] -> p[i+1]
        straight = (bend <= line_tolerance + 0.2 * np.minimum(jumps[:-1], jumps[1:])) & (
            np.maximum(jumps[:-1], jumps[1:]) <= line_max_jump)
        split[:-1] &= ~straight
        split[1:] &= ~straight
    return np.flatnonzero(split)


def segment_points(points: np.ndarray, gap: float = 0.25, min_points: int = 2, *,
                   sensor_origin=None, near_gap: float = 0.10, range_ratio: float = 2.0,
                   angle_increment: float | None = None, wraps: bool = False,
                   valley_depth: float | None = 0.08, valley_min_width: float = 0.6
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment beam-ordered points; returns (order, starts, stops) into points[order].

    ``order`` is a rotation of the indices so that a segment spanning the seam of a
    full 360-degree scan (``wraps``) is contiguous. With a ``sensor_origin``, segments
    at least ``valley_min_width`` wide are also cut where the range profile dips back
    by ``valley_depth`` (None disables this).
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
    if sensor_origin is not None and angle_increment is None:
        rel = points - np.asarray(sensor_origin, dtype=float)[:2]
        angle_increment = _typical_increment(np.arctan2(rel[:, 1], rel[:, 0]))
    splits = _split_indices(points, gap, sensor_origin, near_gap, range_ratio,
                            angle_increment)
    if wraps and count > 2 and len(splits) > 0:
        seam = np.vstack([points[-1], points[0]])
        seam_split = _split_indices(seam, gap, sensor_origin, near_gap, range_ratio,
                                    angle_increment)
        if len(seam_split) == 0:
            # The last and first returns belong together: start the walk after a real split,
            # which then becomes the end of the rotated sequence.
            shift = int(splits[0]) + 1
            order = np.roll(order, -shift)
            splits = splits[1:] - shift
    starts = np.concatenate([[0], splits + 1])
    stops = np.concatenate([splits + 1, [count]])
    if sensor_origin is not None and valley_depth is not None:
        ordered = points[order]
        ranges = np.hypot(*(ordered - np.asarray(sensor_origin, dtype=float)[:2]).T)
        extra = []
        widths = np.hypot(*(ordered[stops - 1] - ordered[starts]).T)
        for k in np.flatnonzero(widths >= valley_min_width):
            extra += _valley_splits(ranges, int(starts[k]), int(stops[k]), min_points,
                                    valley_depth)
        if extra:
            cuts = np.sort(np.concatenate([splits, extra])).astype(int)
            starts = np.concatenate([[0], cuts + 1])
            stops = np.concatenate([cuts + 1, [count]])
    keep = stops - starts >= min_points
    return order, starts[keep], stops[keep]


def cluster_points(points: np.ndarray, gap: float = 0.25, min_points: int = 2, *,
                   sensor_origin=None, near_gap: float = 0.10, range_ratio: float = 2.0,
                   angle_increment: float | None = None, wraps: bool = False,
                   valley_depth: float | None = 0.08) -> list[np.ndarray]:
    """Split beam-ordered (K, 2) points into clusters of neighbouring returns.

    Without ``sensor_origin`` a fixed jump ``gap`` splits; with it the allowed jump
    follows the beam spacing at each range (see LidarConfig), capped by ``gap``.
    ``angle_increment`` is the scan's beam spacing; without it the typical spacing of
    the points is used.
    """
    points = np.asarray(points, dtype=float)
    order, starts, stops = segment_points(points, gap, min_points, sensor_origin=sensor_origin,
                                          near_gap=near_gap, range_ratio=range_ratio,
                                          angle_increment=angle_increment, wraps=wraps,
                                          valley_depth=valley_depth)
    ordered = points[order]
    return [ordered[a:b] for a, b in zip(starts, stops, strict=True)]


def scan_covers_full_circle(scan: ScanData) -> bool:
    span = abs(scan.angle_increment) * len(scan.ranges)
    return span >= 2.0 * math.pi - 1.5 * abs(scan.angle_increment)


def scan_points_odom(scan: ScanData) -> np.ndarray:
    """Returns of ``scan`` in odom, beam order kept. Beams at range_max are no-returns
    too: drivers configured with ``no_return: range_max`` report nothing that way."""
    ranges = np.asarray(scan.ranges, dtype=float)
    valid = scan.valid_mask() & (ranges < scan.range_max)
    angles = scan.angles()[valid] + scan.sensor_pose.yaw
    r = ranges[valid]
    return np.column_stack([scan.sensor_pose.x + r * np.cos(angles),
                            scan.sensor_pose.y + r * np.sin(angles)])


def extract_clusters(scan: ScanData, config: LidarConfig = LidarConfig(),
                     points: np.ndarray | None = None) -> list[Cluster]:
    """Scan -> clusters with features, in odom. ``points`` may pass scan_points_odom(scan)."""
    if points is None:
        points = scan_points_odom(scan)
    origin = np.array([scan.sensor_pose.x, scan.sensor_pose.y])
    min_points = 1 if config.single_returns else config.min_points
    order, starts, stops = segment_points(
        points, config.gap, min_points, sensor_origin=origin,
        near_gap=config.near_gap, range_ratio=config.range_ratio,
        angle_increment=scan.angle_increment, wraps=scan_covers_full_circle(scan),
        valley_depth=config.valley_depth, valley_min_width=config.valley_min_width)
    if len(starts) == 0:
        return []
    clusters = clusters_from_segments(points[order], starts, stops, origin, config)
    return pair_legs(clusters, origin, config)


def clusters_from_segments(points: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                           origin: np.ndarray, config: LidarConfig) -> list[Cluster]:
    """Features for every segment at once (vectorised: one scan has dozens of segments)."""
    n = stops - starts
    labels = np.repeat(np.arange(len(starts)), n)
    # Indices of every member point, segment after segment, without a Python loop.
    members = np.arange(n.sum()) + np.repeat(starts - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
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
    chord_length = np.hypot(chord[:, 0], chord[:, 1])
    # The chord measures an arc or a wall, but not a shape that curls back (a corner seen
    # from inside, a round room): the spread along the main axis catches those (n evenly
    # spaced points spanning L have variance L^2 (n + 1) / (12 (n - 1))).
    width = np.maximum(chord_length, np.sqrt(12.0 * big * (n - 1) / (n + 1)))
    safe_width = np.maximum(chord_length, 1e-9)
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
    spacing = np.where(n > 1, chord_length / np.maximum(n - 1, 1), 0.0)
    radius = 0.5 * (width + spacing)
    weak = n < config.min_points
    person_sized = ((width >= config.person_min_width) & (width <= config.person_max_width)
                    & ((bulge >= config.person_min_bulge) | (n < 4)) & ~weak)
    radius = np.where(person_sized,
                      np.clip(radius, config.person_radius_min, config.person_radius_max),
                      np.maximum(radius, 0.05))
    # A lone return is most often the near face of a body whose rest is hidden.
    radius = np.where(weak, config.person_radius_nominal, radius)
    offset = np.where(person_sized | weak, config.centroid_offset_gain * radius, 0.0)
    centre = raw + away * offset[:, None]
    columns = zip(centre, raw, radius.tolist(), n.tolist(), width.tolist(), linearity.tolist(),
                  bulge.tolist(), rng.tolist(), person_sized.tolist(), starts.tolist(),
                  stops.tolist(), weak.tolist(), strict=True)
    return [Cluster(c, r, rad, k, w, lin, bul, dist, person, points[a:b], wk)
            for c, r, rad, k, w, lin, bul, dist, person, a, b, wk in columns]


def pair_legs(clusters: list[Cluster], origin: np.ndarray, config: LidarConfig
              ) -> list[Cluster]:
    """Merge leg-sized clusters standing close together into one person.

    A lidar at knee height sees a person as two narrow arcs, one per leg, often split
    apart (the gap between the legs is a beam jump). Two such arcs closer than
    ``leg_pair_distance`` become one cluster centred between them; bodies, wider than
    ``leg_max_width``, are never paired.
    """
    if config.leg_pair_distance <= 0.0:
        return clusters
    legs = [i for i, c in enumerate(clusters)
            if not c.weak and c.width <= config.leg_max_width]
    if len(legs) < 2:
        return clusters
    centres = np.array([clusters[i].raw_centroid for i in legs])
    dist = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    dist[np.diag_indices(len(legs))] = np.inf
    merged, used = [], set()
    # Closest pairs first, so a person's two legs are not split between two neighbours.
    for flat in np.argsort(dist, axis=None):
        a, b = divmod(int(flat), len(legs))
        if dist[a, b] > config.leg_pair_distance:
            break
        if a in used or b in used:
            continue
        used.update((a, b))
        merged.append(_merge_legs(clusters[legs[a]], clusters[legs[b]], origin, config))
    paired = {legs[i] for i in used}
    return [c for i, c in enumerate(clusters) if i not in paired] + merged


def _merge_legs(a: Cluster, b: Cluster, origin: np.ndarray, config: LidarConfig) -> Cluster:
    raw = 0.5 * (a.raw_centroid + b.raw_centroid)
    away = raw - origin
    rng = float(np.hypot(*away))
    # Each leg is seen from the front: push the midpoint back by about one leg radius.
    leg_radius = 0.25 * (a.width + b.width)
    centre = raw + away / max(rng, 1e-9) * config.centroid_offset_gain * leg_radius
    points = np.vstack([a.points, b.points])
    span = float(np.max(np.linalg.norm(points[:, None] - points[None], axis=2)))
    radius = float(np.clip(0.5 * span + leg_radius, config.person_radius_min,
                           config.person_radius_max))
    return Cluster(centroid=centre, raw_centroid=raw, radius=radius,
                   n_points=a.n_points + b.n_points, width=span,
                   linearity=max(a.linearity, b.linearity), bulge=max(a.bulge, b.bulge),
                   range=rng, person_sized=True, points=points)


def classify_cluster(cluster: Cluster, speed: float = 0.0, moving_speed: float = 0.3
                     ) -> ObjectClass:
    """Shape and motion -> class: person-sized and moving is a pedestrian; big or flat is an
    obstacle; person-sized but (so far) static stays UNKNOWN."""
    if not cluster.person_sized:
        return ObjectClass.OBSTACLE
    return ObjectClass.PEDESTRIAN if speed >= moving_speed else ObjectClass.UNKNOWN
