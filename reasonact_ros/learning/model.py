"""PersonWalkwayNet: a small fully-convolutional people detector and walkway segmenter.

One backbone (depthwise-separable convolutions down to stride 16, a dilated
context block) and a light feature pyramid back up to the output stride (4, or 2
for small and crowded people: two people whose centres fall within one output
cell of each other give one heat-map peak) feed three heads:

* ``heat``    (1 channel)  person centre heat-map, CenterNet style (sigmoid)
* ``box``     (4 channels) log box width and height in output cells, sub-cell
                           centre offset x, y
* ``walkway`` (1 channel)  walkway segmentation logits

The network takes a (N, 3, H, W) float RGB image in [0, 255] at the training
resolution (the detector resizes camera frames to it) and normalises inside.
Model files record a format version and the network config; ``load_model``
refuses anything else with a ``ModelFormatError`` naming the file.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the usual torch alias)
from torch import nn

from reasonact_ros.learning.errors import ModelFormatError

FORMAT = "reasonact-person-walkway"
FORMAT_VERSION = 1
WALKWAY_STRIDE = 4  # the walkway head's output stride, whatever the people stride


@dataclass(frozen=True)
class ModelConfig:
    input_width: int = 256
    input_height: int = 192
    stride: int = 2  # people heads' output stride: 2, or 4 (one pyramid level less, faster)
    widths: tuple[int, ...] = (16, 32, 64, 96)  # channels at strides 2, 4, 8, 16
    neck: int = 40  # channels of the stride-8 and stride-4 pyramid levels
    head: int = 32

    def __post_init__(self):
        if self.input_width % 16 or self.input_height % 16:
            raise ValueError("model input size must be a multiple of 16, got "
                             f"{self.input_width}x{self.input_height}")
        if self.stride not in (2, 4) or len(self.widths) != 4:
            raise ValueError("this network has four stages and a stride-2 or stride-4 output, "
                             f"got stride {self.stride} and {len(self.widths)} widths")

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        values = dict(values)
        if "widths" in values:
            values["widths"] = tuple(values["widths"])
        return cls(**values)


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
             dilation: int = 1, act: bool = True) -> nn.Sequential:
    padding = dilation * (kernel // 2)
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups,
                        bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SeparableBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, with a residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.depthwise = _conv_bn(cin, cin, 3, stride, groups=cin, dilation=dilation)
        self.pointwise = _conv_bn(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.pointwise(self.depthwise(x))
        return F.relu(y + x if self.residual else y, inplace=True)


class PersonWalkwayNet(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        c2, c4, c8, c16 = config.widths
        self.stem = _conv_bn(3, c2, 3, 2)
        self.stage4 = nn.Sequential(SeparableBlock(c2, c4, 2), SeparableBlock(c4, c4))
        self.stage8 = nn.Sequential(SeparableBlock(c4, c8, 2), SeparableBlock(c8, c8))
        self.stage16 = nn.Sequential(SeparableBlock(c8, c16, 2), SeparableBlock(c16, c16),
                                     SeparableBlock(c16, c16, dilation=2),
                                     SeparableBlock(c16, c16, dilation=4))
        n = config.neck
        self.lateral16 = _conv_bn(c16, n, 1)
        self.lateral8 = _conv_bn(c8, n, 1)
        self.lateral4 = _conv_bn(c4, n, 1)
        self.smooth8 = SeparableBlock(n, n)
        h = config.head
        self.smooth4 = SeparableBlock(n, h)
        if config.stride == 2:
            # Kept at the head's width: at stride 2 every channel costs four times as much.
            self.lateral2 = _conv_bn(c2, h, 1)
            self.smooth2 = SeparableBlock(h, h)
        self.heat = nn.Sequential(_conv_bn(h, h, 3, groups=h), nn.Conv2d(h, 1, 1))
        self.box = nn.Sequential(_conv_bn(h, h, 3, groups=h), nn.Conv2d(h, 4, 1))
        self.walkway = nn.Sequential(_conv_bn(h, h, 3, groups=h), nn.Conv2d(h, 1, 1))
        # Focal-loss prior: start with a 1 % centre probability everywhere (CenterNet).
        nn.init.constant_(self.heat[-1].bias, -4.6)
        nn.init.zeros_(self.box[-1].bias)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image * (1.0 / 127.5) - 1.0
        f2 = self.stem(x)
        f4 = self.stage4(f2)
        f8 = self.stage8(f4)
        f16 = self.stage16(f8)
        p8 = self.smooth8(self.lateral8(f8) + F.interpolate(self.lateral16(f16), scale_factor=2,
                                                            mode="nearest"))
        p4 = self.smooth4(self.lateral4(f4) + F.interpolate(p8, scale_factor=2, mode="nearest"))
        people = p4
        if self.config.stride == 2:
            people = self.smooth2(self.lateral2(f2) + F.interpolate(p4, scale_factor=2,
                                                                    mode="nearest"))
        # The walkway is large and smooth: stride 4 is plenty whatever the people stride.
        return {"heat": self.heat(people), "box": self.box(people), "walkway": self.walkway(p4)}


# ------------------------------------------------------------------------------ decoding
@dataclass
class Decoded:
    boxes: np.ndarray  # (K, 4) x0, y0, x1, y1 in the caller's image pixels
    scores: np.ndarray  # (K,)
    walkway_logits: torch.Tensor | None = field(default=None, repr=False)  # (h, w) stride 4


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) corner boxes -> (N, M) IoU."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        best = order[0]
        keep.append(best)
        if len(order) == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best:best + 1], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=int)


def decode(outputs: dict[str, torch.Tensor], config: ModelConfig, image_width: int,
           image_height: int, min_score: float = 0.3, top_k: int = 100,
           nms_iou: float = 0.7) -> list[Decoded]:
    """Heat-map peaks (3x3 local maxima) above ``min_score`` -> boxes in image pixels."""
    heat = torch.sigmoid(outputs["heat"])
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
    batch, _, h, w = heat.shape
    k = min(top_k, h * w)
    scores, index = peaks.view(batch, -1).topk(k)
    results = []
    sx = image_width / config.input_width * config.stride
    sy = image_height / config.input_height * config.stride
    for b in range(batch):
        keep = scores[b] >= min_score
        idx, sc = index[b][keep], scores[b][keep]
        ys, xs = (idx // w).float(), (idx % w).float()
        box = outputs["box"][b].view(4, -1)[:, idx]
        bw, bh = torch.exp(box[0].clamp(max=6.0)), torch.exp(box[1].clamp(max=6.0))
        cx, cy = xs + box[2], ys + box[3]
        corners = torch.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy,
                               (cx + bw / 2) * sx, (cy + bh / 2) * sy], dim=1).numpy()
        corners[:, [0, 2]] = corners[:, [0, 2]].clip(0, image_width)
        corners[:, [1, 3]] = corners[:, [1, 3]].clip(0, image_height)
        sc = sc.numpy()
        valid = (corners[:, 2] > corners[:, 0]) & (corners[:, 3] > corners[:, 1])
        corners, sc = corners[valid], sc[valid]
        kept = nms(corners, sc, nms_iou) if len(sc) > 1 else np.arange(len(sc))
        results.append(Decoded(corners[kept].astype(np.float64), sc[kept].astype(np.float64),
                               outputs["walkway"][b, 0]))
    return results


def walkway_mask(logits: torch.Tensor, width: int, height: int) -> np.ndarray:
    """(h, w) stride-4 walkway logits -> (height, width) bool mask (bilinear upsampling)."""
    up = F.interpolate(logits[None, None], size=(height, width), mode="bilinear",
                       align_corners=False)
    return (up[0, 0] > 0.0).numpy()


# ------------------------------------------------------------------------------ files
def save_model(path: str | Path, model: PersonWalkwayNet, metadata: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION,
               "config": asdict(model.config), "state_dict": state,
               "metadata": metadata or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)  # never leave a half-written model behind


def read_model_file(path: str | Path) -> dict:
    """The checked payload of a model file (format, version, config, weights, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError,
            ValueError, TypeError, AttributeError, KeyError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFormatError(f"{path}: not a readable model file ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: not a {FORMAT} model file")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: model format version {version!r}, this code reads "
                               f"version {FORMAT_VERSION}; retrain or use a matching release")
    if not isinstance(payload.get("config"), dict) or not isinstance(
            payload.get("state_dict"), dict):
        raise ModelFormatError(f"{path}: model file lacks its config or weights")
    return payload


def load_model(path: str | Path) -> tuple[PersonWalkwayNet, dict]:
    """(model in eval mode, metadata); any mismatch raises ModelFormatError."""
    payload = read_model_file(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = PersonWalkwayNet(config)
        model.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, RuntimeError) as error:
        first = str(error).splitlines()[0]
        raise ModelFormatError(f"{Path(path)}: weights do not fit the recorded config "
                               f"({first[:160]})") from None
    model.eval()
    return model.to(memory_format=torch.channels_last), payload.get("metadata", {})


def fold_batch_norms(model: PersonWalkwayNet) -> PersonWalkwayNet:
    """An inference-only copy in which every convolution absorbs the batch norm after it.

    Same outputs (to float rounding) for half the memory passes: at the stride-2 output
    a separate normalisation pass over each 128x96 feature map costs as much as the
    depthwise convolution before it. Not for training: the copy has no batch norms left.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in folded.modules():
            if not isinstance(module, nn.Sequential):
                continue
            for i in range(len(module) - 1):
                conv, norm = module[i], module[i + 1]
                if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
                    continue
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
                conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
                conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)
                module[i + 1] = nn.Identity()
    return folded.to(memory_format=torch.channels_last)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def output_size(config: ModelConfig) -> tuple[int, int]:
    """(width, height) of the people heads' output maps (at ``config.stride``)."""
    return (math.ceil(config.input_width / config.stride),
            math.ceil(config.input_height / config.stride))
