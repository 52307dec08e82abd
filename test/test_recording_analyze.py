"""`reasonact analyze` on a robot's log written by another tool (rosbags alone, no rclpy)."""

import json
import math

import numpy as np
from PIL import Image
from rclpy.serialization import deserialize_message
from reasonact_ros.msg import BehaviorDecision, SceneObservation, TrackedObject
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from reasonact_ros.recording.analysis import analyze_bag
from reasonact_ros.recording.bagfile import open_bag
from reasonact_ros.recording.commands import main as recording_cli

T0 = 1_700_000_000.0  # a real robot's wall-clock stamps
BEAMS = 720


def write_robot_log(path, duration_s: float = 6.0, camera: bool = False,
                    storage=StoragePlugin.MCAP) -> None:
    """Odometry at 20 Hz of a robot creeping along x, and a 10 Hz LaserScan that sees one
    person-sized circle (r = 0.25 m) walk across its path at 1 m/s, 5 m ahead."""
    store = get_typestore(Stores.ROS2_KILTED)
    T = store.types
    Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]
    Scan, Odom = T["sensor_msgs/msg/LaserScan"], T["nav_msgs/msg/Odometry"]
    g = {n: T[f"geometry_msgs/msg/{n}"] for n in (
        "Pose", "PoseWithCovariance", "Point", "Quaternion", "Twist", "TwistWithCovariance",
        "Vector3")}
    angles = -math.pi + np.arange(BEAMS) * (2 * math.pi / BEAMS)

    def header(t: float, frame: str):
        sec = int(t)
        return Header(stamp=Time(sec=sec, nanosec=int(round((t - sec) * 1e9)) % 10**9),
                      frame_id=frame)

    with Writer(path, version=9, storage_plugin=storage) as writer:
        scan_c = writer.add_connection("/scan", Scan.__msgtype__, typestore=store)
        odom_c = writer.add_connection("/odom", Odom.__msgtype__, typestore=store)
        if camera:
            image_c = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image",
                                            typestore=store)
        for k in range(int(duration_s * 20)):
            t = T0 + k * 0.05
            rx = 0.3 * k * 0.05
            odom = Odom(
                header=header(t, "odom"), child_frame_id="base_link",
                pose=g["PoseWithCovariance"](
                    pose=g["Pose"](position=g["Point"](x=rx, y=0.0, z=0.0),
                                   orientation=g["Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)),
                    covariance=np.zeros(36)),
                twist=g["TwistWithCovariance"](
                    twist=g["Twist"](linear=g["Vector3"](x=0.3, y=0.0, z=0.0),
                                     angular=g["Vector3"](x=0.0, y=0.0, z=0.0)),
                    covariance=np.zeros(36)))
            writer.write(odom_c, int(t * 1e9), store.serialize_cdr(odom, Odom.__msgtype__))
            if k % 2:
                continue
            dx, dy, r = 5.0 - rx, 3.0 - k * 0.05, 0.25
            c, s = np.cos(angles), np.sin(angles)
            b = c * dx + s * dy
            disc = b * b - (dx * dx + dy * dy - r * r)
            hit = (disc >= 0) & (b > 0)
            ranges = np.full(BEAMS, np.inf, dtype=np.float32)
            ranges[hit] = b[hit] - np.sqrt(disc[hit])
            scan = Scan(header=header(t, "base_laser"), angle_min=float(angles[0]),
                        angle_max=float(angles[-1]), angle_increment=2 * math.pi / BEAMS,
                        time_increment=0.0, scan_time=0.1, range_min=0.05, range_max=20.0,
                        ranges=ranges, intensities=np.zeros(0, dtype=np.float32))
            writer.write(scan_c, int(t * 1e9), store.serialize_cdr(scan, Scan.__msgtype__))
            if camera:
                pixels = np.full((60, 80, 3), 40 + k, dtype=np.uint8)
                image = T["sensor_msgs/msg/Image"](
                    header=header(t, "camera"), height=60, width=80, encoding="rgb8",
                    is_bigendian=0, step=240, data=pixels.ravel())
                writer.write(image_c, int(t * 1e9),
                             store.serialize_cdr(image, "sensor_msgs/msg/Image"))


def test_analyze_a_foreign_robot_log_finds_the_person_and_decides(tmp_path):
    write_robot_log(tmp_path / "log")
    summary = analyze_bag(tmp_path / "log", tmp_path / "out", log=lambda _: None)
    assert summary["scenes"] == 60 and summary["people_seen"] == 1, summary["people"]
    person = summary["people"][0]
    assert 0.8 <= person["mean_speed_mps"] <= 1.2  # it walks at 1 m/s
    assert 3.0 <= person["closest_m"] <= 5.5
    # The person crosses 5 m ahead: the rules yield while they cross, then proceed.
    behaviours = [s["behavior"] for s in summary["decision_segments"]]
    assert "YIELD" in behaviours and behaviours[-1] == "PROCEED", behaviours
    assert sum(summary["decisions"].values()) >= 50  # ~10 Hz over 6 s of scans
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## People seen: 1" in report and "| #" in report
    assert "YIELD" in report and "crossing" in report  # decisions with their rationale
    plot = Image.open(tmp_path / "out" / "tracks.png")
    assert plot.size == (800, 800)
    colours = {plot.getpixel((x, y)) for x in range(0, 800, 4) for y in range(0, 800, 4)}
    assert (228, 26, 28) in colours  # the person's track is drawn
    assert not (tmp_path / "out" / "contact_sheet.png").exists()  # no camera in this bag
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["people_seen"] == 1
    # The result is a bag of its own: scenes with the tracked person, decisions.
    with open_bag(tmp_path / "out" / "analysis") as bag:
        assert bag.complete
        counts = {t: v.count for t, v in bag.topics.items()}
        scenes = [deserialize_message(d, SceneObservation)
                  for _, _, d in bag.messages(["/scene"])]
        decisions = [deserialize_message(d, BehaviorDecision)
                     for _, _, d in bag.messages(["/decision"])]
    assert counts["/scene"] == 60 and counts["/decision"] == len(decisions) >= 50
    assert any(o.class_id == TrackedObject.CLASS_PEDESTRIAN for s in scenes for o in s.objects)
    assert scenes[0].header.stamp.sec == int(T0)  # the log's own clock, not ours
    assert {d.behavior for d in decisions} >= {BehaviorDecision.YIELD}


def test_analyze_makes_a_contact_sheet_and_reads_an_unfinished_sqlite_log(tmp_path):
    write_robot_log(tmp_path / "log", duration_s=3.0, camera=True,
                    storage=StoragePlugin.SQLITE3)
    (tmp_path / "log" / "metadata.yaml").unlink()  # the recorder died before writing it
    assert recording_cli(["analyze", str(tmp_path / "log"), "--out", str(tmp_path / "out"),
                          "--detector", "none"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["images"] == 30 and not summary["complete"]
    assert "no metadata.yaml" in summary["warnings"][0]
    sheet = Image.open(tmp_path / "out" / "contact_sheet.png")
    assert sheet.size == (4 * 320, 3 * (240 + 16))  # 12 frames, 4 columns
    report = (tmp_path / "out" / "report.md").read_text()
    assert "contact_sheet.png" in report and "incomplete" in report
    # Running again into the same directory replaces the earlier analysis.
    assert recording_cli(["analyze", str(tmp_path / "log"), "--out", str(tmp_path / "out"),
                          "--detector", "none"]) == 0


def test_analyze_names_the_missing_topic(tmp_path, capsys):
    write_robot_log(tmp_path / "log", duration_s=1.0)
    assert recording_cli(["analyze", str(tmp_path / "log"), "--out", str(tmp_path / "o"),
                          "--odom-topic", "/robot/odom"]) == 2
    assert "has no topic /robot/odom (it has: /odom, /scan)" in capsys.readouterr().err


def test_analyze_refuses_a_scan_topic_of_another_type(tmp_path, capsys):
    write_robot_log(tmp_path / "log", duration_s=1.0)
    assert recording_cli(["analyze", str(tmp_path / "log"), "--out", str(tmp_path / "o"),
                          "--scan-topic", "/odom"]) == 2
    assert "topic /odom in" in capsys.readouterr().err
