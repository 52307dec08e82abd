"""The goal's path length around obstacles (planning/navigation_function.py)."""

import math

import numpy as np
import pytest

from reasonact_ros.planning.distance_grid import DistanceGrid
from reasonact_ros.planning.navigation_function import NavigationFunction

RESOLUTION = 0.05


def wall(x, y0, y1):
    return np.array([[x, y] for y in np.arange(y0, y1 + 1e-9, RESOLUTION)])


def grid_over(points, lower=(-1.0, -3.0), upper=(5.0, 3.0)):
    return DistanceGrid.covering(points, lower, upper, RESOLUTION, max_distance=1.2)


def length_at(field, x, y):
    return float(field.lookup(np.array([x]), np.array([y]))[0])


def test_open_space_is_the_straight_line_within_the_grid_error():
    field = NavigationFunction(grid_over(np.zeros((0, 2))), (4.0, 0.0), clearance=0.35)
    assert field.reachable
    # 8-connected steps overestimate a straight line by at most ~8 % plus a cell.
    assert 4.0 <= length_at(field, 0.0, 0.0) <= 4.0 * 1.09 + 0.1
    assert length_at(field, 4.0, 0.0) == pytest.approx(0.0)


def test_a_wall_makes_the_way_round_longer_and_its_ends_nearer():
    field = NavigationFunction(grid_over(wall(2.0, -1.0, 1.0)), (4.0, 0.0), clearance=0.35)
    behind_the_wall = length_at(field, 0.0, 0.0)
    # Around an end of the wall (clearance 0.35) is at least sqrt(2^2 + 1.35^2) twice.
    assert behind_the_wall >= 2 * math.hypot(2.0, 1.35) - 0.1
    assert length_at(field, 0.0, 1.6) < behind_the_wall  # level with the way round


def test_inside_an_obstacles_clearance_the_length_is_the_way_out_and_on():
    field = NavigationFunction(grid_over(wall(2.0, -1.0, 1.0)), (4.0, 0.0), clearance=0.35)
    # 0.3 m before the wall is inside its clearance: a robot squeezed there is not cut
    # off; its way leads back out to where the free cells begin and round from there.
    squeezed, out_there = length_at(field, 1.7, 0.0), length_at(field, 1.45, 0.0)
    assert math.isfinite(squeezed)
    assert out_there < squeezed <= out_there + 0.45


def block():
    """A 2 m square filled with lidar points: its middle is 1 m from any free cell."""
    side = np.arange(0.0, 2.0, RESOLUTION)
    return np.array([[1.0 + x, y - 1.0] for x in side for y in side])


def test_deep_inside_an_obstacle_there_is_no_way():
    field = NavigationFunction(grid_over(block()), (4.5, 0.0), clearance=0.35)
    assert math.isinf(length_at(field, 2.0, 0.0))  # 1 m from the block's edge


def test_the_descent_heading_is_the_way_round():
    open_field = NavigationFunction(grid_over(np.zeros((0, 2))), (4.0, 0.0), clearance=0.35)
    assert open_field.descent_heading(np.array([0.0]), np.array([0.0]))[0] == \
        pytest.approx(0.0, abs=0.2)
    walled = NavigationFunction(grid_over(wall(2.0, -1.0, 1.0)), (4.0, 0.0), clearance=0.35)
    # Just before the wall, a little off its middle: round the nearer end, not into it.
    above = walled.descent_heading(np.array([1.4]), np.array([0.4]))[0]
    below = walled.descent_heading(np.array([1.4]), np.array([-0.4]))[0]
    assert above > 0.8 and below < -0.8
    deep = NavigationFunction(grid_over(block()), (4.5, 0.0), clearance=0.35)
    assert math.isnan(deep.descent_heading(np.array([2.0]), np.array([0.0]))[0])


def test_slowness_off_the_walkway_sends_the_way_round_the_other_end():
    points = wall(2.0, -1.0, 2.0)  # a short way round below, a long one above
    grid = grid_over(points)
    _, ys = np.broadcast_arrays(*grid.cell_centres())
    grass_below = np.where(ys < -0.8, 10.0, 1.0)  # the short way is across the grass
    plain = NavigationFunction(grid, (4.0, 0.0), clearance=0.35)
    slowed = NavigationFunction(grid, (4.0, 0.0), clearance=0.35, slowness=grass_below)
    assert length_at(slowed, 0.0, 0.0) > length_at(plain, 0.0, 0.0)
    assert length_at(slowed, 0.0, 2.0) < length_at(slowed, 0.0, -1.0)


def test_a_target_inside_an_obstacle_moves_to_the_nearest_free_cell():
    field = NavigationFunction(grid_over(wall(2.0, -1.0, 1.0)), (2.0, 0.0), clearance=0.35)
    assert field.reachable
    # The nearest free cells are 0.35 m (the clearance) from the wall on either side;
    # from 1 m before the wall: 0.6 m to there plus the 0.4 m left as a straight line.
    assert length_at(field, 1.0, 0.0) == pytest.approx(1.0, abs=0.15)


def test_no_free_cell_is_not_reachable():
    everywhere = np.array([[x, y] for x in np.arange(-4, 8, 0.2) for y in np.arange(-6, 6, 0.2)])
    field = NavigationFunction(grid_over(everywhere), (4.0, 0.0), clearance=0.35)
    assert not field.reachable


def test_factor_must_be_positive():
    with pytest.raises(ValueError, match="factor"):
        NavigationFunction(grid_over(np.zeros((0, 2))), (1.0, 0.0), clearance=0.3, factor=0)
