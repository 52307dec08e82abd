"""BagRecorder: the graph's topics into a rosbag2 bag, as serialized CDR straight from DDS.

Subscriptions are raw (the bytes rclpy receives are the bytes written), so
header stamps and every other field are preserved exactly. Sensor topics are
subscribed best effort, commands and decisions reliable, latched topics
transient-local; when a topic's publishers are already visible the QoS follows
what they offer, as ``ros2 bag record`` does. A topic whose type differs from
the default (``cmd_vel`` as TwistStamped) is picked up from the graph.

Bag timestamps are the receive time on the node clock (``timestamps="receive"``,
as ``ros2 bag record``), so with ``use_sim_time`` they are simulation time and
line up with ``/clock`` and the header stamps; ``timestamps="header"`` uses the
message's own header (or Time) stamp where it has one. The writer is shared by
callbacks from a MultiThreadedExecutor under one lock, flushed once a second on
the steady clock so a crash loses at most that second, and closed in
``on_shutdown()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from reasonact_ros.nodes.parameters import declare
from reasonact_ros.recording.bagfile import (
    BagError,
    BagWriter,
    MessageTypes,
    cdr_stamp_ns,
    message_class,
)

SENSOR, COMMAND, LATCHED = "sensor", "command", "latched"
TIMESTAMPS = ("receive", "header")
# Deep queues: a recorder that falls behind a burst should not drop what it can still write.
_DEPTH = 100


@dataclass(frozen=True)
class TopicSpec:
    name: str
    msgtype: str
    kind: str  # SENSOR (best effort), COMMAND (reliable) or LATCHED (transient local)


DEFAULT_TOPICS = (
    TopicSpec("scan", "sensor_msgs/msg/LaserScan", SENSOR),
    TopicSpec("camera/image_raw", "sensor_msgs/msg/Image", SENSOR),
    TopicSpec("camera/camera_info", "sensor_msgs/msg/CameraInfo", SENSOR),
    TopicSpec("odom", "nav_msgs/msg/Odometry", SENSOR),
    # Best effort matches any /clock publisher; a reliable subscription would not
    # match a best-effort clock.
    TopicSpec("/clock", "rosgraph_msgs/msg/Clock", SENSOR),
    TopicSpec("ground_truth", "reasonact_ros/msg/SceneObservation", COMMAND),
    TopicSpec("scene", "reasonact_ros/msg/SceneObservation", COMMAND),
    TopicSpec("decision", "reasonact_ros/msg/BehaviorDecision", COMMAND),
    TopicSpec("reasoning_node/explanation", "std_msgs/msg/String", LATCHED),
    TopicSpec("planner_node/plan", "nav_msgs/msg/Path", COMMAND),
    TopicSpec("cmd_vel_nav", "geometry_msgs/msg/Twist", COMMAND),
    TopicSpec("cmd_vel", "geometry_msgs/msg/Twist", COMMAND),
    TopicSpec("instruction", "std_msgs/msg/String", LATCHED),
)


def _profile(kind: str) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=_DEPTH,
        reliability=ReliabilityPolicy.BEST_EFFORT if kind == SENSOR
        else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if kind == LATCHED
        else DurabilityPolicy.VOLATILE)


def bag_qos(profile: QoSProfile) -> Qos:
    """An rclpy QoS profile as rosbags stores it in offered_qos_profiles."""
    zero = QosTime(0, 0)
    return Qos(
        history=QosHistory(int(profile.history)), depth=int(profile.depth),
        reliability=QosReliability(int(profile.reliability)),
        durability=QosDurability(int(profile.durability)), deadline=zero, lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False)


class BagRecorder(Node):
    """Records ``topics`` (default: DEFAULT_TOPICS) into a new bag directory ``path``.

    Constructor arguments are the defaults of the read-only parameters ``path``,
    ``storage``, ``topics``, ``timestamps`` and ``compression``, so the node runs
    standalone too.
    """

    # A pool (see spin_node): the flush writes to disk while subscriptions keep taking
    # messages; each callback is short and under one lock.
    executor_threads = 3

    def __init__(self, path: str | Path = "bag", storage: str = "mcap",
                 topics: Sequence[TopicSpec | str] | None = None,
                 timestamps: str = "receive", flush_period_s: float = 1.0,
                 compression: str = "none", node_name: str = "bag_recorder", **kwargs):
        super().__init__(node_name, **kwargs)
        specs = list(DEFAULT_TOPICS if topics is None else topics)
        names = [s if isinstance(s, str) else s.name for s in specs]
        path = declare(self, "path", str(path), "Bag directory to create", read_only=True)
        storage = declare(self, "storage", storage, "mcap or sqlite3", read_only=True)
        timestamps = declare(self, "timestamps", timestamps,
                             "Bag timestamps: receive (node clock) or header", read_only=True)
        chosen = declare(self, "topics", names, "Topics to record", read_only=True)
        compression = declare(self, "compression", compression,
                              "none, or zstd (mcap chunks; camera images shrink a lot)",
                              read_only=True)
        if timestamps not in TIMESTAMPS:
            raise BagError(f"timestamps must be one of {', '.join(TIMESTAMPS)}, "
                           f"got {timestamps!r}")
        if list(chosen) != names:
            specs = list(chosen)
        self._types = MessageTypes()
        self._writer = BagWriter(path, storage, self._types, compression=compression)
        self.path = self._writer.path
        self._header_stamps = timestamps == "header"
        by_name = {s.name: s for s in DEFAULT_TOPICS}
        self._wanted: dict[str, TopicSpec | None] = {}
        for spec in specs:
            if isinstance(spec, str):  # a bare name: the default spec, or typed by the graph
                spec = by_name.get(spec, by_name.get(spec.lstrip("/"))) or spec
            name = self.resolve_topic_name(spec if isinstance(spec, str) else spec.name)
            self._wanted[name] = None if isinstance(spec, str) else spec
        self._subscribed: dict[tuple[str, str], object] = {}
        self._stamp_first: dict[str, bool] = {}
        self._group = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._subscribe_lock = threading.Lock()
        self._first_wall: float | None = None
        self._last_wall: float | None = None
        self.skipped_types: set[str] = set()
        self._discover()
        for name, spec in self._wanted.items():
            if spec is not None and not any(t == name for t, _ in self._subscribed):
                self._subscribe(name, spec.msgtype, spec.kind)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(0.5, self._discover, callback_group=self._group, clock=steady)
        self.create_timer(flush_period_s, self._writer.flush, callback_group=self._group,
                          clock=steady)
        self.get_logger().info(f"recording {len(self._wanted)} topics to {self.path} "
                               f"({storage}, {timestamps} timestamps)")

    def _discover(self) -> None:
        """Subscribe to every type the graph shows on a wanted topic (e.g. TwistStamped)."""
        if self._writer.closed:
            return
        for name, types in self.get_topic_names_and_types():
            if name not in self._wanted:
                continue
            spec = self._wanted[name]
            for msgtype in types:
                if (name, msgtype) not in self._subscribed:
                    self._subscribe(name, msgtype, spec.kind if spec else self._kind_of(name))

    def _kind_of(self, name: str) -> str:
        """QoS kind for a topic without a spec, from what its publishers offer."""
        infos = self.get_publishers_info_by_topic(name)
        if infos and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                         for i in infos):
            return LATCHED
        if infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                         for i in infos):
            return COMMAND
        return SENSOR

    def _subscribe(self, name: str, msgtype: str, kind: str) -> None:
        with self._subscribe_lock:  # discovery timers may overlap on a busy executor
            if self._subscribed.get((name, msgtype), "untried") != "untried":
                return
            self._subscribed[(name, msgtype)] = None  # tried once, even if it fails below
            self._subscribe_unlocked(name, msgtype, kind)

    def _subscribe_unlocked(self, name: str, msgtype: str, kind: str) -> None:
        msg_class = message_class(msgtype)
        try:
            if msg_class is None:
                raise BagError(f"type {msgtype} is not installed")
            self._types.definition(msgtype)
        except BagError as error:
            self.skipped_types.add(msgtype)
            self.get_logger().warning(f"not recording {name}: {error}")
            return
        publishers = [i for i in self.get_publishers_info_by_topic(name)
                      if i.topic_type == msgtype]
        if publishers:
            kind = self._kind_of(name)  # follow what the publishers offer, as rosbag2 does
        profile = _profile(kind)
        self._stamp_first[msgtype] = self._types.stamp_first(msgtype)
        # The bag keeps what publishers offered (what replay should offer); ours otherwise.
        offered = [bag_qos(i.qos_profile) for i in publishers] or [bag_qos(profile)]
        self._writer.add_topic(name, msgtype, offered)
        self._subscribed[(name, msgtype)] = self.create_subscription(
            msg_class, name, lambda data, n=name, t=msgtype: self._on_message(n, t, data),
            profile, callback_group=self._group, raw=True)

    def _on_message(self, topic: str, msgtype: str, data: bytes) -> None:
        stamp = None
        if self._header_stamps and self._stamp_first.get(msgtype):
            stamp = cdr_stamp_ns(data)
        if not stamp:
            stamp = self.get_clock().now().nanoseconds
        if self._writer.write(topic, msgtype, stamp, data):
            now = time.monotonic()
            with self._lock:
                self._first_wall = self._first_wall if self._first_wall is not None else now
                self._last_wall = now

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._writer.counts)

    def stats(self) -> dict:
        """Messages per topic, bytes and the recording rate (wall clock)."""
        with self._lock:
            span = ((self._last_wall - self._first_wall)
                    if self._first_wall is not None and self._last_wall is not None else 0.0)
        total = sum(self._writer.counts.values())
        return {"path": str(self.path), "storage": self._writer.storage,
                "messages": total, "bytes": self._writer.bytes_written,
                "wall_s": round(span, 3),
                "messages_per_s": round(total / span, 1) if span > 0 else None,
                "topics": dict(sorted(self._writer.counts.items()))}

    def on_shutdown(self) -> None:
        """Close the bag (writes metadata.yaml and the mcap summary); safe to call twice."""
        if self._writer.closed:
            return
        self._writer.close()
        stats = self.stats()
        self.get_logger().info(f"bag {self.path}: {stats['messages']} messages, "
                               f"{stats['bytes']} bytes")


def main(args=None) -> int:
    """``python -m reasonact_ros.recording.recorder --ros-args -p path:=DIR``."""
    from reasonact_ros.nodes.entrypoint import spin_node

    return spin_node(BagRecorder, args)


if __name__ == "__main__":
    raise SystemExit(main())
