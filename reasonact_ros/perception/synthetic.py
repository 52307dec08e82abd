"""Synthetic lidar scans of circles (people, posts) and segments (walls), for tests and
benchmarks that must not depend on the simulator."""

from __future__ import annotations

import math

import numpy as np

from reasonact_ros.scene import Pose2D, ScanData


def ray_cast(sensor: Pose2D, angles: np.ndarray, circles=(), segments=(),
             range_max: float = 20.0) -> np.ndarray:
    """Ranges along sensor-frame ``angles`` to the nearest circle (x, y, r) or segment
    (x0, y0, x1, y1) in odom; inf where nothing is hit within range_max."""
    world = angles + sensor.yaw
    dx, dy = np.cos(world), np.sin(world)
    ranges = np.full(len(angles), np.inf)
    ox, oy = sensor.x, sensor.y
    for cx, cy, r in circles:
        fx, fy = ox - cx, oy - cy
        b = dx * fx + dy * fy
        c = fx * fx + fy * fy - r * r
        disc = b * b - c
        hit = disc >= 0.0
        t = -b - np.sqrt(np.where(hit, disc, 0.0))
        ranges = np.where(hit & (t > 0.0) & (t < ranges), t, ranges)
    for x0, y0, x1, y1 in segments:
        ex, ey = x1 - x0, y1 - y0
        denom = dx * ey - dy * ex
        ok = np.abs(denom) > 1e-12
        safe = np.where(ok, denom, 1.0)
        wx, wy = x0 - ox, y0 - oy
        t = (wx * ey - wy * ex) / safe
        u = (wx * dy - wy * dx) / safe
        hit = ok & (t > 0.0) & (u >= 0.0) & (u <= 1.0)
        ranges = np.where(hit & (t < ranges), t, ranges)
    ranges[ranges > range_max] = np.inf
    return ranges


def synthetic_scan(sensor: Pose2D | None = None, circles=(), segments=(), beams: int = 360,
                   range_max: float = 20.0, noise_std: float = 0.0,
                   rng: np.random.Generator | None = None) -> ScanData:
    """A full-circle scan with ``beams`` beams, optionally with Gaussian range noise."""
    sensor = sensor if sensor is not None else Pose2D()
    increment = 2.0 * math.pi / beams
    angles = -math.pi + increment * np.arange(beams)
    ranges = ray_cast(sensor, angles, circles, segments, range_max)
    if noise_std > 0.0:
        rng = rng if rng is not None else np.random.default_rng(0)
        finite = np.isfinite(ranges)
        ranges[finite] += rng.normal(0.0, noise_std, np.count_nonzero(finite))
    return ScanData(ranges=ranges, angle_min=-math.pi, angle_increment=increment,
                    range_min=0.05, range_max=range_max, sensor_pose=sensor)
