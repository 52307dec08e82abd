"""Camera geometry: detector boxes -> foot points on the ground -> odom.

A person's box bottom edge is where their feet meet the ground, so the bottom-centre
pixel back-projected with the shared CameraModel gives their ground position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reasonact_ros.scene import CameraModel, Pose2D


@dataclass(frozen=True)
class BoundingBox:
    """An axis-aligned image box in pixels (x right, y down) with a detector score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    def __post_init__(self):
        values = (self.x0, self.y0, self.x1, self.y1, self.score)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"bounding box values must be finite, got {values}")
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"bounding box corners out of order: {values[:4]}")

    @property
    def foot_pixel(self) -> tuple[float, float]:
        return (0.5 * (self.x0 + self.x1), self.y1)

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(frozen=True)
class CameraDetection:
    """A detector box and where its foot point lands on the ground."""

    box: BoundingBox
    x: float  # [m] odom
    y: float  # [m] odom
    range: float  # [m] from base_link
    stamp: float  # [s]
    track_id: int | None = None  # the lidar track it was associated with, if any

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y])


def base_to_odom(points_base: np.ndarray, robot: Pose2D) -> np.ndarray:
    """(N, 2) base_link points -> odom, given the robot pose in odom."""
    p = np.atleast_2d(np.asarray(points_base, dtype=float))
    c, s = math.cos(robot.yaw), math.sin(robot.yaw)
    return np.column_stack([robot.x + c * p[:, 0] - s * p[:, 1],
                            robot.y + s * p[:, 0] + c * p[:, 1]])


def odom_to_base(points_odom: np.ndarray, robot: Pose2D) -> np.ndarray:
    p = np.atleast_2d(np.asarray(points_odom, dtype=float)) - [robot.x, robot.y]
    c, s = math.cos(robot.yaw), math.sin(robot.yaw)
    return np.column_stack([c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1]])


def boxes_to_ground(boxes: list[BoundingBox], camera: CameraModel, robot: Pose2D,
                    stamp: float, max_range: float = 30.0) -> list[CameraDetection]:
    """Foot points of ``boxes`` on the ground in odom; boxes whose feet are at or above the
    horizon, or implausibly far, are dropped (they cannot be placed on the ground)."""
    if not boxes:
        return []
    pixels = np.array([b.foot_pixel for b in boxes])
    ground, hits = camera.pixel_to_ground(pixels)
    ranges = np.hypot(ground[:, 0], ground[:, 1])
    odom = base_to_odom(ground, robot)
    return [CameraDetection(box=box, x=float(odom[i, 0]), y=float(odom[i, 1]),
                            range=float(ranges[i]), stamp=stamp)
            for i, box in enumerate(boxes) if hits[i] and ranges[i] <= max_range]
