"""Train PersonWalkwayNet on a collected data set, on CPU, deterministically under a seed.

Frames are resized once to the network's input size and kept in memory as uint8.
Targets are built per batch: a Gaussian centre heat-map per counted person
(TTFNet-style elliptical spread), their log box size and sub-cell offset at the
centre cell, an ignore area around people too small or too hidden to demand a
detection, and the walkway mask averaged down to the walkway head's stride 4.
Augmentation: horizontal flips and per-image brightness, colour and contrast.

Every epoch prints training loss and validation metrics (mAP@0.5, recall,
precision, walkway IoU) to stderr and writes a checkpoint beside the output
model; the model with the best validation score is written to ``out_model``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the usual torch alias)

from reasonact_ros.learning import dataset
from reasonact_ros.learning.errors import TrainingError
from reasonact_ros.learning.evaluation import DetectionScore
from reasonact_ros.learning.model import (
    WALKWAY_STRIDE,
    ModelConfig,
    PersonWalkwayNet,
    decode,
    load_model,
    parameter_count,
    save_model,
    walkway_mask,
)

TRAIN_MIN_VISIBLE = 0.3  # people less visible than this are ignore regions in training
TRAIN_MIN_HEIGHT_PX = 12.0  # [px] at 640x480; smaller people are ignore regions
MAX_OBJECTS = 96


class PreparedData:
    """A data set at network resolution: images, boxes, walkway masks (all in memory)."""

    def __init__(self, data: dataset.DataSet, config: ModelConfig, keep_full_walkway=False):
        w, h = config.input_width, config.input_height
        ow, oh = w // WALKWAY_STRIDE, h // WALKWAY_STRIDE
        n = len(data)
        self.images = np.empty((n, h, w, 3), dtype=np.uint8)
        self.walkway = np.empty((n, oh, ow), dtype=np.float32)
        self.boxes: list[np.ndarray] = []  # (K, 4) in network input pixels
        self.counted: list[np.ndarray] = []
        self.labels = [r.label for r in data.records]
        self.full_walkway: list[np.ndarray] = []
        for i, record in enumerate(data.records):
            image = cv2.imread(str(record.paths["images"]), cv2.IMREAD_COLOR)
            mask = cv2.imread(str(record.paths["walkway"]), cv2.IMREAD_UNCHANGED)
            if image is None or mask is None:
                raise TrainingError(f"{record.paths['images']}: unreadable during loading")
            height, width = image.shape[:2]
            self.images[i] = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA),
                                          cv2.COLOR_BGR2RGB)
            self.walkway[i] = cv2.resize((mask > 127).astype(np.float32), (ow, oh),
                                         interpolation=cv2.INTER_AREA)
            if keep_full_walkway:
                self.full_walkway.append(mask > 127)
            people = record.label["people"]
            boxes = np.array([p["box"] for p in people], dtype=np.float32).reshape(-1, 4)
            tall = (boxes[:, 3] - boxes[:, 1]) * (480.0 / height) >= TRAIN_MIN_HEIGHT_PX
            visible = np.array([p.get("visible_fraction", 1.0) for p in people]) >= (
                TRAIN_MIN_VISIBLE)
            self.boxes.append(boxes * np.array([w / width, h / height] * 2, dtype=np.float32))
            self.counted.append(tall & visible)

    def __len__(self) -> int:
        return len(self.images)


def _gaussian(heat: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> None:
    h, w = heat.shape
    rx, ry = int(3 * sx) + 1, int(3 * sy) + 1
    x0, x1 = max(0, int(cx) - rx), min(w, int(cx) + rx + 1)
    y0, y1 = max(0, int(cy) - ry), min(h, int(cy) + ry + 1)
    if x1 <= x0 or y1 <= y0:
        return
    xs = np.arange(x0, x1, dtype=np.float32) - int(cx)
    ys = np.arange(y0, y1, dtype=np.float32) - int(cy)
    g = np.exp(-(xs[None] ** 2) / (2 * sx * sx) - (ys[:, None] ** 2) / (2 * sy * sy))
    np.maximum(heat[y0:y1, x0:x1], g, out=heat[y0:y1, x0:x1])


def build_targets(boxes: np.ndarray, counted: np.ndarray, config: ModelConfig) -> dict:
    """Targets of one image from boxes in network-input pixels."""
    s = config.stride
    ow, oh = config.input_width // s, config.input_height // s
    heat = np.zeros((oh, ow), dtype=np.float32)
    ignore = np.zeros((oh, ow), dtype=np.float32)
    index = np.zeros(MAX_OBJECTS, dtype=np.int64)
    box = np.zeros((MAX_OBJECTS, 4), dtype=np.float32)
    mask = np.zeros(MAX_OBJECTS, dtype=np.float32)
    n = 0
    for (x0, y0, x1, y1), is_counted in zip(boxes / s, counted, strict=True):
        bw, bh = max(x1 - x0, 0.25), max(y1 - y0, 0.25)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = min(int(cx), ow - 1), min(int(cy), oh - 1)
        sx, sy = max(0.09 * bw, 0.6), max(0.09 * bh, 0.6)
        if not is_counted:
            _gaussian(ignore, cx, cy, sx * 1.5, sy * 1.5)
            continue
        _gaussian(heat, cx, cy, sx, sy)
        heat[iy, ix] = 1.0
        if n < MAX_OBJECTS:
            index[n] = iy * ow + ix
            box[n] = (math.log(bw), math.log(bh), cx - ix, cy - iy)
            mask[n] = 1.0
            n += 1
    # Around ignored people, do not punish a detection unless a counted person is there.
    ignore = ((ignore > 0.2) & (heat < 0.5)).astype(np.float32)
    return {"heat": heat, "ignore": ignore, "index": index, "box": box, "mask": mask}


def make_batch(data: PreparedData, indices: np.ndarray, config: ModelConfig,
               rng: np.random.Generator | None) -> tuple[torch.Tensor, dict]:
    """Images (N, 3, H, W) float and stacked targets; ``rng`` None: no augmentation."""
    images = data.images[indices].astype(np.float32)
    walkway = data.walkway[indices].copy()
    targets = []
    width = config.input_width
    for j, i in enumerate(indices):
        boxes = data.boxes[i].copy()
        if rng is not None:
            if rng.random() < 0.5:
                images[j] = images[j, :, ::-1]
                walkway[j] = walkway[j, :, ::-1]
                boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
            gain = rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, size=3)
            contrast = rng.uniform(0.8, 1.2)
            mean = images[j].mean()
            images[j] = np.clip((images[j] - mean) * contrast + mean, 0, 255) * gain
        targets.append(build_targets(boxes, data.counted[i], config))
    stacked = {k: torch.from_numpy(np.stack([t[k] for t in targets])) for k in targets[0]}
    stacked["walkway"] = torch.from_numpy(walkway)
    x = torch.from_numpy(np.clip(images, 0, 255)).permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last), stacked


def losses(outputs: dict, targets: dict) -> dict[str, torch.Tensor]:
    """CenterNet focal loss, L1 on log size and offset plus GIoU, walkway BCE + soft Dice.

    The GIoU term scores the box the centre cell predicts as a whole, so the training
    asks directly for what the IoU >= 0.5 match needs; L1 alone weighs a small person's
    size error like a large one's (TTFNet's reason for GIoU).
    """
    logits = outputs["heat"][:, 0]
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    heat = targets["heat"]
    positive = (heat == 1.0).float()
    negative_weight = (1 - heat) ** 4 * (1 - targets["ignore"]) * (1 - positive)
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg_loss = -(torch.log(1 - p) * p ** 2 * negative_weight).sum()
    count = positive.sum().clamp(min=1.0)
    focal = (pos_loss + neg_loss) / count

    n, _, h, w = outputs["box"].shape
    flat = outputs["box"].reshape(n, 4, h * w)
    gathered = torch.gather(flat, 2, targets["index"][:, None, :].expand(-1, 4, -1))
    gathered = gathered.permute(0, 2, 1)  # (N, MAX, 4)
    mask = targets["mask"][..., None]
    objects = mask.sum().clamp(min=1.0)
    size = (torch.abs(gathered[..., :2] - targets["box"][..., :2]) * mask).sum() / objects
    offset = (torch.abs(gathered[..., 2:] - targets["box"][..., 2:]) * mask).sum() / objects
    giou = ((1.0 - generalized_iou(cell_boxes(gathered), cell_boxes(targets["box"])))
            * mask[..., 0]).sum() / objects

    walk_logits = outputs["walkway"][:, 0]
    truth = targets["walkway"]
    bce = F.binary_cross_entropy_with_logits(walk_logits, truth)
    prob = torch.sigmoid(walk_logits)
    dice = 1 - (2 * (prob * truth).sum() + 1) / (prob.sum() + truth.sum() + 1)
    total = focal + size + offset + giou + bce + dice
    return {"total": total, "heat": focal, "size": size, "offset": offset, "giou": giou,
            "walkway": bce + dice}


def cell_boxes(regression: torch.Tensor) -> torch.Tensor:
    """(..., 4) log width, log height, offset x, y -> corners relative to the centre cell."""
    half_w = torch.exp(regression[..., 0].clamp(max=6.0)) / 2
    half_h = torch.exp(regression[..., 1].clamp(max=6.0)) / 2
    cx, cy = regression[..., 2], regression[..., 3]
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)


def generalized_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise GIoU of (..., 4) corner boxes (Rezatofighi et al. 2019), in [-1, 1]."""
    inter_w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0]))
    inter_h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1]))
    inter = inter_w.clamp(min=0) * inter_h.clamp(min=0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = (area_a + area_b - inter).clamp(min=1e-6)
    hull = ((torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0]))
            * (torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])))
    return inter / union - (hull - union) / hull.clamp(min=1e-6)


def validate(model: PersonWalkwayNet, data: PreparedData, batch_size: int = 32,
             min_score: float = 0.3) -> dict:
    """mAP@0.5, recall, precision, walkway IoU (full-resolution masks) of ``model``."""
    model.eval()
    config = model.config
    score = DetectionScore(operating_score=min_score)
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            indices = np.arange(start, min(start + batch_size, len(data)))
            x, _ = make_batch(data, indices, config, None)
            outputs = model(x)
            for j, i in enumerate(indices):
                label = data.labels[i]
                width, height = label.get("width", 640), label.get("height", 480)
                decoded = decode({k: v[j:j + 1] for k, v in outputs.items()}, config, width,
                                 height, min_score=0.05)[0]
                score.add(decoded.boxes, decoded.scores, label)
                if data.full_walkway:
                    score.add_walkway(walkway_mask(decoded.walkway_logits, width, height),
                                      data.full_walkway[i])
    return score.result()


def _check(epochs, seed) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise TrainingError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TrainingError(f"seed must be a non-negative integer, got {seed!r}")


def set_determinism(seed: int, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(data_dir: str | Path | list, out_model: str | Path, epochs: int = 12, seed: int = 0, *,
          val_dir: str | Path | None = None, batch_size: int = 32, learning_rate: float = 4e-3,
          threads: int = 2, config: ModelConfig | None = None, val_fraction: float = 0.1,
          time_limit_s: float | None = None, init_model: str | Path | None = None,
          log=None) -> dict:
    """Train, validate each epoch, write checkpoints and the best model; returns a summary.

    ``init_model`` starts from an existing model file's weights (fine-tuning) instead of
    random ones. Without ``val_dir`` the last ``val_fraction`` of the frames (whole
    episodes last in collection order) is held out for validation.
    """
    _check(epochs, seed)
    initial = None
    if init_model is not None:
        initial, _ = load_model(init_model)
        config = initial.config
    config = config or ModelConfig()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    set_determinism(seed, threads)
    started = time.monotonic()
    train_set = _read_all(data_dir)
    if train_set.skipped:
        log(dataset.describe_skipped(train_set))
    if val_dir is not None:
        val_set = dataset.read(val_dir)
    elif len(train_set) >= 10:
        cut = int(round(len(train_set) * (1 - val_fraction)))
        val_set = dataset.DataSet(train_set.root, train_set.manifest, train_set.records[cut:])
        train_set = dataset.DataSet(train_set.root, train_set.manifest,
                                    train_set.records[:cut], train_set.skipped)
    else:
        val_set = train_set
    train_data = PreparedData(train_set, config)
    val_data = PreparedData(val_set, config, keep_full_walkway=True)
    log(f"data: {len(train_data)} training frames, {len(val_data)} validation frames, "
        f"loaded in {time.monotonic() - started:.0f} s")

    model = PersonWalkwayNet(config).to(memory_format=torch.channels_last)
    if initial is not None:
        model.load_state_dict(initial.state_dict())
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, math.ceil(len(train_data) / batch_size))
    total_steps = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate,
                                                    total_steps=total_steps, pct_start=0.15)
    rng = np.random.default_rng(seed)
    out_model = Path(out_model)
    checkpoints = out_model.with_name(out_model.stem + ".checkpoints")
    checkpoints.mkdir(parents=True, exist_ok=True)
    history, best, best_score = [], None, -math.inf
    train_config = {"epochs": epochs, "seed": seed, "batch_size": batch_size,
                    "learning_rate": learning_rate, "threads": threads,
                    "optimiser": "AdamW + OneCycle", "augmentation": "hflip, brightness, "
                    "colour, contrast", "train_min_visible": TRAIN_MIN_VISIBLE,
                    "train_min_height_px": TRAIN_MIN_HEIGHT_PX,
                    "train_frames": len(train_data), "val_frames": len(val_data),
                    "data_dir": ([str(d) for d in data_dir] if isinstance(data_dir, list)
                                 else str(data_dir)), "val_dir": str(val_dir) if val_dir else None,
                    "init_model": str(init_model) if init_model else None}
    stopped_early = False
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(train_data))
        sums: dict[str, float] = {}
        epoch_start = time.monotonic()
        for step in range(steps_per_epoch):
            indices = order[step * batch_size:(step + 1) * batch_size]
            if not len(indices):
                continue
            x, targets = make_batch(train_data, indices, config, rng)
            parts = losses(model(x), targets)
            optimiser.zero_grad(set_to_none=True)
            parts["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            scheduler.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        metrics = validate(model, val_data)
        train_loss = {k: round(v / steps_per_epoch, 4) for k, v in sums.items()}
        record = {"epoch": epoch, "train_loss": train_loss, "val": metrics,
                  "epoch_s": round(time.monotonic() - epoch_start, 1)}
        history.append(record)
        log(f"epoch {epoch}/{epochs}: loss {train_loss['total']:.3f} (heat "
            f"{train_loss['heat']:.3f} size {train_loss['size']:.3f} giou "
            f"{train_loss['giou']:.3f} walkway {train_loss['walkway']:.3f}) | val mAP50 "
            f"{metrics['map50']} recall {metrics['recall']} precision "
            f"{metrics['precision']} walkway IoU {metrics['walkway_iou']} | "
            f"{record['epoch_s']:.0f} s")
        metadata = {"train_config": train_config, "epoch": epoch, "val": metrics}
        save_model(checkpoints / f"epoch_{epoch:03d}.pt", model, metadata)
        quality = (metrics["map50"] or 0.0) + (metrics["walkway_iou"] or 0.0)
        if quality > best_score:
            best_score, best = quality, record
            save_model(out_model, model, metadata)
        if time_limit_s is not None and time.monotonic() - started > time_limit_s:
            stopped_early = epoch < epochs
            log(f"time limit {time_limit_s:.0f} s reached after epoch {epoch}")
            break
    summary = {"model": str(out_model), "checkpoints": str(checkpoints),
               "model_config": asdict(config), "parameters": parameter_count(model),
               "train_config": train_config, "best_epoch": best["epoch"],
               "best_val": best["val"], "history": history, "stopped_early": stopped_early,
               "training_time_s": round(time.monotonic() - started, 1),
               "data_manifest": _manifest_summary(train_set.manifest)}
    (checkpoints / "training_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _read_all(data_dirs) -> dataset.DataSet:
    """One data directory, or several read as one (the first one's manifest is kept)."""
    if isinstance(data_dirs, (str, Path)):
        return dataset.read(data_dirs)
    parts = [dataset.read(d) for d in data_dirs]
    if not parts:
        raise TrainingError("no training data directories given")
    return dataset.DataSet(parts[0].root, parts[0].manifest,
                           [r for p in parts for r in p.records],
                           [s for p in parts for s in p.skipped])


def _manifest_summary(manifest: dict) -> dict:
    return {k: manifest.get(k) for k in ("format", "version", "frames", "counts", "seed",
                                         "scenarios", "renderer") if k in manifest}
