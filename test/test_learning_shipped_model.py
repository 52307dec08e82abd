"""The shipped person/walkway model, loaded through the 'trained' detector back-end."""

import json

import numpy as np
import pytest

from reasonact_ros.learning.collect import FrameLabeller
from reasonact_ros.learning.errors import ModelFormatError
from reasonact_ros.learning.model import FORMAT_VERSION, box_iou
from reasonact_ros.perception.detectors import PersonDetector
from reasonact_ros.perception.trained_detector import DEFAULT_MODEL, TrainedPersonDetector
from reasonact_ros.sim import World, load_scenario
from reasonact_ros.sim.camera_renderer import CameraRenderer


@pytest.fixture(scope="module")
def detector():
    return TrainedPersonDetector()


def _fresh_frame(name, seed, seconds):
    """A frame none of the data sets holds (other seeds), with its projected ground truth."""
    world = World(load_scenario(name), seed)
    for _ in range(int(seconds / 0.1)):
        world.step(0.1)
    image = world.render_camera()
    labeller = FrameLabeller(CameraRenderer(world.scenario, world.render_seed), world.scenario)
    people, _, walkway = labeller.label(world.robot_pose(), world.people())
    return image, people, walkway


def test_shipped_model_is_small_documented_and_a_person_detector(detector):
    assert DEFAULT_MODEL.stat().st_size <= 5 * 1024 * 1024
    info = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert info["format_version"] == FORMAT_VERSION
    assert info["metrics"]["test"]["map50"] is not None
    assert isinstance(detector, PersonDetector)
    assert detector.name == "trained"


@pytest.mark.parametrize("name, seed, seconds", [("head_on", 4242, 3.0),
                                                 ("standing", 4243, 1.0),
                                                 ("crowd", 4244, 2.0),
                                                 ("group", 4245, 2.0)])
def test_boxes_land_on_the_people_the_simulator_rendered(detector, name, seed, seconds):
    image, people, walkway = _fresh_frame(name, seed, seconds)
    clear = [p for p in people if p["visible_fraction"] >= 0.7 and p["box"][3] - p["box"][1]
             >= 30]
    assert clear, "the scene should show somebody clearly"
    boxes = detector.detect(image)
    found = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes]).reshape(-1, 4)
    truth = np.array([p["box"] for p in clear])
    iou = box_iou(truth, found)
    assert (iou.max(axis=1, initial=0.0) >= 0.5).all(), (truth, found)
    # Nearly every box the detector returns is on somebody (seen or partly hidden).
    everyone = np.array([p["box"] for p in people])
    on_someone = box_iou(found, everyone).max(axis=1) >= 0.3
    assert on_someone.sum() >= len(found) - 1
    mask = detector.walkway_mask(image)
    assert mask.shape == walkway.shape
    assert (mask & walkway).sum() / (mask | walkway).sum() >= 0.85


def test_other_model_files_are_refused_with_a_model_format_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFormatError, match="bad.pt"):
        TrainedPersonDetector(model_path=bad)
    with pytest.raises(ModelFormatError, match="not found"):
        TrainedPersonDetector(model_path=tmp_path / "missing.pt")


def test_a_model_file_path_is_a_detector_name(tmp_path):
    from reasonact_ros.perception.detectors import make_detector

    detector = make_detector(str(DEFAULT_MODEL))
    assert isinstance(detector, TrainedPersonDetector) and detector.path == DEFAULT_MODEL
    with pytest.raises(ModelFormatError, match="missing.pt"):
        make_detector(str(tmp_path / "missing.pt"))
