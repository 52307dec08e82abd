"""Bag files without a ROS graph: cut and unfinished bags, and every bad input's one line."""

import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from reasonact_ros.msg import BehaviorDecision
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from reasonact_ros.recording.bagfile import BagError, BagWriter, cdr_stamp_ns, open_bag
from reasonact_ros.recording.commands import main as recording_cli

DECISION = "reasonact_ros/msg/BehaviorDecision"


def _decision(i: int) -> bytes:
    msg = BehaviorDecision(behavior=BehaviorDecision.SLOW, max_speed=0.5,
                           rationale=f"decision {i} " + "x" * 200)
    msg.header.stamp.sec, msg.header.stamp.nanosec = 50 + i, 1000 * i
    return serialize_message(msg)


def _write(path, storage: str, count: int, flush_every: int = 0, close: bool = True,
           compression: str = "none"):
    writer = BagWriter(path, storage, compression=compression)
    writer.add_topic("/decision", DECISION)
    for i in range(count):
        writer.write("/decision", DECISION, (50 + i) * 10**9, _decision(i))
        if flush_every and (i + 1) % flush_every == 0:
            writer.flush()
    if close:
        writer.close()
    return writer


def _rationales(bag) -> list[str]:
    return [deserialize_message(d, BehaviorDecision).rationale.split()[1]
            for _, _, d in bag.messages()]


def test_mcap_cut_mid_chunk_reads_up_to_the_last_complete_message(tmp_path):
    _write(tmp_path / "full", "mcap", 200, flush_every=50)  # four chunks
    data = (tmp_path / "full" / "full.mcap").read_bytes()
    with open_bag(tmp_path / "full") as bag:
        assert bag.complete and bag.topics["/decision"].count == 200
    # The recording died while writing its last chunk: no summary, no footer, no yaml.
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "cut.mcap").write_bytes(data[:data.rfind(b"decision 160") + 100])
    shutil.copy(tmp_path / "full" / "metadata.yaml", cut / "metadata.yaml")
    with open_bag(cut) as bag:
        assert not bag.complete
        rationales = _rationales(bag)
        assert any("unreadable" in w for w in bag.warnings)
        assert any("ends mid-record" in w for w in bag.warnings), bag.warnings
    # Every complete message, in order, and nothing invented from the cut one.
    assert rationales == [str(i) for i in range(len(rationales))]
    assert len(rationales) == 160  # the fourth chunk (150-199) was cut inside message 160


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the top-level mcap chunk records."""
    offset, chunks = 8, []
    while data[offset] != 0x0F:  # data end
        length = struct.unpack_from("<Q", data, offset + 1)[0]
        if data[offset] == 0x06:
            chunks.append((offset, length))
        offset += 9 + length
    return chunks


def test_zstd_bag_is_smaller_and_a_cut_keeps_its_whole_chunks(tmp_path):
    _write(tmp_path / "plain", "mcap", 200, flush_every=50)
    _write(tmp_path / "z", "mcap", 200, flush_every=50, compression="zstd")
    data = (tmp_path / "z" / "z.mcap").read_bytes()
    assert len(data) < (tmp_path / "plain" / "plain.mcap").stat().st_size / 3
    with open_bag(tmp_path / "z") as bag:
        assert _rationales(bag) == [str(i) for i in range(200)]
    cut = tmp_path / "cut"
    cut.mkdir()
    start, length = _chunks(data)[-1]
    (cut / "cut.mcap").write_bytes(data[:start + length // 2])  # inside the last chunk
    with open_bag(cut) as bag:
        assert _rationales(bag) == [str(i) for i in range(150)]
        assert "a cut compressed chunk was skipped" in bag.warnings
    with pytest.raises(BagError, match="zstd with mcap"):
        BagWriter(tmp_path / "db", "sqlite3", compression="zstd")


def test_unfinished_sqlite3_bag_without_metadata_is_read(tmp_path):
    writer = _write(tmp_path / "db", "sqlite3", 30, flush_every=20, close=False)
    writer._call(lambda: None)  # the writer thread has committed by now
    try:
        assert not (tmp_path / "db" / "metadata.yaml").exists()
        with open_bag(tmp_path / "db") as bag:
            assert not bag.complete and "no metadata.yaml" in bag.warnings[0]
            assert _rationales(bag) == [str(i) for i in range(20)]  # the committed part
    finally:
        writer.close()
    with open_bag(tmp_path / "db") as bag:
        assert bag.complete and len(_rationales(bag)) == 30


def test_cut_sqlite3_file_is_read_up_to_its_first_missing_page(tmp_path):
    writer = _write(tmp_path / "db", "sqlite3", 2000, flush_every=2000, close=False)
    writer._call(lambda: None)
    data = (tmp_path / "db" / "db.db3").read_bytes()
    writer.close()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "cut.db3").write_bytes(data[:len(data) * 6 // 10 + 123])
    with open_bag(tmp_path / "cut") as bag:
        rationales = _rationales(bag)
        assert any("unreadable page" in w for w in bag.warnings), bag.warnings
    assert 1000 < len(rationales) < 1300
    assert rationales == [str(i) for i in range(len(rationales))]


def test_bag_timestamps_and_header_stamp_reader(tmp_path):
    _write(tmp_path / "b", "mcap", 3)
    with open_bag(tmp_path / "b") as bag:
        stamps = [(t, cdr_stamp_ns(d)) for _, t, d in bag.messages()]
    assert stamps == [((50 + i) * 10**9, (50 + i) * 10**9 + 1000 * i) for i in range(3)]
    assert cdr_stamp_ns(b"\x00\x01") is None


# -- bad input: BagError with one line; through the CLI, exit 2 and one stderr line -------


def _foreign_type_bag(path):
    """A bag from a robot with its own message package, which is not installed here."""
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg("float64 level\nstring note", "acme_msgs/msg/Widget"))
    widget = store.types["acme_msgs/msg/Widget"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/widget", widget.__msgtype__, typestore=store)
        writer.write(connection, 10**9, store.serialize_cdr(widget(level=1.5, note="ok"),
                                                            widget.__msgtype__))


def _bad_inputs(tmp_path) -> dict:
    _write(tmp_path / "good", "mcap", 5)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "truncated.mcap").write_bytes(
        (tmp_path / "good" / "good.mcap").read_bytes()[:40])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metadata.yaml").write_text(
        "rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: rosbag_v2\n")
    (tmp_path / "log.bag").write_bytes(b"#ROSBAG V2.0\n")
    _foreign_type_bag(tmp_path / "widget")
    return {
        "missing": (["replay", str(tmp_path / "nosuch")], "nosuch does not exist"),
        "truncated": (["replay", str(truncated)], "no complete message"),
        "ros1 file": (["analyze", str(tmp_path / "log.bag"), "--out", str(tmp_path / "o")],
                       "unknown storage format"),
        "unknown storage": (["replay", str(foreign)], "unknown storage format 'rosbag_v2'"),
        "unknown type": (["replay", str(tmp_path / "widget"), "--topics", "/widget"],
                         "/widget (acme_msgs/msg/Widget): message type not installed"),
        "missing topics": (["analyze", str(tmp_path / "good"), "--out", str(tmp_path / "o")],
                           "has no topic /scan, /odom (it has: /decision)"),
        "missing replay topic": (["replay", str(tmp_path / "good"), "--topics", "/scan"],
                                 "has no topic /scan"),
        "bad rate": (["replay", str(tmp_path / "good"), "--rate", "-1"], "rate must be >= 0"),
    }


def test_each_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for case, (argv, expected) in _bad_inputs(tmp_path).items():
        assert recording_cli(argv) == 2, case
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (case, err)
    assert not (tmp_path / "o" / "analysis").exists()


def test_bad_input_raises_bag_error_from_the_library(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        open_bag(tmp_path / "nosuch")
    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path, "mcap")
    with pytest.raises(BagError, match="unknown storage format 'bag'"):
        BagWriter(tmp_path / "x", "bag")
    writer = BagWriter(tmp_path / "y", "mcap")
    with pytest.raises(BagError, match="no message definition found for type acme_msgs"):
        writer.add_topic("/widget", "acme_msgs/msg/Widget")
    writer.close()


def test_foreign_type_is_skipped_with_a_warning_when_not_asked_for(tmp_path):
    _foreign_type_bag(tmp_path / "widget")
    with open_bag(tmp_path / "widget") as bag:
        assert bag.unknown_types() == ["/widget (acme_msgs/msg/Widget)"]
        # Readable anyway from its embedded definition, like any rosbags user would.
        store = get_typestore(Stores.EMPTY)
        topic = bag.topics["/widget"]
        store.register(get_types_from_msg(topic.msgdef, topic.msgtype))
        msg = store.deserialize_cdr(next(d for _, _, d in bag.messages()), topic.msgtype)
        assert msg.level == 1.5 and msg.note == "ok"
    assert np.isfinite(msg.level)


def test_cli_module_runs_in_a_fresh_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "reasonact_ros.recording.commands",
                             "replay", str(tmp_path / "nosuch")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"bag {tmp_path / 'nosuch'} does not exist"]
