"""The command publisher every node drives through: non-finite values and the final zero."""

import math

import rclpy

from reasonact_ros.nodes.velocity_output import VelocityPublisher
from reasonact_ros.scene import Velocity2D


def test_after_stop_only_zero_leaves():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("velocity_output_probe", context=context)
    try:
        sent = []
        output = VelocityPublisher(node, "cmd_vel_probe", stamped=False)
        output._send = sent.append  # what would be handed to the publisher
        assert output.publish(Velocity2D(0.4, 0.1)) == Velocity2D(0.4, 0.1)
        assert output.publish(Velocity2D(math.nan, 0.1)) == Velocity2D(0.0, 0.0)
        assert output.rejected_non_finite == 1
        output.stop()
        # A timer callback still running on another thread after shutdown began:
        assert output.publish(Velocity2D(0.5, 0.2)) == Velocity2D(0.0, 0.0)
        assert sent == [Velocity2D(0.4, 0.1), Velocity2D(0.0, 0.0), Velocity2D(0.0, 0.0),
                        Velocity2D(0.0, 0.0)]
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
