"""cmd_vel as Twist or TwistStamped, chosen by a parameter (TurtleBot3 #1135 trap).

A TwistStamped's stamp is the time of the inputs the command was computed from
(the planner's cycle, the planner command a safety filter passed on), or the
node's clock when there is none; a lockstep simulator matches commands to its
steps by it.
"""

from __future__ import annotations

import math
import threading

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.duration import Duration

from reasonact_ros.nodes import conversions, qos
from reasonact_ros.scene import Velocity2D


class VelocityPublisher:
    """Publishes body-frame velocities; non-finite values never leave this class."""

    def __init__(self, node, topic: str, stamped: bool, frame_id: str = "base_link"):
        self._node = node
        self._stamped = stamped
        self._frame_id = frame_id
        self._publisher = node.create_publisher(TwistStamped if stamped else Twist, topic,
                                                qos.COMMAND)
        self.rejected_non_finite = 0
        self._lock = threading.Lock()
        self.stopped = False
        self.last = Velocity2D(0.0, 0.0)  # the last velocity sent
        self.last_stamp: float | None = None  # its stamp [s]; None: the clock's at sending

    def publish(self, velocity: Velocity2D, stamp: float | None = None) -> Velocity2D:
        """Send ``velocity`` stamped ``stamp`` (seconds; None: now)."""
        if not (math.isfinite(velocity.linear) and math.isfinite(velocity.angular)):
            self.rejected_non_finite += 1
            velocity = Velocity2D(0.0, 0.0)
        with self._lock:
            if self.stopped:  # after the final zero nothing else may leave
                velocity = Velocity2D(0.0, 0.0)
            self._send(velocity, stamp)
            self.last, self.last_stamp = velocity, stamp
        return velocity

    def slow_to(self, max_linear: float) -> Velocity2D | None:
        """Re-send the last velocity scaled down (same arc) so that its forward speed is
        at most ``max_linear``; None when it already was. For reacting to a new, lower
        limit between two control cycles. It keeps the last command's stamp: it is that
        command, slower."""
        with self._lock:
            velocity = self.last.at_most(max_linear)
            if self.stopped or velocity == self.last:
                return None
            self._send(velocity, self.last_stamp)
            self.last = velocity
        return velocity

    def stop(self) -> None:
        """Publish the final zero and hold it: a callback still running on another
        executor thread (shutdown waits only so long) can no longer send motion after it."""
        with self._lock:
            self.stopped = True
            self._send(Velocity2D(0.0, 0.0), None)
            self.last, self.last_stamp = Velocity2D(0.0, 0.0), None
        # The process is about to destroy its participant: without waiting for the
        # subscribers' acknowledgement the zero can die with it, and the last command the
        # base saw stays a forward one.
        self._publisher.wait_for_all_acked(Duration(seconds=0.5))

    def _send(self, velocity: Velocity2D, stamp: float | None) -> None:
        twist = conversions.twist_to_msg(velocity)
        if self._stamped:
            msg = TwistStamped()
            msg.header.stamp = (self._node.get_clock().now().to_msg() if stamp is None
                                else conversions.seconds_to_time(stamp))
            msg.header.frame_id = self._frame_id
            msg.twist = twist
            self._publisher.publish(msg)
        else:
            self._publisher.publish(twist)

    def publish_zero(self, stamp: float | None = None) -> None:
        self.publish(Velocity2D(0.0, 0.0), stamp)
