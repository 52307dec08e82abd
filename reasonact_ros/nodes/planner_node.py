"""planner_node: the decision-shaped local planner.

Subscribes ``scene`` (tracked people, walkway), ``scan`` (obstacle points),
``odom``, ``decision`` and ``goal_pose``; a fixed-rate timer in its own
callback group (in ``lockstep``, each odometry message: below) plans and
publishes ``cmd_vel_nav``, ``~/plan`` and ``~/predictions``. Subscriptions only
store the latest message (Nav2 velocity smoother pattern), so a slow message
never delays a control cycle.

Staleness rules: no fresh decision -> the conservative default decision; no
fresh scene -> stop (perception may be dead, people may be anywhere).

Arrival: the robot slows over the last metre (MPPI: ``approach_gain``; not below
``approach_passed_speed`` while someone walks past where it stands) and a goal
once within ``goal_tolerance`` stays reached (the robot holds) until a new
``goal_pose`` or route comes, as with Nav2's stateful goal checker.

With ``lockstep`` (a simulator that waits for each answer) there is no timer:
each odometry message starts the cycle for its stamp t, which runs once every
input for t is here: on a step with a scan (the last scan's stamp plus its
``scan_time``), that scan, the scene perception made of it and, when decisions
are used, the decision made of that scene. The command is stamped t. So the
cycle computes from the same inputs whatever order they arrived in, and one seed
gives one episode. An input that never comes is waited for ``lockstep_timeout``
of wall time, then the cycle runs without it.

A decision that lowers the speed limit acts at once: the last command is sent
again, scaled down to the new limit on the same arc, without waiting for the
next cycle (``react_to_decisions``). Each cycle's command is capped by the
newest decision at publishing time, so a cycle that started before the
decision arrived cannot speed the robot up again. Outside lockstep, decisions
are received on a node and thread of their own (``<name>_decisions``): the
node's executor is single-threaded and rclpy serves a ready timer before ready
subscriptions, so on the control thread a decision that arrived during a cycle
waited for the next cycle as well.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
from geometry_msgs.msg import Point, PoseStamped
from nav_msgs.msg import Odometry, Path
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from reasonact_ros.msg import BehaviorDecision, SceneObservation
from reasonact_ros.nodes import conversions, qos
from reasonact_ros.nodes.entrypoint import spin_node, spin_until_stopped
from reasonact_ros.nodes.parameters import declare, declare_limits
from reasonact_ros.nodes.sim_clock import now_at_least
from reasonact_ros.nodes.velocity_output import VelocityPublisher
from reasonact_ros.planning.fallback import FallbackPlanner
from reasonact_ros.planning.interface import PLANNER_NAMES, PlannerInput, make_planner
from reasonact_ros.scene import (
    Behavior,
    Decision,
    DecisionSource,
    Goal,
    Pose2D,
    Velocity2D,
    default_decision,
)
from reasonact_ros.stamped_inputs import SAME_INSTANT_S, SensorSchedule, StampedHistory


class PlannerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("planner_node", **kwargs)
        self._odom_frame = declare(self, "odom_frame", "odom", "Odometry frame (REP-105)",
                                   read_only=True)
        planner_name = declare(self, "planner", "mppi",
                               f"Local planner: {'|'.join(PLANNER_NAMES)}", read_only=True)
        if planner_name not in PLANNER_NAMES:
            raise ValueError(f"parameter planner must be one of {PLANNER_NAMES}, "
                             f"got {planner_name!r}")
        rate = declare(self, "control_rate", 20.0, "Planning rate [Hz]", low=1.0, high=100.0,
                       read_only=True)
        deadline_s = declare(self, "deadline", 0.045,
                             "MPPI cycles slower than this, 3 in a row, hand over to DWA for "
                             "40 cycles [s]", low=0.001, high=1.0, read_only=True)
        deadline_clock = declare(
            self, "deadline_clock", "wall",
            "What the deadline measures: wall (a robot) or cpu, the planning thread's CPU "
            "time (lockstep simulation, where the world waits and load should not matter)",
            read_only=True)
        self._scene_timeout = declare(self, "scene_timeout", 0.5,
                                      "Older scenes stop the robot [s]", low=0.05, high=10.0)
        self._goal_tolerance = declare(self, "goal_tolerance", 0.3, "Goal radius [m]",
                                       low=0.01, high=5.0)
        route = declare(self, "route", [0.0],
                        "Route in odom as a flat x1, y1, x2, y2, ... list; [0.0] for none "
                        "(goal_pose then sets the goal)")
        self._lidar_offset = Pose2D(
            declare(self, "lidar_x", 0.0, "Lidar x in base_link [m]", low=-5.0, high=5.0),
            declare(self, "lidar_y", 0.0, "Lidar y in base_link [m]", low=-5.0, high=5.0),
            declare(self, "lidar_yaw", 0.0, "Lidar yaw in base_link [rad]", low=-3.15, high=3.15))
        stamped = declare(self, "use_stamped_cmd_vel", False,
                          "Publish geometry_msgs/TwistStamped on cmd_vel_nav", read_only=True)
        self._use_decisions = declare(
            self, "use_decisions", True,
            "Obey BehaviorDecision; false drives at the limits (the no-reasoning baseline)",
            read_only=True)
        self._react_to_decisions = declare(
            self, "react_to_decisions", True,
            "Slow cmd_vel_nav down as soon as a decision lowers the speed limit, between "
            "cycles", read_only=True)
        self._lockstep = declare(
            self, "lockstep", False,
            "Plan once per odometry message, when the scan, scene and decision stamped "
            "with its time have arrived, instead of on the control_rate timer (for a "
            "simulator that waits for each answer; needs the scan's scan_time)",
            read_only=True)
        self._lockstep_timeout = declare(
            self, "lockstep_timeout", 0.5,
            "Longest wait for a lockstep cycle's inputs before planning without them "
            "[wall s]", low=0.01, high=10.0, read_only=True)
        self._limits = declare_limits(self)
        planner_params = {}
        threads = declare(
            self, "torch_threads", 1,
            "Threads for MPPI's tensors. One is steadier than two on a small robot computer: "
            "with two, each cycle waits at OpenMP barriers for a thread another process has "
            "pre-empted (measured: p95 15.8 ms alone, 396 ms beside a busy process)",
            low=1, high=64, read_only=True)
        if planner_name == "mppi":
            import torch

            torch.set_num_threads(threads)
            planner_params = {
                "samples": declare(self, "mppi_samples", 2000, "MPPI rollouts per cycle",
                                   low=16, high=20000, read_only=True),
                "steps": declare(self, "mppi_steps", 56, "MPPI horizon steps", low=4, high=400,
                                 read_only=True),
                "dt": declare(self, "mppi_dt", 0.05, "MPPI step [s]", low=0.01, high=0.5,
                              read_only=True),
            }
        self._planner = make_planner(planner_name, **planner_params)
        if planner_name != "dwa":
            self._planner = FallbackPlanner(self._planner, make_planner("dwa"),
                                            deadline_ms=deadline_s * 1e3, clock=deadline_clock)

        self._goal: Goal | None = None
        if len(route) >= 2:
            self._set_route(route)
        self._odom: Odometry | None = None
        # Odometry by stamp: a scan's points are placed with the pose at the scan's stamp.
        self._odom_history: StampedHistory[Odometry] = StampedHistory()
        self._scan_schedule = SensorSchedule()
        self._pending: tuple[float, float] | None = None  # lockstep: (stamp, wall start)
        self.cycles_without_inputs = 0  # lockstep cycles run before their inputs were in
        self._scene = None
        self._scene_received = -math.inf
        self._decision: Decision | None = None
        self._scan: LaserScan | None = None

        inputs = MutuallyExclusiveCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Odometry, "odom", self._on_odom, qos.SENSOR,
                                 callback_group=inputs)
        self.create_subscription(SceneObservation, "scene", self._on_scene, qos.COMMAND,
                                 callback_group=inputs)
        self._decisions = None
        if self._lockstep or not (self._react_to_decisions and self._use_decisions):
            # In lockstep a decision completes a cycle's inputs: it is one of them.
            self.create_subscription(BehaviorDecision, "decision", self._on_decision,
                                     qos.COMMAND, callback_group=inputs)
        else:
            self._decisions = DecisionListener(self, self._on_decision)
        self.create_subscription(LaserScan, "scan", self._on_scan, qos.SENSOR,
                                 callback_group=inputs)
        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, qos.COMMAND,
                                 callback_group=inputs)
        self._cmd = VelocityPublisher(self, "cmd_vel_nav", stamped)
        self._path_publisher = self.create_publisher(Path, "~/plan", 1)
        self._prediction_publisher = self.create_publisher(MarkerArray, "~/predictions", 1)
        self._status_publisher = self.create_publisher(String, "~/status", qos.LATCHED)
        self._status = ""
        if self._lockstep:
            # Wall time: sim time stands still while the simulator waits for us.
            self.create_timer(0.05, self._run_overdue_cycle, callback_group=inputs,
                              clock=Clock(clock_type=ClockType.STEADY_TIME))
        else:
            self.create_timer(1.0 / rate, self._cycle, callback_group=control)

    # --- inputs: store the latest (in lockstep, then run a cycle they complete) --
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_odom(self, msg: Odometry) -> None:
        try:
            conversions.check_odometry(msg)
        except ValueError as error:
            # Keep the last good odometry; stale odometry then shows up as stale scenes.
            self.get_logger().warning(f"odom rejected: {error}", throttle_duration_sec=2.0)
            return
        stamp = conversions.time_to_seconds(msg.header.stamp)
        if self._odom_history.went_back(stamp):
            # What came before is from another run.
            self._odom_history.clear()
            self._scan_schedule.reset()
            self._pending = None
        if self._lockstep and self._pending is not None:
            # The simulator moved on without our answer: answer late, from what is here.
            self.cycles_without_inputs += 1
            self._cycle(self._pending[0])
        self._odom = msg
        self._odom_history.add(stamp, msg)
        if self._lockstep:
            self._pending = (stamp, time.monotonic())
            self._run_complete_cycle()

    def _on_scene(self, msg: SceneObservation) -> None:
        try:
            self._scene = conversions.scene_from_msg(msg)
            self._scene_received = now_at_least(self, self._scene.stamp)
        except ValueError as error:
            self.get_logger().warning(f"scene rejected: {error}", throttle_duration_sec=2.0)
            return
        self._run_complete_cycle()

    def _on_decision(self, msg: BehaviorDecision) -> None:
        try:
            self._decision = conversions.decision_from_msg(msg)
        except ValueError as error:
            self.get_logger().warning(f"decision rejected: {error}", throttle_duration_sec=2.0)
            return
        if self._react_to_decisions and self._use_decisions:
            cap = self._speed_cap(now_at_least(self, self._decision.stamp))
            if cap is not None:
                self._cmd.slow_to(cap)
        self._run_complete_cycle()

    def _speed_cap(self, now: float) -> float | None:
        """The newest decision's forward speed limit, if it is usable now."""
        decision = self._decision
        if decision is None or not decision.is_valid_at(now):
            return None
        return 0.0 if decision.behavior == Behavior.STOP else max(decision.max_speed, 0.0)

    def _on_scan(self, msg: LaserScan) -> None:
        self._scan = msg
        self._scan_schedule.seen(conversions.time_to_seconds(msg.header.stamp), msg.scan_time)
        self._run_complete_cycle()

    # --- lockstep: one cycle per odometry stamp, once its inputs are here ---------
    def _missing_inputs(self, t: float) -> list[str]:
        """What the cycle for stamp ``t`` still waits for (nothing between two scans)."""
        schedule = self._scan_schedule
        scan_due = schedule.due(t)
        scan_here = (schedule.last_stamp is not None
                     and abs(schedule.last_stamp - t) <= SAME_INSTANT_S)
        if not (scan_due or scan_here):
            return []
        missing = ["scan"] if scan_due else []
        if self._scene is None or self._scene.stamp < t - SAME_INSTANT_S:
            missing.append("scene")
        elif self._use_decisions and (self._decision is None
                                      or self._decision.stamp < t - SAME_INSTANT_S):
            missing.append("decision")
        return missing

    def _run_complete_cycle(self) -> None:
        if self._pending is not None and not self._missing_inputs(self._pending[0]):
            stamp, self._pending = self._pending[0], None
            self._cycle(stamp)

    def _run_overdue_cycle(self) -> None:
        if self._pending is None or time.monotonic() - self._pending[1] < self._lockstep_timeout:
            return
        stamp, self._pending = self._pending[0], None
        self.cycles_without_inputs += 1
        self.get_logger().warning(
            f"lockstep cycle at t={stamp:.2f} s planned without "
            f"{', '.join(self._missing_inputs(stamp)) or 'nothing'} after waiting "
            f"{self._lockstep_timeout:.2f} s", throttle_duration_sec=5.0)
        self._cycle(stamp)

    def _on_goal(self, msg: PoseStamped) -> None:
        try:
            x, y = conversions.goal_point_from_msg(msg, frame=self._odom_frame)
        except ValueError as error:
            self.get_logger().error(f"goal_pose rejected: {error}", throttle_duration_sec=1.0)
            return
        self._goal = Goal(((x, y),), tolerance=self._goal_tolerance)
        self._planner.reset()
        self.get_logger().info(f"new goal ({x:.2f}, {y:.2f}) in {self._odom_frame}")

    def _set_route(self, flat: list[float]) -> None:
        self._goal = Goal.from_flat(flat, tolerance=self._goal_tolerance)

    # --- the control cycle ------------------------------------------------------
    def _robot_pose(self) -> Pose2D | None:
        if self._odom is None:
            return None
        return conversions.pose_from_msg(self._odom.pose.pose)

    def _obstacle_points(self) -> np.ndarray:
        if self._scan is None:
            return np.zeros((0, 2))
        odom = self._odom_history.at(conversions.time_to_seconds(self._scan.header.stamp))
        if odom is None:
            return np.zeros((0, 2))
        robot, offset = conversions.pose_from_msg(odom.pose.pose), self._lidar_offset
        c, s = math.cos(robot.yaw), math.sin(robot.yaw)
        sensor = Pose2D(robot.x + c * offset.x - s * offset.y,
                        robot.y + s * offset.x + c * offset.y, robot.yaw + offset.yaw)
        return conversions.scan_from_msg(self._scan, sensor).points_odom()

    def _current_decision(self, now: float) -> Decision:
        if not 0.0 <= now - self._scene_received <= self._scene_timeout:
            return Decision(Behavior.STOP, 0.0, self._limits.min_person_clearance,
                            valid_until=now, source=DecisionSource.FALLBACK,
                            rationale="scene is stale: perception may be down", stamp=now)
        if not self._use_decisions:
            return Decision(Behavior.PROCEED, self._limits.max_linear_speed,
                            self._limits.min_person_clearance, valid_until=now,
                            source=DecisionSource.FALLBACK, rationale="decisions not used",
                            stamp=now)
        if self._decision is None or not self._decision.is_valid_at(now):
            return self._conservative_decision(now)
        scene_unhealthy = self._scene is not None and not self._scene.health.scan_ok
        if scene_unhealthy:
            conservative = self._conservative_decision(now)
            if self._decision.max_speed > conservative.max_speed:
                return dataclasses.replace(conservative, rationale="scan unhealthy: slowing")
        return self._decision

    def _conservative_decision(self, now: float) -> Decision:
        """The default decision, keeping the last decision's clearance floor: an
        instruction's "keep 2 m away" outlives the reasoning node's silence."""
        conservative = default_decision(now, self._limits)
        if self._decision is None:
            return conservative
        floor = self._decision.clearance_floor
        return dataclasses.replace(conservative, clearance_floor=floor,
                                   min_clearance=max(conservative.min_clearance, floor))

    def _cycle(self, inputs_stamp: float | None = None) -> None:
        """Plan and publish. ``inputs_stamp``: the lockstep step planned for (the clock
        may not have reached it yet)."""
        now = self._now() if inputs_stamp is None else now_at_least(self, inputs_stamp)
        robot = self._robot_pose()
        if robot is None:
            self._publish_status("no_odom")
            self._cmd.publish_zero(now)
            return
        decision = self._current_decision(now)
        scene = self._scene
        try:
            inp = PlannerInput(
                now=now, robot=robot,
                velocity=conversions.twist_from_msg(self._odom.twist.twist),
                goal=self._goal,
                people=scene.people() if scene is not None else (),
                obstacle_points=self._obstacle_points(),
                walkway=scene.walkway if scene is not None else None,
                decision=decision, limits=self._limits)
        except ValueError as error:
            self.get_logger().warning(f"planning skipped: {error}", throttle_duration_sec=2.0)
            self._cmd.publish_zero(now)
            return
        switches_before = getattr(self._planner, "switches", 0)
        try:
            result = self._planner.plan(inp)
        except (ValueError, FloatingPointError, MemoryError) as error:
            self.get_logger().error(f"planning failed, stopping: {error}",
                                    throttle_duration_sec=2.0)
            self._cmd.publish_zero(now)
            return
        if getattr(self._planner, "switches", 0) > switches_before:
            self.get_logger().warning(
                f"MPPI missed its deadline repeatedly (last cycle {result.compute_ms:.0f} ms): "
                "DWA plans for a while", throttle_duration_sec=5.0)
        command = self._within_limits(result.command)
        # A decision that arrived while this cycle planned caps its command; it is stamped
        # after the cycle's start, so it is judged at the time of publishing (in
        # lockstep decisions arrive between cycles only, and the step's time stands).
        cap = (self._speed_cap(now if self._lockstep else max(now, self._now()))
               if self._use_decisions else None)
        if cap is not None:
            command = command.at_most(cap)
        self._cmd.publish(command, now)
        self._publish_status(result.status)
        self._publish_plan(result.trajectory)
        self._publish_predictions(result.predictions)

    def _within_limits(self, command: Velocity2D) -> Velocity2D:
        """Defence in depth: whatever a planner returns, cmd_vel_nav stays within the limits
        (the safety node enforces them again on cmd_vel)."""
        limits = self._limits
        linear = min(max(command.linear, -limits.max_reverse_speed), limits.max_linear_speed)
        angular = min(max(command.angular, -limits.max_angular_speed), limits.max_angular_speed)
        return Velocity2D(linear, angular)

    def _publish_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self._status_publisher.publish(String(data=status))

    def _publish_plan(self, trajectory: np.ndarray) -> None:
        path = Path()
        path.header.stamp = self.get_clock().now().to_msg()
        path.header.frame_id = self._odom_frame
        for x, y, yaw in np.asarray(trajectory).reshape(-1, 3):
            pose = PoseStamped()
            pose.header = path.header
            pose.pose = conversions.pose_to_msg(Pose2D(float(x), float(y), float(yaw)))
            path.poses.append(pose)
        self._path_publisher.publish(path)

    def _publish_predictions(self, predictions: dict) -> None:
        markers = MarkerArray()
        stamp = self.get_clock().now().to_msg()
        markers.markers.append(Marker(action=Marker.DELETEALL))
        for person_id, positions in predictions.items():
            marker = Marker(type=Marker.LINE_STRIP, action=Marker.ADD, id=int(person_id) % 2**31)
            marker.header.stamp, marker.header.frame_id = stamp, self._odom_frame
            marker.ns = "predictions"
            marker.scale.x = 0.05
            marker.color.r, marker.color.g, marker.color.a = 1.0, 0.5, 0.8
            marker.points = [Point(x=float(x), y=float(y), z=0.0)
                             for x, y in np.asarray(positions).reshape(-1, 2)]
            markers.markers.append(marker)
        self._prediction_publisher.publish(markers)

    def on_shutdown(self) -> None:
        self._close_decisions()  # first: nothing may slow_to after the final zero
        self._cmd.stop()

    def destroy_node(self) -> None:
        self._close_decisions()
        super().destroy_node()

    def _close_decisions(self) -> None:
        if self._decisions is not None:
            self._decisions.close()
            self._decisions = None


class DecisionListener:
    """The ``decision`` subscription of ``node`` on a node and executor thread of its own.

    Measured with ``reasonact bench`` (reaction latency, a second eval beside it): on
    the planner's single executor thread a SLOW decision reached ``cmd_vel_nav`` up to
    210 ms after it was published, one or two MPPI cycles late, because rclpy serves a
    ready timer before ready subscriptions. Here the callback runs as soon as the
    planning thread lets go of the GIL, which torch does in every operation. The
    callback only stores the decision and slows the last command down (both safe from
    this thread: one reference assignment, and VelocityPublisher's lock).
    """

    def __init__(self, node: Node, callback):
        self.node = Node(f"{node.get_name()}_decisions", namespace=node.get_namespace(),
                         context=node.context, start_parameter_services=False)
        # The topic as the planner would name it, so that remapping the planner's
        # ``decision`` remaps this subscription too.
        self.node.create_subscription(BehaviorDecision, node.resolve_topic_name("decision"),
                                      callback, qos.COMMAND)
        self._executor = SingleThreadedExecutor(context=node.context)
        self._executor.add_node(self.node)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=spin_until_stopped,
                                        args=(self._executor, self._stopped),
                                        name="decisions", daemon=True)
        self._thread.start()

    def _stopped(self) -> bool:
        return self._closing.is_set() or not self.node.context.ok()

    def close(self) -> None:
        self._closing.set()
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=2.0)
        self.node.destroy_node()


def main(args=None) -> int:
    return spin_node(PlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
