"""Replay: a bag's messages arrive on their topics with their header stamps, and /clock."""

import json
import threading
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message
from reasonact_ros.msg import SceneObservation
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import LaserScan

from reasonact_ros.nodes import qos
from reasonact_ros.recording.bagfile import BagError, BagWriter
from reasonact_ros.recording.player import replay_bag

pytestmark = pytest.mark.ros

SCENE = "reasonact_ros/msg/SceneObservation"
N = 10


def _stamp(ns: int):
    msg = SceneObservation()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 10**9)
    return msg.header.stamp


def _bag(path, with_clock: bool) -> list[int]:
    """Scenes and scans every 0.1 s from t = 200 s; optionally the recording's /clock."""
    writer = BagWriter(path, "mcap")
    writer.add_topic("/scene", SCENE)
    writer.add_topic("/scan", "sensor_msgs/msg/LaserScan")
    if with_clock:
        writer.add_topic("/clock", "rosgraph_msgs/msg/Clock")
    stamps = []
    for i in range(N):
        ns = 200 * 10**9 + i * 100_000_000 + 7
        scene = SceneObservation()
        scene.header.stamp = _stamp(ns)
        scene.health_messages = [f"scene {i}"]
        scan = LaserScan(ranges=[1.0, 2.0])
        scan.header.stamp = _stamp(ns)
        if with_clock:  # sim time that is not the bag timestamp: replay must use this
            writer.write("/clock", "rosgraph_msgs/msg/Clock", ns,
                         serialize_message(Clock(clock=_stamp(ns + 5 * 10**9))))
        writer.write("/scene", SCENE, ns, serialize_message(scene))
        writer.write("/scan", "sensor_msgs/msg/LaserScan", ns, serialize_message(scan))
        stamps.append(ns)
    writer.close()
    return stamps


class _Listener(Node):
    def __init__(self, **kwargs):
        super().__init__("listener", parameter_overrides=[Parameter("use_sim_time", value=True)],
                         **kwargs)
        self.scenes, self.clocks, self.scans = [], [], []
        self.create_subscription(SceneObservation, "scene", self.scenes.append, qos.COMMAND)
        self.create_subscription(LaserScan, "scan", self.scans.append, qos.SENSOR)
        self.create_subscription(Clock, "/clock", self.clocks.append, 100)


def _replay(path, **kwargs):
    context = rclpy.Context()
    rclpy.init(context=context)
    listener = _Listener(context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        start = time.monotonic()
        summary = replay_bag(path, context=context, wait_s=5.0, log=lambda _: None, **kwargs)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(listener.scenes) < N:
            time.sleep(0.02)
        time.sleep(0.1)
        return summary, listener, time.monotonic() - start, listener.get_clock().now()
    finally:
        executor.shutdown(timeout_sec=2.0)
        listener.destroy_node()
        rclpy.try_shutdown(context=context)


def _ns(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


def test_replay_preserves_header_stamps_and_publishes_clock_from_bag_time(tmp_path):
    stamps = _bag(tmp_path / "bag", with_clock=False)
    summary, listener, _, now = _replay(tmp_path / "bag", rate=3.0)
    assert summary["clock"] == "bag timestamps"
    assert [_ns(m.header.stamp) for m in listener.scenes] == stamps
    assert [m.health_messages[0] for m in listener.scenes] == [f"scene {i}" for i in range(N)]
    clocks = [_ns(c.clock) for c in listener.clocks]
    assert clocks == stamps  # one Clock per new bag timestamp, in order
    assert now.nanoseconds == stamps[-1]  # a use_sim_time node now lives in the bag's time
    # 0.9 s of bag at 3x: paced, not dumped (and not real time either).
    assert 0.25 <= summary["wall_s"] <= 0.9, summary


def test_replay_uses_the_bags_own_clock_and_only_the_topics_asked_for(tmp_path):
    stamps = _bag(tmp_path / "bag", with_clock=True)
    summary, listener, _, now = _replay(tmp_path / "bag", rate=0.0, topics=["scene"])
    assert summary["clock"] == "bag /clock"
    assert summary["topics"] == {"/clock": N, "/scene": N}
    assert listener.scans == []
    assert [_ns(m.header.stamp) for m in listener.scenes] == stamps
    assert [_ns(c.clock) for c in listener.clocks] == [s + 5 * 10**9 for s in stamps]
    assert now.nanoseconds == stamps[-1] + 5 * 10**9
    assert summary["wall_s"] < 0.25  # rate 0: as fast as possible


def test_replay_refuses_a_negative_rate(tmp_path):
    _bag(tmp_path / "bag", with_clock=False)
    with pytest.raises(BagError, match="rate must be >= 0"):
        replay_bag(tmp_path / "bag", rate=-2.0)


def test_replay_command_writes_its_summary(tmp_path, capsys):
    from reasonact_ros.recording.commands import main as recording_cli

    _bag(tmp_path / "bag", with_clock=False)
    assert recording_cli(["replay", str(tmp_path / "bag"), "--rate", "0", "--wait", "0",
                          "--out", str(tmp_path / "out")]) == 0
    assert "replayed 20 messages" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert summary["topics"] == {"/scan": N, "/scene": N} and summary["complete"]
