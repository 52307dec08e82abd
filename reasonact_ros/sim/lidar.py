"""A planar lidar: vectorised ray casting against circles and line segments."""

from __future__ import annotations

import math

import numpy as np

from reasonact_ros import scene
from reasonact_ros.sim.scenario import LidarParams, ObstacleSpec


def box_segments(obstacles: tuple[ObstacleSpec, ...]) -> np.ndarray:
    """(S, 4) segments [ax, ay, bx, by] of every box obstacle's four sides."""
    segments = []
    for obstacle in obstacles:
        if obstacle.shape == "box":
            corners = obstacle.corners()
            segments.append(np.hstack([corners, np.roll(corners, -1, axis=0)]))
    return np.vstack(segments) if segments else np.zeros((0, 4))


def cast_rays(origin: np.ndarray, angles: np.ndarray, circles: np.ndarray,
              segments: np.ndarray) -> np.ndarray:
    """Distance along each ray to the first circle or segment, inf where nothing is hit.

    ``circles`` is (K, 3) [x, y, r]; ``segments`` is (S, 4) [ax, ay, bx, by]; all
    arrays are in one frame; the work is (beams x shapes) numpy, no Python loop.
    """
    directions = np.column_stack([np.cos(angles), np.sin(angles)])
    best = np.full(len(angles), np.inf)
    if len(circles):
        to_centre = circles[:, :2] - origin  # (K, 2)
        along = directions @ to_centre.T  # (B, K)
        centre_sq = np.sum(to_centre * to_centre, axis=1)
        disc = circles[:, 2] ** 2 - (centre_sq[None] - along * along)
        root = np.sqrt(np.maximum(disc, 0.0))
        near = along - root
        # From inside a circle the ray exits through its far side.
        t = np.where(near >= 0.0, near, along + root)
        t = np.where((disc >= 0.0) & (t >= 0.0), t, np.inf)
        best = np.minimum(best, t.min(axis=1))
    if len(segments):
        a = segments[:, :2]
        edge = segments[:, 2:] - a  # (S, 2)
        to_a = a - origin
        denom = directions[:, 0:1] * edge[None, :, 1] - directions[:, 1:2] * edge[None, :, 0]
        parallel = np.abs(denom) < 1e-12
        safe = np.where(parallel, 1.0, denom)
        t = (to_a[None, :, 0] * edge[None, :, 1] - to_a[None, :, 1] * edge[None, :, 0]) / safe
        s = (to_a[None, :, 0] * directions[:, 1:2] - to_a[None, :, 1] * directions[:, 0:1]) / safe
        hit = ~parallel & (t >= 0.0) & (s >= 0.0) & (s <= 1.0)
        best = np.minimum(best, np.where(hit, t, np.inf).min(axis=1))
    return best


STRIDE_LENGTH = 1.4  # [m] one full gait cycle (two steps) of an adult
LEG_SPACING = 0.2  # [m] between the legs' centres, across the walking direction


def leg_circles(positions: np.ndarray, velocities: np.ndarray, radii: np.ndarray,
                walked: np.ndarray) -> np.ndarray:
    """(2K, 3) circles [x, y, r] of people's legs at the scan plane.

    The legs swing in antiphase along the walking direction; the swing grows
    with speed and its phase follows the distance walked, so a standing person
    shows two still legs side by side (facing +x).
    """
    speed = np.hypot(velocities[:, 0], velocities[:, 1])
    moving = speed > 0.1
    safe = np.maximum(speed, 1e-9)
    fx = np.where(moving, velocities[:, 0] / safe, 1.0)
    fy = np.where(moving, velocities[:, 1] / safe, 0.0)
    swing = 0.25 * np.minimum(speed / 1.3, 1.5) * np.sin(2.0 * np.pi * walked / STRIDE_LENGTH)
    scale = radii / 0.25
    leg_radius = 0.065 * scale
    circles = []
    for side in (1.0, -1.0):
        along = side * swing
        across = side * 0.5 * LEG_SPACING * scale
        circles.append(np.column_stack([positions[:, 0] + along * fx - across * fy,
                                        positions[:, 1] + along * fy + across * fx,
                                        leg_radius]))
    return np.vstack(circles)


class Lidar:
    """Scans the world from a pose; obstacles lower than the scan plane are not seen."""

    def __init__(self, params: LidarParams, obstacles: tuple[ObstacleSpec, ...],
                 rng: np.random.Generator):
        self.params = params
        self.rng = rng
        seen = tuple(o for o in obstacles if o.height >= params.mount_height)
        self.static_circles = np.array(
            [[o.x, o.y, o.radius] for o in seen if o.shape == "circle"]).reshape(-1, 3)
        self.static_segments = box_segments(seen)
        full_circle = params.field_of_view >= 2.0 * math.pi - 1e-9
        # A full circle must not measure the same direction twice.
        divisions = params.beams if full_circle or params.beams == 1 else params.beams - 1
        self.angle_increment = params.field_of_view / divisions
        self.angle_min = -params.field_of_view / 2.0 if not full_circle else -math.pi
        self.beam_angles = self.angle_min + self.angle_increment * np.arange(params.beams)

    def sensor_pose(self, robot: scene.Pose2D) -> scene.Pose2D:
        return scene.Pose2D(robot.x + self.params.mount_x * math.cos(robot.yaw),
                            robot.y + self.params.mount_x * math.sin(robot.yaw), robot.yaw)

    def scan(self, robot: scene.Pose2D, people: np.ndarray) -> scene.ScanData:
        """``people`` is (K, 3) [x, y, radius] in odom."""
        sensor = self.sensor_pose(robot)
        circles = np.vstack([self.static_circles, np.asarray(people, float).reshape(-1, 3)])
        ranges = cast_rays(np.array([sensor.x, sensor.y]), self.beam_angles + sensor.yaw,
                           circles, self.static_segments)
        p = self.params
        hit = np.isfinite(ranges)
        if p.noise_std > 0.0:
            ranges[hit] += self.rng.normal(0.0, p.noise_std, size=np.count_nonzero(hit))
        ranges[hit] = np.maximum(ranges[hit], p.range_min)
        no_return = math.inf if p.no_return == "inf" else p.range_max
        ranges[~hit | (ranges > p.range_max)] = no_return
        return scene.ScanData(ranges=ranges, angle_min=self.angle_min,
                              angle_increment=self.angle_increment, range_min=p.range_min,
                              range_max=p.range_max, sensor_pose=sensor)
