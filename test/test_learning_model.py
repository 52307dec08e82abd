"""PersonWalkwayNet files, decoding and the detection metrics."""

import numpy as np
import pytest
import torch

from reasonact_ros.learning import model as net
from reasonact_ros.learning.errors import ModelFormatError
from reasonact_ros.learning.evaluation import (
    DetectionScore,
    average_precision,
    match_frame,
    split_ground_truth,
)


def _small_model():
    torch.manual_seed(0)
    return net.PersonWalkwayNet(net.ModelConfig(input_width=64, input_height=48, stride=4))


def test_model_file_round_trip_keeps_weights_and_config(tmp_path):
    model = _small_model()
    net.save_model(tmp_path / "m.pt", model, {"note": "x"})
    loaded, metadata = net.load_model(tmp_path / "m.pt")
    assert metadata == {"note": "x"}
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_model_file_from_another_version_is_refused_by_name(tmp_path):
    model = _small_model()
    path = tmp_path / "old.pt"
    net.save_model(path, model)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = net.FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(ModelFormatError) as error:
        net.load_model(path)
    message = str(error.value)
    assert str(path) in message
    assert f"version {net.FORMAT_VERSION + 1}" in message
    assert f"reads version {net.FORMAT_VERSION}" in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", b"PK\x03\x04broken"])
def test_corrupt_model_file_is_a_model_format_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match="bad.pt"):
        net.load_model(path)


def test_foreign_or_mismatched_model_file_is_a_model_format_error(tmp_path):
    model = _small_model()
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ModelFormatError, match="not a reasonact-person-walkway"):
        net.load_model(tmp_path / "plain.pt")
    net.save_model(tmp_path / "m.pt", model)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"]["widths"] = [8, 16, 32, 48]
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(ModelFormatError, match="do not fit"):
        net.load_model(tmp_path / "m.pt")
    with pytest.raises(ModelFormatError, match="not found"):
        net.load_model(tmp_path / "missing.pt")


def test_decode_puts_a_peak_back_at_its_box():
    config = net.ModelConfig(input_width=64, input_height=48, stride=4)
    heat = torch.full((1, 1, 12, 16), -9.0)
    heat[0, 0, 5, 10] = 4.0
    box = torch.zeros(1, 4, 12, 16)
    box[0, 0, 5, 10] = np.log(2.0)  # 2 cells wide
    box[0, 1, 5, 10] = np.log(6.0)  # 6 cells tall
    box[0, 2, 5, 10] = 0.5
    box[0, 3, 5, 10] = 0.25
    outputs = {"heat": heat, "box": box, "walkway": torch.zeros(1, 1, 12, 16)}
    found = net.decode(outputs, config, 640, 480)[0]  # image 10x the network input
    assert len(found.boxes) == 1
    # centre cell (10.5, 5.25) * stride 4 * 10 = (420, 210); 80 x 240 px
    np.testing.assert_allclose(found.boxes[0], [380, 90, 460, 330], atol=1e-3)
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-4.0)), rel=1e-5)


def test_network_is_fully_convolutional_at_stride_4():
    model = _small_model().eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 3, 48, 64))
    assert out["heat"].shape == (2, 1, 12, 16)
    assert out["box"].shape == (2, 4, 12, 16)
    assert out["walkway"].shape == (2, 1, 12, 16)


def test_stride_2_doubles_the_people_maps_and_keeps_the_walkway_at_stride_4():
    model = net.PersonWalkwayNet(net.ModelConfig(input_width=64, input_height=48,
                                                 stride=2)).eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 48, 64))
    assert out["heat"].shape == (1, 1, 24, 32)
    assert out["box"].shape == (1, 4, 24, 32)
    assert out["walkway"].shape == (1, 1, 12, 16)
    assert net.output_size(model.config) == (32, 24)
    with pytest.raises(ValueError, match="stride"):
        net.ModelConfig(stride=8)


def test_folding_the_batch_norms_keeps_the_outputs():
    torch.manual_seed(2)
    model = net.PersonWalkwayNet(net.ModelConfig(input_width=64, input_height=48, stride=2))
    # Batch norms with non-trivial statistics, as after training.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    folded = net.fold_batch_norms(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # a copy
    image = torch.rand(2, 3, 48, 64) * 255.0
    with torch.inference_mode():
        expected, got = model(image), folded(image)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-4)


def test_decode_at_stride_2_maps_cells_to_half_the_pixels():
    config = net.ModelConfig(input_width=64, input_height=48, stride=2)
    heat = torch.full((1, 1, 24, 32), -9.0)
    heat[0, 0, 10, 20] = 4.0
    box = torch.zeros(1, 4, 24, 32)  # 1 x 1 cell, centred on the cell's corner
    outputs = {"heat": heat, "box": box, "walkway": torch.zeros(1, 1, 12, 16)}
    found = net.decode(outputs, config, 64, 48)[0]
    np.testing.assert_allclose(found.boxes[0], [39, 19, 41, 21], atol=1e-4)


def test_matching_counts_ignore_regions_as_neither_right_nor_wrong():
    label = {"height": 480, "people": [
        {"box": [100, 100, 140, 200], "visible_fraction": 1.0},  # counted
        {"box": [300, 100, 305, 110], "visible_fraction": 1.0},  # 10 px: ignore
        {"box": [400, 100, 440, 200], "visible_fraction": 0.1},  # hidden: ignore
    ]}
    detections = np.array([[101, 101, 141, 199], [300, 100, 305, 110], [401, 100, 441, 200],
                           [500, 100, 540, 200], [100, 102, 140, 200]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    score = DetectionScore(operating_score=0.55)
    score.add(detections, scores, label)
    result = score.result()
    assert result["ground_truth_people"] == 1
    assert result["true_positives"] == 1
    assert result["false_positives"] == 1  # the one at x=500; the duplicate is below 0.55
    assert result["recall"] == 1.0 and result["precision"] == 0.5
    assert result["map50"] == pytest.approx(1.0)
    outcome = match_frame(detections, scores, np.array([p["box"] for p in label["people"]],
                                                       float), np.array([True, False, False]))
    assert outcome.tolist() == [1, -1, -1, 0, 0]


def test_people_mostly_outside_the_frame_are_ignore_regions():
    label = {"height": 480, "people": [
        # A sliver at the right edge: 60 % of the full box is outside (KITTI "hard" is 50 %).
        {"box": [620, 100, 640, 300], "visible_fraction": 1.0, "in_image_fraction": 0.4},
        {"box": [600, 100, 640, 300], "visible_fraction": 1.0, "in_image_fraction": 0.8},
    ]}
    _, counted = split_ground_truth(label)
    assert counted.tolist() == [False, True]


def test_average_precision_of_a_ranking():
    # TP, FP, TP with 2 positives: precision 1 at recall 0.5, 2/3 at recall 1.
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 2)
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert average_precision(np.zeros(0), np.zeros(0, int), 3) == 0.0
