"""BagRecorder on live topics: what DDS delivered is what the bag holds, byte for byte.

Each test has its own rclpy Context (conftest.py isolates the DDS domain).
"""

import threading
import time

import pytest
import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from reasonact_ros.msg import BehaviorDecision, SceneObservation, TrackedObject
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

from reasonact_ros.nodes import qos
from reasonact_ros.recording.bagfile import BagError, message_class, open_bag
from reasonact_ros.recording.recorder import BagRecorder

pytestmark = pytest.mark.ros

N = 8


def _messages(i: int) -> dict:
    scene = SceneObservation()
    scene.header.stamp.sec, scene.header.stamp.nanosec = 1000 + i, 123_000_000 + i
    scene.header.frame_id = "odom"
    scene.objects = [TrackedObject(id=7 + i, class_id=TrackedObject.CLASS_PEDESTRIAN,
                                   radius=0.3, confidence=0.9)]
    scene.objects[0].position.x, scene.objects[0].velocity.y = 2.0 + i, -1.25
    scene.health_messages = ["camera stale: 1.2 s"]
    decision = BehaviorDecision(behavior=BehaviorDecision.YIELD, max_speed=0.2,
                                min_clearance=1.2, target_id=7 + i,
                                source=BehaviorDecision.SOURCE_RULES,
                                rationale=f"pedestrian crossing, step {i}")
    decision.header.stamp.sec = 1000 + i
    scan = LaserScan(angle_min=-3.14, angle_increment=0.0175, range_min=0.05,
                     range_max=20.0, ranges=[1.0 + 0.01 * k for k in range(360)])
    scan.header.stamp.sec, scan.header.frame_id = 1000 + i, "base_laser"
    odom = Odometry(child_frame_id="base_link")
    odom.header.stamp.sec, odom.pose.pose.position.x = 1000 + i, 0.1 * i
    return {"/scene": scene, "/decision": decision, "/scan": scan, "/odom": odom,
            "/cmd_vel": Twist()}


class _Publisher(Node):
    def __init__(self, **kwargs):
        super().__init__("test_publisher", **kwargs)
        self.publishers_ = {
            "/scene": self.create_publisher(SceneObservation, "scene", qos.COMMAND),
            "/decision": self.create_publisher(BehaviorDecision, "decision", qos.COMMAND),
            "/scan": self.create_publisher(LaserScan, "scan", qos.SENSOR),
            "/odom": self.create_publisher(Odometry, "odom", qos.SENSOR),
            "/cmd_vel": self.create_publisher(Twist, "cmd_vel", qos.COMMAND),
            "/reasoning_node/explanation": self.create_publisher(
                String, "reasoning_node/explanation", qos.LATCHED),
        }
        # What DDS delivers to any other subscriber, as bytes: the bag must hold exactly this.
        self.delivered: list[bytes] = []
        self.create_subscription(SceneObservation, "scene", self.delivered.append, qos.COMMAND,
                                 raw=True)


def _record(path, storage: str, timestamps: str) -> tuple[dict, dict, list]:
    """Publish N rounds of messages to a BagRecorder.

    Returns (published messages by topic, graph type hashes, /scene bytes DDS delivered).
    """
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    publisher = _Publisher(context=context)
    # Latched before the recorder exists: a transient-local subscription still gets it.
    publisher.publishers_["/reasoning_node/explanation"].publish(String(data="YIELD: crossing"))
    recorder = BagRecorder(path, storage=storage, timestamps=timestamps, context=context)
    published: dict[str, list] = {"/reasoning_node/explanation": [String(data="YIELD: crossing")]}
    hashes = {}
    try:
        executor.add_node(publisher)
        executor.add_node(recorder)
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in publisher.publishers_.values()):
            time.sleep(0.02)
        for i in range(N):
            for topic, msg in _messages(i).items():
                publisher.publishers_[topic].publish(msg)
                published.setdefault(topic, []).append(msg)
            time.sleep(0.01)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and (any(
                recorder.counts.get(t, 0) < len(v) for t, v in published.items())
                or len(publisher.delivered) < N):
            time.sleep(0.02)
        for topic in ("/scene", "/decision"):
            hashes[topic] = str(publisher.get_publishers_info_by_topic(topic)[0].topic_type_hash)
        stats = recorder.stats()
        assert stats["messages"] == sum(len(v) for v in published.values()), stats
    finally:
        recorder.on_shutdown()
        recorder.on_shutdown()  # twice is harmless (run_episode and a finally may both call)
        executor.shutdown(timeout_sec=2.0)
        recorder.destroy_node()
        publisher.destroy_node()
        rclpy.try_shutdown(context=context)
    return published, hashes, list(publisher.delivered)


@pytest.mark.parametrize("storage,timestamps", [("mcap", "receive"), ("sqlite3", "header")])
def test_recorded_bag_reads_back_byte_for_byte(tmp_path, storage, timestamps):
    path = tmp_path / "bag"
    published, _, delivered = _record(path, storage, timestamps)
    suffix = ".mcap" if storage == "mcap" else ".db3"
    assert (path / "metadata.yaml").is_file() and (path / f"bag{suffix}").is_file()
    with Reader(path) as reader:  # rosbags alone
        assert reader.storage.metadata.message_count == sum(len(v) for v in published.values())
        got: dict[str, list[bytes]] = {}
        stamps: dict[str, list[int]] = {}
        for connection, timestamp, data in reader.messages():
            got.setdefault(connection.topic, []).append(bytes(data))
            stamps.setdefault(connection.topic, []).append(timestamp)
        qos_by_topic = {c.topic: c.ext.offered_qos_profiles[0] for c in reader.connections}
    # Exactly the bytes DDS delivered to another subscriber. (Not serialize_message's: it
    # leaves CDR padding bytes uninitialised, so only the decoded messages compare equal.)
    assert sorted(got["/scene"]) == sorted(bytes(d) for d in delivered)
    for topic, messages in published.items():
        msg_class = message_class(_types()[topic])
        # float32 fields hold Python floats until serialised: compare what a wire carries.
        sent = [deserialize_message(serialize_message(m), msg_class) for m in messages]
        decoded = [deserialize_message(data, msg_class) for data in got[topic]]
        assert len(decoded) == len(sent), topic
        assert all(msg in sent for msg in decoded), topic
        assert all(msg in decoded for msg in sent), topic
    scenes = [deserialize_message(d, SceneObservation) for d in got["/scene"]]
    assert sorted((s.header.stamp.sec, s.header.stamp.nanosec) for s in scenes) == [
        (1000 + i, 123_000_000 + i) for i in range(N)]
    assert scenes[0].objects[0].velocity.y == -1.25
    if timestamps == "header":  # header stamps became bag timestamps; Twist has none
        assert sorted(stamps["/scene"]) == [(1000 + i) * 10**9 + 123_000_000 + i
                                            for i in range(N)]
        assert sorted(stamps["/scan"]) == [(1000 + i) * 10**9 for i in range(N)]
    assert qos_by_topic["/scan"].reliability == QosReliability.BEST_EFFORT
    assert qos_by_topic["/odom"].reliability == QosReliability.BEST_EFFORT
    assert qos_by_topic["/decision"].reliability == QosReliability.RELIABLE
    assert qos_by_topic["/reasoning_node/explanation"].durability == \
        QosDurability.TRANSIENT_LOCAL


def _types() -> dict:
    return {"/scene": "reasonact_ros/msg/SceneObservation",
            "/decision": "reasonact_ros/msg/BehaviorDecision",
            "/scan": "sensor_msgs/msg/LaserScan", "/odom": "nav_msgs/msg/Odometry",
            "/cmd_vel": "geometry_msgs/msg/Twist",
            "/reasoning_node/explanation": "std_msgs/msg/String"}


def test_embedded_definitions_let_a_bare_typestore_read_package_messages(tmp_path):
    path = tmp_path / "bag"
    _, hashes, _ = _record(path, "mcap", "receive")
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
        for topic in ("/scene", "/decision"):
            connection = connections[topic]
            # Only what the bag says: an empty store, the embedded ros2msg text.
            store = get_typestore(Stores.EMPTY)
            assert connection.msgdef.format.name == "MSG"
            assert "MSG: std_msgs/Header" in connection.msgdef.data
            store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
            # The definition hashes to what rclpy's publisher announced on the graph.
            assert store.hash_rihs01(connection.msgtype) == hashes[topic] == connection.digest
            data = next(d for c, _, d in reader.messages([connection]))
            msg = store.deserialize_cdr(data, connection.msgtype)
            if topic == "/scene":
                assert msg.objects[0].class_id == TrackedObject.CLASS_PEDESTRIAN
                assert msg.health_messages == ["camera stale: 1.2 s"]
            else:
                assert msg.rationale.startswith("pedestrian crossing")
                assert msg.behavior == BehaviorDecision.YIELD
    # The package's comments and units travel with the bag for Foxglove users.
    assert "Speed ceiling for the planner [m/s]" in connections["/decision"].msgdef.data


def test_recorder_refuses_an_existing_directory_and_unknown_storage(tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        (tmp_path / "taken").mkdir()
        with pytest.raises(BagError, match="exists already"):
            BagRecorder(tmp_path / "taken", context=context)
        with pytest.raises(BagError, match="unknown storage format 'rosbag1'"):
            BagRecorder(tmp_path / "new", storage="rosbag1", context=context)
    finally:
        rclpy.try_shutdown(context=context)


def test_unfinished_recording_is_readable_up_to_the_last_flush(tmp_path):
    """A recorder that is killed never writes metadata.yaml or the mcap summary."""
    context = rclpy.Context()
    rclpy.init(context=context)
    path = tmp_path / "crash"
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    publisher = _Publisher(context=context)
    recorder = BagRecorder(path, topics=["scene"], flush_period_s=0.2, context=context)
    try:
        executor.add_node(publisher)
        executor.add_node(recorder)
        threading.Thread(target=executor.spin, daemon=True).start()
        while not publisher.publishers_["/scene"].get_subscription_count():
            time.sleep(0.02)
        for i in range(N):
            publisher.publishers_["/scene"].publish(_messages(i)["/scene"])
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and recorder.counts.get("/scene", 0) < N:
            time.sleep(0.02)
        time.sleep(0.5)  # a flush
        assert not (path / "metadata.yaml").exists()
        bag = open_bag(path)
        assert not bag.complete and "no metadata.yaml" in bag.warnings[0]
        assert [t.name for t, _, _ in bag.messages()] == ["/scene"] * N
    finally:
        executor.shutdown(timeout_sec=2.0)
        recorder.on_shutdown()
        recorder.destroy_node()
        publisher.destroy_node()
        rclpy.try_shutdown(context=context)
