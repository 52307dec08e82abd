"""safety_node: the velocity filter between the planner and the base.

Inputs are the raw ``scan`` and ``cmd_vel_nav`` only, so it works when
perception, reasoning or the planner are dead or wrong. Publishes ``cmd_vel``
(Twist or TwistStamped) and ``~/state`` (which rule acted). Every rule lives
in reasonact_ros.safety.filter; this node only wires topics and parameters.

Each ``cmd_vel`` carries the stamp of the ``cmd_vel_nav`` it was filtered from
(TwistStamped), also when the timer re-publishes it slowed or stopped.

With ``lockstep`` the filter's time is the stamps: a command stamped t whose
scan is due at t waits for that scan, and while commands are fresh the timer
leaves the filter alone (each step's command is filtered as it comes; the timer
acts as the watchdog of a dead planner). Otherwise a timer tick that beat the
step's command by a moment left the acceleration limit no time to act on it,
and one seed gave two episodes.
"""

from __future__ import annotations

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool, String

from reasonact_ros.nodes import conversions, qos
from reasonact_ros.nodes.entrypoint import spin_node
from reasonact_ros.nodes.parameters import declare, declare_limits, polygon_parameter
from reasonact_ros.nodes.sim_clock import now_at_least
from reasonact_ros.nodes.velocity_output import VelocityPublisher
from reasonact_ros.safety.filter import SafetyConfig, SafetyFilter, box_polygon
from reasonact_ros.scene import Pose2D
from reasonact_ros.stamped_inputs import SensorSchedule


class SafetyNode(Node):
    def __init__(self, **kwargs):
        super().__init__("safety_node", **kwargs)
        stamped = declare(self, "use_stamped_cmd_vel", False,
                          "Take and publish geometry_msgs/TwistStamped instead of Twist",
                          read_only=True)
        rate = declare(self, "update_rate", 20.0,
                       "Rate of the watchdog and re-publication timer [Hz]", low=1.0, high=200.0)
        config = SafetyConfig(
            stop_polygon=polygon_parameter(
                self, "stop_polygon", box_polygon(0.0, 0.65, 0.32).ravel().tolist(),
                "Stop zone in base_link: any return inside stops forward motion"),
            slow_polygon=polygon_parameter(
                self, "slow_polygon", box_polygon(0.0, 1.3, 0.5).ravel().tolist(),
                "Slow-down zone in base_link"),
            slow_factor=declare(self, "slow_factor", 0.5,
                                "Speed scale inside the slow zone", low=0.01, high=1.0),
            time_before_collision=declare(
                self, "time_before_collision", 1.2,
                "Approach mode: the footprint may not reach a return sooner than this [s]",
                low=0.1, high=10.0),
            robot_radius=declare(self, "robot_radius", 0.3,
                                 "Circular footprint radius for the approach check [m]",
                                 low=0.05, high=2.0),
            watchdog_timeout=declare(self, "watchdog_timeout", 0.15,
                                     "No cmd_vel_nav for this long -> zero [s]",
                                     low=0.01, high=5.0),
            scan_timeout=declare(self, "scan_timeout", 0.5,
                                 "No scan for this long -> zero [s]", low=0.01, high=5.0),
            lidar_x=declare(self, "lidar_x", 0.0, "Lidar x in base_link [m]", low=-5.0, high=5.0),
            lidar_y=declare(self, "lidar_y", 0.0, "Lidar y in base_link [m]", low=-5.0, high=5.0),
            lidar_yaw=declare(self, "lidar_yaw", 0.0, "Lidar yaw in base_link [rad]",
                              low=-3.15, high=3.15),
            limits=declare_limits(self),
        )
        self._lockstep = declare(
            self, "lockstep", False,
            "Filter a command stamped t only after the scan due at t (for a simulator that "
            "waits for each answer; needs the scan's scan_time)", read_only=True)
        self._scan_schedule = SensorSchedule()
        self._waiting_command = None  # lockstep: (stamp, command) until its scan arrives
        self._command_stamp: float | None = None  # of the command being passed on
        self._filter = SafetyFilter(config)
        self._state = ""
        self._last_output = None
        group = MutuallyExclusiveCallbackGroup()  # the filter is not thread-safe
        twist_type = TwistStamped if stamped else Twist
        self._output = VelocityPublisher(self, "cmd_vel", stamped)
        self._state_publisher = self.create_publisher(String, "~/state", qos.LATCHED)
        self.create_subscription(LaserScan, "scan", self._on_scan, qos.SENSOR,
                                 callback_group=group)
        self.create_subscription(twist_type, "cmd_vel_nav", self._on_command, qos.COMMAND,
                                 callback_group=group)
        self.create_subscription(Bool, "emergency_stop", self._on_estop, qos.LATCHED,
                                 callback_group=group)
        self.create_timer(1.0 / rate, self._on_timer, callback_group=group)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_scan(self, msg: LaserScan) -> None:
        stamp = conversions.time_to_seconds(msg.header.stamp)
        self._scan_schedule.seen(stamp, msg.scan_time)
        self._filter.on_scan(self._time_of(stamp),
                             conversions.scan_from_msg(msg, Pose2D()))
        if self._waiting_command is not None and not self._scan_schedule.due(
                self._waiting_command[0]):
            self._pass_on(*self._waiting_command)

    def _on_command(self, msg) -> None:
        command = conversions.twist_from_msg(msg)
        stamp = (conversions.time_to_seconds(msg.header.stamp)
                 if isinstance(msg, TwistStamped) else None)
        if self._waiting_command is not None:  # its scan never came: no longer wait
            self._pass_on(*self._waiting_command)
        if self._lockstep and stamp is not None and self._scan_schedule.due(stamp):
            self._waiting_command = (stamp, command)
            return
        self._pass_on(stamp, command)

    def _pass_on(self, stamp: float | None, command) -> None:
        self._waiting_command = None
        now = self._time_of(stamp)
        self._command_stamp = stamp
        self._filter.on_command(now, command)
        self._update(forced=True, now=now)

    def _on_estop(self, msg: Bool) -> None:
        self._filter.set_estop(bool(msg.data))
        self.get_logger().warning(f"emergency stop {'ENGAGED' if msg.data else 'released'}")
        self._update(forced=True)

    def _time_of(self, stamp: float | None) -> float:
        """The filter's time for an input stamped ``stamp`` (None: unstamped)."""
        if stamp is None:
            return self._now()
        return stamp if self._lockstep else now_at_least(self, stamp)

    def _on_timer(self) -> None:
        # In lockstep, before the first command there is nothing to guard (a zero stamped
        # now would pass for the simulator's first answer), and a fresh one is filtered
        # as it comes.
        if self._lockstep and not self._filter.estop_engaged and (
                not self._filter.has_command or self._filter.command_is_fresh(self._now())):
            return
        self._update()

    def _update(self, forced: bool = False, now: float | None = None) -> None:
        """Filter and publish. The timer publishes only to override: while a rule holds
        the base (watchdog, e-stop, zones) or when the output changed, so in normal
        driving each planner command yields exactly one cmd_vel."""
        output = self._filter.update(self._now() if now is None else now)
        overriding = output.state not in ("ok", "limited")
        if forced or overriding or output.command != self._last_output:
            self._output.publish(output.command, self._command_stamp)
            self._last_output = output.command
        if output.state != self._state:
            self._state = output.state
            self._state_publisher.publish(String(data=output.state))
            if output.state not in ("ok", "limited"):
                self.get_logger().info(f"safety rule acting: {output.state}",
                                       throttle_duration_sec=1.0)

    def on_shutdown(self) -> None:
        self._output.stop()


def main(args=None) -> int:
    return spin_node(SafetyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
