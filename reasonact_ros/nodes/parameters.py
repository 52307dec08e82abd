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
