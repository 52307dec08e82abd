"""The lidar distance grid against brute force."""

import math

import numpy as np
import pytest

from reasonact_ros.planning.distance_grid import DistanceGrid


def test_distance_grid_matches_brute_force():
    rng = np.random.default_rng(3)
    points = rng.uniform(-3.0, 3.0, (50, 2))
    grid = DistanceGrid.from_points(points, (0.0, 0.0), 4.0, 0.05, max_distance=1.0)
    query = rng.uniform(-3.5, 3.5, (500, 2))
    exact = np.min(np.linalg.norm(query[:, None] - points[None], axis=2), axis=1)
    looked_up = grid.lookup(query[:, 0], query[:, 1])
    expected = np.minimum(exact, 1.0)
    assert np.all(looked_up <= expected + 1e-6)  # never optimistic
    assert np.all(looked_up >= expected - 2.0 * math.sqrt(2.0) * 0.05 - 1e-6)  # two diagonals


def test_distance_grid_far_outside_and_empty():
    grid = DistanceGrid.from_points(np.array([[0.5, 0.0]]), (0.0, 0.0), 2.0, 0.1, 1.5)
    assert grid.lookup(np.array([50.0]), np.array([-50.0]))[0] == 1.5
    empty = DistanceGrid.from_points(np.zeros((0, 2)), (0.0, 0.0), 2.0, 0.1, 1.5)
    assert empty.lookup(np.array([0.0]), np.array([0.0]))[0] == 1.5
    with pytest.raises(ValueError):
        DistanceGrid.from_points(np.zeros((0, 2)), (0.0, 0.0), 2.0, 0.0, 1.5)


def test_covering_box_and_bad_boxes():
    grid = DistanceGrid.covering(np.array([[4.0, 0.0]]), (0.0, -1.0), (3.0, 1.0), 0.1, 1.5)
    # The point is 1 m outside the box but within max_distance: it still counts.
    distance = grid.lookup(np.array([3.0]), np.array([0.0]))[0]
    assert 1.0 - 2.0 * math.sqrt(2.0) * 0.1 <= distance <= 1.0
    with pytest.raises(ValueError):
        DistanceGrid.covering(np.zeros((0, 2)), (1.0, 0.0), (0.0, 1.0), 0.1, 1.0)
    with pytest.raises(ValueError):
        DistanceGrid.covering(np.zeros((0, 2)), (0.0, 0.0), (np.nan, 1.0), 0.1, 1.0)
