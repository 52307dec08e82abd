"""A differential-drive base: velocity and acceleration limits, command timeout."""

from __future__ import annotations

import math

from reasonact_ros import scene
from reasonact_ros.sim.scenario import RobotParams


def _approach(current: float, target: float, max_change: float) -> float:
    return current + max(-max_change, min(max_change, target - current))


class DiffDriveRobot:
    """Tracks the latest velocity command within the base's limits.

    Like a diff_drive controller's ``cmd_vel_timeout``: a command older than
    ``params.command_timeout_s`` is replaced by zero, and the base brakes at its
    acceleration limits rather than stopping instantly.
    """

    def __init__(self, params: RobotParams, start: scene.Pose2D):
        self.params = params
        self.x, self.y, self.yaw = start.x, start.y, start.yaw
        self.linear = 0.0  # [m/s] body frame
        self.angular = 0.0  # [rad/s]
        self._command = scene.Velocity2D()
        self._command_time = -math.inf

    def command(self, cmd: scene.Velocity2D, now: float) -> None:
        if not isinstance(cmd, scene.Velocity2D):
            raise TypeError(f"command must be a scene.Velocity2D, got {type(cmd).__name__}")
        if not (math.isfinite(cmd.linear) and math.isfinite(cmd.angular)):
            raise ValueError(f"command must be finite, got {cmd}")
        self._command = cmd
        self._command_time = now

    def target_velocity(self, now: float) -> tuple[float, float]:
        """The command the base follows now: the latest one clipped to limits, or zero if stale."""
        if now - self._command_time > self.params.command_timeout_s:
            return 0.0, 0.0
        p = self.params
        linear = min(p.max_linear_speed, max(-p.max_reverse_speed, self._command.linear))
        angular = min(p.max_angular_speed, max(-p.max_angular_speed, self._command.angular))
        return linear, angular

    def step(self, dt: float, now: float) -> None:
        """Advance by ``dt`` seconds, ``now`` being the time at the start of the step."""
        target_linear, target_angular = self.target_velocity(now)
        previous_linear, previous_angular = self.linear, self.angular
        self.linear = _approach(self.linear, target_linear, self.params.max_linear_accel * dt)
        self.angular = _approach(self.angular, target_angular, self.params.max_angular_accel * dt)
        # Mean velocities over the step, integrated along the arc (exact for constant v, w).
        v = 0.5 * (previous_linear + self.linear)
        w = 0.5 * (previous_angular + self.angular)
        if abs(w) < 1e-9:
            self.x += v * dt * math.cos(self.yaw)
            self.y += v * dt * math.sin(self.yaw)
        else:
            new_yaw = self.yaw + w * dt
            self.x += v / w * (math.sin(new_yaw) - math.sin(self.yaw))
            self.y -= v / w * (math.cos(new_yaw) - math.cos(self.yaw))
            self.yaw = new_yaw
        self.yaw = math.atan2(math.sin(self.yaw), math.cos(self.yaw))

    def pose(self) -> scene.Pose2D:
        return scene.Pose2D(self.x, self.y, self.yaw)

    def velocity(self) -> scene.Velocity2D:
        return scene.Velocity2D(self.linear, self.angular)

    def velocity_odom(self) -> tuple[float, float]:
        return self.linear * math.cos(self.yaw), self.linear * math.sin(self.yaw)
