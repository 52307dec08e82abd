"""Route following: the lookahead path and its carrot."""

import numpy as np
import pytest

from reasonact_ros.planning.route import RouteTracker, distance_to_polyline
from reasonact_ros.scene import Goal


def test_route_carrot_follows_waypoints_in_order():
    route = Goal(((0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)))
    tracker = RouteTracker()
    assert tracker.carrot(route, np.array([1.0, 0.1]), 2.0) == pytest.approx([3.0, 0.0])
    assert tracker.carrot(route, np.array([3.9, 1.0]), 2.0) == pytest.approx([4.0, 3.0])
    # Near the start again, but progress does not run backwards.
    assert tracker.carrot(route, np.array([0.5, 3.9]), 1.0) == pytest.approx([0.0, 4.0])
    single = Goal(((3.0, 1.0),))
    assert tracker.carrot(single, np.array([0.0, 0.0]), 1.0) == pytest.approx([3.0, 1.0])


def test_route_far_from_the_robot_starts_at_its_first_waypoint():
    route = Goal(((3.0, 0.0), (3.0, 3.0), (0.0, 3.0)))
    path = RouteTracker().lookahead_path(route, np.array([0.0, 0.0]), 4.0)
    assert path == pytest.approx(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]]))


def test_distance_to_polyline():
    line = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    distance = distance_to_polyline(np.array([1.0, 3.0, -1.0]), np.array([1.0, 1.0, 0.0]), line)
    assert distance == pytest.approx([1.0, 1.0, 1.0])
