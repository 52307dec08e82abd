"""A node's time while it handles a message: on sim time, no earlier than the message."""

from __future__ import annotations

# A simulator's messages run ahead of its /clock by at most a step or two; a stamp
# further ahead is a wrong stamp (or one from before a reset), not the time.
MAX_LEAD_S = 0.5


def on_sim_time(node) -> bool:
    return bool(getattr(node.get_clock(), "ros_time_is_active", False))


def now_at_least(node, stamp: float) -> float:
    """The node's clock [s]; on sim time (``use_sim_time``), no earlier than ``stamp``
    when that is at most ``MAX_LEAD_S`` ahead.

    A simulator publishes /clock before the messages of that instant, but a node can
    handle those messages first (other topics, other readers): their stamp proves the
    simulation got there, and acting on it keeps a lockstep episode the same whichever
    arrived first. On a real clock a stamp ahead of it is another host's skew, not the
    time, and the clock stands as it is.
    """
    now = node.get_clock().now().nanoseconds * 1e-9
    if on_sim_time(node) and now < stamp <= now + MAX_LEAD_S:
        return stamp
    return now
