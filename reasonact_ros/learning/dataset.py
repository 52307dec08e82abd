"""A labelled camera data set on disk: PNG images and masks, JSON labels, a manifest.

Layout of a data directory::

    manifest.json            format + version, counts, seeds, settings, sha256 of every file
    images/000000.png        (H, W, 3) RGB camera frame
    walkway/000000.png       (H, W) uint8, 255 where the visible ground is walkway
    instances/000000.png     (H, W) uint16, k + 1 where person k of the label is visible,
                             OCCLUDER where an obstacle is drawn, 0 elsewhere
    labels/000000.json       people (boxes, ids, visibility), camera, pose, scenario

``read`` indexes a directory without decoding every image: a frame whose label is
missing or unparsable, or whose image or masks are missing or differ from the
manifest's sha256, is skipped and named in ``DataSet.skipped``; nothing usable
raises ``DataSetError``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from reasonact_ros.learning.errors import DataSetError

FORMAT = "reasonact-camera-dataset"
VERSION = 1
OCCLUDER = 65535  # instance value of obstacle pixels
PARTS = ("images", "walkway", "instances")


@dataclass
class Frame:
    """One labelled frame in memory."""

    name: str  # file stem, e.g. "000123"
    image: np.ndarray  # (H, W, 3) uint8 RGB
    walkway: np.ndarray  # (H, W) bool
    instances: np.ndarray  # (H, W) uint16
    label: dict

    def boxes(self) -> np.ndarray:
        """(K, 4) person boxes x0, y0, x1, y1 in pixels (clipped to the image)."""
        return np.array([p["box"] for p in self.label.get("people", [])],
                        dtype=np.float64).reshape(-1, 4)


@dataclass
class FrameRecord:
    """Where one frame's files are; loaded on demand by ``DataSet.load``."""

    name: str
    label: dict
    paths: dict[str, Path]


@dataclass
class DataSet:
    root: Path
    manifest: dict
    records: list[FrameRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> Frame:
        record = self.records[index]
        return Frame(record.name, _read_png(record.paths["images"], colour=True),
                     _read_png(record.paths["walkway"]) > 127,
                     _read_png(record.paths["instances"]), record.label)

    def __iter__(self):
        return (self.load(i) for i in range(len(self)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative(part: str, name: str) -> str:
    return f"{part}/{name}.png"


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(encoded.tobytes())


def _read_png(path: Path, colour: bool = False) -> np.ndarray:
    flags = cv2.IMREAD_COLOR if colour else cv2.IMREAD_UNCHANGED
    array = cv2.imread(str(path), flags)
    if array is None:
        raise DataSetError(f"{path}: missing or not a readable PNG")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB) if colour else array


def write_frame(out_dir: str | Path, frame: Frame) -> dict[str, str]:
    """Write one frame's files; returns {relative path: sha256}."""
    out_dir = Path(out_dir)
    image = np.asarray(frame.image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"frame {frame.name}: image must be (H, W, 3) uint8, got "
                         f"{image.shape} {image.dtype}")
    if frame.walkway.shape != image.shape[:2] or frame.instances.shape != image.shape[:2]:
        raise ValueError(f"frame {frame.name}: masks must be {image.shape[:2]}")
    files = {}
    arrays = {"images": image, "walkway": np.where(frame.walkway, 255, 0).astype(np.uint8),
              "instances": frame.instances.astype(np.uint16)}
    for part, array in arrays.items():
        relative = _relative(part, frame.name)
        _write_png(out_dir / relative, array)
        files[relative] = sha256_file(out_dir / relative)
    label = dict(frame.label)
    label["name"] = frame.name
    relative = f"labels/{frame.name}.json"
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    (out_dir / relative).write_text(json.dumps(label, indent=1, sort_keys=True) + "\n")
    files[relative] = sha256_file(out_dir / relative)
    return files


def write_manifest(out_dir: str | Path, files: dict[str, str], frames: int, **info) -> dict:
    manifest = {"format": FORMAT, "version": VERSION, "frames": frames, **info,
                "files": dict(sorted(files.items()))}
    Path(out_dir, "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def write(out_dir: str | Path, frames: list[Frame], **info) -> dict:
    """Write ``frames`` and a manifest (``info`` adds fields); returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for frame in frames:
        files.update(write_frame(out_dir, frame))
    people = sum(len(f.label.get("people", [])) for f in frames)
    info.setdefault("counts", {"frames": len(frames), "people": people})
    return write_manifest(out_dir, files, len(frames), **info)


def _read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataSetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataSetError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise DataSetError(f"{path}: data set version {manifest.get('version')!r}, this code "
                           f"reads version {VERSION}")
    return manifest


def _check_label(label) -> None:
    if not isinstance(label, dict) or not isinstance(label.get("people"), list):
        raise ValueError("no 'people' list")
    for person in label["people"]:
        box = person.get("box") if isinstance(person, dict) else None
        if not (isinstance(box, list) and len(box) == 4
                and all(isinstance(v, (int, float)) for v in box)
                and box[2] >= box[0] and box[3] >= box[1]):
            raise ValueError(f"bad person box {box!r}")


def read(data_dir: str | Path) -> DataSet:
    """Index a data directory; unusable frames are skipped and named in ``skipped``."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataSetError(f"{root}: data directory does not exist")
    manifest = _read_manifest(root)
    hashes = manifest.get("files", {})
    names = {p.stem for p in (root / "labels").glob("*.json")}
    names |= {p.stem for p in (root / "images").glob("*.png")}
    names |= {Path(k).stem for k in hashes if k.startswith("labels/")}
    records, skipped = [], []
    for name in sorted(names):
        label_path = root / "labels" / f"{name}.json"
        problem = None
        label = None
        if not label_path.is_file():
            problem = (str(label_path), "label missing")
        else:
            try:
                text = label_path.read_bytes()
                if hashes.get(f"labels/{name}.json", None) not in (
                        None, hashlib.sha256(text).hexdigest()):
                    raise ValueError("sha256 differs from the manifest")
                label = json.loads(text)
                _check_label(label)
            except (OSError, UnicodeDecodeError, ValueError) as error:
                problem = (str(label_path), f"corrupt label: {error}")
        paths = {part: root / _relative(part, name) for part in PARTS}
        if problem is None:
            for part, path in paths.items():
                expected = hashes.get(_relative(part, name))
                if not path.is_file():
                    problem = (str(path), "file missing")
                elif expected is not None and sha256_file(path) != expected:
                    problem = (str(path), "corrupt: sha256 differs from the manifest")
                elif expected is None and cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
                    problem = (str(path), "corrupt: not a readable PNG")
                if problem:
                    break
        if problem:
            skipped.append(problem)
        else:
            records.append(FrameRecord(name, label, paths))
    if not records:
        detail = f"; first problem: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise DataSetError(f"{root}: no usable frames ({len(skipped)} skipped){detail}")
    return DataSet(root, manifest, records, skipped)


def describe_skipped(data: DataSet, limit: int = 5) -> str:
    """One line naming the skipped files (the first ``limit``) and their count."""
    if not data.skipped:
        return ""
    shown = "; ".join(f"{path}: {reason}" for path, reason in data.skipped[:limit])
    more = f"; ... {len(data.skipped) - limit} more" if len(data.skipped) > limit else ""
    return f"skipped {len(data.skipped)} frame(s): {shown}{more}"


def rebuild_manifest(data_dir: str | Path, **info) -> dict:
    """Write a manifest for the complete frames of a directory (e.g. an interrupted collection).

    A frame is complete when its label (written last) and its three PNGs exist; the
    files of incomplete frames are left alone but not listed.
    """
    root = Path(data_dir)
    files: dict[str, str] = {}
    frames = people = 0
    per_scenario: dict[str, dict[str, int]] = {}
    for label_path in sorted((root / "labels").glob("*.json")):
        name = label_path.stem
        parts = [root / _relative(part, name) for part in PARTS]
        if not all(p.is_file() for p in parts):
            continue
        try:
            label = json.loads(label_path.read_text())
            _check_label(label)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        for path in [*parts, label_path]:
            files[str(path.relative_to(root))] = sha256_file(path)
        frames += 1
        people += len(label["people"])
        entry = per_scenario.setdefault(str(label.get("scenario")), {"frames": 0, "people": 0})
        entry["frames"] += 1
        entry["people"] += len(label["people"])
    info.setdefault("counts", {"frames": frames, "people": people,
                               "per_scenario": per_scenario})
    return write_manifest(root, files, frames, **info)
