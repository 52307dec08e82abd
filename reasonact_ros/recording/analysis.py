"""`reasonact analyze`: perception and reasoning offline on a bag's scan, odom and camera.

No simulator and no ROS graph: messages are deserialised with rclpy, converted
with nodes/conversions.py and fed to PerceptionPipeline and ReasoningEngine in
bag order, with each scan's header stamp as the clock (the bag timestamp when
the header is empty). The resulting scenes, decisions and explanations are
written as a new bag (``OUT/analysis``) beside ``report.md`` (people seen,
decisions with their rationale over time), ``tracks.png`` (a top-down plot)
and, when the bag has camera images, ``contact_sheet.png`` (debug frames).
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import String

from reasonact_ros.nodes import conversions
from reasonact_ros.perception import validation
from reasonact_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.recording.bagfile import BagError, BagWriter, message_class, open_bag
from reasonact_ros.scene import Limits, ObjectClass, Scene

SCENE, DECISION, EXPLANATION = "/scene", "/decision", "/reasoning_node/explanation"
CONFIRMED_PERSON = 0.8  # confidence of a person that moved or that the camera saw
SHEET_FRAMES = 12
_CAMERA_MOUNT = {"mount_x": 0.1, "mount_z": 1.0, "pitch": 0.25}  # perception_node defaults


@dataclass
class AnalysisTopics:
    scan: str = "/scan"
    odom: str = "/odom"
    image: str = "/camera/image_raw"
    camera_info: str = "/camera/camera_info"
    instruction: str = "/instruction"

    def types(self) -> dict[str, str]:
        """The message type each input topic must have."""
        return {self.scan: "sensor_msgs/msg/LaserScan", self.odom: "nav_msgs/msg/Odometry",
                self.image: "sensor_msgs/msg/Image",
                self.camera_info: "sensor_msgs/msg/CameraInfo",
                self.instruction: "std_msgs/msg/String"}


@dataclass
class _PersonTrack:
    id: int
    points: list = field(default_factory=list)  # (t, x, y, robot distance, speed)
    confirmed: bool = False


@dataclass
class _Frame:
    stamp: float
    image: np.ndarray
    boxes: list | None  # (x0, y0, x1, y1, label); None when no detector ran


def _seconds(stamp) -> float:
    return conversions.time_to_seconds(stamp)


def analyze_bag(path: str | Path, out_dir: str | Path, *, detector: str = "auto",
                instruction: str = "", topics: AnalysisTopics | None = None,
                decision_period_s: float = 0.1,
                log: Callable[[str], None] = print) -> dict:
    """Run the offline analysis; return the summary also written to OUT/summary.json."""
    topics = topics or AnalysisTopics()
    out_dir = Path(out_dir)
    bag = open_bag(path)
    with bag:
        bag.require([topics.scan, topics.odom])
        for name, msgtype in ((topics.scan, "sensor_msgs/msg/LaserScan"),
                              (topics.odom, "nav_msgs/msg/Odometry")):
            if bag.topics[name].msgtype != msgtype:
                raise BagError(f"topic {name} in {bag.path} is {bag.topics[name].msgtype}, "
                               f"expected {msgtype}")
        if topics.scan == topics.odom:
            raise BagError("the scan and odom topics must differ")
        expected = topics.types()
        optional = [t for t in (topics.image, topics.camera_info, topics.instruction)
                    if t in bag.topics and bag.topics[t].count != 0
                    and bag.topics[t].msgtype == expected[t]]
        has_images = topics.image in optional
        for warning in bag.warnings:
            log(f"warning: {warning}")
        out_dir.mkdir(parents=True, exist_ok=True)
        bag_out = out_dir / "analysis"
        if bag_out.exists():
            if not (bag_out / "metadata.yaml").is_file():
                raise BagError(f"{bag_out} exists and is not an earlier analysis bag")
            shutil.rmtree(bag_out)
        run = _Run(topics, detector if has_images else "none", instruction, decision_period_s,
                   BagWriter(bag_out, "mcap"), log,
                   image_count=bag.topics[topics.image].count if has_images else 0)
        try:
            for topic, stamp, data in bag.messages([topics.scan, topics.odom, *optional]):
                run.handle(topic.name, stamp, data)
        finally:
            run.close()
        summary = run.summary(bag, out_dir)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _write_report(summary, run, out_dir)
    return summary


class _Run:
    def __init__(self, topics: AnalysisTopics, detector: str, instruction: str,
                 decision_period_s: float, writer: BagWriter, log, image_count: int | None):
        self.topics = topics
        self.log = log
        self.writer = writer
        writer.add_topic(SCENE, "reasonact_ros/msg/SceneObservation")
        writer.add_topic(DECISION, "reasonact_ros/msg/BehaviorDecision")
        writer.add_topic(EXPLANATION, "std_msgs/msg/String")
        self.detector, self.detector_name = _make_detector(detector, log)
        self.pipeline = PerceptionPipeline(PerceptionConfig(), detector=self.detector)
        self.engine = ReasoningEngine(Limits(), decision_period_s=decision_period_s)
        self.period = decision_period_s
        self.instructions: list[tuple[float, str, bool, str]] = []
        if instruction:
            self._instruct(0.0, instruction)
        self.odom = None
        self.robot_path: list[tuple[float, float, float]] = []
        self.people: dict[int, _PersonTrack] = {}
        self.obstacles: list[tuple[float, float]] = []
        self.decisions: list[dict] = []
        self.scenes = 0
        self.skipped: Counter[str] = Counter()
        self.images = 0
        self.image_stride = max(1, math.ceil((image_count or 0) / SHEET_FRAMES))
        self.frames: list[_Frame] = []
        self.first = self.last = None
        self._last_decision = -math.inf
        self._last_explanation = ""

    def _instruct(self, now: float, text: str) -> None:
        accepted, explanation = self.engine.set_instruction(text)
        self.instructions.append((now, text, accepted, explanation))

    def handle(self, topic: str, bag_stamp: int, data: bytes) -> None:
        msg = deserialize_message(data, message_class(self._type(topic)))
        t = self.topics
        if topic == t.odom:
            self.odom = msg
            pose = conversions.pose_from_msg(msg.pose.pose)
            self.robot_path.append((self._now(msg.header.stamp, bag_stamp), pose.x, pose.y))
        elif topic == t.scan:
            self._scan(msg, bag_stamp)
        elif topic == t.camera_info:
            self._camera_info(msg)
        elif topic == t.image:
            self._image(msg, bag_stamp)
        elif topic == t.instruction:
            self._instruct(bag_stamp * 1e-9, msg.data)

    def _type(self, topic: str) -> str:
        return self.topics.types()[topic]

    @staticmethod
    def _now(stamp, bag_stamp: int) -> float:
        seconds = _seconds(stamp)
        return seconds if seconds > 0.0 else bag_stamp * 1e-9

    def _scan(self, msg, bag_stamp: int) -> None:
        if self.odom is None:
            self.skipped["scan before odom"] += 1
            return
        now = self._now(msg.header.stamp, bag_stamp)
        try:
            ranges = validation.check_scan(msg.ranges, msg.range_min, msg.range_max)
        except validation.SensorInputError as error:
            self.skipped[f"scan: {error.cause}"] += 1
            return
        pose = conversions.pose_from_msg(self.odom.pose.pose)
        velocity = conversions.twist_from_msg(self.odom.twist.twist)
        scan = conversions.scan_from_msg(msg, pose)
        scan.ranges = ranges
        self.pipeline.process_scan(scan, now)
        scene = self.pipeline.scene(now, pose, velocity)
        scene_msg = conversions.scene_to_msg(scene)
        scene_msg.header.frame_id = self.odom.header.frame_id or "odom"
        scene_msg.odom_ok = True
        stamp_ns = int(round(now * 1e9))
        self.writer.write(SCENE, "reasonact_ros/msg/SceneObservation", stamp_ns,
                          serialize_message(scene_msg))
        self.scenes += 1
        self.first = now if self.first is None else min(self.first, now)
        self.last = now if self.last is None else max(self.last, now)
        self._collect(scene)
        if now - self._last_decision >= self.period - 1e-3 or now < self._last_decision:
            self._last_decision = now
            self._decide(scene, now, stamp_ns)

    def _collect(self, scene: Scene) -> None:
        robot = scene.robot
        for obj in scene.objects:
            if not obj.confirmed:
                continue
            if obj.label == ObjectClass.OBSTACLE:
                if self.scenes % 10 == 0:
                    self.obstacles.append((obj.x, obj.y))
                continue
            if obj.label != ObjectClass.PEDESTRIAN:
                continue
            track = self.people.setdefault(obj.id, _PersonTrack(obj.id))
            track.confirmed |= obj.confidence >= CONFIRMED_PERSON
            track.points.append((scene.stamp, obj.x, obj.y,
                                 math.hypot(obj.x - robot.x, obj.y - robot.y),
                                 math.hypot(obj.vx, obj.vy)))

    def _decide(self, scene: Scene, now: float, stamp_ns: int) -> None:
        output = self.engine.step(scene, now)
        decision = output.decision
        self.writer.write(DECISION, "reasonact_ros/msg/BehaviorDecision", stamp_ns,
                          serialize_message(conversions.decision_to_msg(decision)))
        if output.explanation != self._last_explanation:
            self._last_explanation = output.explanation
            self.writer.write(EXPLANATION, "std_msgs/msg/String", stamp_ns,
                              serialize_message(String(data=output.explanation)))
        self.decisions.append({
            "t": now, "behavior": decision.behavior.name, "max_speed": decision.max_speed,
            "min_clearance": decision.min_clearance, "target_id": decision.target_id,
            "source": decision.source.name, "rationale": decision.rationale})

    def _camera_info(self, msg) -> None:
        if self.pipeline.camera is not None:
            return
        try:
            info = validation.check_camera_info(msg.k, msg.width, msg.height)
        except validation.SensorInputError as error:
            self.skipped[f"camera_info: {error.cause}"] += 1
            return
        self.pipeline.camera = validation.camera_model_from_info(info, **_CAMERA_MOUNT)

    def _image(self, msg, bag_stamp: int) -> None:
        index = self.images
        self.images += 1
        now = self._now(msg.header.stamp, bag_stamp)
        try:
            image = validation.image_to_rgb(bytes(msg.data), msg.width, msg.height,
                                            msg.encoding, msg.step)
        except validation.SensorInputError as error:
            self.skipped[f"image: {error.cause}"] += 1
            return
        boxes = None  # None: no detection ran on this frame
        if (self.detector is not None and self.pipeline.camera is not None
                and self.odom is not None):
            boxes = []
            robot = conversions.pose_from_msg(self.odom.pose.pose)
            for d in self.pipeline.process_image(image, robot, now):
                label = f"#{d.track_id}" if d.track_id is not None else "?"
                boxes.append((d.box.x0, d.box.y0, d.box.x1, d.box.y1, label))
        if index % self.image_stride == 0 and len(self.frames) < SHEET_FRAMES:
            self.frames.append(_Frame(now, _thumbnail(image),
                                      None if boxes is None else _scale_boxes(boxes, image)))

    def close(self) -> None:
        self.engine.close()
        self.writer.close()

    def people_rows(self) -> list[dict]:
        rows = []
        for track in sorted(self.people.values(), key=lambda p: p.points[0][0]):
            if not track.confirmed or len(track.points) < 3:
                continue
            times = [p[0] for p in track.points]
            closest = min(track.points, key=lambda p: p[3])
            rows.append({"id": track.id, "first_s": times[0], "last_s": times[-1],
                         "closest_m": round(closest[3], 2), "closest_at_s": closest[0],
                         "mean_speed_mps": round(float(np.mean([p[4] for p in track.points])),
                                                 2),
                         "scenes": len(track.points)})
        return rows

    def decision_segments(self) -> list[dict]:
        segments: list[dict] = []
        for d in self.decisions:
            key = (d["behavior"], d["source"], d["target_id"])
            if segments and segments[-1]["key"] == key:
                segments[-1]["end_s"] = d["t"]
                segments[-1]["count"] += 1
                continue
            segments.append({"key": key, "start_s": d["t"], "end_s": d["t"], "count": 1,
                             **{k: d[k] for k in ("behavior", "max_speed", "min_clearance",
                                                  "target_id", "source", "rationale")}})
        for segment in segments:
            segment.pop("key")
        return segments

    def summary(self, bag, out_dir: Path) -> dict:
        people = self.people_rows()
        outputs = {"bag": str(out_dir / "analysis"), "report": str(out_dir / "report.md"),
                   "tracks_png": str(out_dir / "tracks.png")}
        if self.frames:
            outputs["contact_sheet_png"] = str(out_dir / "contact_sheet.png")
        return {
            "bag": str(bag.path), "storage": bag.storage, "complete": bag.complete,
            "warnings": list(bag.warnings),
            "input_topics": {t: v.count for t, v in sorted(bag.topics.items())},
            "start_s": self.first, "end_s": self.last, "scenes": self.scenes,
            "images": self.images, "detector": self.detector_name,
            "skipped": dict(self.skipped),
            "people": people, "people_seen": len(people),
            "decisions": dict(Counter(d["behavior"] for d in self.decisions)),
            "decision_segments": self.decision_segments(),
            "instructions": [{"t": t, "text": text, "accepted": ok, "explanation": why}
                             for t, text, ok, why in self.instructions],
            "outputs": outputs,
        }


def _make_detector(name: str, log):
    """(detector or None, name used); 'auto' takes SSD, then HOG, then none."""
    if name == "none":
        return None, "none"
    from reasonact_ros.perception.detectors import make_detector

    for candidate in (("ssd", "hog") if name == "auto" else (name,)):
        try:
            return make_detector(candidate), candidate
        except Exception as error:  # noqa: BLE001 - a missing model is not fatal offline
            if name != "auto":
                raise BagError(f"camera detector {candidate!r} unavailable: {error}"
                               ) from None
            log(f"warning: detector {candidate} unavailable ({error})")
    return None, "none"


def _thumbnail(image: np.ndarray, width: int = 320) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    return np.asarray(Image.fromarray(image).resize((width, height)))


def _scale_boxes(boxes: list, image: np.ndarray, width: int = 320) -> list:
    s = width / image.shape[1]
    return [(x0 * s, y0 * s, x1 * s, y1 * s, label) for x0, y0, x1, y1, label in boxes]


# -- report ----------------------------------------------------------------------------------

_PALETTE = [(228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0),
            (166, 86, 40), (247, 129, 191), (0, 150, 150)]


def plot_tracks(run: _Run, path: Path, size: int = 800) -> None:
    """Top-down view in odom: robot path, person tracks with ids, sampled obstacles."""
    from PIL import Image, ImageDraw

    points = [(x, y) for _, x, y in run.robot_path]
    points += [(p[1], p[2]) for t in run.people.values() for p in t.points]
    points += run.obstacles
    xs = [p[0] for p in points] or [0.0]
    ys = [p[1] for p in points] or [0.0]
    margin, span = 40, max(max(xs) - min(xs), max(ys) - min(ys)) + 2.0
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    x0, x1, y0, y1 = cx - span / 2, cx + span / 2, cy - span / 2, cy + span / 2
    scale = (size - 2 * margin) / span
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)

    def px(x: float, y: float) -> tuple[float, float]:
        return margin + (x - x0) * scale, size - margin - (y - y0) * scale

    step = 1.0 if span <= 20 else 5.0 if span <= 100 else 20.0
    for k in range(math.floor(x0 / step), math.ceil(x1 / step) + 1):
        draw.line([px(k * step, y0), px(k * step, y1)], fill=(230, 230, 230))
    for k in range(math.floor(y0 / step), math.ceil(y1 / step) + 1):
        draw.line([px(x0, k * step), px(x1, k * step)], fill=(230, 230, 230))
    for x, y in run.obstacles:
        cx, cy = px(x, y)
        draw.rectangle([cx - 1, cy - 1, cx + 1, cy + 1], fill=(150, 150, 150))
    if len(run.robot_path) >= 2:
        draw.line([px(x, y) for _, x, y in run.robot_path], fill=(0, 0, 0), width=3)
    if run.robot_path:
        cx, cy = px(*run.robot_path[0][1:])
        draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], outline=(0, 0, 0), width=2)
    confirmed = [t for t in run.people.values() if t.confirmed and len(t.points) >= 3]
    for i, track in enumerate(sorted(confirmed, key=lambda t: t.id)):
        colour = _PALETTE[i % len(_PALETTE)]
        line = [px(p[1], p[2]) for p in track.points]
        if len(line) >= 2:
            draw.line(line, fill=colour, width=2)
        ex, ey = line[-1]
        draw.ellipse([ex - 4, ey - 4, ex + 4, ey + 4], fill=colour)
        draw.text((ex + 6, ey - 6), f"#{track.id}", fill=colour)
    draw.text((10, 8), f"odom frame, grid {step:g} m; black: robot (circle = start); "
                       f"colours: people ({len(confirmed)}); grey: obstacles",
              fill=(0, 0, 0))
    image.save(path)


def contact_sheet(frames: list[_Frame], path: Path, columns: int = 4) -> None:
    from PIL import Image, ImageDraw

    w = max(f.image.shape[1] for f in frames)
    h = max(f.image.shape[0] for f in frames) + 16
    rows = math.ceil(len(frames) / columns)
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, frame in enumerate(frames):
        ox, oy = (i % columns) * w, (i // columns) * h
        sheet.paste(Image.fromarray(frame.image), (ox, oy + 16))
        found = ("no detector" if frame.boxes is None
                 else f"{len(frame.boxes)} person detection(s)")
        draw.text((ox + 4, oy + 2), f"t = {frame.stamp:.2f} s, {found}", fill=(0, 0, 0))
        for x0, y0, x1, y1, label in frame.boxes or ():
            draw.rectangle([ox + x0, oy + 16 + y0, ox + x1, oy + 16 + y1], outline=(0, 200, 0),
                           width=2)
            draw.text((ox + x0 + 2, oy + 16 + y0 + 2), label, fill=(0, 200, 0))
    sheet.save(path)


def _write_report(summary: dict, run: _Run, out_dir: Path) -> None:
    plot_tracks(run, out_dir / "tracks.png")
    if run.frames:
        contact_sheet(run.frames, out_dir / "contact_sheet.png")
    start = summary["start_s"] or 0.0

    def rel(t: float) -> str:
        return f"{t - start:7.2f}"

    lines = [f"# Analysis of `{summary['bag']}`", ""]
    span = (summary["end_s"] - start) if summary["end_s"] is not None else 0.0
    lines += [f"- storage: {summary['storage']}"
              f"{'' if summary['complete'] else ' (incomplete: read up to the last message)'}",
              f"- {summary['scenes']} scans over {span:.1f} s (times below are seconds from "
              f"the first scan at {start:.3f} s)",
              f"- camera images: {summary['images']} (detector: {summary['detector']})",
              f"- output bag: `{summary['outputs']['bag']}` (scene, decision, explanation)"]
    lines += [f"- warning: {w}" for w in summary["warnings"]]
    lines += [f"- skipped: {k} x{v}" for k, v in summary["skipped"].items()]
    lines += ["", "## Input topics", "", "| topic | messages |", "|---|---|"]
    lines += [f"| `{t}` | {c if c is not None else '?'} |"
              for t, c in summary["input_topics"].items()]
    lines += ["", f"## People seen: {summary['people_seen']}", ""]
    if summary["people"]:
        lines += ["| track | first | last | closest [m] | at | mean speed [m/s] |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| #{p['id']} | {rel(p['first_s'])} | {rel(p['last_s'])} | "
                  f"{p['closest_m']:.2f} | {rel(p['closest_at_s'])} | "
                  f"{p['mean_speed_mps']:.2f} |" for p in summary["people"]]
    else:
        lines.append("No confirmed person (a track that moved or that the camera saw).")
    lines += ["", "![tracks](tracks.png)", ""]
    if summary["instructions"]:
        lines += ["## Instructions", ""]
        lines += [f"- {rel(i['t']) if i['t'] else '  start'}: \"{i['text']}\" -> "
                  f"{i['explanation']}" for i in summary["instructions"]]
        lines.append("")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["decisions"].items())) or "none"
    lines += [f"## Decisions ({counts})", "",
              "| from | to | behaviour | max speed | clearance | target | source | rationale |",
              "|---|---|---|---|---|---|---|---|"]
    for s in summary["decision_segments"]:
        target = f"#{s['target_id']}" if s["target_id"] >= 0 else "-"
        rationale = s["rationale"].replace("|", "/").replace("\n", " ")
        lines.append(f"| {rel(s['start_s'])} | {rel(s['end_s'])} | {s['behavior']} | "
                     f"{s['max_speed']:.2f} | {s['min_clearance']:.1f} | {target} | "
                     f"{s['source'].lower()} | {rationale} |")
    if run.frames:
        lines += ["", "## Camera", "", "![contact sheet](contact_sheet.png)"]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")

