"""A BagRecorder inside a real closed-loop episode (the graph of `reasonact demo`).

Until bringup.run_episode takes ``record=``, the recorder joins the episode's
nodes through build_nodes, exactly as the wiring would add it.
"""

import inspect

import pytest
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from reasonact_ros.msg import SceneObservation

from reasonact_ros import bringup
from reasonact_ros.recording.bagfile import open_bag
from reasonact_ros.recording.recorder import BagRecorder

pytestmark = pytest.mark.ros


def _run_recorded_episode(path, monkeypatch) -> dict:
    options = bringup.EpisodeOptions(scenario="head_on", planner="dwa", wall_timeout_s=6.0)
    if "record" in inspect.signature(bringup.run_episode).parameters:
        return bringup.run_episode(options, record=path)
    build_nodes = bringup.build_nodes

    def with_recorder(options, scenario, context):
        nodes = build_nodes(options, scenario, context)
        nodes["recorder"] = BagRecorder(path, context=context, parameter_overrides=[
            Parameter("use_sim_time", value=True)])
        return nodes

    monkeypatch.setattr(bringup, "build_nodes", with_recorder)
    return bringup.run_episode(options)


def test_episode_recorded_on_sim_time_with_the_whole_graph(tmp_path, monkeypatch):
    path = tmp_path / "episode"
    summary = _run_recorded_episode(path, monkeypatch)
    with open_bag(path) as bag:  # closed by run_episode's on_shutdown: a complete bag
        assert bag.complete and not bag.warnings
        counts = {t: v.count for t, v in bag.topics.items()}
        for topic in ("/scan", "/odom", "/clock", "/ground_truth", "/scene", "/decision",
                      "/cmd_vel_nav", "/cmd_vel", "/reasoning_node/explanation"):
            assert counts.get(topic), (topic, counts)
        clocks = [t for topic, t, _ in bag.messages(["/clock"])]
        scenes = [(t, deserialize_message(d, SceneObservation))
                  for _, t, d in bag.messages(["/scene"])]
    # Receive time on the sim clock: scenes lie within the recorded /clock span and carry
    # their own sim-time header stamps unchanged (perception stamps with the scan time).
    sim_end_ns = int(summary["sim_time_s"] * 1e9)
    assert 0 < max(clocks) <= sim_end_ns + 10**9
    for t, scene in scenes[5:]:
        stamp = scene.header.stamp.sec * 10**9 + scene.header.stamp.nanosec
        assert 0 < stamp <= t + 10**6 and t - stamp < 10**9
    assert counts["/scan"] >= 0.8 * summary["sim_time_s"] * 10  # 10 Hz lidar, little loss
