"""A node's time while it handles a message: on sim time, no earlier than the message."""

from __future__ import annotations


def now_at_least(node, stamp: float) -> float:
    """The node's clock [s]; on sim time (``use_sim_time``), no earlier than ``stamp``.

    A simulator publishes /clock before the messages of that instant, but a node can
    handle those messages first (other topics, other readers): their stamp proves the
    simulation got there, and acting on it keeps a lockstep episode the same whichever
    arrived first. On a real clock a stamp ahead of it is another host's skew, not the
    time, and the clock stands as it is.
    """
    clock = node.get_clock()
    now = clock.now().nanoseconds * 1e-9
    return max(now, stamp) if getattr(clock, "ros_time_is_active", False) else now
