"""Parameter declaration with descriptors, the way Nav2 nodes declare theirs."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def declare(node, name: str, default, description: str, *, low=None, high=None,
            read_only: bool = False):
    """Declare a parameter with a description and an optional inclusive range; return it."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if low is not None and high is not None:
        if isinstance(default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        elif isinstance(default, int) and not isinstance(default, bool):
            descriptor.integer_range = [
                IntegerRange(from_value=int(low), to_value=int(high), step=0)]
    return node.declare_parameter(name, default, descriptor).value


def declare_limits(node):
    """The hard limits every stage shares; one parameter name across the graph."""
    from reasonact_ros.scene import Limits

    defaults = Limits()
    return Limits(
        max_linear_speed=declare(
            node, "max_linear_speed", defaults.max_linear_speed,
            "Hard forward speed limit [m/s]; nothing the reasoning side says exceeds it",
            low=0.0, high=5.0),
        max_angular_speed=declare(
            node, "max_angular_speed", defaults.max_angular_speed,
            "Hard turn-rate limit [rad/s]", low=0.0, high=6.0),
        max_linear_accel=declare(
            node, "max_linear_accel", defaults.max_linear_accel,
            "Forward acceleration limit [m/s^2] (braking is never limited)", low=0.01, high=10.0),
        max_angular_accel=declare(
            node, "max_angular_accel", defaults.max_angular_accel,
            "Angular acceleration limit [rad/s^2]", low=0.01, high=20.0),
        min_person_clearance=declare(
            node, "min_person_clearance", defaults.min_person_clearance,
            "Least surface-to-surface distance to people any decision may ask for [m]",
            low=0.0, high=3.0),
    )


def polygon_parameter(node, name: str, default: list[float], description: str):
    """A polygon as a flat [x1, y1, x2, y2, ...] list, as Nav2's collision monitor takes it."""
    import numpy as np

    flat = declare(node, name, default, description + " (flat x1, y1, x2, y2, ... list [m])",
                   read_only=True)
    if len(flat) % 2 or len(flat) < 6:
        raise ValueError(f"parameter {name} needs an even number (>= 6) of values, "
                         f"got {len(flat)}")
    return np.asarray(flat, dtype=float).reshape(-1, 2)
