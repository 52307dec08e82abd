"""Timing of the perception cores for the ``bench`` command (synthetic inputs, no sim)."""

from __future__ import annotations

import time

import numpy as np

from reasonact_ros.perception.pipeline import PerceptionPipeline
from reasonact_ros.perception.synthetic import synthetic_scan
from reasonact_ros.scene import Pose2D


def lidar_perception_ms_p50(beams: int = 360, people: int = 20, scans: int = 200,
                            seed: int = 0) -> float:
    """Median milliseconds of PerceptionPipeline.process_scan on a 10 Hz scan stream of
    ``people`` walkers between two walls, seen by a full-circle lidar with ``beams`` beams.

    Measured as CPU time of this process, so other work on a busy machine does not
    inflate it (wall time would)."""
    if beams < 8 or people < 0 or scans < 1:
        raise ValueError(f"need beams >= 8, people >= 0, scans >= 1; got {beams}, {people}, "
                         f"{scans}")
    rng = np.random.default_rng(seed)
    start = rng.uniform([-9.0, -3.5], [9.0, 3.5], size=(people, 2))
    velocity = rng.normal(0.0, 0.9, size=(people, 2)) * [1.0, 0.2]
    walls = [(-12.0, -4.0, 12.0, -4.0), (-12.0, 4.0, 12.0, 4.0)]
    pipeline = PerceptionPipeline()
    timings = []
    for k in range(scans + 10):
        t = 0.1 * k
        positions = start + velocity * t
        positions[:, 0] = (positions[:, 0] + 10.0) % 20.0 - 10.0
        positions[:, 1] = np.clip(positions[:, 1], -3.5, 3.5)
        circles = [(x, y, 0.25) for x, y in positions]
        scan = synthetic_scan(Pose2D(0.0, 0.0, 0.0), circles, walls, beams=beams,
                              range_max=12.0, noise_std=0.01, rng=rng)
        begin = time.process_time()
        pipeline.process_scan(scan, t)
        if k >= 10:  # the first scans only start tracks
            timings.append(time.process_time() - begin)
    return float(np.median(timings) * 1e3)


def camera_detector_fps(name: str, width: int = 640, height: int = 480, frames: int = 10,
                        **options) -> float:
    """Frames per second of a camera detector on a textured ``width`` x ``height`` image."""
    from reasonact_ros.perception.detectors import make_detector

    if width < 64 or height < 64 or frames < 1:
        raise ValueError(f"need an image of at least 64x64 and frames >= 1, got {width}x"
                         f"{height}, {frames}")
    detector = make_detector(name, **options)
    rng = np.random.default_rng(0)
    # Smooth noise: gradients everywhere, as in a real street scene, but nobody in it.
    coarse = rng.integers(0, 255, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.kron(coarse, np.ones((8, 8, 1), np.uint8))[:height, :width])
    detector.detect(image)  # warm-up (SSD builds its graph, OpenCV allocates)
    begin = time.perf_counter()
    for _ in range(frames):
        detector.detect(image)
    return frames / (time.perf_counter() - begin)
