"""Checks the perception node runs on raw sensor input before the pipeline sees it.

Every refusal is a SensorInputError whose ``cause`` is a short stable key, so the node
can throttle its log per cause ("scan_nan" once a second, not 10 lines a second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from reasonact_ros.scene import CameraModel

# encoding -> (channels, conversion to RGB from an (h, w, channels) uint8 array)
_ENCODINGS = {
    "rgb8": (3, lambda a: a),
    "bgr8": (3, lambda a: a[..., ::-1]),
    "rgba8": (4, lambda a: a[..., :3]),
    "bgra8": (4, lambda a: a[..., 2::-1]),
    "mono8": (1, lambda a: np.repeat(a, 3, axis=2)),
}


class SensorInputError(ValueError):
    """Unusable sensor input; ``cause`` is a stable key for log throttling and counters."""

    def __init__(self, cause: str, message: str):
        super().__init__(f"{cause}: {message}")
        self.cause = cause


MAX_BEAMS = 8192  # clustering cost grows ~quadratically; no 2-D lidar sends more
MAX_USABLE_RANGE = 200.0  # [m] beyond any 2-D lidar's reach: a larger reading is a fault


def check_scan(ranges, range_min: float, range_max: float,
               angle_increment: float | None = None,
               angle_min: float | None = None) -> np.ndarray:
    """Validate a LaserScan's ranges; returns float ranges with no-return beams as +inf.

    NaN, +-inf and out-of-limit beams become no-return (+inf); an all-+inf scan is open
    space (REP-117) and accepted; an all-NaN scan, an empty scan or inverted limits are
    refused.
    """
    if not (math.isfinite(range_min) and math.isfinite(range_max)) or range_min < 0.0:
        raise SensorInputError("range_order",
                               f"range limits must be finite and >= 0, got "
                               f"[{range_min}, {range_max}]")
    if range_max <= range_min:
        raise SensorInputError("range_order",
                               f"range_max {range_max} must exceed range_min {range_min}")
    if angle_increment is not None and (not math.isfinite(angle_increment)
                                        or angle_increment == 0.0):
        raise SensorInputError("scan_angles",
                               f"angle_increment must be finite and non-zero, got "
                               f"{angle_increment}")
    if angle_min is not None and not math.isfinite(angle_min):
        raise SensorInputError("scan_angles", f"angle_min must be finite, got {angle_min}")
    values = np.asarray(ranges, dtype=float).ravel()
    if values.size == 0:
        raise SensorInputError("empty_scan", "the scan has no beams")
    if values.size > MAX_BEAMS:
        raise SensorInputError("scan_size",
                               f"{values.size} beams is more than the {MAX_BEAMS} accepted")
    # REP-117: +inf is a valid "nothing within range" reading (open space), -inf is
    # "too close to measure" and NaN an erroneous measurement. Only a scan in which no
    # beam carries information (every beam NaN) is refused.
    if np.all(np.isnan(values)):
        raise SensorInputError("scan_nan", f"all {values.size} beams are NaN")
    finite = np.isfinite(values)
    usable = (finite & (values >= range_min) & (values <= range_max)
              & (values <= MAX_USABLE_RANGE))
    return np.where(usable, values, np.inf)


def check_stamp(stamp: float, now: float, timeout: float, sensor: str = "input") -> None:
    """Refuse input older than ``timeout`` seconds (or stamped in the future by more)."""
    if not (math.isfinite(stamp) and math.isfinite(now)):
        raise SensorInputError("stale", f"{sensor} stamp {stamp} or clock {now} not finite")
    age = now - stamp
    if abs(age) > timeout:
        raise SensorInputError("stale",
                               f"{sensor} is {age:.3f} s old (allowed {timeout:.3f} s)")


def image_to_rgb(data: bytes, width: int, height: int, encoding: str,
                 step: int = 0) -> np.ndarray:
    """A sensor_msgs/Image payload -> (height, width, 3) uint8 RGB (a copy).

    8-bit colour and mono encodings are converted; 16-bit, float, Bayer and YUV
    encodings are refused, as is data whose length does not match height * step.
    """
    if encoding not in _ENCODINGS:
        raise SensorInputError("encoding",
                               f"unsupported image encoding {encoding!r}; expected one of "
                               f"{', '.join(_ENCODINGS)}")
    if width <= 0 or height <= 0:
        raise SensorInputError("image_size", f"image size must be positive, got "
                                             f"{width}x{height}")
    channels, to_rgb = _ENCODINGS[encoding]
    row_bytes = width * channels
    step = step or row_bytes
    if step < row_bytes:
        raise SensorInputError("data_length",
                               f"step {step} is shorter than a row of {row_bytes} bytes")
    buffer = np.frombuffer(bytes(data), dtype=np.uint8)
    if buffer.size != height * step:
        raise SensorInputError("data_length",
                               f"{buffer.size} bytes for a {width}x{height} {encoding} image "
                               f"with step {step} (expected {height * step})")
    rows = buffer.reshape(height, step)[:, :row_bytes]
    return np.ascontiguousarray(to_rgb(rows.reshape(height, width, channels)))


def check_camera_info(k: Sequence[float] | None = None, width: int | None = None,
                      height: int | None = None, *, fx: float | None = None,
                      fy: float | None = None, cx: float | None = None,
                      cy: float | None = None) -> dict:
    """CameraInfo intrinsics (the 3x3 row-major ``k`` or fx/fy/cx/cy) -> keyword arguments
    for CameraModel; a zero focal length (an uncalibrated camera) is refused."""
    if k is not None:
        values = np.asarray(k, dtype=float).ravel()
        if values.size != 9:
            raise SensorInputError("camera_info", f"K must have 9 values, got {values.size}")
        fx, fy, cx, cy = values[0], values[4], values[2], values[5]
    if None in (fx, fy, cx, cy):
        raise SensorInputError("camera_info", "give K or all of fx, fy, cx, cy")
    numbers = {"fx": fx, "fy": fy, "cx": cx, "cy": cy}
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise SensorInputError("camera_info", f"{name} must be finite, got {value}")
    if fx <= 0.0 or fy <= 0.0:
        raise SensorInputError("zero_focal",
                               f"focal lengths must be positive (uncalibrated camera?), got "
                               f"fx={fx}, fy={fy}")
    if width is None or height is None or width <= 0 or height <= 0:
        raise SensorInputError("image_size", f"camera size must be positive, got "
                                             f"{width}x{height}")
    return {"width": int(width), "height": int(height), "fx": float(fx), "fy": float(fy),
            "cx": float(cx), "cy": float(cy)}


def camera_model_from_info(info: dict, mount_x: float, mount_z: float, pitch: float
                           ) -> CameraModel:
    """Intrinsics from check_camera_info plus the mounting from parameters."""
    return CameraModel(mount_x=mount_x, mount_z=mount_z, pitch=pitch, **info)
