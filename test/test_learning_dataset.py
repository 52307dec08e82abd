"""The camera data set: write/read round trip, damaged directories, collected labels."""

import json

import numpy as np
import pytest

from reasonact_ros.learning import dataset
from reasonact_ros.learning.collect import collect
from reasonact_ros.learning.errors import CollectError, DataSetError


def _frames(count=3, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        instances = np.zeros((24, 32), dtype=np.uint16)
        instances[5:15, 10:14] = 1
        instances[0:3, 0:3] = dataset.OCCLUDER
        label = {"scenario": "test", "width": 32, "height": 24, "time_s": 0.1 * i,
                 "people": [{"id": 7 + i, "instance": 1, "box": [10.0, 5.0, 14.0, 15.0],
                             "visible_fraction": 0.8125}]}
        frames.append(dataset.Frame(f"{i:06d}", rng.integers(0, 256, (24, 32, 3), np.uint8),
                                    rng.random((24, 32)) > 0.5, instances, label))
    return frames


def test_write_then_read_gives_identical_frames(tmp_path):
    frames = _frames()
    manifest = dataset.write(tmp_path, frames, seed=3)
    assert manifest["frames"] == 3 and manifest["seed"] == 3
    assert len(manifest["files"]) == 3 * 4
    data = dataset.read(tmp_path)
    assert len(data) == 3 and data.skipped == []
    for original, loaded in zip(frames, data, strict=True):
        assert loaded.name == original.name
        np.testing.assert_array_equal(loaded.image, original.image)
        np.testing.assert_array_equal(loaded.walkway, original.walkway)
        np.testing.assert_array_equal(loaded.instances, original.instances)
        assert loaded.instances.dtype == np.uint16
        assert {k: v for k, v in loaded.label.items() if k != "name"} == original.label


def test_missing_and_corrupt_files_are_named_and_skipped(tmp_path):
    dataset.write(tmp_path, _frames(4))
    (tmp_path / "images" / "000001.png").write_bytes(b"\x89PNG truncated")
    (tmp_path / "labels" / "000002.json").unlink()
    (tmp_path / "walkway" / "000003.png").unlink()
    data = dataset.read(tmp_path)
    assert [r.name for r in data.records] == ["000000"]
    assert len(data.skipped) == 3
    named = " ".join(path for path, _ in data.skipped)
    for damaged in ("images/000001.png", "labels/000002.json", "walkway/000003.png"):
        assert damaged in named
    reasons = dict(data.skipped)
    assert "sha256" in reasons[str(tmp_path / "images" / "000001.png")]
    assert "skipped 3 frame(s)" in dataset.describe_skipped(data)


def test_corrupt_label_without_manifest_is_skipped_and_empty_directory_refused(tmp_path):
    dataset.write(tmp_path, _frames(2))
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "labels" / "000000.json").write_text("{not json")
    data = dataset.read(tmp_path)
    assert [r.name for r in data.records] == ["000001"]
    assert "corrupt label" in data.skipped[0][1]
    (tmp_path / "labels" / "000001.json").write_text(json.dumps({"people": [{"box": [3, 2]}]}))
    with pytest.raises(DataSetError, match="no usable frames"):
        dataset.read(tmp_path)
    with pytest.raises(DataSetError, match="does not exist"):
        dataset.read(tmp_path / "nowhere")


def test_collected_boxes_cover_the_rendered_people(tmp_path):
    manifest = collect("crowd", 3, tmp_path / "data", seed=9, progress=False)
    assert manifest["frames"] == 3 and manifest["scenarios"] == ["crowd"]
    assert manifest["counts"]["people"] > 0
    data = dataset.read(tmp_path / "data")
    assert data.skipped == []
    for frame in data:
        assert frame.walkway.any()
        assert not (frame.walkway & (frame.instances > 0)).any()
        for person in frame.label["people"]:
            x0, y0, x1, y1 = person["box"]
            ys, xs = np.nonzero(frame.instances == person["instance"])
            # Every visible pixel of the person lies inside the projected box ...
            assert len(xs) > 0
            assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) + 1
            assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1) + 1
            # ... and an unoccluded person fills it (the box is not too big).
            if person["visible_fraction"] > 0.99 and person["in_image_fraction"] > 0.99:
                assert xs.max() - xs.min() + 1 >= 0.8 * (x1 - x0)
                assert ys.max() - ys.min() + 1 >= 0.9 * (y1 - y0)
    with pytest.raises(CollectError, match="already holds"):
        collect("crowd", 1, tmp_path / "data", seed=9, progress=False)
    with pytest.raises(CollectError, match="unknown scenario"):
        collect("nowhere", 1, tmp_path / "other", progress=False)
