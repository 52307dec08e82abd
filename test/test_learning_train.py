"""Training PersonWalkwayNet: loss goes down, runs are repeatable, files come out loadable."""

import numpy as np
import pytest
import torch

from reasonact_ros.learning import dataset
from reasonact_ros.learning.errors import ModelFormatError, TrainingError
from reasonact_ros.learning.model import ModelConfig, PersonWalkwayNet, load_model
from reasonact_ros.learning.train import (
    PreparedData,
    build_targets,
    cell_boxes,
    generalized_iou,
    losses,
    make_batch,
    set_determinism,
    train,
)

CONFIG = ModelConfig(input_width=64, input_height=48, stride=4)


def _tiny_data(path, count=6):
    """Grey ground, a darker walkway band, one red 'person' box per frame."""
    rng = np.random.default_rng(1)
    frames = []
    for i in range(count):
        image = np.full((48, 64, 3), (90, 130, 70), np.uint8)
        walkway = np.zeros((48, 64), bool)
        walkway[30:, 16:48] = True
        image[walkway] = (160, 160, 150)
        x = int(rng.integers(4, 50))
        image[8:36, x:x + 10] = (200, 40, 40)
        instances = np.zeros((48, 64), np.uint16)
        instances[8:36, x:x + 10] = 1
        walkway &= instances == 0
        label = {"width": 64, "height": 48, "people": [
            {"id": i, "instance": 1, "box": [float(x), 8.0, float(x + 10), 36.0],
             "visible_fraction": 1.0}]}
        frames.append(dataset.Frame(f"{i:06d}", image, walkway, instances, label))
    dataset.write(path, frames)
    return dataset.read(path)


def _two_steps(data, seed):
    set_determinism(seed, threads=1)
    model = PersonWalkwayNet(CONFIG)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, targets = make_batch(data, np.arange(len(data)), CONFIG, None)
    history = []
    for _ in range(3):
        model.train()
        loss = losses(model(x), targets)["total"]
        history.append(float(loss.detach()))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return history


def test_two_training_steps_lower_the_loss_and_repeat_under_a_seed(tmp_path):
    data = PreparedData(_tiny_data(tmp_path), CONFIG)
    first = _two_steps(data, seed=5)
    assert first[2] < first[0]
    assert first[1] < first[0]
    assert _two_steps(data, seed=5) == first


def test_targets_mark_the_person_centre_and_size():
    targets = build_targets(np.array([[20.0, 8.0, 28.0, 40.0]]), np.array([True]), CONFIG)
    heat = targets["heat"]
    assert heat.max() == 1.0
    iy, ix = np.unravel_index(np.argmax(heat), heat.shape)
    assert (ix, iy) == (6, 6)  # centre (24, 24) px / stride 4
    assert targets["mask"][0] == 1.0 and targets["mask"][1:].sum() == 0
    np.testing.assert_allclose(targets["box"][0], [np.log(2.0), np.log(8.0), 0.0, 0.0])
    ignored = build_targets(np.array([[20.0, 8.0, 28.0, 40.0]]), np.array([False]), CONFIG)
    assert ignored["heat"].max() == 0.0 and ignored["ignore"][6, 6] == 1.0


def test_generalized_iou_of_boxes_with_known_answers():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 3.0, 1.0]])
    # identical: 1; half overlap: IoU 2/6, hull = union; apart by 1: IoU 0, hull 3, union 2
    np.testing.assert_allclose(generalized_iou(a, b), [1.0, 1 / 3, -1 / 3], atol=1e-6)
    regression = torch.tensor([np.log(2.0), np.log(4.0), 0.5, 0.25])
    np.testing.assert_allclose(cell_boxes(regression), [-0.5, -1.75, 1.5, 2.25], atol=1e-6)


def test_a_stride_2_network_learns_from_the_same_data(tmp_path):
    config = ModelConfig(input_width=64, input_height=48, stride=2)
    data = PreparedData(_tiny_data(tmp_path), config)
    set_determinism(3, threads=1)
    model = PersonWalkwayNet(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, targets = make_batch(data, np.arange(len(data)), config, None)
    assert targets["heat"].shape == (6, 24, 32) and targets["walkway"].shape == (6, 12, 16)
    history = []
    for _ in range(3):
        loss = losses(model(x), targets)["total"]
        history.append(float(loss.detach()))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert history[2] < history[0]


def test_train_writes_a_loadable_model_and_checkpoints(tmp_path):
    _tiny_data(tmp_path / "data", count=4)
    lines = []
    summary = train(tmp_path / "data", tmp_path / "out" / "m.pt", epochs=2, seed=0,
                    batch_size=2, threads=1, config=CONFIG, log=lines.append)
    assert (tmp_path / "out" / "m.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "m.checkpoints").glob("*.pt")) == [
        "epoch_001.pt", "epoch_002.pt"]
    assert any(line.startswith("epoch 2/2") and "walkway IoU" in line for line in lines)
    assert summary["best_epoch"] in (1, 2)
    model, metadata = load_model(tmp_path / "out" / "m.pt")
    assert model.config == CONFIG and metadata["train_config"]["seed"] == 0
    with pytest.raises(TrainingError, match="epochs"):
        train(tmp_path / "data", tmp_path / "m2.pt", epochs=0)
    (tmp_path / "out" / "m.pt").write_bytes(b"garbage")
    with pytest.raises(ModelFormatError, match="m.pt"):
        load_model(tmp_path / "out" / "m.pt")


def test_train_command_refuses_a_stride_beside_init(tmp_path, capsys):
    from reasonact_ros.cli import main

    _tiny_data(tmp_path / "data", count=2)
    code = main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m.pt"),
                 "--init", str(tmp_path / "any.pt"), "--stride", "4"])
    assert code == 2
    assert "--stride" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()
