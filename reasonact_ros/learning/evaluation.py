"""Score a person detector (and walkway segmenter) on a labelled data set.

Protocol (documented in the metrics file, used for every detector alike):

* A ground-truth person counts when its box is at least ``MIN_HEIGHT_PX`` tall in
  the 640x480 frame, at least ``MIN_VISIBLE`` of its body in the frame is not
  hidden by something (the Caltech "reasonable" idea, with a looser occlusion
  bound) and at least ``MIN_IN_IMAGE`` of its full box lies inside the frame (the
  KITTI "hard" truncation bound: a sliver of a person at the image edge, whose
  amodal box no detector can know, is not scored). Smaller, more hidden or more
  truncated people are *ignore* regions: a detection on one is neither right
  nor wrong.
* A detection is a true positive at IoU >= 0.5 with an unmatched counted person
  (greedy by score, VOC style); AP is the area under the all-points
  interpolated precision/recall curve over every returned box.
* ``recall`` and ``precision`` are at the detector's operating threshold (the
  boxes its ``detect`` returns; for the trained model, scores >= its min_score).
* ``walkway_iou`` is the intersection over union of all walkway pixels over the
  data set (null for detectors without a walkway head).
* ``fps_640x480`` is wall-clock frames per second of the whole detector call on
  640x480 frames with ``torch.set_num_threads(2)``; ``fps_cpu_640x480`` divides by
  the process CPU time instead, so it does not depend on how loaded the machine is.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from reasonact_ros.learning import dataset
from reasonact_ros.learning.model import box_iou

IOU_THRESHOLD = 0.5
MIN_HEIGHT_PX = 25.0  # [px] at 640x480
MIN_VISIBLE = 0.4  # visible fraction of the body
MIN_IN_IMAGE = 0.5  # fraction of the full box inside the frame


def split_ground_truth(label: dict, scale_y: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(K, 4) boxes and (K,) bool 'counted' (False: ignore region) of one label."""
    people = label.get("people", [])
    boxes = np.array([p["box"] for p in people], dtype=float).reshape(-1, 4)
    heights = (boxes[:, 3] - boxes[:, 1]) * (480.0 / label.get("height", 480)) * scale_y
    visible = np.array([p.get("visible_fraction", 1.0) for p in people], dtype=float)
    in_image = np.array([p.get("in_image_fraction", 1.0) for p in people], dtype=float)
    return boxes, ((heights >= MIN_HEIGHT_PX) & (visible >= MIN_VISIBLE)
                   & (in_image >= MIN_IN_IMAGE))


def match_frame(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                counted: np.ndarray, iou_threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """Per detection: 1 true positive, 0 false positive, -1 ignored (on an ignore region)."""
    order = np.argsort(-det_scores, kind="stable")
    outcome = np.zeros(len(det_scores), dtype=int)
    if not len(gt_boxes):
        return outcome
    iou = box_iou(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for d in order:
        candidates = np.where(counted & ~taken, iou[d], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            taken[best] = True
            outcome[d] = 1
        elif len(iou[d]) and np.max(np.where(~counted, iou[d], -1.0)) >= iou_threshold:
            outcome[d] = -1
    return outcome


def average_precision(scores: np.ndarray, outcomes: np.ndarray, positives: int) -> float:
    """All-points interpolated AP of detections (ignored ones removed beforehand)."""
    if positives == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(outcomes[order] == 1)
    fp = np.cumsum(outcomes[order] == 0)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, 1)
    recall = np.concatenate([[0.0], recall, [recall[-1]]])
    precision = np.concatenate([[1.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


class DetectionScore:
    """Accumulates detections and ground truth frame by frame."""

    def __init__(self, operating_score: float = 0.0):
        self.operating_score = operating_score
        self.scores: list[np.ndarray] = []
        self.outcomes: list[np.ndarray] = []
        self.positives = 0
        self.walkway_inter = 0
        self.walkway_union = 0

    def add(self, det_boxes, det_scores, label: dict) -> None:
        det_boxes = np.asarray(det_boxes, dtype=float).reshape(-1, 4)
        det_scores = np.asarray(det_scores, dtype=float).reshape(-1)
        gt_boxes, counted = split_ground_truth(label)
        outcome = match_frame(det_boxes, det_scores, gt_boxes, counted)
        keep = outcome >= 0
        self.scores.append(det_scores[keep])
        self.outcomes.append(outcome[keep])
        self.positives += int(counted.sum())

    def add_walkway(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        self.walkway_inter += int(np.count_nonzero(predicted & truth))
        self.walkway_union += int(np.count_nonzero(predicted | truth))

    def result(self) -> dict:
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        outcomes = np.concatenate(self.outcomes) if self.outcomes else np.zeros(0, int)
        ap = average_precision(scores, outcomes, self.positives)
        operating = scores >= self.operating_score
        tp = int(np.count_nonzero(outcomes[operating] == 1))
        fp = int(np.count_nonzero(outcomes[operating] == 0))
        return {
            "map50": None if np.isnan(ap) else round(ap, 4),
            "recall": round(tp / self.positives, 4) if self.positives else None,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "walkway_iou": (round(self.walkway_inter / self.walkway_union, 4)
                            if self.walkway_union else None),
            "ground_truth_people": self.positives, "true_positives": tp,
            "false_positives": fp,
        }


def measure_fps(detect, frames: list[np.ndarray], repeats: int = 1) -> dict:
    """Wall and CPU-time frames per second of ``detect`` on 640x480 frames (after warm-up)."""
    import cv2

    images = [cv2.resize(f, (640, 480)) if f.shape[:2] != (480, 640) else f for f in frames]
    detect(images[0])
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    for _ in range(repeats):
        for image in images:
            detect(image)
            count += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"fps_640x480": round(count / wall, 2), "fps_cpu_640x480": round(count / cpu, 2),
            "fps_frames": count}


def _resolve_detector(detector):
    """A name ('hog', 'ssd', 'trained', a model path) or an object -> PersonDetector."""
    from reasonact_ros.perception.detectors import make_detector

    if not isinstance(detector, (str, Path)):
        return detector
    text = str(detector)
    if text in ("hog", "ssd"):
        return make_detector(text)
    from reasonact_ros.perception.trained_detector import TrainedPersonDetector

    if text == "trained":
        return TrainedPersonDetector()
    return TrainedPersonDetector(model_path=Path(text))


def evaluate_detector(data_dir: str | Path, detector, fps_frames: int = 30,
                      threads: int = 2, progress: bool = True) -> dict:
    """map50, recall, precision, walkway_iou, fps_640x480 (+ details) of a detector on a data set.

    ``detector``: 'hog', 'ssd', 'trained' (the shipped model), a model file path, or any
    object with ``detect(image_rgb)``; trained models also score their walkway head.
    """
    import torch

    torch.set_num_threads(threads)
    data = dataset.read(data_dir)
    if data.skipped and progress:
        print(dataset.describe_skipped(data), file=sys.stderr)
    detector = _resolve_detector(detector)
    # Rank every candidate for AP; recall and precision use the detector's own threshold.
    scoring_detect = getattr(detector, "detect_for_evaluation", None)
    operating = getattr(detector, "min_score", 0.0) if scoring_detect else 0.0
    score = DetectionScore(operating_score=operating)
    has_walkway = hasattr(detector, "walkway_mask")
    fps_images = []
    started = time.monotonic()
    for i in range(len(data)):
        frame = data.load(i)
        if scoring_detect is not None:
            boxes, scores, walkway = scoring_detect(frame.image)
        else:
            found = detector.detect(frame.image)
            boxes = [[b.x0, b.y0, b.x1, b.y1] for b in found]
            scores = [b.score for b in found]
            walkway = detector.walkway_mask(frame.image) if has_walkway else None
        score.add(boxes, scores, frame.label)
        if walkway is not None:
            score.add_walkway(walkway, frame.walkway)
        if len(fps_images) < fps_frames:
            fps_images.append(frame.image)
        if progress:
            print(f"\r{getattr(detector, 'name', 'detector')}: {i + 1}/{len(data)} frames "
                  f"{time.monotonic() - started:5.0f} s", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    result = score.result()
    result.update(measure_fps(detector.detect, fps_images))
    result.update({"detector": getattr(detector, "name", type(detector).__name__),
                   "frames": len(data), "skipped": len(data.skipped), "threads": threads,
                   "protocol": {"iou": IOU_THRESHOLD, "min_height_px": MIN_HEIGHT_PX,
                                "min_visible_fraction": MIN_VISIBLE,
                                "min_in_image_fraction": MIN_IN_IMAGE,
                                "operating_score": operating}})
    if not has_walkway and scoring_detect is None:
        result["walkway_iou"] = None
    return result


def write_metrics(out_dir: str | Path, metrics: dict) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "detector_metrics.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return path
