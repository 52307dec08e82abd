"""Constant-velocity prediction and the crossing check YIELD relies on."""

import numpy as np
import pytest

from reasonact_ros.planning.prediction import (
    ALONG,
    CROSSING,
    path_conflict,
    predict_constant_velocity,
)
from reasonact_ros.scene import ObjectClass, TrackedObject


def test_constant_velocity_prediction():
    person = TrackedObject(1, ObjectClass.PEDESTRIAN, 1.0, 2.0, 0.5, -1.0)
    predicted = predict_constant_velocity((person,), 4, 0.5)
    assert predicted[0, -1] == pytest.approx([2.0, 0.0])
    with pytest.raises(ValueError):
        predict_constant_velocity((person,), 0, 0.5)


def test_path_conflict_kinds():
    start, end = np.array([0.0, 0.0]), np.array([4.0, 0.0])
    crossing = TrackedObject(1, ObjectClass.PEDESTRIAN, 2.0, -2.0, 0.0, 1.0)
    oncoming = TrackedObject(2, ObjectClass.PEDESTRIAN, 5.0, 0.2, -1.0, 0.0)
    standing = TrackedObject(3, ObjectClass.PEDESTRIAN, 2.0, 0.0)
    behind = TrackedObject(4, ObjectClass.PEDESTRIAN, -0.5, 0.0, -1.0, 0.0)
    assert path_conflict(start, end, crossing, 4.0, 1.0) == CROSSING
    assert path_conflict(start, end, oncoming, 4.0, 1.0) == ALONG
    assert path_conflict(start, end, standing, 4.0, 1.0) is None
    assert path_conflict(start, end, behind, 4.0, 1.0) is None
