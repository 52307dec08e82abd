"""eval-perception: run perception on a simulated world and score it against ground truth.

The world comes from a factory so this core never imports the simulator; anything with
``step(dt)``, ``scan()``, ``ground_truth()``, ``robot_pose()``, ``time`` (and, for the
camera, ``camera()`` and ``render_camera()``) will do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from reasonact_ros.perception.camera import CameraDetection, odom_to_base
from reasonact_ros.perception.metrics import MotAccumulator
from reasonact_ros.perception.pipeline import (
    OBSTACLE_ID_BASE,
    PerceptionConfig,
    PerceptionPipeline,
)
from reasonact_ros.scene import ObjectClass, Pose2D, TrackedObject, Velocity2D


def _people_within(objects, centre: Pose2D, max_range: float) -> list[TrackedObject]:
    return [o for o in objects
            if math.hypot(o.x - centre.x, o.y - centre.y) <= max_range]


def _seen_by_lidar(people: list[TrackedObject], points: np.ndarray,
                   margin: float = 0.05) -> list[bool]:
    """Whether any return of the scan lies on each person's body."""
    if not people:
        return []
    if len(points) == 0:
        return [False] * len(people)
    centres = np.array([[p.x, p.y] for p in people])
    radii = np.array([p.radius for p in people]) + margin
    dist = np.linalg.norm(centres[:, None, :] - points[None, :, :], axis=2)
    return (dist.min(axis=1) <= radii).tolist()


def _track_vanished(vanished: dict, before: list[TrackedObject], now_truth: list[TrackedObject],
                    now: float, grace_s: float) -> dict:
    """Ground truth that disappeared between two frames, kept for ``grace_s`` seconds."""
    present = {o.id for o in now_truth}
    kept = {i: v for i, v in vanished.items() if now - v[1] <= grace_s and i not in present}
    for o in before:
        if o.id not in present and o.id not in kept:
            kept[o.id] = (o, now)
    return kept


def _extrapolate(obj: TrackedObject, seconds: float) -> TrackedObject:
    return TrackedObject(id=obj.id, label=obj.label, x=obj.x + obj.vx * seconds,
                         y=obj.y + obj.vy * seconds, vx=obj.vx, vy=obj.vy, radius=obj.radius)


def _obstacle_labels(obstacles: list[TrackedObject], reported, radius: float, frames: int,
                     as_person: int) -> tuple[int, int]:
    """Count obstacle-frames seen by some reported object, and those labelled PEDESTRIAN."""
    for obstacle in obstacles:
        near = [o for o in reported
                if math.hypot(o.x - obstacle.x, o.y - obstacle.y) <= obstacle.radius + radius]
        if near:
            frames += 1
            as_person += any(o.label == ObjectClass.PEDESTRIAN for o in near)
    return frames, as_person


def _is_person_track(obj: TrackedObject) -> bool:
    """Confirmed tracks that claim a possible person: not obstacles, not obstacle-map cells
    (tentative tracks are a hint for slowing down, not a claim)."""
    return obj.confirmed and obj.id < OBSTACLE_ID_BASE and obj.label != ObjectClass.OBSTACLE


def _visible_in_camera(people: list[TrackedObject], world, robot: Pose2D,
                       max_range: float) -> list[TrackedObject]:
    """People whose feet project inside the image, in front of the camera, within range."""
    if not people:
        return []
    camera = world.camera()
    base = odom_to_base(np.array([[p.x, p.y] for p in people]), robot)
    feet = np.column_stack([base, np.zeros(len(people))])
    pixels, in_front = camera.project(feet)
    inside = (in_front & (pixels[:, 0] >= 0) & (pixels[:, 0] < camera.width)
              & (pixels[:, 1] >= 0) & (pixels[:, 1] < camera.height)
              & (np.hypot(base[:, 0], base[:, 1]) <= max_range))
    return [p for p, ok in zip(people, inside, strict=True) if ok]


def _match_detections(people: list[TrackedObject], detections: list[CameraDetection],
                      gate: float, gate_per_m: float) -> int:
    if not people or not detections:
        return 0
    g = np.array([[p.x, p.y] for p in people])
    d = np.array([[c.x, c.y] for c in detections])
    dist = np.linalg.norm(g[:, None] - d[None], axis=2)
    limit = gate + gate_per_m * np.array([c.range for c in detections])[None, :]
    cost = np.where(dist <= limit, dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return int(np.count_nonzero(cost[rows, cols] < 1e6))


def evaluate_perception(world_factory: Callable[[], object], seconds: float = 60.0,
                        dt: float = 0.1, *, config: PerceptionConfig | None = None,
                        detector=None, camera_every: int = 5,
                        robot_command: Velocity2D | None = None, max_range: float = 10.0,
                        match_radius: float = 0.5, warmup_s: float = 1.0) -> dict:
    """Run the lidar pipeline (and a camera detector if given) on every ``dt`` step.

    Tracking is scored (CLEAR MOT) on people within ``max_range`` of the robot after
    ``warmup_s`` that at least one lidar return falls on; people hidden behind others
    are ignored (no miss; a track coasting on them is no false positive), as in the
    nuScenes protocol, and so are people the world removed within the last coast time
    and tracks on real obstacles. The ``*_incl_hidden`` keys score everyone in range.
    ``pedestrian_label_rate``: matched person tracks labelled PEDESTRIAN;
    ``obstacle_as_pedestrian_rate``: obstacle-frames with a PEDESTRIAN label on them.
    Detector recall is over people whose feet are in the image within ``max_range``
    (hidden ones included), precision over all boxes placed on the ground. Without a
    detector both are NaN.
    """
    if not (math.isfinite(seconds) and seconds > 0.0 and math.isfinite(dt) and dt > 0.0):
        raise ValueError(f"seconds and dt must be positive, got {seconds!r}, {dt!r}")
    if camera_every < 1:
        raise ValueError(f"camera_every must be >= 1, got {camera_every}")
    world = world_factory()
    walkway = world.walkway() if hasattr(world, "walkway") else None
    camera = world.camera() if detector is not None else None
    config = config or PerceptionConfig()
    pipeline = PerceptionPipeline(config, walkway=walkway, camera=camera, detector=detector)
    mot = MotAccumulator()  # people the lidar can see (the usual protocol, as nuScenes)
    mot_all = MotAccumulator()  # everyone in range, hidden or not
    visible_people = matched_people = boxes = matched_boxes = 0
    labelled_people = matched_pairs = obstacle_frames = obstacle_as_person = 0
    steps = int(round(seconds / dt))
    # People the simulator removes (end of their route) vanish in mid-stride; a track
    # coasting on one for its coast time is doing its job, not a false positive.
    vanish_grace_s = config.tracker.max_coast_s
    vanished: dict[int, tuple[TrackedObject, float]] = {}
    previous_truth: list[TrackedObject] = []
    for step in range(steps):
        if robot_command is not None:
            world.command(robot_command)
        world.step(dt)
        now = float(world.time)
        robot = world.robot_pose()
        pipeline.process_scan(world.scan(), now)
        everything = world.ground_truth()
        truth = [o for o in everything if o.label == ObjectClass.PEDESTRIAN]
        # A track on a real obstacle (a cone, a bin) is not a false person track; whether
        # it is labelled as one is scored separately below.
        obstacles = [o for o in everything if o.label != ObjectClass.PEDESTRIAN]
        vanished = _track_vanished(vanished, previous_truth, truth, now, vanish_grace_s)
        previous_truth = truth
        if detector is not None and step % camera_every == 0:
            detections = pipeline.process_image(world.render_camera(), robot, now)
            visible = _visible_in_camera(truth, world, robot, max_range)
            visible_people += len(visible)
            matched_people += _match_detections(visible, detections, 0.5, 0.08)
            boxes += len(detections)
            matched_boxes += _match_detections(truth, detections, 0.5, 0.08)
        if now < warmup_s:
            continue
        scene = pipeline.scene(now, robot)
        tracks = _people_within([o for o in scene.objects if _is_person_track(o)], robot,
                                max_range)
        people = _people_within(truth, robot, max_range)
        seen = _seen_by_lidar(people, pipeline.obstacle_points)
        gone = [_extrapolate(o, now - t) for o, t in vanished.values()] + obstacles
        pairs = mot.update([p for p, s in zip(people, seen, strict=True) if s], tracks,
                           match_radius, dt,
                           ignored=[p for p, s in zip(people, seen, strict=True) if not s]
                           + gone)
        mot_all.update(people, tracks, match_radius, dt, ignored=gone)
        label_of = {t.id: t.label for t in tracks}
        labelled_people += sum(label_of[t] == ObjectClass.PEDESTRIAN for _, t in pairs)
        matched_pairs += len(pairs)
        obstacle_frames, obstacle_as_person = _obstacle_labels(
            obstacles, [o for o in scene.objects if o.confirmed], match_radius, obstacle_frames,
            obstacle_as_person)
    result = mot.summary()
    everyone = mot_all.summary()
    for key in ("mota", "id_switches_per_100_track_s", "misses", "false_positives"):
        result[f"{key}_incl_hidden"] = everyone[key]
    result["pedestrian_label_rate"] = (labelled_people / matched_pairs if matched_pairs
                                       else math.nan)
    result["obstacle_as_pedestrian_rate"] = (obstacle_as_person / obstacle_frames
                                             if obstacle_frames else math.nan)
    result["detector_recall"] = matched_people / visible_people if visible_people else math.nan
    result["detector_precision"] = matched_boxes / boxes if boxes else math.nan
    result["camera_boxes"] = boxes
    result["seconds"] = steps * dt
    return result
