"""rosbag2 bags without rosbag2: write with embedded definitions, read intact or cut bags.

Writing uses ``rosbags`` (mcap by default, sqlite3 by option). Every connection
carries its message definition in ros2msg format, the original ``.msg`` text
with its dependencies, so ``ros2 bag info``, Foxglove and a bare ``rosbags``
typestore read this package's messages where the package is not installed.

Reading takes a finished bag through ``rosbags`` (time ordered) and falls back
to scanning the storage file itself when the recording never finished: an mcap
file cut mid-chunk or a sqlite3 database without ``metadata.yaml`` is read up
to its last complete message, with a warning. No rclpy import here.
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import os
import queue
import sqlite3
import struct
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import Nodetype, Qos
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
_SEPARATOR = "=" * 80 + "\n"
_MCAP_MAGIC = b"\x89MCAP0\r\n"
_STAMP_TYPES = ("std_msgs/msg/Header", "builtin_interfaces/msg/Time")


class BagError(ValueError):
    """A bag that cannot be used as asked; the message is one line for the CLI."""


def message_class(msgtype: str):
    """The rclpy message class for 'pkg/msg/Type', or None when it is not installed."""
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        return None
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError):
        return None


def _msg_dirs(package: str) -> list[Path]:
    dirs = []
    if package == "reasonact_ros":
        dirs.append(Path(__file__).resolve().parents[2] / "msg")  # a source checkout
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    dirs += [Path(p) / "share" / package / "msg" for p in prefixes if p]
    return dirs


def find_msg_text(msgtype: str) -> str | None:
    """The installed ``.msg`` text for 'pkg/msg/Type' (or 'pkg/Type')."""
    parts = msgtype.split("/")
    if len(parts) not in (2, 3):
        return None
    for directory in _msg_dirs(parts[0]):
        path = directory / f"{parts[-1]}.msg"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def _normalise(msgtype: str) -> str:
    parts = msgtype.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else msgtype


def _referenced(details) -> Iterator[str]:
    nodetype, value = details
    if nodetype == Nodetype.NAME:
        yield value
    elif nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        yield from _referenced(value[0])


class MessageTypes:
    """A Kilted ``rosbags`` typestore that learns other types from installed ``.msg`` files."""

    def __init__(self):
        self.store = get_typestore(Stores.ROS2_KILTED)
        self._definitions: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def ensure(self, msgtype: str) -> None:
        """Register ``msgtype`` and its dependencies; BagError when a definition is missing."""
        if msgtype in self.store.fielddefs:
            return
        text = find_msg_text(msgtype)
        if text is None:
            raise BagError(f"no message definition found for type {msgtype} "
                           "(is its package installed?)")
        self.store.register(get_types_from_msg(text, msgtype))
        for _, details in self.store.fielddefs[msgtype][1]:
            for name in _referenced(details):
                self.ensure(name)

    def definition(self, msgtype: str) -> tuple[str, str]:
        """(ros2msg definition with dependencies, RIHS01 type hash) as rosbag2 stores them."""
        with self._lock:
            if msgtype not in self._definitions:
                self.ensure(msgtype)
                generated, _ = self.store.generate_msgdef(msgtype, ros_version=2)
                text = self._with_original_text(msgtype, generated)
                self._definitions[msgtype] = (text, self.store.hash_rihs01(msgtype))
            return self._definitions[msgtype]

    def _with_original_text(self, msgtype: str, generated: str) -> str:
        """The generated definition with each part's installed .msg text (comments, units,
        defaults) when that text parses to the same fields; generated text otherwise."""
        parts = generated.split(_SEPARATOR)
        names = [msgtype] + [p.split("\n", 1)[0].removeprefix("MSG: ") for p in parts[1:]]
        bodies = []
        for name, part in zip(names, parts, strict=True):
            body = part if name == msgtype else part.split("\n", 1)[1]
            original = find_msg_text(name)
            if original is not None:
                original = original.rstrip("\n") + "\n"
                try:
                    parsed = get_types_from_msg(original, _normalise(name))
                    same = parsed[_normalise(name)] == self.store.fielddefs[_normalise(name)]
                except Exception:  # noqa: BLE001 - any parser complaint means: keep generated
                    same = False
                if same:
                    body = original
            bodies.append(body)
        text = bodies[0]
        for name, body in zip(names[1:], bodies[1:], strict=True):
            text += f"{_SEPARATOR}MSG: {name}\n{body}"
        return text

    def stamp_first(self, msgtype: str) -> bool:
        """True when the type starts with a Header or a Time (the stamp is the first 8 bytes)."""
        try:
            self.ensure(msgtype)
        except BagError:
            return False
        fields = self.store.fielddefs[msgtype][1]
        return bool(fields) and fields[0][1] in ((Nodetype.NAME, t) for t in _STAMP_TYPES)


def cdr_stamp_ns(data: bytes | memoryview) -> int | None:
    """The leading Header/Time stamp of a CDR message [ns], or None if it cannot be read."""
    if len(data) < 12 or data[0] != 0 or data[1] not in (0, 1):
        return None
    order = "<" if data[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(order + "iI", data, 4)
    if sec < 0 or nanosec >= 1_000_000_000:
        return None
    return sec * 1_000_000_000 + nanosec


# -- writing -----------------------------------------------------------------------------


class BagWriter:
    """A rosbag2 directory written from any thread; ``flush`` bounds what a crash loses.

    One writer thread owns the storage (rosbags' sqlite3 connection may only be
    used by the thread that made it) and takes messages from a queue, so a
    subscription callback never waits for the disk. ``rosbags`` keeps the open
    mcap chunk in memory and commits sqlite3 only at close; ``flush`` writes the
    chunk (or commits) so a killed recorder leaves a bag readable up to it.
    """

    def __init__(self, path: str | Path, storage: str = "mcap",
                 types: MessageTypes | None = None, compression: str = "none"):
        if storage not in STORAGES:
            raise BagError(f"unknown storage format {storage!r}; expected one of "
                           f"{', '.join(STORAGES)}")
        if compression not in ("none", "zstd") or (compression == "zstd"
                                                    and storage != "mcap"):
            raise BagError(f"compression must be none, or zstd with mcap storage; got "
                           f"{compression!r} with {storage}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} exists already; choose a new directory")
        self.storage = storage
        self.types = types or MessageTypes()
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        if compression == "zstd":  # per mcap chunk, as rosbag2's mcap zstd preset
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._connections: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.counts: dict[str, int] = {}
        self.bytes_written = 0
        self.errors: list[str] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()
        self._call(self._writer.open)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            function, args, future = item
            try:
                result = function(*args)
            except BaseException as error:  # noqa: BLE001 - handed to the caller or kept
                if future is not None:
                    future.set_exception(error)
                elif len(self.errors) < 10:
                    self.errors.append(f"{type(error).__name__}: {error}")
            else:
                if future is not None:
                    future.set_result(result)

    def _call(self, function, *args):
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((function, args, future))
        return future.result()

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = ()) -> None:
        """Declare a connection; BagError when the type's definition cannot be found."""
        msgdef, rihs01 = self.types.definition(msgtype)
        with self._lock:
            if self.closed or (topic, msgtype) in self._connections:
                return
            self._connections[(topic, msgtype)] = self._call(
                functools.partial(self._writer.add_connection, topic, msgtype, msgdef=msgdef,
                                  rihs01=rihs01, offered_qos_profiles=list(qos)))
            self.counts.setdefault(topic, 0)

    def write(self, topic: str, msgtype: str, timestamp_ns: int, data: bytes) -> bool:
        """Queue one serialized message; False once the bag is closed."""
        with self._lock:
            if self.closed:
                return False
            connection = self._connections.get((topic, msgtype))
            if connection is None:
                raise BagError(f"topic {topic} ({msgtype}) was not added to the bag")
            self._queue.put((self._writer.write, (connection, int(timestamp_ns), data), None))
            self.counts[topic] += 1
            self.bytes_written += len(data)
            return True

    def flush(self) -> None:
        """Write what is queued and make it durable (asynchronous)."""
        with self._lock:
            if not self.closed:
                self._queue.put((self._flush, (), None))

    def _flush(self) -> None:
        storage = self._writer.storage
        if storage is None:
            return
        chunk = getattr(storage, "chunk", None)
        if chunk is not None and chunk.bio.tell():  # mcap: write out the pending chunk
            storage.close_chunk()
            storage.bio.flush()
        connection = getattr(storage, "conn", None)
        if connection is not None:  # sqlite3
            connection.commit()

    def close(self) -> None:
        """Write everything queued, then metadata.yaml and the mcap summary; idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        try:
            self._call(self._writer.close)
        finally:
            self._queue.put(None)
            self._thread.join(timeout=10.0)


# -- reading -----------------------------------------------------------------------------


@dataclass
class BagTopic:
    name: str
    msgtype: str
    msgdef: str = ""
    msgdef_format: str = ""  # ros2msg, ros2idl or "" when the bag has none
    count: int | None = None  # None when a cut bag's count is unknown until read
    qos: list[Qos] = field(default_factory=list)
    key: object = None  # the storage's own connection


@dataclass
class Bag:
    """An opened bag: its topics, and its messages in recording order."""

    path: Path
    storage: str
    topics: dict[str, BagTopic]
    complete: bool
    warnings: list[str]
    _source: object = None

    def messages(self, topics: Iterable[str] | None = None
                 ) -> Iterator[tuple[BagTopic, int, bytes]]:
        """(topic, timestamp [ns], CDR bytes); a read error ends the stream with a warning."""
        wanted = set(self.topics) if topics is None else set(topics)
        yield from self._source.messages([self.topics[t] for t in wanted if t in self.topics],
                                         self.warnings)

    def require(self, topics: Iterable[str]) -> None:
        """BagError naming the topics the bag lacks (or recorded no message on)."""
        missing = [t for t in topics if t not in self.topics or self.topics[t].count == 0]
        if missing:
            have = ", ".join(sorted(t for t, v in self.topics.items() if v.count != 0))
            have = have or "none"
            raise BagError(f"bag {self.path} has no topic {', '.join(missing)} "
                           f"(it has: {have})")

    def unknown_types(self, topics: Iterable[str] | None = None) -> list[str]:
        """Topics whose message type has no rclpy class here (cannot be deserialised)."""
        names = self.topics if topics is None else [t for t in topics if t in self.topics]
        return [f"{t} ({self.topics[t].msgtype})" for t in names
                if message_class(self.topics[t].msgtype) is None]

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_bag(path: str | Path) -> Bag:
    """Open a bag directory or a single .mcap/.db3 file; BagError when it is unusable."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    warnings: list[str] = []
    if path.is_file():
        storage = _SUFFIXES.get(path.suffix)
        if storage is None:
            raise BagError(f"unknown storage format for {path}: expected a bag directory, "
                           "an .mcap or a .db3 file")
        return _open_files(path, storage, [path], warnings, intact_reader=True)
    files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES)
    metadata = path / "metadata.yaml"
    if metadata.is_file():
        storage = _storage_identifier(metadata)
        if storage not in STORAGES:
            raise BagError(f"unknown storage format {storage!r} in {metadata}; "
                           f"expected one of {', '.join(STORAGES)}")
        try:
            reader = Reader(path)
            reader.open()
        except Exception as error:  # noqa: BLE001 - any rosbags failure: scan the files
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            files = [f for f in files if _SUFFIXES[f.suffix] == storage]
            if not files:
                raise BagError(f"bag {path} cannot be read: {reason}") from None
            warnings.append(f"bag index unreadable ({reason}); reading the storage file up "
                            "to its last complete message")
            return _open_files(path, storage, files, warnings, intact_reader=False)
        return _from_reader(path, storage, reader, warnings)
    if not files:
        raise BagError(f"{path} is not a bag: no metadata.yaml and no .mcap or .db3 file "
                       "(unknown storage format)")
    storage = _SUFFIXES[files[0].suffix]
    files = [f for f in files if f.suffix == files[0].suffix]
    warnings.append(f"{path} has no metadata.yaml (the recording did not finish?); reading "
                    "the storage file up to its last complete message")
    return _open_files(path, storage, files, warnings, intact_reader=len(files) == 1)


def _storage_identifier(metadata: Path) -> str:
    from ruamel.yaml import YAML

    try:
        info = YAML(typ="safe").load(metadata.read_text(encoding="utf-8"))
        return str(info["rosbag2_bagfile_information"]["storage_identifier"])
    except Exception as error:  # noqa: BLE001 - YAML, key and type errors alike
        raise BagError(f"bag metadata {metadata} is unreadable: {error}".splitlines()[0]
                       ) from None


def _open_files(path: Path, storage: str, files: list[Path], warnings: list[str],
                intact_reader: bool) -> Bag:
    if intact_reader and storage == "mcap":
        try:
            reader = Reader(files[0])
            reader.open()
            return _from_reader(path, storage, reader, warnings)
        except Exception as error:  # noqa: BLE001
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            warnings.append(f"mcap index unreadable ({reason}); reading up to the last "
                            "complete message")
    source = _McapScan(files) if storage == "mcap" else _Sqlite3Scan(files)
    try:
        topics = source.topics()
        if not topics:
            raise BagError(f"bag {path} has no complete message (truncated or empty)")
    except BaseException:
        getattr(source, "close", lambda: None)()
        raise
    warnings.extend(source.notes)
    return Bag(path=path, storage=storage, topics=topics, complete=False, warnings=warnings,
               _source=source)


def _from_reader(path: Path, storage: str, reader: Reader, warnings: list[str]) -> Bag:
    topics: dict[str, BagTopic] = {}
    for connection in reader.connections:
        if connection.topic in topics:
            topic = topics[connection.topic]
            if topic.msgtype == connection.msgtype:  # same topic from several files
                topic.count = (topic.count or 0) + connection.msgcount
                topic.key = [*topic.key, connection]
            else:
                warnings.append(f"topic {connection.topic} has several types; reading "
                                f"{topic.msgtype} only")
            continue
        fmt = connection.msgdef.format.name.lower()
        topics[connection.topic] = BagTopic(
            name=connection.topic, msgtype=connection.msgtype, msgdef=connection.msgdef.data,
            msgdef_format={"msg": "ros2msg", "idl": "ros2idl"}.get(fmt, ""),
            count=connection.msgcount, qos=list(connection.ext.offered_qos_profiles),
            key=[connection])
    return Bag(path=path, storage=storage, topics=topics, complete=True, warnings=warnings,
               _source=_ReaderSource(reader))


class _ReaderSource:
    def __init__(self, reader: Reader):
        self.reader = reader

    def messages(self, topics: list[BagTopic], warnings: list[str]):
        by_connection = {id(c): t for t in topics for c in t.key}
        connections = [c for t in topics for c in t.key]
        if not connections:
            return
        try:
            for connection, timestamp, data in self.reader.messages(connections):
                yield by_connection[id(connection)], timestamp, data
        except Exception as error:  # noqa: BLE001 - a damaged chunk ends the stream
            warnings.append(f"bag read stopped early: {error}".splitlines()[0])

    def close(self) -> None:
        if self.reader.is_open:
            self.reader.close()


# -- mcap scanning (cut files) -----------------------------------------------------------


class _TruncatedError(Exception):
    pass


def _take(buffer: memoryview, offset: int, size: int) -> tuple[memoryview, int]:
    if size < 0 or offset + size > len(buffer):
        raise _TruncatedError
    return buffer[offset:offset + size], offset + size


def _u(buffer: memoryview, offset: int, fmt: str) -> tuple[int, int]:
    raw, offset = _take(buffer, offset, struct.calcsize(fmt))
    return struct.unpack("<" + fmt, raw)[0], offset


def _string(buffer: memoryview, offset: int) -> tuple[str, int]:
    size, offset = _u(buffer, offset, "I")
    raw, offset = _take(buffer, offset, size)
    return bytes(raw).decode("utf-8", errors="replace"), offset


def _decompress(data: memoryview, compression: str, size: int) -> bytes:
    if compression == "":
        return bytes(data)
    if compression == "zstd":
        from backports import zstd

        return zstd.decompress(bytes(data))
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(bytes(data))
    raise ValueError(f"unsupported mcap chunk compression {compression!r}")


class _McapScan:
    """Schemas, channels and messages of mcap files read front to back, stopping cleanly
    at the first incomplete record (a cut uncompressed chunk yields its complete part)."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.notes: list[str] = []

    def _records(self, path: Path) -> Iterator[tuple[int, memoryview]]:
        data = memoryview(path.read_bytes())
        if len(data) < 8 or bytes(data[:8]) != _MCAP_MAGIC:
            raise BagError(f"{path} is not an mcap file (bad magic; truncated or another "
                           "format)")
        offset = 8
        try:
            while offset < len(data):
                op, offset = _u(data, offset, "B")
                length, offset = _u(data, offset, "Q")
                if op == 0x06:  # chunk: its records may be readable even if it was cut
                    body = data[offset:offset + length]
                    offset += length
                    yield from self._chunk_records(body, complete=len(body) == length)
                    if len(body) < length:
                        raise _TruncatedError
                    continue
                body, offset = _take(data, offset, length)
                if op in (0x02, 0x0F):  # footer or data end: the summary repeats the rest
                    return
                yield op, body
        except _TruncatedError:
            self.notes.append(f"{path.name} ends mid-record at byte {len(data)}")

    def _chunk_records(self, body: memoryview, complete: bool):
        try:  # start time, end time, uncompressed size, crc, compression, records
            _size, offset = _u(body, 16, "Q")
            offset += 4
            compression, offset = _string(body, offset)
            size, offset = _u(body, offset, "Q")
            records = body[offset:offset + size]
        except _TruncatedError:
            return
        if len(records) < size:
            if compression:
                self.notes.append("a cut compressed chunk was skipped")
                return
        else:
            try:
                records = memoryview(_decompress(records, compression, _size))
            except Exception as error:  # noqa: BLE001
                self.notes.append(f"a chunk was skipped: {error}")
                return
        offset = 0
        try:
            while offset < len(records):
                op, offset = _u(records, offset, "B")
                length, offset = _u(records, offset, "Q")
                record, offset = _take(records, offset, length)
                yield op, record
        except _TruncatedError:
            if complete:
                self.notes.append("a chunk ends mid-record")

    def _walk(self, wanted: set[int] | None):
        schemas: dict[int, tuple[str, str, str]] = {}
        channels: dict[int, tuple] = {}
        for path in self.files:
            for op, body in self._records(path):
                if op == 0x03:
                    key, offset = _u(body, 0, "H")
                    name, offset = _string(body, offset)
                    encoding, offset = _string(body, offset)
                    size, offset = _u(body, offset, "I")
                    text = bytes(body[offset:offset + size]).decode("utf-8", errors="replace")
                    schemas[key] = (name, encoding, text)
                elif op == 0x04:
                    key, offset = _u(body, 0, "H")
                    schema_id, offset = _u(body, offset, "H")
                    topic, offset = _string(body, offset)
                    _encoding, offset = _string(body, offset)
                    channels[key] = (topic, schemas.get(schema_id), bytes(body[offset:]))
                    yield "channel", key, channels[key]
                elif op == 0x05 and len(body) >= 22:
                    key = struct.unpack_from("<H", body, 0)[0]
                    if wanted is None or key in wanted:
                        log_time = struct.unpack_from("<Q", body, 6)[0]
                        yield "message", key, (log_time, bytes(body[22:]))

    def topics(self) -> dict[str, BagTopic]:
        topics: dict[str, BagTopic] = {}
        keys: dict[int, str] = {}
        for kind, key, value in self._walk(None):
            if kind == "channel":
                topic, schema, metadata = value
                if topic in topics:
                    topics[topic].key.append(key)
                    keys[key] = topic
                    continue
                name, encoding, text = schema if schema else ("", "", "")
                topics[topic] = BagTopic(name=topic, msgtype=name, msgdef=text,
                                         msgdef_format=encoding, count=0,
                                         qos=_channel_qos(metadata), key=[key])
                keys[key] = topic
            elif key in keys:
                topics[keys[key]].count += 1
        return {name: topic for name, topic in topics.items() if topic.count}

    def messages(self, topics: list[BagTopic], warnings: list[str]):
        by_key = {key: topic for topic in topics for key in topic.key}
        self.notes.clear()
        for kind, key, value in self._walk(set(by_key)):
            if kind == "message":
                yield by_key[key], value[0], value[1]
        warnings.extend(n for n in self.notes if n not in warnings)
        self.notes.clear()


def _channel_qos(metadata: bytes) -> list[Qos]:
    view, offset = memoryview(metadata), 4  # a map: byte length, then key/value strings
    try:
        while offset < len(view):
            key, offset = _string(view, offset)
            value, offset = _string(view, offset)
            if key == "offered_qos_profiles":
                return _parse_qos_text(value)
    except _TruncatedError:
        pass
    return []


# -- sqlite3 scanning (no metadata.yaml) -------------------------------------------------


class _Sqlite3Scan:
    """Topics and messages of sqlite3 bags read directly, in recording (row id) order; a
    damaged or cut database is read up to its first unreadable page."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.notes: list[str] = []
        self._connections: list[sqlite3.Connection] = []

    def _connect(self, path: Path) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            connection = self._repaired(path, error)
        self._connections.append(connection)
        return connection

    def _repaired(self, path: Path, error: Exception) -> sqlite3.Connection:
        """A cut database claims more pages than it has, which sqlite reports as malformed:
        read a copy cut to whole pages whose header claims only those."""
        data = bytearray(path.read_bytes()[:1 << 31])
        if len(data) < 100 or not data.startswith(b"SQLite format 3\0"):
            raise BagError(f"{path} is not a readable sqlite3 bag: {error}") from None
        page = struct.unpack_from(">H", data, 16)[0]
        page = 65536 if page == 1 else page
        pages = len(data) // page
        if page < 512 or pages < 1:
            raise BagError(f"{path} is not a readable sqlite3 bag: {error}") from None
        del data[pages * page:]
        struct.pack_into(">I", data, 28, pages)
        import tempfile

        self._tmp = getattr(self, "_tmp", None) or tempfile.TemporaryDirectory()
        copy = Path(self._tmp.name) / path.name
        copy.write_bytes(bytes(data))
        try:
            connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as second:
            raise BagError(f"{path} is not a readable sqlite3 bag: {second}") from None
        self.notes.append(f"{path.name} is cut or damaged ({error}): reading its whole pages")
        return connection

    @staticmethod
    def _rows(db: sqlite3.Connection, columns: str, where: str = "", args: tuple = ()):
        """Messages in row id order until the end or the first damaged page: (rows, error)."""
        rows = db.execute(f"SELECT {columns} FROM messages {where} ORDER BY id", args)
        try:
            yield from rows
        except sqlite3.DatabaseError as error:
            yield error

    def topics(self) -> dict[str, BagTopic]:
        topics: dict[str, BagTopic] = {}
        for path in self.files:
            db = self._connect(path)
            try:
                definitions = {}
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                if "message_definitions" in tables:
                    definitions = {r[0]: (r[1], r[2]) for r in db.execute(
                        "SELECT topic_type, encoding, encoded_message_definition "
                        "FROM message_definitions")}
                columns = [r[1] for r in db.execute("PRAGMA table_info(topics)")]
                by_id = {}
                for row in db.execute("SELECT * FROM topics"):
                    info = dict(zip(columns, row, strict=True))
                    encoding, text = definitions.get(info["type"], ("", ""))
                    qos = _parse_qos_text(info.get("offered_qos_profiles", ""))
                    topic = topics.setdefault(info["name"], BagTopic(
                        name=info["name"], msgtype=info["type"], msgdef=text,
                        msgdef_format=encoding, count=0, qos=qos, key=[]))
                    topic.key.append((db, info["id"]))
                    by_id[info["id"]] = topic
            except sqlite3.DatabaseError as error:
                raise BagError(f"{path} is not a readable sqlite3 bag: {error}") from None
            read = 0
            for row in self._rows(db, "topic_id"):
                if isinstance(row, sqlite3.DatabaseError):
                    self.notes.append(f"{path.name}: {read} messages, then an unreadable page "
                                      f"({row})")
                    break
                read += 1
                if row[0] in by_id:
                    by_id[row[0]].count += 1
        return {name: topic for name, topic in topics.items() if topic.count}

    def messages(self, topics: list[BagTopic], warnings: list[str]):
        for db in self._connections:
            wanted = {key: topic for topic in topics for db_, key in topic.key if db_ is db}
            if not wanted:
                continue
            marks = ",".join("?" * len(wanted))
            for row in self._rows(db, "topic_id, timestamp, data",
                                  f"WHERE topic_id IN ({marks})", tuple(wanted)):
                if isinstance(row, sqlite3.DatabaseError):
                    break  # topics() has already said so
                yield wanted[row[0]], row[1], bytes(row[2])

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        if getattr(self, "_tmp", None) is not None:
            self._tmp.cleanup()
            self._tmp = None


def _parse_qos_text(text: str) -> list[Qos]:
    try:
        return parse_qos(text) if text else []
    except Exception:  # noqa: BLE001 - QoS is advisory; a bag without it is still a bag
        return []
