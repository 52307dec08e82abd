"""Top-down pictures of an episode: a PNG of the end state and an animated GIF.

``TopDownRecorder.record`` is called every step; it keeps the robot's path at
every call and a light snapshot every ``every_n_steps`` calls. Frames are
drawn only when saving, so recording a long episode costs little memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reasonact_ros.sim.scenario import Scenario

GROUND_FILL = {
    "grass": (196, 222, 180), "road": (150, 150, 155), "gravel": (215, 205, 180),
    "plaza": (225, 220, 210), "walkway": (232, 228, 222),
}
PERSON_FILL = (60, 110, 200)
REPLAYED_FILL = (150, 80, 170)
ROBOT_FILL = (230, 120, 20)
OBSTACLE_FILL = (110, 110, 115)
COLLISION_MARK = (220, 20, 20)
TRAIL_SECONDS = 6.0  # [s] of each person's past drawn behind them
CAPTION_HEIGHT = 40  # [px] band above the map for time, outcome and the current decision


@dataclass(frozen=True)
class _Snapshot:
    time: float
    robot: tuple[float, float, float]
    people: dict[int, tuple[float, float, float, bool]]  # id -> x, y, radius, replayed
    caption: str
    outcome: str
    collisions: tuple[tuple[float, float], ...]
    path_length: int


class TopDownRecorder:
    """Records a World episode and draws it from above."""

    def __init__(self, scenario: Scenario, every_n_steps: int = 2,
                 pixels_per_metre: float | None = None, max_width_px: int = 1000):
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or (
                every_n_steps < 1):
            raise ValueError(f"every_n_steps must be an integer >= 1, got {every_n_steps!r}")
        self.scenario = scenario
        self.every_n_steps = every_n_steps
        xmin, ymin, xmax, ymax = scenario.bounds
        if pixels_per_metre is None:
            pixels_per_metre = min(40.0, max_width_px / (xmax - xmin))
        if not math.isfinite(pixels_per_metre) or pixels_per_metre <= 0.0:
            raise ValueError(f"pixels_per_metre must be positive, got {pixels_per_metre!r}")
        self.scale = pixels_per_metre
        self.size = (int(math.ceil((xmax - xmin) * self.scale)),
                     int(math.ceil((ymax - ymin) * self.scale)) + CAPTION_HEIGHT)
        self._calls = 0
        self._saw_done = False
        self._path: list[tuple[float, float]] = []
        self._collisions: list[tuple[float, float]] = []
        self._seen_events = 0
        self.snapshots: list[_Snapshot] = []
        self._background = self._draw_background()
        self._font = ImageFont.load_default(size=14)

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        xmin, _, _, ymax = self.scenario.bounds
        return (x - xmin) * self.scale, (ymax - y) * self.scale + CAPTION_HEIGHT

    def _polygon(self, points) -> list[tuple[float, float]]:
        return [self.to_pixel(float(x), float(y)) for x, y in np.asarray(points)]

    def _draw_background(self) -> Image.Image:
        image = Image.new("RGB", self.size, GROUND_FILL[self.scenario.ground])
        draw = ImageDraw.Draw(image)
        for area in self.scenario.areas:
            draw.polygon(self._polygon(area.polygon), fill=GROUND_FILL[area.kind])
        for walkway in self.scenario.walkways:
            draw.polygon(self._polygon(walkway.polygon()), fill=GROUND_FILL["walkway"],
                         outline=(170, 165, 160))
            centre = self._polygon(walkway.centerline)
            draw.line(centre, fill=(205, 200, 195), width=1)
            # An arrow at the start shows the walkway's direction.
            (x0, y0), (x1, y1) = centre[0], centre[1]
            length = math.hypot(x1 - x0, y1 - y0)
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            tip = (x0 + ux * 2.0 * self.scale, y0 + uy * 2.0 * self.scale)
            draw.line([(x0 + ux * 0.5 * self.scale, y0 + uy * 0.5 * self.scale), tip],
                      fill=(150, 145, 140), width=2)
            draw.polygon([tip, (tip[0] - 8 * ux - 5 * uy, tip[1] - 8 * uy + 5 * ux),
                          (tip[0] - 8 * ux + 5 * uy, tip[1] - 8 * uy - 5 * ux)],
                         fill=(150, 145, 140))
        for obstacle in self.scenario.obstacles:
            if obstacle.shape == "circle":
                self._disc(draw, obstacle.x, obstacle.y, obstacle.radius, OBSTACLE_FILL)
            else:
                draw.polygon(self._polygon(obstacle.corners()), fill=OBSTACLE_FILL)
        route = [self.to_pixel(self.scenario.robot_start.x, self.scenario.robot_start.y)]
        route += [self.to_pixel(x, y) for x, y in self.scenario.goal.waypoints]
        draw.line(route, fill=(120, 170, 120), width=1)
        gx, gy = self.scenario.goal.final
        self._disc(draw, gx, gy, max(self.scenario.goal.tolerance, 0.2), None,
                   outline=(30, 150, 30))
        draw.rectangle([0, 0, self.size[0], CAPTION_HEIGHT - 1], fill=(250, 250, 250))
        return image

    def _disc(self, draw, x, y, radius, fill, outline=None) -> None:
        cx, cy = self.to_pixel(x, y)
        r = max(radius * self.scale, 1.5)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=2)

    def record(self, world, caption: str = "") -> None:
        """Note the world's state; call once per step with the current decision as caption."""
        pose = world.robot_pose()
        self._path.append((pose.x, pose.y))
        for event in world.events[self._seen_events:]:
            if event.kind.startswith("collision"):
                self._collisions.append((pose.x, pose.y))
        self._seen_events = len(world.events)
        # Every n-th call, plus the moment the episode ends so the outcome is shown.
        just_ended = world.done and not self._saw_done
        self._saw_done = world.done
        take = self._calls % self.every_n_steps == 0 or just_ended
        self._calls += 1
        if not take:
            return
        people = world.people()
        self.snapshots.append(_Snapshot(
            time=world.time, robot=(pose.x, pose.y, pose.yaw),
            people={int(people.ids[k]): (float(people.positions[k, 0]),
                                         float(people.positions[k, 1]),
                                         float(people.radii[k]), bool(people.replayed[k]))
                    for k in range(people.count)},
            caption=str(caption), outcome=world.outcome, collisions=tuple(self._collisions),
            path_length=len(self._path)))

    def frame(self, index: int = -1) -> Image.Image:
        """The picture of one snapshot, with trails from the snapshots before it."""
        if not self.snapshots:
            raise ValueError("nothing recorded yet: call record(world) first")
        index = index % len(self.snapshots)
        snap = self.snapshots[index]
        image = self._background.copy()
        draw = ImageDraw.Draw(image)
        history = [s for s in self.snapshots[:index + 1] if snap.time - s.time <= TRAIL_SECONDS]
        for person_id, (x, y, radius, replayed) in snap.people.items():
            trail = [self.to_pixel(s.people[person_id][0], s.people[person_id][1])
                     for s in history if person_id in s.people]
            colour = REPLAYED_FILL if replayed else PERSON_FILL
            if len(trail) > 1:
                draw.line(trail, fill=tuple(int(c * 0.5 + 127) for c in colour), width=2)
            self._disc(draw, x, y, radius, colour)
            px, py = self.to_pixel(x, y)
            draw.text((px + radius * self.scale + 2, py - 7), str(person_id), fill=(40, 40, 40),
                      font=self._font)
        path = [self.to_pixel(x, y) for x, y in self._path[:snap.path_length]]
        if len(path) > 1:
            draw.line(path, fill=ROBOT_FILL, width=2)
        rx, ry, yaw = snap.robot
        self._disc(draw, rx, ry, self.scenario.robot.radius, ROBOT_FILL, outline=(120, 60, 0))
        nose = self.to_pixel(rx + self.scenario.robot.radius * math.cos(yaw),
                             ry + self.scenario.robot.radius * math.sin(yaw))
        draw.line([self.to_pixel(rx, ry), nose], fill=(40, 20, 0), width=2)
        for cx, cy in snap.collisions:
            px, py = self.to_pixel(cx, cy)
            draw.line([(px - 6, py - 6), (px + 6, py + 6)], fill=COLLISION_MARK, width=3)
            draw.line([(px - 6, py + 6), (px + 6, py - 6)], fill=COLLISION_MARK, width=3)
        header = (f"{self.scenario.name}  t={snap.time:5.1f} s  {snap.outcome}  "
                  f"collisions={len(snap.collisions)}")
        draw.text((6, 3), header, fill=(20, 20, 20), font=self._font)
        draw.text((6, 21), snap.caption[:160], fill=(30, 30, 120), font=self._font)
        return image

    def save_png(self, path: str | Path) -> None:
        """The last recorded moment, with the whole robot path."""
        self.frame(-1).save(Path(path), format="PNG")

    def save_gif(self, path: str | Path, speedup: float = 1.0) -> None:
        """Every snapshot as an animated GIF playing at ``speedup`` times real time."""
        if not math.isfinite(speedup) or speedup <= 0.0:
            raise ValueError(f"speedup must be positive, got {speedup!r}")
        if not self.snapshots:
            raise ValueError("nothing recorded yet: call record(world) first")
        # One shared palette (from the busiest, last frame) keeps colours steady and
        # saves quantising every frame from scratch.
        palette = self.frame(-1).quantize(colors=96, method=Image.Quantize.MEDIANCUT)
        frames = [self.frame(k).quantize(palette=palette, dither=Image.Dither.NONE)
                  for k in range(len(self.snapshots))]
        period = (self.snapshots[-1].time - self.snapshots[0].time) / max(len(frames) - 1, 1)
        duration_ms = max(20, int(round(1000.0 * period / speedup)))
        frames[0].save(Path(path), format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration_ms, loop=0, optimize=False)
