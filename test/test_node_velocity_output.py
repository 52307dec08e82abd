"""The command publisher every node drives through: non-finite values, the final zero,
and slowing down between control cycles."""

import math

import pytest
import rclpy

from reasonact_ros.nodes.velocity_output import VelocityPublisher
from reasonact_ros.scene import Velocity2D


@pytest.fixture()
def output():
    """A VelocityPublisher whose messages are recorded in ``output.sent`` instead of sent."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("velocity_output_probe", context=context)
    try:
        publisher = VelocityPublisher(node, "cmd_vel_probe", stamped=False)
        publisher.sent = []
        # What would be handed to the publisher:
        publisher._send = lambda velocity, _stamp: publisher.sent.append(velocity)
        yield publisher
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_after_stop_only_zero_leaves(output):
    assert output.publish(Velocity2D(0.4, 0.1)) == Velocity2D(0.4, 0.1)
    assert output.publish(Velocity2D(math.nan, 0.1)) == Velocity2D(0.0, 0.0)
    assert output.rejected_non_finite == 1
    output.stop()
    # A timer callback still running on another thread after shutdown began:
    assert output.publish(Velocity2D(0.5, 0.2)) == Velocity2D(0.0, 0.0)
    assert output.sent == [Velocity2D(0.4, 0.1), Velocity2D(0.0, 0.0), Velocity2D(0.0, 0.0),
                           Velocity2D(0.0, 0.0)]


def test_slow_to_resends_the_last_command_scaled_down_on_the_same_arc(output):
    output.publish(Velocity2D(1.2, 0.3))
    assert output.slow_to(1.5) is None  # already slower: nothing is sent
    slowed = output.slow_to(0.6)
    assert slowed.linear == 0.6 and math.isclose(slowed.angular, 0.15)
    assert output.slow_to(0.0) == Velocity2D(0.0, 0.0)
    assert output.sent == [Velocity2D(1.2, 0.3), slowed, Velocity2D(0.0, 0.0)]
    assert output.last == Velocity2D(0.0, 0.0)
    output.stop()
    output.publish(Velocity2D(1.0, 0.0))
    assert output.slow_to(0.5) is None  # after the final zero nothing moves
