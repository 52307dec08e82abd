"""Replay a bag onto live topics with its timing, and /clock, for nodes on use_sim_time.

Messages are published as the serialized bytes from the bag (nothing is
re-encoded, so header stamps arrive exactly as recorded) on their recorded
topic names with their recorded QoS (the package's defaults when the bag has
none). ``/clock`` comes from the bag: its own ``/clock`` messages when it has
them, otherwise one Clock per bag timestamp, so ``use_sim_time`` nodes see the
recorded time. ``rate`` scales the timing; 0 publishes as fast as possible.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosReliability
from rosgraph_msgs.msg import Clock

from reasonact_ros.recording.bagfile import BagError, message_class, open_bag
from reasonact_ros.recording.recorder import DEFAULT_TOPICS, _profile

CLOCK_TOPIC = "/clock"
_CLOCK_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        history=HistoryPolicy.KEEP_LAST)


def replay_qos(name: str, recorded: Sequence[Qos]) -> QoSProfile:
    """The QoS a topic was offered with when recorded; the package's defaults otherwise.

    /clock is always reliable: that serves best-effort and reliable subscribers alike.
    """
    if name == CLOCK_TOPIC:
        return _CLOCK_QOS
    if recorded:
        qos = recorded[0]
        reliable = qos.reliability != QosReliability.BEST_EFFORT
        latched = qos.durability == QosDurability.TRANSIENT_LOCAL
        depth = qos.depth if qos.history == QosHistory.KEEP_LAST and qos.depth > 0 else 10
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=min(depth, 1000),
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
            else DurabilityPolicy.VOLATILE)
    for spec in DEFAULT_TOPICS:
        if name.lstrip("/") == spec.name.lstrip("/"):
            return _profile(spec.kind)
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      history=HistoryPolicy.KEEP_LAST)


def _time(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def replay_bag(path: str | Path, *, topics: Sequence[str] | None = None, rate: float = 1.0,
               wait_s: float = 2.0, context=None, stop: threading.Event | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Publish a bag's messages; return a summary (messages per topic, clock source, times).

    ``topics`` restricts the replay (BagError when the bag lacks one or its type is not
    installed); other topics with unknown types are skipped with a warning.
    """
    if not math.isfinite(rate) or rate < 0.0:
        raise BagError(f"replay rate must be >= 0 (0: as fast as possible), got {rate}")
    stop = stop or threading.Event()
    bag = open_bag(path)
    own_context = context is None
    node = None
    try:
        requested = [t if t.startswith("/") else "/" + t for t in topics or ()]
        bag.require(requested)
        if unknown := bag.unknown_types(requested):
            raise BagError(f"cannot replay {', '.join(unknown)}: message type not installed")
        selected = requested or [t for t, v in bag.topics.items() if v.count != 0]
        has_clock = CLOCK_TOPIC in bag.topics and bag.topics[CLOCK_TOPIC].count != 0
        if has_clock and CLOCK_TOPIC not in selected:
            selected.append(CLOCK_TOPIC)  # nodes on use_sim_time need it whatever is asked
        if unknown := bag.unknown_types(selected):
            bag.warnings.append(f"skipping {', '.join(unknown)}: message type not installed")
            selected = [t for t in selected if message_class(bag.topics[t].msgtype) is not None]
        for warning in bag.warnings:
            log(f"warning: {warning}")
        if own_context:
            context = rclpy.Context()
            rclpy.init(context=context)
        node = Node("bag_player", context=context)
        publishers = {
            name: node.create_publisher(message_class(bag.topics[name].msgtype), name,
                                        replay_qos(name, bag.topics[name].qos))
            for name in selected}
        clock = None if has_clock else node.create_publisher(Clock, CLOCK_TOPIC, _CLOCK_QOS)
        _wait_for_subscribers(node, list(publishers.values()), wait_s, stop)
        counts: Counter[str] = Counter()
        first = last = None
        start = time.monotonic()
        for topic, stamp, data in bag.messages(selected):
            if first is None:
                first = stamp
            if rate > 0.0:
                due = start + (stamp - first) * 1e-9 / rate
                while (delay := due - time.monotonic()) > 0.0 and not stop.is_set():
                    stop.wait(min(delay, 0.1))
            if stop.is_set():
                break
            if clock is not None and (last is None or stamp > last):
                clock.publish(Clock(clock=_time(stamp)))
            last = stamp if last is None else max(last, stamp)
            publishers[topic.name].publish(data)
            counts[topic.name] += 1
        wall = time.monotonic() - start
        time.sleep(0.2)  # let reliable messages still in flight reach their subscribers
        return {"bag": str(bag.path), "complete": bag.complete, "rate": rate,
                "clock": "bag /clock" if has_clock else "bag timestamps",
                "messages": sum(counts.values()), "topics": dict(sorted(counts.items())),
                "bag_span_s": round((last - first) * 1e-9, 3) if first is not None else 0.0,
                "wall_s": round(wall, 3), "interrupted": stop.is_set(),
                "warnings": list(bag.warnings)}
    finally:
        bag.close()
        if node is not None:
            node.destroy_node()
        if own_context and context is not None:
            rclpy.try_shutdown(context=context)


def _wait_for_subscribers(node: Node, publishers: list, wait_s: float,
                          stop: threading.Event) -> None:
    """Until every topic someone subscribes to is matched, or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not stop.is_set():
        matched = [p.get_subscription_count() for p in publishers]
        wanted = [node.count_subscribers(p.topic_name) for p in publishers]
        if any(matched) and all(m >= w for m, w in zip(matched, wanted, strict=True)):
            return
        time.sleep(0.05)
