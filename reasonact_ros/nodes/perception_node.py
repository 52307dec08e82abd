"""perception_node: scan, camera and odom in; ``scene`` (SceneObservation) out.

Publishes one scene per scan (on sim time stamped no earlier than the scan),
``~/markers`` (tracks with velocity arrows) and, when a camera detector runs,
``~/debug_image``. A scan is placed with the odometry at its stamp; on sim time
one newer than every odometry message waits for the next (as tf2's
MessageFilter holds a scan until its transform exists), so which of the two
arrived first does not change the scene.

Bad input (unusable encodings, wrong data length, NaN ranges, an impossible
camera_info, frames from the past) skips that frame, logs the cause once per
cause and marks the scene's health; the node keeps running.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from visualization_msgs.msg import Marker, MarkerArray

from reasonact_ros.msg import SceneObservation
from reasonact_ros.nodes import conversions, qos
from reasonact_ros.nodes.entrypoint import spin_node
from reasonact_ros.nodes.parameters import declare
from reasonact_ros.nodes.sim_clock import now_at_least, on_sim_time
from reasonact_ros.perception import validation
from reasonact_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
from reasonact_ros.scene import CameraModel, ObjectClass, Pose2D, Velocity2D, Walkway
from reasonact_ros.stamped_inputs import StampedHistory

SKIP_LOG_PERIOD_S = 10.0

_CLASS_COLOURS = {ObjectClass.PEDESTRIAN: (0.1, 0.8, 0.2), ObjectClass.OBSTACLE: (0.6, 0.6, 0.6),
                  ObjectClass.UNKNOWN: (0.9, 0.7, 0.1)}


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("perception_node", **kwargs)
        self._odom_frame = declare(self, "odom_frame", "odom", "Odometry frame (REP-105)",
                                   read_only=True)
        self._lidar_offset = Pose2D(
            declare(self, "lidar_x", 0.0, "Lidar x in base_link [m]", low=-5.0, high=5.0),
            declare(self, "lidar_y", 0.0, "Lidar y in base_link [m]", low=-5.0, high=5.0),
            declare(self, "lidar_yaw", 0.0, "Lidar yaw in base_link [rad]", low=-3.15, high=3.15))
        left = declare(self, "walkway_left", [0.0],
                       "Walkway left edge prior in odom, flat x1, y1, ... list; [0.0] for none")
        right = declare(self, "walkway_right", [0.0],
                        "Walkway right edge prior in odom, flat x1, y1, ... list")
        self._max_frame_age = declare(self, "max_frame_age", 1.0,
                                      "Frames older than this are skipped [s]", low=0.01,
                                      high=60.0)
        detector_name = declare(self, "camera_detector", "trained",
                                "Camera person detector: trained (the shipped model), hog, ssd, "
                                "a model file (.pt) or none", read_only=True)
        self._camera_mount = dict(
            mount_x=declare(self, "camera_x", 0.1, "Camera x in base_link [m]", low=-5.0,
                            high=5.0),
            mount_z=declare(self, "camera_z", 1.0, "Camera height above ground [m]", low=0.05,
                            high=5.0),
            pitch=declare(self, "camera_pitch", 0.25, "Camera pitch down [rad]", low=-1.5,
                          high=1.5))
        self._pipeline = PerceptionPipeline(PerceptionConfig(), walkway=_walkway(left, right))
        self._detector = None
        if detector_name != "none":
            from reasonact_ros.perception.detectors import make_detector

            self._detector = make_detector(detector_name)
        self._odom: Odometry | None = None
        self._odom_history: StampedHistory[Odometry] = StampedHistory()
        self._waiting_scan: LaserScan | None = None  # newer than every odometry message
        self._skipped: dict[tuple[str, str], tuple[int, float]] = {}
        self.skipped_frames = 0

        # One callback at a time (the default group), so the pipeline needs no lock. A
        # detection holds up a scan by at most its own time (trained: ~11 ms); the scan
        # waited as long on the pipeline's lock when the camera had a thread of its own.
        self.create_subscription(Odometry, "odom", self._on_odom, qos.SENSOR)
        self.create_subscription(LaserScan, "scan", self._on_scan, qos.SENSOR)
        self.create_subscription(CameraInfo, "camera/camera_info", self._on_camera_info,
                                 qos.SENSOR)
        self.create_subscription(Image, "camera/image_raw", self._on_image, qos.SENSOR)
        self._scene_publisher = self.create_publisher(SceneObservation, "scene", qos.COMMAND)
        self._marker_publisher = self.create_publisher(MarkerArray, "~/markers", 1)
        self._debug_publisher = self.create_publisher(Image, "~/debug_image", qos.SENSOR)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _skip(self, error: validation.SensorInputError, topic: str) -> None:
        """Skip a frame; log each (topic, cause) at most every 10 s, with a count."""
        self.skipped_frames += 1
        self._pipeline.note(f"{topic}: {error.cause}")
        key = (topic, error.cause)
        count, last_logged = self._skipped.get(key, (0, -math.inf))
        count += 1
        wall = time.monotonic()
        if wall - last_logged >= SKIP_LOG_PERIOD_S:
            self.get_logger().warning(f"skipping {topic} frame: {error} "
                                      f"({count} skipped for this cause so far)")
            last_logged = wall
        self._skipped[key] = (count, last_logged)

    def _robot(self, stamp: float | None = None) -> tuple[Pose2D, Velocity2D] | None:
        """The robot at ``stamp`` (None: the latest odometry)."""
        odom = self._odom if stamp is None else self._odom_history.at(stamp)
        if odom is None:
            return None
        return (conversions.pose_from_msg(odom.pose.pose),
                conversions.twist_from_msg(odom.twist.twist))

    def _on_odom(self, msg: Odometry) -> None:
        try:
            conversions.check_odometry(msg)
        except ValueError as error:
            # Keep the last good odometry; stale odometry then shows up as stale scenes.
            self.get_logger().warning(f"odom rejected: {error}", throttle_duration_sec=2.0)
            return
        stamp = conversions.time_to_seconds(msg.header.stamp)
        if self._odom_history.went_back(stamp):
            self._odom_history.clear()
            self._waiting_scan = None
        self._odom = msg
        self._odom_history.add(stamp, msg)
        waiting = self._waiting_scan
        if waiting is not None and self._odom_history.covers(
                conversions.time_to_seconds(waiting.header.stamp)):
            self._waiting_scan = None
            self._process_scan(waiting)

    def _on_scan(self, msg: LaserScan) -> None:
        if self._waiting_scan is not None:  # odometry stopped: place it with the latest
            waiting, self._waiting_scan = self._waiting_scan, None
            self._process_scan(waiting)
        # On a real clock a scan is not held: waiting for the next odometry would add up
        # to its period to every reaction (bench: 35 -> 106 ms), and the pose at or before
        # the stamp is as good as it gets then.
        stamp = conversions.time_to_seconds(msg.header.stamp)
        if self._odom_history.covers(stamp) or not on_sim_time(self):
            self._process_scan(msg)
        else:
            self._waiting_scan = msg

    def _process_scan(self, msg: LaserScan) -> None:
        stamp = conversions.time_to_seconds(msg.header.stamp)
        now = now_at_least(self, stamp)
        robot = self._robot(stamp)
        if robot is None:
            return
        pose, velocity = robot
        try:
            validation.check_stamp(conversions.time_to_seconds(msg.header.stamp), now,
                                   self._max_frame_age, "scan")
            ranges = validation.check_scan(msg.ranges, msg.range_min, msg.range_max,
                                           msg.angle_increment, msg.angle_min)
        except validation.SensorInputError as error:
            self._skip(error, "scan")
            # Still publish, flagged: silence would read as "perception is dead".
            self._publish_scene(now, pose, velocity, scan_ok=False)
            return
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        offset = self._lidar_offset
        sensor = Pose2D(pose.x + c * offset.x - s * offset.y, pose.y + s * offset.x + c * offset.y,
                        pose.yaw + offset.yaw)
        scan = conversions.scan_from_msg(msg, sensor)
        scan.ranges = ranges
        self._pipeline.process_scan(scan, now)
        self._publish_scene(now, pose, velocity, scan_ok=True)

    def _publish_scene(self, now: float, pose: Pose2D, velocity: Velocity2D,
                       scan_ok: bool) -> None:
        scene = self._pipeline.scene(now, pose, velocity)
        if not scan_ok:
            scene = dataclasses.replace(
                scene, health=dataclasses.replace(scene.health, scan_ok=False))
        msg_out = conversions.scene_to_msg(scene)
        msg_out.header.frame_id = self._odom_frame
        self._scene_publisher.publish(msg_out)
        self._publish_markers(scene)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = validation.check_camera_info(msg.k, msg.width, msg.height)
        except validation.SensorInputError as error:
            self._skip(error, "camera_info")
            return
        camera = CameraModel(**intrinsics, **self._camera_mount)
        self._pipeline.camera = camera

    def _on_image(self, msg: Image) -> None:
        if self._detector is None:
            return
        now = self._now()
        robot = self._robot()
        if robot is None or self._pipeline.camera is None:
            return
        try:
            validation.check_stamp(conversions.time_to_seconds(msg.header.stamp), now,
                                   self._max_frame_age, "camera/image_raw")
            image = validation.image_to_rgb(bytes(msg.data), msg.width, msg.height,
                                            msg.encoding, msg.step)
        except validation.SensorInputError as error:
            self._skip(error, "camera/image_raw")
            return
        self._pipeline.detector = self._detector
        detections = self._pipeline.process_image(image, robot[0], now)
        if self._debug_publisher.get_subscription_count():
            self._publish_debug(msg, image, detections)

    def _publish_debug(self, source: Image, image: np.ndarray, detections) -> None:
        import cv2

        canvas = np.ascontiguousarray(image.copy())
        for detection in detections:
            box = detection.box
            cv2.rectangle(canvas, (int(box.x0), int(box.y0)), (int(box.x1), int(box.y1)),
                          (0, 255, 0), 2)
            label = f"#{detection.track_id}" if detection.track_id is not None else "?"
            cv2.putText(canvas, label, (int(box.x0), max(12, int(box.y0) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        out = Image(header=source.header, height=canvas.shape[0], width=canvas.shape[1],
                    encoding="rgb8", step=canvas.shape[1] * 3)
        out.data = canvas.tobytes()
        self._debug_publisher.publish(out)

    def _publish_markers(self, scene) -> None:
        markers = MarkerArray()
        markers.markers.append(Marker(action=Marker.DELETEALL))
        stamp = conversions.seconds_to_time(scene.stamp)
        for obj in scene.objects:
            r, g, b = _CLASS_COLOURS[obj.label]
            body = Marker(type=Marker.CYLINDER, action=Marker.ADD, ns="tracks",
                          id=obj.id % 2**31)
            body.header.stamp, body.header.frame_id = stamp, self._odom_frame
            body.pose.position.x, body.pose.position.y, body.pose.position.z = obj.x, obj.y, 0.8
            body.pose.orientation.w = 1.0
            body.scale.x = body.scale.y = 2 * obj.radius
            body.scale.z = 1.6
            body.color.r, body.color.g, body.color.b, body.color.a = r, g, b, 0.6
            arrow = Marker(type=Marker.ARROW, action=Marker.ADD, ns="velocities",
                           id=obj.id % 2**31)
            arrow.header = body.header
            arrow.points = [conversions.Point(x=obj.x, y=obj.y, z=0.1),
                            conversions.Point(x=obj.x + obj.vx, y=obj.y + obj.vy, z=0.1)]
            arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.05, 0.1, 0.1
            arrow.color.r, arrow.color.g, arrow.color.b, arrow.color.a = r, g, b, 1.0
            markers.markers.extend([body, arrow])
        self._marker_publisher.publish(markers)


def _walkway(left: list[float], right: list[float]) -> Walkway | None:
    if len(left) < 4 or len(right) < 4:
        return None
    if len(left) % 2 or len(right) % 2:
        raise ValueError("walkway_left and walkway_right need x, y pairs")
    return Walkway(np.asarray(left, dtype=float).reshape(-1, 2),
                   np.asarray(right, dtype=float).reshape(-1, 2))


def main(args=None) -> int:
    return spin_node(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
