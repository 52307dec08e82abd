"""Nodes that command velocity publish zero when they stop (STYLE: zero in `finally`)."""

import math
import time

import pytest
import rclpy
from geometry_msgs.msg import Twist
from process_tools import start_python, stop
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

pytestmark = pytest.mark.ros


def _clear_scan(node) -> LaserScan:
    scan = LaserScan()
    scan.header.stamp = node.get_clock().now().to_msg()
    scan.header.frame_id = "base_scan"
    scan.angle_min, scan.angle_increment = -math.pi, 2 * math.pi / 360
    scan.angle_max = scan.angle_min + scan.angle_increment * 359
    scan.range_min, scan.range_max = 0.05, 12.0
    scan.ranges = [8.0] * 360  # a wall 8 m away all round: valid, far from every zone
    return scan


def test_safety_node_forwards_then_publishes_zero_on_sigint():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("shutdown_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received: list[Twist] = []
    node.create_subscription(Twist, "cmd_vel", received.append, 10)
    scans = node.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
    commands = node.create_publisher(Twist, "cmd_vel_nav", 10)
    # This test is about shutdown: a long watchdog keeps a slow, loaded test loop from
    # tripping it (the watchdog has its own tests).
    process = start_python(["-m", "reasonact_ros.nodes.safety_node", "--ros-args",
                            "-p", "watchdog_timeout:=1.0"])
    try:
        deadline = time.monotonic() + 30.0
        command = Twist()
        command.linear.x = 0.5
        while time.monotonic() < deadline:
            scans.publish(_clear_scan(node))
            commands.publish(command)
            executor.spin_once(timeout_sec=0.05)
            if any(m.linear.x > 0.1 for m in received):
                break
        # Acceleration limits ramp the output up towards the commanded 0.5 m/s.
        assert any(0.1 < m.linear.x <= 0.5 + 1e-6 for m in received), \
            "safety node never forwarded a go command on a clear scan"
        received.clear()
        output = stop(process)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        assert process.returncode == 0, output
        assert received, "nothing published on shutdown"
        assert received[-1].linear.x == 0.0 and received[-1].angular.z == 0.0
    finally:
        stop(process)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


# A node whose timer does what pybind11 does when SIGINT lands while rclpy takes a
# message: the KeyboardInterrupt raised during argument conversion comes out as a
# RuntimeError. The node must still stop cleanly and run its on_shutdown.
_INTERRUPTED_IN_CPP = """
import signal
from rclpy.node import Node
from reasonact_ros.nodes import entrypoint

class Probe(Node):
    executor_threads = 1

    def __init__(self):
        super().__init__("interrupted_probe")
        self.create_timer(0.05, self.tick)

    def tick(self):
        try:
            entrypoint._raise_interrupt(signal.SIGINT, None)
        except KeyboardInterrupt:
            raise RuntimeError("Unable to convert call argument '0' to Python object") from None

    def on_shutdown(self):
        print("on_shutdown ran", flush=True)

raise SystemExit(entrypoint.spin_node(Probe, []))
"""

_CRASHING = _INTERRUPTED_IN_CPP.replace(
    "entrypoint._raise_interrupt(signal.SIGINT, None)", "raise KeyboardInterrupt").replace(
    "except KeyboardInterrupt:", "except ZeroDivisionError:").replace(
    "self.create_timer(0.05, self.tick)", "self.create_timer(0.05, self.fail)").replace(
    "    def on_shutdown", "    def fail(self):\n        raise RuntimeError('a real bug')\n\n"
    "    def on_shutdown")


def test_an_interrupt_inside_rclpy_is_a_clean_stop_but_a_real_error_is_not():
    # Both stop by themselves on their first timer tick.
    interrupted = start_python(["-c", _INTERRUPTED_IN_CPP])
    output, _ = interrupted.communicate(timeout=30.0)
    assert interrupted.returncode == 0, output
    assert "on_shutdown ran" in output
    crashing = start_python(["-c", _CRASHING])
    output, _ = crashing.communicate(timeout=30.0)
    assert crashing.returncode != 0 and "a real bug" in output
    assert "on_shutdown ran" in output  # zero velocity even on a crash
