"""CLEAR MOT metrics on hand-made frames with known answers."""

import math

import pytest

from reasonact_ros.perception.metrics import MotAccumulator
from reasonact_ros.scene import ObjectClass, TrackedObject


def obj(object_id, x, y=0.0, vx=0.0):
    return TrackedObject(id=object_id, label=ObjectClass.PEDESTRIAN, x=x, y=y, vx=vx)


def test_perfect_tracking_scores_mota_one():
    mot = MotAccumulator()
    for k in range(10):
        mot.update([obj(1, k * 0.1, vx=1.0)], [obj(7, k * 0.1, vx=1.0)], dt=0.1)
    summary = mot.summary()
    assert summary["mota"] == 1.0
    assert summary["position_rmse_m"] == 0.0
    assert summary["id_switches_per_100_track_s"] == 0.0


def test_known_misses_false_positives_and_one_switch():
    mot = MotAccumulator()
    # 4 frames x 2 ground-truth people = 8 instances.
    mot.update([obj(1, 0.0), obj(2, 5.0)], [obj(10, 0.1), obj(20, 5.0)], dt=0.5)
    mot.update([obj(1, 0.0), obj(2, 5.0)], [obj(10, 0.1)], dt=0.5)  # miss 2
    mot.update([obj(1, 0.0), obj(2, 5.0)], [obj(11, 0.0), obj(20, 5.0), obj(30, 9.0)],
               dt=0.5)  # 1 switches 10 -> 11; track 30 is a false positive
    mot.update([obj(1, 0.0), obj(2, 5.0)], [obj(11, 0.0), obj(20, 5.0)], dt=0.5)
    s = mot.summary()
    assert s["misses"] == 1 and s["false_positives"] == 1 and s["id_switches"] == 1
    assert s["mota"] == pytest.approx(1.0 - 3 / 8)
    assert s["track_seconds"] == pytest.approx(4.0)
    assert s["id_switches_per_100_track_s"] == pytest.approx(25.0)


def test_a_correspondence_is_kept_while_still_within_radius():
    mot = MotAccumulator()
    mot.update([obj(1, 0.0)], [obj(10, 0.0)])
    # Track 11 is nearer now, but 10 is still within the radius: no switch.
    matches = mot.update([obj(1, 0.0)], [obj(10, 0.4), obj(11, 0.0)])
    assert matches == [(1, 10)]
    assert mot.summary()["id_switches"] == 0


def test_position_and_velocity_rmse():
    mot = MotAccumulator()
    mot.update([obj(1, 0.0, vx=1.0)], [obj(5, 0.3, vx=1.4)])
    mot.update([obj(1, 0.0, vx=1.0)], [obj(5, 0.1, vx=1.0)])
    s = mot.summary()
    assert s["position_rmse_m"] == pytest.approx(math.sqrt((0.09 + 0.01) / 2))
    assert s["velocity_rmse_mps"] == pytest.approx(math.sqrt(0.16 / 2))


def test_empty_accumulator_reports_nan_and_bad_input_is_refused():
    assert math.isnan(MotAccumulator().summary()["mota"])
    with pytest.raises(ValueError, match="match_radius"):
        MotAccumulator().update([], [], match_radius=0.0)


def test_ignored_ground_truth_is_neither_a_miss_nor_makes_a_false_positive():
    mot = MotAccumulator()
    hidden = obj(2, 5.0)
    mot.update([obj(1, 0.0)], [obj(10, 0.0), obj(20, 5.1), obj(30, 9.0)], ignored=[hidden])
    s = mot.summary()
    assert s["misses"] == 0
    assert s["false_positives"] == 1  # track 30 only; 20 coasts on the hidden person
    assert s["ignored_matches"] == 1
    assert s["mota"] == 0.0  # one ground-truth instance, one error
