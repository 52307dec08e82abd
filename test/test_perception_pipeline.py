"""The perception pipeline end to end: scene contents, health, walkway, evaluation."""

import math

import numpy as np
import pytest

from reasonact_ros.perception.benchmark import lidar_perception_ms_p50
from reasonact_ros.perception.evaluation import evaluate_perception
from reasonact_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
from reasonact_ros.perception.synthetic import synthetic_scan
from reasonact_ros.scene import ObjectClass, Pose2D, TrackedObject, Walkway

WALKWAY = Walkway(left=np.array([[-10.0, 1.5], [10.0, 1.5]]),
                  right=np.array([[-10.0, -1.5], [10.0, -1.5]]))


def walker_scan(t, x0=1.0, y=0.0, speed=1.0):
    return synthetic_scan(circles=[(x0 + speed * t, y, 0.25)], noise_std=0.01,
                          rng=np.random.default_rng(int(t * 100)))


def test_scene_has_confirmed_people_with_walkway_flags():
    pipeline = PerceptionPipeline(walkway=WALKWAY)
    for k in range(15):
        t = 0.1 * k
        pipeline.process_scan(synthetic_scan(circles=[(1.0 + t, 0.5, 0.25),
                                                      (2.0 - t, 3.0, 0.25)]), t)
    scene = pipeline.scene(1.4, Pose2D())
    on = {("far" if o.y > 2.0 else "near"): o.on_walkway for o in scene.objects}
    assert on == {"near": True, "far": False}
    assert scene.walkway is WALKWAY
    assert scene.health.scan_ok


def test_scene_extrapolates_tracks_to_its_stamp():
    pipeline = PerceptionPipeline()
    for k in range(20):
        pipeline.process_scan(walker_scan(0.1 * k), 0.1 * k)
    now_x = pipeline.scene(1.9, Pose2D()).objects[0].x
    later_x = pipeline.scene(2.2, Pose2D()).objects[0].x
    assert later_x - now_x == pytest.approx(0.3, abs=0.06)


def test_stale_scan_and_camera_are_flagged():
    pipeline = PerceptionPipeline(PerceptionConfig(scan_timeout=0.5, camera_timeout=1.0))
    assert not pipeline.scene(0.0, Pose2D()).health.scan_ok  # nothing yet
    pipeline.process_scan(walker_scan(0.0), 0.0)
    assert pipeline.scene(0.3, Pose2D()).health.scan_ok
    stale = pipeline.scene(0.8, Pose2D()).health
    assert not stale.scan_ok and any("scan stale" in m for m in stale.messages)
    # Without a configured camera there is nothing to be stale.
    assert stale.camera_ok


def test_configured_camera_without_images_is_flagged():
    from reasonact_ros.scene import CameraModel

    class Nobody:
        name = "nobody"

        def detect(self, image):
            return []

    pipeline = PerceptionPipeline(camera=CameraModel(), detector=Nobody())
    pipeline.process_scan(walker_scan(0.0), 0.0)
    assert not pipeline.scene(0.1, Pose2D()).health.camera_ok
    pipeline.process_image(np.zeros((480, 640, 3), np.uint8), Pose2D(), 0.1)
    assert pipeline.scene(0.2, Pose2D()).health.camera_ok
    assert not pipeline.scene(1.5, Pose2D()).health.camera_ok


def test_time_jumping_back_resets_tracks_and_says_so():
    pipeline = PerceptionPipeline()
    for k in range(10):
        pipeline.process_scan(walker_scan(0.1 * k), 5.0 + 0.1 * k)
    assert pipeline.tracker.tracks
    pipeline.process_scan(walker_scan(0.0), 1.0)
    assert all(t.first_seen == 1.0 for t in pipeline.tracker.tracks)
    messages = pipeline.scene(1.0, Pose2D()).health.messages
    assert any("time went back" in m for m in messages)
    # Notes are reported once.
    assert not any("time went back" in m for m in pipeline.scene(1.0, Pose2D()).health.messages)


def test_obstacle_points_are_the_last_scans_returns():
    pipeline = PerceptionPipeline()
    pipeline.process_scan(synthetic_scan(segments=[(-5.0, 2.0, 5.0, 2.0)]), 0.0)
    points = pipeline.obstacle_points
    assert points.shape[1] == 2 and len(points) > 50
    assert np.allclose(points[:, 1], 2.0, atol=1e-6)


def test_non_finite_time_is_refused():
    with pytest.raises(ValueError, match="finite"):
        PerceptionPipeline().process_scan(walker_scan(0.0), math.nan)
    with pytest.raises(ValueError, match="scan_timeout"):
        PerceptionConfig(scan_timeout=0.0)
    with pytest.raises(ValueError, match="moved_distance"):
        PerceptionConfig(moved_distance=math.inf)


class StraightLineWorld:
    """A stand-in world: two people walking past a standing robot, no simulator needed."""

    def __init__(self):
        self.time = 0.0

    def _people(self):
        t = self.time
        return [(1, -4.0 + 1.0 * t, 1.0, 1.0, 0.0), (2, 5.0 - 0.8 * t, -1.0, -0.8, 0.0)]

    def step(self, dt):
        self.time += dt

    def robot_pose(self):
        return Pose2D()

    def scan(self):
        return synthetic_scan(circles=[(x, y, 0.25) for _, x, y, _, _ in self._people()],
                              noise_std=0.01, rng=np.random.default_rng(int(self.time * 10)))

    def ground_truth(self):
        return tuple(TrackedObject(id=i, label=ObjectClass.PEDESTRIAN, x=x, y=y, vx=vx, vy=vy)
                     for i, x, y, vx, vy in self._people())


def test_evaluate_perception_scores_a_simple_world():
    result = evaluate_perception(StraightLineWorld, seconds=6.0, dt=0.1)
    assert result["mota"] > 0.9
    assert result["id_switches_per_100_track_s"] == 0.0
    assert result["position_rmse_m"] < 0.1
    assert result["velocity_rmse_mps"] < 0.25
    assert math.isnan(result["detector_recall"])


def test_lidar_benchmark_runs():
    assert 0.0 < lidar_perception_ms_p50(beams=90, people=3, scans=5) < 1000.0


def test_perception_tracks_the_simulated_head_on_walker():
    from reasonact_ros.sim import World, load_scenario

    result = evaluate_perception(lambda: World(load_scenario("head_on")), seconds=12.0,
                                 dt=0.1)
    assert result["mota"] > 0.9
    assert result["position_rmse_m"] < 0.15
    assert result["velocity_rmse_mps"] < 0.25


def test_crowd_tracking_meets_the_targets():
    from reasonact_ros.sim import World, load_scenario

    result = evaluate_perception(lambda: World(load_scenario("crowd")), seconds=30.0, dt=0.1)
    assert result["mota"] >= 0.9
    assert result["position_rmse_m"] <= 0.15
    assert result["velocity_rmse_mps"] <= 0.25
    # One 30 s run holds ~150 track-seconds: allow two switches (the target, 1 per 100 s,
    # is measured over ten 60 s seeds in the report).
    assert result["id_switches"] <= 2


def test_a_new_person_is_reported_unconfirmed_on_the_first_scan_and_confirmed_later():
    pipeline = PerceptionPipeline()
    pipeline.process_scan(walker_scan(0.0, x0=4.0, speed=0.0), 0.0)
    scene = pipeline.scene(0.0, Pose2D())
    first_id = scene.objects[0].id
    assert [(o.label, o.confirmed) for o in scene.objects] == [(ObjectClass.PEDESTRIAN, False)]
    assert scene.objects[0].x == pytest.approx(4.0, abs=0.3)
    assert scene.people() == ()  # the planner predicts confirmed people only
    for k in (1, 2):
        pipeline.process_scan(walker_scan(0.1 * k, x0=4.0, speed=0.0), 0.1 * k)
    scene = pipeline.scene(0.2, Pose2D())
    assert [(o.id, o.confirmed) for o in scene.objects] == [(first_id, True)]
    quiet = PerceptionPipeline(PerceptionConfig(report_tentative=False))
    quiet.process_scan(walker_scan(0.0, x0=4.0, speed=0.0), 0.0)
    assert quiet.scene(0.0, Pose2D()).objects == ()


def test_a_standing_person_sized_blob_is_planned_around_as_a_person_a_post_is_not():
    # Lidar only: a person standing 3 m ahead and a post (radius 0.15 m, narrow_passage's)
    # 2 m to the side. Neither ever moves, so after a while perception cannot tell what
    # they are; the planner is still handed the person-sized one to keep a person's
    # distance from.
    pipeline = PerceptionPipeline()
    for k in range(80):
        pipeline.process_scan(synthetic_scan(circles=[(3.0, 0.0, 0.25), (3.0, 2.0, 0.15)]),
                              0.1 * k)
    scene = pipeline.scene(7.9, Pose2D())
    standing = min(scene.objects, key=lambda o: math.hypot(o.x - 3.0, o.y))
    post = min(scene.objects, key=lambda o: math.hypot(o.x - 3.0, o.y - 2.0))
    assert standing.label == post.label == ObjectClass.UNKNOWN
    assert [o.id for o in scene.people()] == [standing.id]


def test_a_post_whose_outline_shifts_as_we_near_it_stays_unknown_a_walker_does_not():
    # Seen from a new angle, a post's returns slide: narrow_passage 29's post (radius 0.15 m)
    # read 0.32 m/s for a moment, was labelled a person for good and, standing "1.1 m
    # ahead", held the robot until the timeout. Moving is going somewhere: a person who
    # has stood 5 s and then walks is one again within a few steps.
    def labels(path):
        pipeline = PerceptionPipeline()
        for k in range(100):
            x, radius = path(0.1 * k)
            pipeline.process_scan(synthetic_scan(circles=[(x, 2.0, radius)],
                                                 rng=np.random.default_rng(k)), 0.1 * k)
        return [o.label for o in pipeline.scene(9.9, Pose2D()).objects]

    assert labels(lambda t: (3.0 + min(max(0.4 * (t - 5.5), 0.0), 0.25), 0.15)) == [
        ObjectClass.UNKNOWN]
    assert labels(lambda t: (3.0 + max(1.0 * (t - 6.0), 0.0), 0.25)) == [
        ObjectClass.PEDESTRIAN]
