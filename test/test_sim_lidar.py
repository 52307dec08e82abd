"""Lidar ray casting against analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasonact_ros import scene
from reasonact_ros.sim.lidar import Lidar, cast_rays
from reasonact_ros.sim.scenario import LidarParams, ObstacleSpec


def make_lidar(obstacles=(), **params) -> Lidar:
    params.setdefault("noise_std", 0.0)
    return Lidar(LidarParams(**params), tuple(obstacles), np.random.default_rng(0))


def beam_towards(scan: scene.ScanData, angle: float) -> int:
    return int(np.argmin(np.abs(np.angle(np.exp(1j * (scan.angles() - angle))))))


def test_circle_straight_ahead_at_known_distance():
    pillar = ObstacleSpec(id=1, shape="circle", x=5.0, y=0.0, radius=0.5)
    scan = make_lidar([pillar]).scan(scene.Pose2D(), np.zeros((0, 3)))
    assert scan.ranges[beam_towards(scan, 0.0)] == pytest.approx(4.5)
    # A beam at angle a grazes the circle where the chord is: d = 5 cos a - sqrt(r^2 - 25 sin^2 a).
    k = beam_towards(scan, math.radians(3.0))
    a = scan.angles()[k]
    expected = 5.0 * math.cos(a) - math.sqrt(0.25 - 25.0 * math.sin(a) ** 2)
    assert scan.ranges[k] == pytest.approx(expected, abs=1e-9)
    assert not np.isfinite(scan.ranges[beam_towards(scan, math.pi / 2)])


def test_wall_distance_follows_one_over_cosine():
    wall = ObstacleSpec(id=1, shape="box", x=3.1, y=0.0, length=0.2, width=20.0, height=2.0)
    scan = make_lidar([wall], beams=720).scan(scene.Pose2D(), np.zeros((0, 3)))
    for degrees in (0.0, 20.0, -45.0, 60.0):
        k = beam_towards(scan, math.radians(degrees))
        assert scan.ranges[k] == pytest.approx(3.0 / math.cos(scan.angles()[k]), abs=1e-9)
    assert not np.isfinite(scan.ranges[beam_towards(scan, math.pi)])


def test_empty_world_has_no_returns_within_max_range():
    scan = make_lidar().scan(scene.Pose2D(1.0, 2.0, 0.3), np.zeros((0, 3)))
    assert np.all(np.isinf(scan.ranges))
    assert not scan.valid_mask().any()
    as_max = make_lidar(no_return="range_max").scan(scene.Pose2D(), np.zeros((0, 3)))
    assert np.all(as_max.ranges == as_max.range_max)


def test_targets_beyond_max_range_are_not_returned():
    far = ObstacleSpec(id=1, shape="circle", x=20.0, y=0.0, radius=0.5)
    scan = make_lidar([far], range_max=12.0).scan(scene.Pose2D(), np.zeros((0, 3)))
    assert np.all(np.isinf(scan.ranges))


def test_people_are_seen_and_the_pose_rotates_the_scan():
    person = np.array([[0.0, 4.0, 0.25]])
    scan = make_lidar().scan(scene.Pose2D(0.0, 0.0, math.pi / 2), person)
    assert scan.ranges[beam_towards(scan, 0.0)] == pytest.approx(3.75)
    points = scan.points_odom()
    nearest = points[np.argmin(np.linalg.norm(points, axis=1))]
    np.testing.assert_allclose(nearest, [0.0, 3.75], atol=0.02)
    assert scan.sensor_pose == scene.Pose2D(0.0, 0.0, math.pi / 2)


def test_nearer_shape_hides_the_farther_one():
    circles = np.array([[6.0, 0.0, 0.3], [3.0, 0.0, 0.3]])
    ranges = cast_rays(np.zeros(2), np.array([0.0]), circles, np.zeros((0, 4)))
    assert ranges[0] == pytest.approx(2.7)


def test_low_obstacles_under_the_scan_plane_are_invisible():
    kerb = ObstacleSpec(id=1, shape="box", x=2.0, y=0.0, length=0.3, width=3.0, height=0.1)
    scan = make_lidar([kerb], mount_height=0.3).scan(scene.Pose2D(), np.zeros((0, 3)))
    assert np.all(np.isinf(scan.ranges))


def test_field_of_view_and_beam_layout():
    full = make_lidar(beams=360)
    assert full.angle_increment == pytest.approx(math.radians(1.0))
    front = make_lidar(beams=181, field_of_view=math.pi)
    assert front.beam_angles[0] == pytest.approx(-math.pi / 2)
    assert front.beam_angles[-1] == pytest.approx(math.pi / 2)


def test_noise_has_the_configured_spread_and_mount_offset_is_applied():
    wall = ObstacleSpec(id=1, shape="box", x=5.1, y=0.0, length=0.2, width=40.0, height=2.0)
    lidar = make_lidar([wall], noise_std=0.02, mount_x=0.2, beams=2000,
                       field_of_view=math.radians(10.0))
    scan = lidar.scan(scene.Pose2D(), np.zeros((0, 3)))
    exact = 4.8 / np.cos(scan.angles())
    errors = scan.ranges - exact
    assert abs(errors.mean()) < 0.003 and errors.std() == pytest.approx(0.02, rel=0.1)
    assert scan.sensor_pose.x == pytest.approx(0.2)


def test_legs_model_shows_two_legs_that_swing_with_walking():
    from reasonact_ros.sim.lidar import STRIDE_LENGTH, leg_circles

    standing = leg_circles(np.array([[4.0, 0.0]]), np.zeros((1, 2)), np.array([0.25]),
                           np.array([0.0]))
    np.testing.assert_allclose(standing[:, :2], [[4.0, 0.1], [4.0, -0.1]])
    quarter = leg_circles(np.array([[4.0, 0.0]]), np.array([[1.3, 0.0]]), np.array([0.25]),
                          np.array([STRIDE_LENGTH / 4]))
    assert quarter[0, 0] - quarter[1, 0] == pytest.approx(0.5)  # one leg ahead, one behind
    lidar = make_lidar(beams=1440)
    scan = lidar.scan(scene.Pose2D(), standing)
    hits = np.flatnonzero(np.isfinite(scan.ranges))
    gaps = np.diff(hits)
    assert np.count_nonzero(gaps > 1) == 1  # two separate clusters of returns
