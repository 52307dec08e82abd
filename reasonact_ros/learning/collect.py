"""Render labelled camera frames from the simulator: person boxes, instances, walkway mask.

Labels come from the renderer's own geometry, so they match the pixels exactly:
each person's body points (``CameraRenderer._people_geometry``, the points the
renderer fills) are projected with the frame's ``CameraModel``; the amodal box is
their extent, clipped to the image. Occlusion is measured, not guessed: the
silhouettes of people and obstacles are redrawn as flat ids in the renderer's
own painter's order (``drawing_order``), so a person hidden behind a van or
another person gets a small (or zero) visible fraction; fully hidden or
out-of-view people are dropped. The walkway mask warps a top-down raster of the
walkway polygons with the same ground lookup the renderer warps its texture
with, minus pixels covered by people and obstacles.

Randomised per episode (one ``World`` per scenario and seed): camera height,
pitch and focal length, brightness and colour cast (the renderer's lighting
knobs), ground texture and clothing (the renderer seed), the ground kind.
Per frame: simulated time (people move), robot pose along and around the
walkway, often aimed at a person.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from reasonact_ros import scene
from reasonact_ros.learning import dataset
from reasonact_ros.learning.errors import CollectError
from reasonact_ros.sim.camera_renderer import (
    NEAR_PLANE,
    PERSON_PARTS,
    TEXTURE_RESOLUTION,
    CameraRenderer,
)
from reasonact_ros.sim.scenario import Lighting, Scenario, available_scenarios, load_scenario
from reasonact_ros.sim.world import World

FRAMES_PER_EPISODE = 8
IMAGE_SIZE = (640, 480)  # width, height: the camera every shipped scenario uses
CAMERA_HEIGHT = (0.5, 1.6)  # [m]
CAMERA_PITCH = (0.05, 0.45)  # [rad] downwards
FOCAL_FRACTION = (0.55, 0.72)  # fx = fy = fraction * width (shipped: 0.625)
BRIGHTNESS = (0.7, 1.3)
LIGHT_VARIATION = 0.15
GROUNDS = (("grass", 0.8), ("gravel", 0.2))
AIM_AT_PERSON = 0.6  # chance a frame's pose looks at someone from 1.5-15 m
LOOK_AWAY = 0.08  # chance of a random heading (frames with little or no walkway)
BODY_PARTS = [name for name in PERSON_PARTS if name != "shadow"]


def settings() -> dict:
    """The randomisation ranges, recorded in the manifest."""
    return {"image_size": list(IMAGE_SIZE), "camera_height_m": list(CAMERA_HEIGHT),
            "camera_pitch_rad": list(CAMERA_PITCH), "focal_fraction": list(FOCAL_FRACTION),
            "brightness": list(BRIGHTNESS), "light_variation": LIGHT_VARIATION,
            "grounds": {k: p for k, p in GROUNDS}, "aim_at_person": AIM_AT_PERSON,
            "look_away": LOOK_AWAY, "frames_per_episode": FRAMES_PER_EPISODE,
            "near_plane_m": NEAR_PLANE}


def parse_scenarios(text: str | list[str]) -> list[str]:
    """'all', 'a,b' or a list -> scenario names, checked against the shipped ones."""
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip() for n in names if n.strip()]
    known = available_scenarios()
    if names == ["all"]:
        return known
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise CollectError(f"unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
                           f"available: all, {', '.join(known)}")
    return names


def random_camera(rng: np.random.Generator) -> scene.CameraModel:
    width, height = IMAGE_SIZE
    focal = rng.uniform(*FOCAL_FRACTION) * width
    return scene.CameraModel(width=width, height=height, fx=focal, fy=focal,
                             cx=width / 2 + rng.uniform(-8, 8), cy=height / 2 + rng.uniform(-8, 8),
                             mount_x=0.1, mount_z=float(rng.uniform(*CAMERA_HEIGHT)),
                             pitch=float(rng.uniform(*CAMERA_PITCH)))


def randomised_scenario(base: Scenario, rng: np.random.Generator) -> Scenario:
    kinds, weights = zip(*GROUNDS, strict=True)
    ground = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
    return dataclasses.replace(
        base, camera=random_camera(rng), ground=ground,
        lighting=Lighting(brightness=float(rng.uniform(*BRIGHTNESS)),
                          variation=LIGHT_VARIATION))


# ------------------------------------------------------------------------------ poses
def _polyline_pose(line: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A uniformly random point along a polyline and the direction there."""
    segments = np.diff(line, axis=0)
    lengths = np.hypot(segments[:, 0], segments[:, 1])
    s = rng.uniform(0.0, lengths.sum())
    k = int(np.searchsorted(np.cumsum(lengths), s))
    k = min(k, len(segments) - 1)
    t = (s - (np.cumsum(lengths)[k] - lengths[k])) / max(lengths[k], 1e-9)
    return line[k] + t * segments[k], math.atan2(segments[k, 1], segments[k, 0])


def _direction_near(line: np.ndarray, point: np.ndarray) -> float:
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum("ij,ij->i", point - a, ab) / np.maximum(
        np.einsum("ij,ij->i", ab, ab), 1e-9), 0.0, 1.0)
    distance = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    k = int(np.argmin(distance))
    return math.atan2(ab[k, 1], ab[k, 0])


def random_pose(scenario: Scenario, people_xy: np.ndarray,
                rng: np.random.Generator) -> scene.Pose2D:
    """A robot pose on or beside the main walkway, often looking at somebody."""
    walkway = scenario.main_walkway()
    line = (np.asarray(walkway.centerline, dtype=float) if walkway is not None
            else np.array([[0.0, 0.0], [20.0, 0.0]]))
    width = walkway.width if walkway is not None else 3.0
    flip = math.pi if rng.random() < 0.35 else 0.0
    if len(people_xy) and rng.random() < AIM_AT_PERSON:
        target = people_xy[rng.integers(len(people_xy))]
        heading = _direction_near(line, target) + flip + rng.normal(0.0, 0.3)
        distance = rng.uniform(1.5, 15.0)
        x = target[0] - distance * math.cos(heading)
        y = target[1] - distance * math.sin(heading)
        yaw = heading + rng.uniform(-0.3, 0.3)
        return scene.Pose2D(float(x), float(y), float(yaw))
    point, direction = _polyline_pose(line, rng)
    normal = direction + math.pi / 2
    offset = rng.uniform(-(width / 2 + 0.6), width / 2 + 0.6)
    yaw = direction + flip + rng.normal(0.0, 0.2)
    if rng.random() < LOOK_AWAY:
        yaw = rng.uniform(-math.pi, math.pi)
    return scene.Pose2D(float(point[0] + offset * math.cos(normal)),
                        float(point[1] + offset * math.sin(normal)), float(yaw))


# ------------------------------------------------------------------------------ labels
def _to_base(robot: scene.Pose2D, points: np.ndarray) -> np.ndarray:
    c, s = math.cos(robot.yaw), math.sin(robot.yaw)
    dx, dy = points[:, 0] - robot.x, points[:, 1] - robot.y
    return np.column_stack([c * dx + s * dy, -s * dx + c * dy, points[:, 2]])


def _obstacle_points(obstacle, segments: int = 16) -> np.ndarray:
    if obstacle.shape == "circle":
        angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
        ring = np.column_stack([obstacle.x + obstacle.radius * np.cos(angles),
                                obstacle.y + obstacle.radius * np.sin(angles)])
    else:
        ring = obstacle.corners()
    return np.vstack([np.column_stack([ring, np.zeros(len(ring))]),
                      np.column_stack([ring, np.full(len(ring), obstacle.height)])])


def _fill_hull(mask: np.ndarray, pixels: np.ndarray, value: int) -> None:
    hull = cv2.convexHull(np.round(pixels * 4).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, int(value), lineType=cv2.LINE_8, shift=2)


class FrameLabeller:
    """Labels for frames rendered by one ``CameraRenderer`` (one camera, one scenario)."""

    def __init__(self, renderer: CameraRenderer, scenario: Scenario):
        self.renderer = renderer
        self.camera = renderer.camera
        texture = renderer.texture
        raster = np.zeros(texture.image.shape[:2], dtype=np.uint8)
        for walkway in scenario.walkways:
            cv2.fillPoly(raster, [texture.to_pixels(walkway.polygon())], 255)
        self.walkway_raster = raster

    def _camera_depth(self, base: np.ndarray) -> np.ndarray:
        return (base - self.camera.translation()) @ self.camera.rotation()[2]

    def walkway_ground(self, robot: scene.Pose2D) -> np.ndarray:
        """(H, W) bool: ground pixels that show walkway (before occlusion)."""
        r, cam, tex = self.renderer, self.camera, self.renderer.texture
        mask = np.zeros((cam.height, cam.width), dtype=bool)
        if r.first_ground_row >= cam.height:
            return mask
        # The same affine map as CameraRenderer.render_ground, on the walkway raster.
        c, s = math.cos(float(robot.yaw)), math.sin(float(robot.yaw))
        scale = 1.0 / TEXTURE_RESOLUTION
        map_x = (c * scale) * r.ground_bx - (s * scale) * r.ground_by + (
            (float(robot.x) - tex.x0) * scale)
        map_y = (s * scale) * r.ground_bx + (c * scale) * r.ground_by + (
            (float(robot.y) - tex.y0) * scale)
        warped = cv2.remap(self.walkway_raster, map_x, map_y, cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask[r.first_ground_row:] = warped > 127
        return mask

    def label(self, robot: scene.Pose2D, people) -> tuple[list[dict], np.ndarray, np.ndarray]:
        """People labels, the (H, W) uint16 instance map and the (H, W) bool walkway mask."""
        cam = self.camera
        width, height = cam.width, cam.height
        instances = np.zeros((height, width), dtype=np.uint16)
        candidates: dict[int, dict] = {}
        if people.count:
            pixels, depth = self.renderer._people_geometry(robot, people)
        for kind, item in self.renderer.drawing_order(robot, people):
            if kind == "obstacle":
                points = _to_base(robot, _obstacle_points(item))
                if self._camera_depth(points).min() >= NEAR_PLANE:
                    _fill_hull(instances, cam.project(points)[0], dataset.OCCLUDER)
                continue
            k = int(item)
            parts = self._body_parts(pixels[k], depth[k])
            if not parts:
                continue
            value = len(candidates) + 1
            full = np.zeros((height, width), dtype=np.uint8)
            for part in parts:
                self._draw_part(instances, part, value)
                self._draw_part(full, part, 1)
            extent = np.vstack([p[1] for p in parts])
            candidates[value] = {"index": k, "extent": extent, "full_pixels": int(full.sum())}
        labels = []
        visible_counts = np.bincount(instances.ravel(), minlength=len(candidates) + 2)
        relabel = np.zeros(dataset.OCCLUDER + 1, dtype=np.uint16)
        relabel[dataset.OCCLUDER] = dataset.OCCLUDER
        for value, info in candidates.items():
            visible = int(visible_counts[value])
            (ex0, ey0), (ex1, ey1) = info["extent"].min(axis=0), info["extent"].max(axis=0)
            x0, y0 = max(ex0, 0.0), max(ey0, 0.0)
            x1, y1 = min(ex1, float(width)), min(ey1, float(height))
            if visible == 0 or x1 - x0 < 1.0 or y1 - y0 < 1.0:
                continue  # fully occluded or out of view
            k = info["index"]
            ys, xs = np.nonzero(instances == value)
            full_area = max((ex1 - ex0) * (ey1 - ey0), 1e-9)
            offset = people.positions[k] - [robot.x, robot.y]
            labels.append({
                "id": int(people.ids[k]),
                "instance": len(labels) + 1,
                "box": [round(float(v), 3) for v in (x0, y0, x1, y1)],
                "full_box": [round(float(v), 3) for v in (ex0, ey0, ex1, ey1)],
                "visible_box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                int(ys.max()) + 1],
                "visible_fraction": round(visible / max(info["full_pixels"], 1), 4),
                "in_image_fraction": round((x1 - x0) * (y1 - y0) / full_area, 4),
                "distance_m": round(float(math.hypot(*offset)), 3),
                "height_m": round(float(people.heights[k]), 3),
                "child": bool(people.heights[k] < 1.4),
            })
            relabel[value] = len(labels)
        instances = relabel[instances]
        walkway = self.walkway_ground(robot) & (instances == 0)
        return labels, instances, walkway

    @staticmethod
    def _body_parts(pixels: np.ndarray, depth: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The parts the renderer draws (not behind the near plane), head as a disc."""
        parts = []
        for name in BODY_PARTS:
            start, stop = PERSON_PARTS[name]
            if depth[start:stop].min() < NEAR_PLANE:
                continue
            points = pixels[start:stop]
            if name == "head":
                radius = float(np.linalg.norm(points[1] - points[0]))
                centre = points[0]
                points = np.array([centre + [-radius, -radius], centre + [radius, radius]])
                parts.append(("head", points))
            else:
                parts.append((name, points))
        return parts

    @staticmethod
    def _draw_part(mask: np.ndarray, part: tuple[str, np.ndarray], value: int) -> None:
        name, points = part
        if name == "head":
            centre = (points[0] + points[1]) / 2
            radius = max(1, int(round((points[1, 0] - points[0, 0]) / 2 * 4)))
            cv2.circle(mask, tuple(int(v) for v in np.round(centre * 4)), radius, int(value),
                       -1, cv2.LINE_8, shift=2)
        else:
            _fill_hull(mask, points, value)


# ------------------------------------------------------------------------------ collection
class _Progress:
    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.start = total, stream, time.monotonic()

    def update(self, done: int, note: str = "") -> None:
        width = 30
        filled = int(width * done / max(self.total, 1))
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (self.total - done) if done else 0.0
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                          f"frames {elapsed:5.0f} s (eta {eta:4.0f} s) {note:<20}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def collect(scenarios: list[str] | str, frames: int, out_dir: str | Path, seed: int = 0,
            progress: bool = True) -> dict:
    """Render ``frames`` labelled frames from ``scenarios`` into ``out_dir``; returns the manifest.

    Episode e uses scenario ``scenarios[e % len]`` and world seed ``seed * 100000 + e``,
    so collections with different ``seed`` never share a world.
    """
    names = parse_scenarios(scenarios)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0:
        raise CollectError(f"frames must be a positive integer, got {frames!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 40000:
        raise CollectError(f"seed must be an integer in [0, 40000), got {seed!r}")
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists():
        raise CollectError(f"{out_dir} already holds a data set (manifest.json); choose a new "
                           f"directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    bases = {name: load_scenario(name) for name in names}
    bar = _Progress(frames) if progress else None
    files: dict[str, str] = {}
    per_scenario = {name: {"frames": 0, "people": 0} for name in names}
    episodes = []
    people_total = occluded = small = 0
    done, episode = 0, 0
    interrupted = False
    try:
        while done < frames:
            name = names[episode % len(names)]
            world_seed = seed * 100000 + episode
            rng = np.random.default_rng([seed, episode, 7])
            scenario = randomised_scenario(bases[name], rng)
            world = World(scenario, world_seed)
            renderer = CameraRenderer(scenario, world.render_seed)
            labeller = FrameLabeller(renderer, scenario)
            warmup = rng.uniform(0.0, min(25.0, 0.5 * scenario.duration_s))
            speed = rng.uniform(0.3, 1.2)
            _advance(world, warmup, speed)
            count = min(FRAMES_PER_EPISODE, frames - done)
            episodes.append({"scenario": name, "world_seed": world_seed, "frames": count,
                             "camera": dataclasses.asdict(scenario.camera),
                             "ground": scenario.ground,
                             "brightness": round(scenario.lighting.brightness, 4)})
            for _ in range(count):
                _advance(world, rng.uniform(0.3, 2.0), speed)
                people = world.people()
                pose = random_pose(scenario, people.positions, rng)
                image = renderer.render(pose, people)
                labels, instances, walkway = labeller.label(pose, people)
                frame = dataset.Frame(
                    name=f"{done:06d}", image=image, walkway=walkway, instances=instances,
                    label={"scenario": name, "world_seed": world_seed, "time_s": world.time,
                           "robot_pose": [pose.x, pose.y, pose.yaw],
                           "camera": dataclasses.asdict(scenario.camera),
                           "width": image.shape[1], "height": image.shape[0], "people": labels})
                files.update(dataset.write_frame(out_dir, frame))
                per_scenario[name]["frames"] += 1
                per_scenario[name]["people"] += len(labels)
                people_total += len(labels)
                occluded += sum(p["visible_fraction"] < 0.5 for p in labels)
                small += sum(p["box"][3] - p["box"][1] < 25 for p in labels)
                done += 1
                if bar:
                    bar.update(done, name)
            episode += 1
    except KeyboardInterrupt:
        # Keep what is complete: the manifest lists only frames written in full.
        interrupted = True
    if bar:
        bar.close()
    counts = {"frames": done, "episodes": episode, "people": people_total,
              "people_visible_below_half": occluded, "people_under_25px": small,
              "per_scenario": per_scenario}
    manifest = dataset.write_manifest(out_dir, files, done, counts=counts, seed=seed,
                                      scenarios=names, renderer=settings(), episodes=episodes,
                                      interrupted=interrupted)
    if interrupted:
        raise KeyboardInterrupt(f"collection interrupted after {done} frames; {out_dir} "
                                f"holds them with a manifest")
    return manifest


def _advance(world: World, seconds: float, speed: float, dt: float = 0.1) -> None:
    """Step ``seconds`` with the robot driving at ``speed`` (so start-when-near people go)."""
    for _ in range(max(1, int(round(seconds / dt)))):
        world.command(scene.Velocity2D(linear=speed, angular=0.0))
        world.step(dt)
