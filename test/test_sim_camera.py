"""The rendered camera image agrees with scene.CameraModel's projection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reasonact_ros import scene
from reasonact_ros.sim.camera_renderer import CameraRenderer
from reasonact_ros.sim.scenario import ObstacleSpec, Scenario, WalkwaySpec
from reasonact_ros.sim.world import PeopleState

CAMERA = scene.CameraModel(width=320, height=240, fx=200.0, fy=200.0, cx=160.0, cy=120.0)


def make_scenario(obstacles=()) -> Scenario:
    return Scenario(name="camera", path=Path("camera.yaml"), seed=0, duration_s=30.0,
                    robot_start=scene.Pose2D(), goal=scene.Goal(((20.0, 0.0),)),
                    bounds=(-5.0, -6.0, 25.0, 6.0), camera=CAMERA,
                    walkways=(WalkwaySpec("main", ((-5.0, 0.0), (25.0, 0.0)), 3.0),),
                    obstacles=tuple(obstacles))


def people(*rows) -> PeopleState:
    """rows of (id, x, y): adults of radius 0.25 m and height 1.75 m."""
    rows = np.array(rows, dtype=float).reshape(-1, 3)
    n = len(rows)
    return PeopleState(ids=rows[:, 0].astype(int), positions=rows[:, 1:3],
                       velocities=np.zeros((n, 2)), radii=np.full(n, 0.25),
                       heights=np.full(n, 1.75), replayed=np.zeros(n, dtype=bool))


@pytest.fixture(scope="module")
def renderer() -> CameraRenderer:
    """One renderer of the obstacle-free scene shared by the tests (set-up is the slow part)."""
    return CameraRenderer(make_scenario(), seed=1)


def pixel_of(point_base) -> tuple[int, int]:
    pixels, in_front = CAMERA.project(np.array([point_base], dtype=float))
    assert in_front[0]
    return int(pixels[0, 0]), int(pixels[0, 1])


def changed(a: np.ndarray, b: np.ndarray, u: int, v: int) -> bool:
    return int(np.abs(a[v, u].astype(int) - b[v, u].astype(int)).sum()) > 30


def test_image_has_the_camera_size_and_type(renderer):
    image = renderer.render(scene.Pose2D(), people())
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8


def test_a_person_appears_where_the_camera_model_projects_them(renderer):
    empty = renderer.render(scene.Pose2D(), people())
    robot = scene.Pose2D(1.0, 0.5, 0.3)
    person_odom = np.array([1.0 + 5.0 * math.cos(0.3) - 1.0 * math.sin(0.3),
                            0.5 + 5.0 * math.sin(0.3) + 1.0 * math.cos(0.3)])
    with_person = renderer.render(robot, people((1, *person_odom)))
    background = renderer.render(robot, people())
    # In base_link the person stands at (5, 1); torso, legs and head project to these pixels.
    for height in (0.4, 1.1, 1.62):
        u, v = pixel_of((5.0, 1.0, height))
        assert changed(with_person, background, u, v), height
    # A body width beside the person, and above the head, the image is untouched.
    for point in ((5.0, 1.8, 1.1), (5.0, 0.2, 1.1), (5.0, 1.0, 2.1)):
        u, v = pixel_of(point)
        assert not changed(with_person, background, u, v), point
    assert not np.array_equal(empty, background)  # the robot moved: the ground moved


def test_walkway_and_grass_are_where_the_ground_projects(renderer):
    image = renderer.render(scene.Pose2D(), people()).astype(int)
    walkway_u, walkway_v = pixel_of((4.0, 0.3, 0.0))
    grass_u, grass_v = pixel_of((4.0, 3.0, 0.0))
    walkway, grass = image[walkway_v, walkway_u], image[grass_v, grass_u]
    assert abs(walkway[0] - walkway[2]) < 40  # grey paving
    assert grass[1] > grass[0] + 20 and grass[1] > grass[2] + 20  # green


def test_near_person_hides_a_far_person_behind_them(renderer):
    both = renderer.render(scene.Pose2D(), people((1, 3.0, 0.0), (2, 8.0, 0.0)))
    near_only = renderer.render(scene.Pose2D(), people((1, 3.0, 0.0)))
    u, v = pixel_of((8.0, 0.0, 1.1))  # the far torso's centre lies behind the near torso
    np.testing.assert_array_equal(both[v, u], near_only[v, u])
    # Listing order must not matter: the painter sorts by depth.
    reversed_order = renderer.render(scene.Pose2D(), people((2, 8.0, 0.0), (1, 3.0, 0.0)))
    np.testing.assert_array_equal(both, reversed_order)


def test_box_obstacle_occludes_a_person_behind_it():
    van = ObstacleSpec(id=9, shape="box", x=4.0, y=0.0, length=1.0, width=2.0, height=2.2,
                       color=(240, 240, 240))
    renderer = CameraRenderer(make_scenario([van]), seed=1)
    hidden = renderer.render(scene.Pose2D(), people((1, 7.0, 0.0)))
    nobody = renderer.render(scene.Pose2D(), people())
    np.testing.assert_array_equal(hidden, nobody)
    u, v = pixel_of((3.5, 0.0, 1.0))
    assert hidden[v, u].min() > 120  # the van's light front face


def test_people_get_different_clothes_and_the_same_person_keeps_theirs(renderer):
    u, v = pixel_of((4.0, 0.0, 1.1))
    colours = {tuple(renderer.render(scene.Pose2D(), people((i, 4.0, 0.0)))[v, u])
               for i in range(12)}
    assert len(colours) >= 4
    first = renderer.render(scene.Pose2D(), people((3, 4.0, 0.0)))
    again = CameraRenderer(make_scenario(), seed=1).render(scene.Pose2D(), people((3, 4.0, 0.0)))
    np.testing.assert_array_equal(first, again)


def test_lighting_varies_with_the_seed(renderer):
    a = renderer.render(scene.Pose2D(), people())
    b = CameraRenderer(make_scenario(), seed=2).render(scene.Pose2D(), people())
    assert a.mean() != pytest.approx(b.mean(), abs=0.5)


def test_person_beside_a_long_wall_is_drawn_in_front_of_it():
    # The wall's centre is nearer than the person, but the person stands in front of its far end.
    wall = ObstacleSpec(id=9, shape="box", x=6.0, y=2.5, length=8.0, width=0.3, height=2.0,
                        color=(240, 240, 240))
    renderer = CameraRenderer(make_scenario([wall]), seed=1)
    image = renderer.render(scene.Pose2D(), people((1, 8.5, 2.0)))
    wall_only = renderer.render(scene.Pose2D(), people())
    u, v = pixel_of((8.5, 2.0, 1.1))
    assert wall_only[v, u].min() > 120  # the wall is right behind the person's torso
    assert changed(image, wall_only, u, v)


def test_footprint_blocking_and_distance():
    box = ObstacleSpec(id=1, shape="box", x=5.0, y=0.0, length=2.0, width=1.0, yaw=0.3)
    assert box.blocks_segment((0.0, 0.0), (10.0, 0.0))
    assert not box.blocks_segment((0.0, 0.0), (3.5, 0.0))  # stops short of it
    assert not box.blocks_segment((0.0, 3.0), (10.0, 3.0))  # passes beside it
    pole = ObstacleSpec(id=2, shape="circle", x=5.0, y=0.0, radius=0.3)
    assert pole.blocks_segment((0.0, 0.2), (10.0, 0.2))
    assert not pole.blocks_segment((0.0, 0.4), (10.0, 0.4))
    assert pole.distance_to(5.0, 2.3) == pytest.approx(2.0)
    upright = ObstacleSpec(id=3, shape="box", x=0.0, y=0.0, length=2.0, width=1.0)
    assert upright.distance_to(4.0, 0.0) == pytest.approx(3.0)
    assert upright.distance_to(0.2, 0.1) == 0.0


def test_numpy_pose_and_a_person_at_the_camera_render_without_error(renderer):
    pose = scene.Pose2D(np.float64(1.0), np.float64(0.5), np.float64(0.2))
    image = renderer.render(pose, people((1, 1.0, 0.5), (2, 1.3, 0.5)))
    assert image.shape == (240, 320, 3)
