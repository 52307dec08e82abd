"""The perception pipeline: scans and images in, a Scene of tracked objects out.

Lidar is the primary sensor: clusters become tracks. The camera only adds evidence:
a person box whose foot point lands near a track makes that track a PEDESTRIAN.
Structure too big to walk (walls, parked things) bypasses the tracker and is cut into
odom grid cells whose ids stay stable while the robot drives past.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from reasonact_ros.perception.camera import CameraDetection, boxes_to_ground
from reasonact_ros.perception.lidar import (
    Cluster,
    LidarConfig,
    extract_clusters,
    scan_points_odom,
)
from reasonact_ros.perception.tracker import (
    Detection,
    MultiTargetTracker,
    Track,
    TrackerConfig,
    TrackStatus,
)
from reasonact_ros.scene import (
    CameraModel,
    ObjectClass,
    Pose2D,
    ScanData,
    Scene,
    SensorHealth,
    TrackedObject,
    Velocity2D,
    Walkway,
)

# Obstacle cells get ids far above any track id; the cell index is packed below this bit.
OBSTACLE_ID_BASE = 1 << 30
_CELL_BITS = 15


@dataclass(frozen=True)
class PerceptionConfig:
    lidar: LidarConfig = field(default_factory=LidarConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    scan_timeout: float = 0.5  # [s] older scans make the scene unhealthy
    camera_timeout: float = 1.0  # [s] only checked when a camera detector is configured
    moving_speed: float = 0.3  # [m/s] a track this fast (and sure of it) ...
    moved_distance: float = 0.5  # [m] ... and this far from where it was first seen has moved
    static_unknown_after_s: float = 5.0  # [s] a person-sized blob never seen moving -> UNKNOWN
    camera_gate: float = 0.7  # [m] foot point to track distance for association, near
    camera_gate_per_m: float = 0.08  # [m/m] foot points get less accurate with range
    camera_max_range: float = 12.0  # [m] farther foot points are too uncertain to place
    camera_decay_s: float = 3.0  # [s] time constant of the camera evidence decay
    camera_confirm_score: float = 0.5  # camera evidence above this labels a track PEDESTRIAN
    range_std_base: float = 0.04  # [m] cluster centre noise next to the sensor
    range_std_per_m: float = 0.005  # [m/m] grows with range as beams thin out
    single_return_std: float = 0.15  # [m] a lone return could be anywhere on a body's face
    # Tentative tracks seen in the latest scan are reported too, flagged unconfirmed: the
    # reasoning side may slow for one on the first scan instead of three scans later.
    report_tentative: bool = True

    def __post_init__(self):
        for name in ("scan_timeout", "camera_timeout", "moving_speed", "camera_gate",
                     "camera_decay_s", "range_std_base"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"perception {name} must be finite and > 0, got {value!r}")
        if not math.isfinite(self.moved_distance) or self.moved_distance < 0.0:
            raise ValueError("perception moved_distance must be finite and >= 0, "
                             f"got {self.moved_distance!r}")
        if not 0.0 <= self.camera_confirm_score <= 1.0:
            raise ValueError("perception camera_confirm_score must be in [0, 1]")


class PerceptionPipeline:
    def __init__(self, config: PerceptionConfig = PerceptionConfig(),
                 walkway: Walkway | None = None, camera: CameraModel | None = None,
                 detector=None):
        if not isinstance(config, PerceptionConfig):
            raise TypeError(f"config must be a PerceptionConfig, got {type(config).__name__}")
        if walkway is not None and not isinstance(walkway, Walkway):
            raise TypeError(f"walkway must be a Walkway or None, got {type(walkway).__name__}")
        self.config = config
        self.walkway = walkway
        self.camera = camera
        self.detector = detector
        self.tracker = MultiTargetTracker(config.tracker)
        self.reset()

    def reset(self) -> None:
        """Forget every track and input time (e.g. after sim time jumped backwards)."""
        self.tracker.reset()
        self._last_scan_time: float | None = None
        self._last_image_time: float | None = None
        self._obstacle_points = np.zeros((0, 2))
        self._cell_objects: tuple[TrackedObject, ...] = ()
        self._cell_first_seen: dict[int, float] = {}
        self._clusters: list[Cluster] = []
        self._camera_detections: list[CameraDetection] = []
        self._notes: list[str] = []
        self._objects_cache: tuple[float | None, tuple[TrackedObject, ...]] = (None, ())

    def note(self, message: str) -> None:
        """A message for the next scene's health (e.g. a frame the node had to skip)."""
        if len(self._notes) < 20:  # a flood of skipped frames must not grow a scene
            self._notes.append(message)

    # -- lidar ---------------------------------------------------------------------------
    @property
    def obstacle_points(self) -> np.ndarray:
        """(K, 2) odom points of every valid return of the last scan."""
        return self._obstacle_points

    @property
    def clusters(self) -> list[Cluster]:
        """The clusters of the last scan (for debug markers)."""
        return list(self._clusters)

    def process_scan(self, scan: ScanData, now: float) -> tuple[TrackedObject, ...]:
        """One scan -> the reported objects (tracked things and big-obstacle cells)."""
        if not math.isfinite(now):
            raise ValueError(f"scan time must be finite, got {now!r}")
        self._restart_if_time_went_back(now)
        points = scan_points_odom(scan)
        self._obstacle_points = points
        clusters = extract_clusters(scan, self.config.lidar, points)
        self._clusters = clusters
        cfg = self.config
        detections, big = [], []
        for c in clusters:
            if c.weak:
                detections.append(Detection(
                    x=float(c.centroid[0]), y=float(c.centroid[1]), radius=c.radius,
                    shape_class=ObjectClass.UNKNOWN, std=cfg.single_return_std,
                    can_start_track=False))
            elif c.person_sized or c.width <= cfg.lidar.person_max_width:
                std = cfg.range_std_base + cfg.range_std_per_m * c.range
                detections.append(Detection(x=float(c.centroid[0]), y=float(c.centroid[1]),
                                            radius=c.radius, shape_class=c.shape_class,
                                            std=std))
            else:
                big.append(c.points)
        self.tracker.update(detections, now)
        for track in self.tracker.tracks:
            # Speed alone is not enough: seen from a new angle a post's returns slide, and
            # narrow_passage's post read 0.32 m/s for a moment, was labelled a person for
            # good and, "standing 1.1 m ahead", held the robot until the timeout.
            if (not track.has_moved and track.status == TrackStatus.CONFIRMED
                    and track.speed >= cfg.moving_speed
                    and track.velocity_std() < 0.5 * track.speed
                    and math.dist(track.state[:2], track.origin) >= cfg.moved_distance):
                track.has_moved = True
        self._cell_objects = self._obstacle_cells(big, now)
        self._last_scan_time = now
        self._objects_cache = (now, self._objects(now))
        return self._objects_cache[1]

    def _restart_if_time_went_back(self, now: float) -> None:
        latest = max((t for t in (self._last_scan_time, self._last_image_time,
                                  self.tracker.time) if t is not None), default=None)
        if latest is not None and now < latest:
            self.reset()
            self.note(f"time went back from {latest:.3f} to {now:.3f}: tracks reset")

    def _obstacle_cells(self, big_clusters: list[np.ndarray], now: float
                        ) -> tuple[TrackedObject, ...]:
        if not big_clusters:
            self._cell_first_seen.clear()
            return ()
        points = np.vstack(big_clusters)
        size = self.config.lidar.obstacle_cell
        cells = np.round(points / size).astype(np.int64)  # cells centred on the grid
        mask = (1 << _CELL_BITS) - 1
        packed = ((cells[:, 0] & mask) << _CELL_BITS) | (cells[:, 1] & mask)
        codes, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
        cx = np.bincount(inverse, points[:, 0]) / counts
        cy = np.bincount(inverse, points[:, 1]) / counts
        spread = np.hypot(points[:, 0] - cx[inverse], points[:, 1] - cy[inverse])
        radius = np.zeros(len(codes))
        np.maximum.at(radius, inverse, spread)
        ids = (OBSTACLE_ID_BASE + codes).tolist()
        first_seen = {i: self._cell_first_seen.get(i, now) for i in ids}
        self._cell_first_seen = first_seen  # cells out of sight are forgotten
        obstacle = ObjectClass.OBSTACLE
        # Positional arguments: dozens of cells per scan, and keywords cost measurably here.
        return tuple(
            TrackedObject(i, obstacle, x, y, 0.0, 0.0, max(r, 0.05), 1.0, now - first_seen[i])
            for i, x, y, r in zip(ids, cx.tolist(), cy.tolist(), radius.tolist(), strict=True))

    # -- camera --------------------------------------------------------------------------
    @property
    def camera_detections(self) -> list[CameraDetection]:
        """The ground-projected detections of the last image."""
        return list(self._camera_detections)

    def process_image(self, image_rgb: np.ndarray, robot: Pose2D, now: float
                      ) -> list[CameraDetection]:
        """Detect people, place their feet on the ground in odom and credit nearby tracks."""
        if self.detector is None or self.camera is None:
            raise ValueError("process_image needs both a camera model and a detector")
        if not math.isfinite(now):
            raise ValueError(f"image time must be finite, got {now!r}")
        self._restart_if_time_went_back(now)
        boxes = self.detector.detect(image_rgb)
        detections = boxes_to_ground(boxes, self.camera, robot, now,
                                     max_range=self.config.camera_max_range)
        detections = self.associate_camera(detections, robot, now)
        self._camera_detections = detections
        self._last_image_time = now
        self._objects_cache = (None, ())  # camera evidence may change labels
        return detections

    def associate_camera(self, detections: list[CameraDetection], robot: Pose2D, now: float
                         ) -> list[CameraDetection]:
        """Match foot points to tracks (one each, Hungarian), raise those tracks' camera
        evidence, and return the detections with their track ids filled in."""
        tracks = [t for t in self.tracker.tracks
                  if t.status in (TrackStatus.TENTATIVE, TrackStatus.CONFIRMED)]
        if not detections or not tracks:
            return list(detections)
        cfg = self.config
        track_pos = np.stack([self._position_at(t, now) for t in tracks])
        det_pos = np.array([[d.x, d.y] for d in detections])
        dist = np.linalg.norm(track_pos[:, None, :] - det_pos[None, :, :], axis=2)
        gate = cfg.camera_gate + cfg.camera_gate_per_m * np.array([d.range for d in detections])
        cost = np.where(dist <= gate[None, :], dist, 1e9)
        rows, cols = linear_sum_assignment(cost)
        result = list(detections)
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] >= 1e9:
                continue
            track = tracks[i]
            score = self._camera_score(track, now)
            track.camera_score = score + (1.0 - score) * 0.6 * min(1.0, detections[j].box.score)
            track.camera_stamp = now
            track.camera_hits += 1
            d = detections[j]
            result[j] = CameraDetection(box=d.box, x=d.x, y=d.y, range=d.range, stamp=d.stamp,
                                        track_id=track.id)
        return result

    def _camera_score(self, track: Track, now: float) -> float:
        if track.camera_hits == 0:
            return 0.0
        age = max(0.0, now - track.camera_stamp)
        return track.camera_score * math.exp(-age / self.config.camera_decay_s)

    # -- output --------------------------------------------------------------------------
    def _position_at(self, track: Track, now: float) -> np.ndarray:
        """The track extrapolated from the filter time to ``now`` (never backwards)."""
        dt = max(0.0, now - (self.tracker.time if self.tracker.time is not None else now))
        return track.state[:2] + track.state[2:] * dt

    def _label(self, track: Track, now: float) -> tuple[ObjectClass, float]:
        cfg = self.config
        camera = self._camera_score(track, now)
        if camera >= cfg.camera_confirm_score:
            return ObjectClass.PEDESTRIAN, max(0.9, camera)
        if track.obstacle_votes > track.person_votes:
            return ObjectClass.OBSTACLE, 0.8
        if track.has_moved:
            return ObjectClass.PEDESTRIAN, 0.8
        if now - track.first_seen > cfg.static_unknown_after_s:
            return ObjectClass.UNKNOWN, 0.5
        # A fresh person-sized blob is presumed a person until it proves to stand still.
        return ObjectClass.PEDESTRIAN, 0.5

    def _objects(self, now: float) -> tuple[TrackedObject, ...]:
        cfg = self.config
        tracked = []
        for t in self.tracker.tracks:
            tentative = t.status == TrackStatus.TENTATIVE
            if not (t.is_reported or (tentative and cfg.report_tentative and t.misses == 0)):
                continue
            label, confidence = self._label(t, now)
            if t.status == TrackStatus.LOST:
                unseen = now - t.last_seen
                confidence *= max(0.1, 1.0 - unseen / max(cfg.tracker.max_coast_s, 1e-9))
            pos = self._position_at(t, now)
            tracked.append(TrackedObject(
                id=t.id, label=label, x=float(pos[0]), y=float(pos[1]), vx=float(t.state[2]),
                vy=float(t.state[3]), radius=float(t.radius), confidence=float(confidence),
                age_s=float(now - (t.confirmed_at if t.confirmed_at is not None else now)),
                confirmed=not tentative))
        objects = tuple(tracked) + self._cell_objects
        if self.walkway is not None and objects:
            inside = self.walkway.contains(np.array([[o.x, o.y] for o in objects]))
            objects = tuple(_with_walkway(o, bool(f)) for o, f in zip(objects, inside,
                                                                       strict=True))
        return objects

    def health(self, now: float) -> SensorHealth:
        cfg = self.config
        messages = list(self._notes)
        scan_ok = self._fresh(self._last_scan_time, now, cfg.scan_timeout, "scan", messages)
        camera_ok = True
        if self.camera is not None and self.detector is not None:
            camera_ok = self._fresh(self._last_image_time, now, cfg.camera_timeout, "camera",
                                    messages)
        return SensorHealth(scan_ok=scan_ok, camera_ok=camera_ok, messages=tuple(messages))

    @staticmethod
    def _fresh(stamp: float | None, now: float, timeout: float, name: str,
               messages: list[str]) -> bool:
        if stamp is None:
            messages.append(f"no {name} yet")
            return False
        age = now - stamp
        if age > timeout:
            messages.append(f"{name} stale: {age:.2f} s old (timeout {timeout:.2f} s)")
            return False
        return True

    def scene(self, now: float, robot: Pose2D, robot_velocity: Velocity2D | None = None
              ) -> Scene:
        """The reported objects extrapolated to ``now``, with walkway and health flags.

        Objects are kept when the scan is stale (an empty scene would read as a clear
        walkway); ``health.scan_ok`` tells consumers not to trust them.
        """
        health = self.health(now)
        self._notes.clear()
        cached_at, cached = self._objects_cache
        # The node asks for the scene right after the scan: reuse what the scan built.
        objects = cached if cached_at == now else self._objects(now)
        return Scene(stamp=now, robot=robot, robot_velocity=robot_velocity or Velocity2D(),
                     objects=objects, walkway=self.walkway, health=health)


def _with_walkway(obj: TrackedObject, on_walkway: bool) -> TrackedObject:
    if obj.on_walkway == on_walkway:
        return obj
    return TrackedObject(id=obj.id, label=obj.label, x=obj.x, y=obj.y, vx=obj.vx, vy=obj.vy,
                         radius=obj.radius, confidence=obj.confidence, age_s=obj.age_s,
                         on_walkway=on_walkway, confirmed=obj.confirmed)
