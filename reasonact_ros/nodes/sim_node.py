"""sim_node: the built-in simulator, publishing what Gazebo or a robot publishes.

Publishes ``/clock``, ``scan``, ``camera/image_raw`` + ``camera/camera_info``,
``odom``, ``ground_truth`` (every agent, as a SceneObservation) and
``~/events`` (collisions, goal, timeout as JSON); takes ``cmd_vel`` as Twist
or TwistStamped. The simulator is the clock source: it runs on wall time and
every other node uses ``use_sim_time``.

Stepping runs in its own thread, not in a callback, so a slow subscriber can
never stall the world. With ``lockstep`` the thread waits (up to
``lockstep_timeout`` of wall time) for the stack's answer to each published
state before the next step, so sim time runs as fast as the stack can answer,
never faster, the way Gazebo's lockstep mode does.

With stamped commands (``use_stamped_cmd_vel``) the answer to the state at time
t is the first ``cmd_vel`` stamped t or later, and it is the command the next
step runs: commands stamped earlier (a safety node re-filtering an older
command, a planner slowing its last one) arriving in between change nothing.
With a stack that acts on stamps (``lockstep`` on the planner and safety nodes),
one seed then gives one episode, whatever the machine's load. Without stamps any
message on ``lockstep_topic`` ends the wait and commands apply as they arrive.
If no answer comes in time, the last command received while waiting applies.
"""

from __future__ import annotations

import json
import math
import threading
import time

from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from sensor_msgs.msg import LaserScan as LaserScanMsg
from std_msgs.msg import String

from reasonact_ros.msg import SceneObservation
from reasonact_ros.nodes import conversions, qos
from reasonact_ros.nodes.entrypoint import spin_node
from reasonact_ros.nodes.parameters import declare
from reasonact_ros.scene import Scene
from reasonact_ros.sim.scenario import load_scenario
from reasonact_ros.sim.world import World
from reasonact_ros.stamped_inputs import SAME_INSTANT_S


class SimNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_node", **kwargs)
        scenario_name = declare(self, "scenario", "empty_walkway",
                                "Scenario name (config/scenarios) or YAML path", read_only=True)
        seed = declare(self, "seed", -1, "Random seed; -1 uses the scenario's", low=-1,
                       high=2**31 - 1, read_only=True)
        self.step_dt = declare(self, "step_dt", 0.05, "Simulation step [s]", low=0.001,
                               high=0.2, read_only=True)
        self._real_time_factor = declare(
            self, "real_time_factor", 0.0,
            "Sim seconds per wall second; 0 runs as fast as lockstep allows", low=0.0,
            high=100.0)
        self._lockstep = declare(self, "lockstep", False,
                                 "Wait for the stack's cmd_vel after every step")
        self._lockstep_timeout = declare(self, "lockstep_timeout", 0.5,
                                         "Longest wait for a command in lockstep [wall s]",
                                         low=0.001, high=10.0)
        self.steps_without_answer = 0  # lockstep steps taken after lockstep_timeout
        lockstep_topic = declare(
            self, "lockstep_topic", "cmd_vel",
            "The command lockstep waits for; cmd_vel_nav waits for the planner itself, so a "
            "slow planner slows the simulation instead of the safety watchdog stopping the "
            "robot", read_only=True)
        self._camera_enabled = declare(self, "camera_enabled", False,
                                       "Render and publish the camera", read_only=True)
        stamped = declare(self, "use_stamped_cmd_vel", False,
                          "Take geometry_msgs/TwistStamped on cmd_vel", read_only=True)
        self._odom_frame = declare(self, "odom_frame", "odom", "Odometry frame", read_only=True)
        self._base_frame = declare(self, "base_frame", "base_link", "Robot base frame",
                                   read_only=True)
        self._lidar_frame = declare(self, "lidar_frame", "base_scan", "Lidar frame",
                                    read_only=True)
        self._camera_frame = declare(self, "camera_frame", "camera_optical_frame",
                                     "Camera optical frame", read_only=True)
        self._ground_truth_rate = declare(self, "ground_truth_rate", 10.0,
                                          "Ground-truth publication rate [Hz]", low=0.1,
                                          high=100.0, read_only=True)

        self.scenario = load_scenario(scenario_name)
        self.world = World(self.scenario, seed=None if seed < 0 else seed)
        self.world_lock = threading.Lock()
        self._command_arrived = threading.Event()
        # Lockstep with stamped commands: the answer to the state at _awaited_stamp, and
        # the newest other command as the fallback when no answer comes.
        self._answers_by_stamp = self._lockstep and stamped
        self._command_lock = threading.Lock()
        self._awaited_stamp = 0.0
        self._answer = None
        self._fallback = None
        self._lockstep_on_cmd_vel = lockstep_topic == "cmd_vel"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_step = None  # optional callable(world) for in-process observers (the demo)

        twist_type = TwistStamped if stamped else Twist
        self.create_subscription(twist_type, "cmd_vel", self._on_command, qos.COMMAND)
        if lockstep_topic != "cmd_vel" and not self._answers_by_stamp:
            self.create_subscription(twist_type, lockstep_topic,
                                     lambda _msg: self._command_arrived.set(), qos.COMMAND)
        self._clock_publisher = self.create_publisher(Clock, "/clock", qos.COMMAND)
        self._odom_publisher = self.create_publisher(Odometry, "odom", qos.SENSOR)
        self._scan_publisher = self.create_publisher(LaserScanMsg, "scan", qos.SENSOR)
        self._image_publisher = self.create_publisher(Image, "camera/image_raw", qos.SENSOR)
        self._info_publisher = self.create_publisher(CameraInfo, "camera/camera_info",
                                                     qos.SENSOR)
        self._truth_publisher = self.create_publisher(SceneObservation, "ground_truth",
                                                      qos.COMMAND)
        self._event_publisher = self.create_publisher(String, "~/events", 100)
        self._tf = _TransformBroadcaster(self)
        self._scan_period = 1.0 / self.scenario.lidar.rate_hz
        self._camera_period = 1.0 / self.scenario.camera_rate_hz
        self._next_scan = self._next_camera = self._next_truth = 0.0
        self.get_logger().info(
            f"scenario '{self.scenario.name}' (seed {self.world_seed()}), "
            f"{'lockstep' if self._lockstep else 'free-running'}")

    def world_seed(self) -> int:
        return getattr(self.world, "seed", self.scenario.seed)

    # --- commands -----------------------------------------------------------------
    def _on_command(self, msg) -> None:
        command = conversions.twist_from_msg(msg)
        if not (math.isfinite(command.linear) and math.isfinite(command.angular)):
            # A real base would fault; here the last command stands until it times out.
            self.get_logger().error(f"cmd_vel rejected: non-finite ({command.linear}, "
                                    f"{command.angular})", throttle_duration_sec=1.0)
            return
        if self._answers_by_stamp:
            stamp = conversions.time_to_seconds(msg.header.stamp)
            with self._command_lock:
                if self._answer is not None:
                    return  # the next step's command is decided
                if stamp >= self._awaited_stamp - SAME_INSTANT_S:
                    self._answer = command
                    self._command_arrived.set()
                else:
                    self._fallback = command
            return
        with self.world_lock:
            self.world.command(command)
        if self._lockstep_on_cmd_vel:
            self._command_arrived.set()

    def _expect_answer(self) -> None:
        """Called before each state is published: its answer is still to come."""
        with self._command_lock:
            self._awaited_stamp = self.world.time
            self._answer = self._fallback = None
            self._command_arrived.clear()

    def _wait_for_answer(self) -> None:
        if not self._command_arrived.wait(self._lockstep_timeout):
            # The world moves on without the stack's answer: from here the episode
            # depends on the machine's load, not only on its seed.
            self.steps_without_answer += 1
        if not self._answers_by_stamp:
            return
        with self._command_lock:
            command = self._answer if self._answer is not None else self._fallback
        if command is not None:
            with self.world_lock:
                self.world.command(command)

    # --- stepping -------------------------------------------------------------------
    def start(self) -> None:
        """Start stepping in a background thread (the node's main() calls this)."""
        self._expect_answer()
        self._publish_state()
        self._thread = threading.Thread(target=self._run, name="sim_step", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def reset(self) -> None:
        """Restart the episode from its first step: sim time jumps back to zero, as after a
        Gazebo world reset; the stack must cope (perception resets on a backwards clock)."""
        # Stepping resumes if it had been started, also when the thread had already ended
        # because the episode was over: a reset after the goal is the usual case.
        running = self._thread is not None
        self.stop()
        with self.world_lock:
            self.world = World(self.scenario, seed=self.world_seed())
        self._next_scan = self._next_camera = self._next_truth = 0.0
        self._stop.clear()
        if running:
            self.start()

    @property
    def finished(self) -> bool:
        return self.world.done

    def _run(self) -> None:
        wall_start, sim_start = time.monotonic(), self.world.time
        while not self._stop.is_set() and not self.world.done:
            if self._lockstep:
                self._wait_for_answer()
                if self._stop.is_set():
                    break
            with self.world_lock:
                events = self.world.step(self.step_dt)
            self._expect_answer()
            self._publish_state()
            for event in events:
                self._publish_event(event)
            if self.on_step is not None:
                self.on_step(self.world)
            if self._real_time_factor > 0.0:
                ahead = ((self.world.time - sim_start) / self._real_time_factor
                         - (time.monotonic() - wall_start))
                if ahead > 0.0:
                    time.sleep(ahead)
        self.get_logger().info(f"episode over at t={self.world.time:.2f} s: "
                               f"{self.world.outcome}")

    def _publish_event(self, event) -> None:
        payload = {"time": event.time, "kind": event.kind, "other_id": event.other_id,
                   "robot_at_fault": event.robot_at_fault, "detail": event.detail}
        self._event_publisher.publish(String(data=json.dumps(payload)))
        text = f"event at t={event.time:.2f} s: {event.kind} {event.detail}"
        if event.kind.startswith("collision"):
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def _publish_state(self) -> None:
        now = self.world.time
        stamp = conversions.seconds_to_time(now)
        self._clock_publisher.publish(Clock(clock=stamp))
        with self.world_lock:
            pose, velocity = self.world.robot_pose(), self.world.robot_velocity()
            scan = self.world.scan() if now >= self._next_scan else None
            truth = self.world.ground_truth() if now >= self._next_truth else None
            image = (self.world.render_camera()
                     if self._camera_enabled and now >= self._next_camera else None)
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id = stamp, self._odom_frame
        odom.child_frame_id = self._base_frame
        odom.pose.pose = conversions.pose_to_msg(pose)
        odom.twist.twist = conversions.twist_to_msg(velocity)
        self._odom_publisher.publish(odom)
        self._tf.send(stamp, self._odom_frame, self._base_frame, pose)
        if scan is not None:
            self._next_scan = now + self._scan_period - 1e-9
            self._scan_publisher.publish(
                conversions.scan_to_msg(scan, stamp, self._lidar_frame, self._scan_period))
        if truth is not None:
            self._next_truth = now + 1.0 / self._ground_truth_rate - 1e-9
            self._truth_publisher.publish(conversions.scene_to_msg(Scene(
                stamp=now, robot=pose, robot_velocity=velocity, objects=truth,
                walkway=self.world.walkway(), frame_id=self._odom_frame)))
        if image is not None:
            self._next_camera = now + self._camera_period - 1e-9
            self._publish_camera(stamp, image)

    def _publish_camera(self, stamp, image) -> None:
        model = self.world.camera()
        msg = Image(height=image.shape[0], width=image.shape[1], encoding="rgb8",
                    step=image.shape[1] * 3)
        msg.header.stamp, msg.header.frame_id = stamp, self._camera_frame
        msg.data = image.tobytes()
        info = CameraInfo(height=model.height, width=model.width, distortion_model="plumb_bob")
        info.header = msg.header
        info.d = [0.0] * 5
        info.k = model.intrinsic_matrix().ravel().tolist()
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [model.fx, 0.0, model.cx, 0.0, 0.0, model.fy, model.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        self._image_publisher.publish(msg)
        self._info_publisher.publish(info)

    def on_shutdown(self) -> None:
        self.stop()


class _TransformBroadcaster:
    """odom -> base_link on /tf when tf2_msgs is installed (a ROS distro has it)."""

    def __init__(self, node: Node):
        try:
            from geometry_msgs.msg import TransformStamped
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self._publisher = None
            node.get_logger().info("tf2_msgs is not installed: no /tf from the simulator")
            return
        self._types = (TFMessage, TransformStamped)
        self._publisher = node.create_publisher(TFMessage, "/tf", 10)

    def send(self, stamp, parent: str, child: str, pose) -> None:
        if self._publisher is None:
            return
        tf_message, transform_stamped = self._types
        transform = transform_stamped()
        transform.header.stamp, transform.header.frame_id = stamp, parent
        transform.child_frame_id = child
        transform.transform.translation.x = float(pose.x)
        transform.transform.translation.y = float(pose.y)
        transform.transform.rotation = conversions.yaw_to_quaternion(pose.yaw)
        self._publisher.publish(tf_message(transforms=[transform]))


class _StartingSimNode(SimNode):
    """The stand-alone executable: stepping starts as soon as the node exists."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.start()


def main(args=None) -> int:
    return spin_node(_StartingSimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
