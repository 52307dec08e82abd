"""Message <-> dataclass conversion, in one place for every node.

The cores speak reasonact_ros.scene; nothing else in the package touches both
message classes and core types.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Point, Pose, Quaternion, Twist, TwistStamped
from sensor_msgs.msg import LaserScan

from reasonact_ros.msg import BehaviorDecision, SceneObservation, TrackedObject
from reasonact_ros.scene import (
    Behavior,
    Decision,
    DecisionSource,
    ObjectClass,
    Pose2D,
    ScanData,
    Scene,
    SensorHealth,
    Velocity2D,
    Walkway,
)
from reasonact_ros.scene import TrackedObject as TrackedObjectData


def time_to_seconds(stamp: TimeMsg) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_time(seconds: float) -> TimeMsg:
    # Negative or non-finite times cannot be represented; clamp to zero.
    if not math.isfinite(seconds) or seconds < 0.0:
        seconds = 0.0
    sec = int(seconds)
    nanosec = min(int(round((seconds - sec) * 1e9)), 999_999_999)
    return TimeMsg(sec=sec, nanosec=nanosec)


def yaw_to_quaternion(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def quaternion_to_yaw(q: Quaternion) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def pose_to_msg(pose: Pose2D) -> Pose:
    msg = Pose()
    msg.position.x, msg.position.y = float(pose.x), float(pose.y)
    msg.orientation = yaw_to_quaternion(pose.yaw)
    return msg


def pose_from_msg(msg: Pose) -> Pose2D:
    return Pose2D(msg.position.x, msg.position.y, quaternion_to_yaw(msg.orientation))


def twist_to_msg(velocity: Velocity2D) -> Twist:
    msg = Twist()
    msg.linear.x, msg.angular.z = float(velocity.linear), float(velocity.angular)
    return msg


def twist_from_msg(msg: Twist | TwistStamped) -> Velocity2D:
    twist = msg.twist if isinstance(msg, TwistStamped) else msg
    return Velocity2D(twist.linear.x, twist.angular.z)


# Beyond this an odometry position is a fault, not a place: no walkway robot drives 1000 km.
MAX_ODOM_COORDINATE = 1e6  # [m]
MAX_ODOM_RATE = 50.0  # [m/s, rad/s] no ground robot among people moves or turns this fast


def goal_point_from_msg(msg, frame: str | None = None) -> tuple[float, float]:
    """(x, y) of a goal_pose (PoseStamped); ValueError naming the problem if not finite,
    or, given ``frame``, if stamped in another frame than it ("" counts as it: there is no
    tf2 lookup to move a goal between frames)."""
    if frame is not None and msg.header.frame_id not in ("", frame):
        raise ValueError(f"frame '{msg.header.frame_id}' is not '{frame}' "
                         "(no tf2 lookup in this node)")
    x, y = msg.pose.position.x, msg.pose.position.y
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"non-finite position ({x}, {y})")
    return float(x), float(y)


def check_odometry(msg) -> None:
    """Raise ValueError naming the problem when an Odometry cannot describe the robot."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    t = msg.twist.twist
    values = (p.x, p.y, p.z, q.x, q.y, q.z, q.w, t.linear.x, t.linear.y, t.angular.z)
    if not all(math.isfinite(v) for v in values):
        raise ValueError("odometry has non-finite pose or velocity")
    if max(abs(t.linear.x), abs(t.linear.y), abs(t.angular.z)) > MAX_ODOM_RATE:
        raise ValueError(f"odometry velocity ({t.linear.x:.3g} m/s, {t.angular.z:.3g} rad/s) is "
                         f"beyond {MAX_ODOM_RATE:.0f}: a fault, not motion")
    if max(abs(p.x), abs(p.y)) > MAX_ODOM_COORDINATE:
        raise ValueError(f"odometry position ({p.x:.3g}, {p.y:.3g}) is beyond "
                         f"{MAX_ODOM_COORDINATE:.0e} m")
    if abs(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w - 1.0) > 0.1:
        raise ValueError("odometry orientation is not a unit quaternion")


def tracked_object_to_msg(obj: TrackedObjectData) -> TrackedObject:
    msg = TrackedObject()
    msg.id = int(obj.id) & 0xFFFFFFFF
    msg.class_id = int(obj.label)
    msg.position.x, msg.position.y = float(obj.x), float(obj.y)
    msg.velocity.x, msg.velocity.y = float(obj.vx), float(obj.vy)
    msg.radius = float(obj.radius)
    msg.confidence = float(obj.confidence)
    msg.age = float(obj.age_s)
    msg.on_walkway = bool(obj.on_walkway)
    msg.confirmed = bool(obj.confirmed)
    return msg


def tracked_object_from_msg(msg: TrackedObject) -> TrackedObjectData:
    try:
        label = ObjectClass(msg.class_id)
    except ValueError:
        label = ObjectClass.UNKNOWN
    return TrackedObjectData(
        id=int(msg.id), label=label, x=msg.position.x, y=msg.position.y,
        vx=msg.velocity.x, vy=msg.velocity.y, radius=msg.radius,
        confidence=msg.confidence, age_s=msg.age, on_walkway=msg.on_walkway,
        confirmed=msg.confirmed,
    )


def _points(edge: np.ndarray) -> list[Point]:
    return [Point(x=float(x), y=float(y), z=0.0) for x, y in edge]


def scene_to_msg(scene: Scene) -> SceneObservation:
    msg = SceneObservation()
    msg.header.stamp = seconds_to_time(scene.stamp)
    msg.header.frame_id = scene.frame_id
    msg.robot_pose = pose_to_msg(scene.robot)
    msg.robot_velocity = twist_to_msg(scene.robot_velocity)
    msg.objects = [tracked_object_to_msg(o) for o in scene.objects]
    if scene.walkway is not None:
        msg.walkway_left = _points(scene.walkway.left)
        msg.walkway_right = _points(scene.walkway.right)
    msg.scan_ok = scene.health.scan_ok
    msg.camera_ok = scene.health.camera_ok
    msg.odom_ok = scene.health.odom_ok
    msg.health_messages = list(scene.health.messages)
    return msg


def scene_from_msg(msg: SceneObservation) -> Scene:
    """Raises ValueError when the message cannot describe a scene (non-finite values)."""
    walkway = None
    if len(msg.walkway_left) >= 2 and len(msg.walkway_right) >= 2:
        walkway = Walkway(
            np.array([[p.x, p.y] for p in msg.walkway_left]),
            np.array([[p.x, p.y] for p in msg.walkway_right]),
        )
    objects = tuple(tracked_object_from_msg(o) for o in msg.objects)
    for obj in objects:
        values = (obj.x, obj.y, obj.vx, obj.vy, obj.radius)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"scene object {obj.id} has non-finite position or velocity")
    robot = pose_from_msg(msg.robot_pose)
    if not all(math.isfinite(v) for v in (robot.x, robot.y, robot.yaw)):
        raise ValueError("scene robot pose is not finite")
    return Scene(
        stamp=time_to_seconds(msg.header.stamp),
        robot=robot,
        robot_velocity=twist_from_msg(msg.robot_velocity),
        objects=objects,
        walkway=walkway,
        health=SensorHealth(msg.scan_ok, msg.camera_ok, msg.odom_ok,
                            tuple(msg.health_messages)),
        frame_id=msg.header.frame_id,
    )


def decision_to_msg(decision: Decision) -> BehaviorDecision:
    msg = BehaviorDecision()
    msg.header.stamp = seconds_to_time(decision.stamp)
    msg.behavior = int(decision.behavior)
    msg.max_speed = float(decision.max_speed)
    msg.min_clearance = float(decision.min_clearance)
    msg.clearance_floor = float(decision.clearance_floor)
    msg.target_id = int(decision.target_id)
    msg.valid_until = seconds_to_time(decision.valid_until)
    msg.source = int(decision.source)
    msg.rationale = decision.rationale
    return msg


def decision_from_msg(msg: BehaviorDecision) -> Decision:
    """Raises ValueError for an unknown behaviour or source or non-finite numbers."""
    try:
        behavior = Behavior(msg.behavior)
        source = DecisionSource(msg.source)
    except ValueError as error:
        raise ValueError(f"decision has an unknown behaviour or source: {error}") from None
    if not all(math.isfinite(v) for v in (msg.max_speed, msg.min_clearance,
                                          msg.clearance_floor)):
        raise ValueError("decision max_speed, min_clearance or clearance_floor is not finite")
    return Decision(
        behavior=behavior,
        max_speed=msg.max_speed,
        min_clearance=msg.min_clearance,
        clearance_floor=msg.clearance_floor,
        valid_until=time_to_seconds(msg.valid_until),
        source=source,
        target_id=msg.target_id,
        rationale=msg.rationale,
        stamp=time_to_seconds(msg.header.stamp),
    )


def scan_from_msg(msg: LaserScan, sensor_pose: Pose2D) -> ScanData:
    return ScanData(
        ranges=np.asarray(msg.ranges, dtype=float),
        angle_min=msg.angle_min,
        angle_increment=msg.angle_increment,
        range_min=msg.range_min,
        range_max=msg.range_max,
        sensor_pose=sensor_pose,
    )


def scan_to_msg(scan: ScanData, stamp: TimeMsg, frame_id: str, scan_time: float) -> LaserScan:
    msg = LaserScan()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.angle_min = float(scan.angle_min)
    msg.angle_increment = float(scan.angle_increment)
    msg.angle_max = float(scan.angle_min + scan.angle_increment * (len(scan.ranges) - 1))
    msg.time_increment = 0.0
    msg.scan_time = float(scan_time)
    msg.range_min = float(scan.range_min)
    msg.range_max = float(scan.range_max)
    msg.ranges = np.asarray(scan.ranges, dtype=np.float32).tolist()
    return msg
