"""Perception core: lidar clusters -> tracks, camera boxes -> ground points, fused into a
Scene. Plain Python and numpy; the ROS node converts messages and calls in here.

lidar.py       scan -> odom points -> clusters (range-relative jumps, notches, legs) -> features
tracker.py     constant-velocity Kalman filters, Mahalanobis gating, Hungarian assignment
camera.py      boxes -> foot points on the ground -> odom
detectors.py   person detectors: HOG, SSDLite (ssd.py, cv2.dnn), a trained ONNX model
pipeline.py    PerceptionPipeline: the above, class labels, walkway flags, health
validation.py  checks on raw sensor input, with stable causes for log throttling
metrics.py     CLEAR MOT against ground truth
evaluation.py  eval-perception on a simulated world passed in as a factory
benchmark.py   timings for the bench command
synthetic.py   ray-cast scans of circles and segments for tests and benchmarks
"""

from reasonact_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

__all__ = ["PerceptionConfig", "PerceptionPipeline"]
