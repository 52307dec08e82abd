"""The 'trained' camera person detector: this project's PersonWalkwayNet, run with torch.

The shipped model (``reasonact_ros/models/person_walkway.pt``) was trained on
simulator frames (see ``person_walkway.json`` beside it for its training config,
data set and measured metrics). A camera frame of any size is resized to the
network's input (256x192 for the shipped model) inside ``detect``; boxes come
back in the frame's pixels. The same forward pass also gives a walkway mask.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reasonact_ros.learning.errors import ModelFormatError
from reasonact_ros.perception.camera import BoundingBox
from reasonact_ros.perception.detectors import check_rgb_image

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "person_walkway.pt"
EVALUATION_MIN_SCORE = 0.05  # every candidate worth ranking for average precision


class TrainedPersonDetector:
    """PersonDetector over a PersonWalkwayNet model file (default: the shipped model).

    ``min_score`` is the operating threshold of ``detect``; ``nms_iou`` removes
    duplicate peaks. ``input_size`` is accepted for the older ONNX interface and must
    match the model if given. Bad or foreign model files raise ModelFormatError.
    """

    name = "trained"

    def __init__(self, model_path: str | Path | None = None, min_score: float = 0.35,
                 nms_iou: float = 0.7, input_size: int | None = None):
        import torch  # noqa: F401  (fail here, not mid-frame, if torch is missing)

        from reasonact_ros.learning.model import fold_batch_norms, load_model

        if not 0.0 < min_score < 1.0:
            raise ValueError(f"trained detector min_score must be in (0, 1), got {min_score}")
        self.path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not self.path.is_file():
            raise ModelFormatError(f"{self.path}: trained detector model file not found")
        model, self.metadata = load_model(self.path)
        self.model = fold_batch_norms(model)
        self.config = self.model.config
        if input_size is not None and input_size not in (self.config.input_width,
                                                         self.config.input_height):
            raise ValueError(f"input_size {input_size} does not match the model's "
                             f"{self.config.input_width}x{self.config.input_height}")
        self.min_score = min_score
        self.nms_iou = nms_iou

    def _forward(self, image_rgb: np.ndarray):
        import torch

        image = check_rgb_image(image_rgb)
        size = (self.config.input_width, self.config.input_height)
        small = image if image.shape[1::-1] == size else cv2.resize(
            image, size, interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float()
        with torch.inference_mode():
            return self.model(x.contiguous(memory_format=torch.channels_last)), image.shape

    def _decode(self, outputs, shape, min_score: float):
        from reasonact_ros.learning.model import decode

        return decode(outputs, self.config, shape[1], shape[0], min_score=min_score,
                      nms_iou=self.nms_iou)[0]

    def detect(self, image_rgb: np.ndarray) -> list[BoundingBox]:
        outputs, shape = self._forward(image_rgb)
        found = self._decode(outputs, shape, self.min_score)
        return [BoundingBox(*map(float, box), score=float(score))
                for box, score in zip(found.boxes, found.scores, strict=True)]

    def detect_with_walkway(self, image_rgb: np.ndarray) -> tuple[list[BoundingBox],
                                                                  np.ndarray]:
        """People and the (H, W) bool walkway mask from one forward pass."""
        from reasonact_ros.learning.model import walkway_mask

        outputs, shape = self._forward(image_rgb)
        found = self._decode(outputs, shape, self.min_score)
        boxes = [BoundingBox(*map(float, box), score=float(score))
                 for box, score in zip(found.boxes, found.scores, strict=True)]
        return boxes, walkway_mask(found.walkway_logits, shape[1], shape[0])

    def walkway_mask(self, image_rgb: np.ndarray) -> np.ndarray:
        return self.detect_with_walkway(image_rgb)[1]

    def detect_for_evaluation(self, image_rgb: np.ndarray):
        """(K, 4) boxes, (K,) scores down to a low threshold, and the walkway mask."""
        from reasonact_ros.learning.model import walkway_mask

        outputs, shape = self._forward(image_rgb)
        found = self._decode(outputs, shape, min(EVALUATION_MIN_SCORE, self.min_score))
        return found.boxes, found.scores, walkway_mask(found.walkway_logits, shape[1],
                                                       shape[0])
