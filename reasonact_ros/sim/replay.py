"""People replayed from ETH/UCY-format trajectory files.

The format is one observation per line, whitespace separated:
``frame_id pedestrian_id x y`` with x, y in metres; lines are in
non-decreasing frame order; ``#`` starts a comment. Frame numbers become
time through the scenario's ``frame_period`` (seconds per frame-number step,
0.04 for the ETH files whose frames go in steps of 10 at 2.5 Hz).
Positions between observations are a natural cubic spline per person, so
velocities are continuous; replayed people follow the recording and never
react to anyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from reasonact_ros.sim.scenario import ReplaySpec


class TrajectoryError(ValueError):
    """A trajectory file is empty, malformed or out of frame order; names file and line."""


@dataclass(frozen=True)
class RecordedTrack:
    """One person's observations as recorded: frames and (N, 2) positions [m]."""

    pedestrian_id: int
    frames: np.ndarray
    positions: np.ndarray


def _integral(text: str, path: Path, line_number: int, what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise TrajectoryError(
            f"{path}:{line_number}: {what}: expected an integer, got {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise TrajectoryError(f"{path}:{line_number}: {what}: expected an integer, got {text!r}")
    return int(value)


def _coordinate(text: str, path: Path, line_number: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TrajectoryError(
            f"{path}:{line_number}: {what}: expected a number in metres, got {text!r}") from None
    if not math.isfinite(value):
        raise TrajectoryError(
            f"{path}:{line_number}: {what}: expected a finite number in metres, got {text!r}")
    return value


def load_trajectories(path: str | Path) -> list[RecordedTrack]:
    """Read an ETH/UCY-format file into one track per pedestrian id, sorted by id."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TrajectoryError(f"{path}:0: cannot read trajectory file: {error.strerror}") from None
    observations: dict[int, list[tuple[int, float, float]]] = {}
    last_frame, last_line = None, 0
    for line_number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4:
            raise TrajectoryError(
                f"{path}:{line_number}: expected 4 fields 'frame_id pedestrian_id x y', "
                f"got {len(fields)}: {line!r}")
        frame = _integral(fields[0], path, line_number, "frame_id")
        person = _integral(fields[1], path, line_number, "pedestrian_id")
        x = _coordinate(fields[2], path, line_number, "x")
        y = _coordinate(fields[3], path, line_number, "y")
        if last_frame is not None and frame < last_frame:
            raise TrajectoryError(
                f"{path}:{line_number}: frame_id: expected frames in non-decreasing order, "
                f"got {frame} after {last_frame} (line {last_line})")
        track = observations.setdefault(person, [])
        if track and track[-1][0] == frame:
            raise TrajectoryError(
                f"{path}:{line_number}: pedestrian_id: pedestrian {person} observed twice "
                f"in frame {frame}")
        track.append((frame, x, y))
        last_frame, last_line = frame, line_number
    if not observations:
        raise TrajectoryError(f"{path}:1: expected at least one observation, the file is empty")
    tracks = []
    for person in sorted(observations):
        rows = np.array(observations[person], dtype=float)
        tracks.append(RecordedTrack(person, rows[:, 0].astype(int), rows[:, 1:3]))
    return tracks


class _ReplayedPerson:
    def __init__(self, person_id: int, times: np.ndarray, positions: np.ndarray):
        self.id = person_id
        self.t_first, self.t_last = float(times[0]), float(times[-1])
        # A natural spline reproduces straight constant-speed walking exactly.
        self.path = CubicSpline(times, positions, bc_type="natural", axis=0)
        self.velocity = self.path.derivative()


class ReplayedPeople:
    """Every person of one replay entry, in odom, as functions of sim time."""

    def __init__(self, spec: ReplaySpec, tracks: list[RecordedTrack] | None = None):
        self.spec = spec
        tracks = load_trajectories(spec.file) if tracks is None else tracks
        first_frame = min(int(t.frames[0]) for t in tracks)
        c, s = math.cos(spec.rotation), math.sin(spec.rotation)
        rotation = np.array([[c, -s], [s, c]])
        self.people: list[_ReplayedPerson] = []
        for track in tracks:
            keep = np.ones(len(track.frames), dtype=bool)
            if spec.crop is not None:
                xmin, ymin, xmax, ymax = spec.crop
                px, py = track.positions[:, 0], track.positions[:, 1]
                keep = (px >= xmin) & (px <= xmax) & (py >= ymin) & (py <= ymax)
            # One observation has no motion to interpolate; such people are left out.
            if np.count_nonzero(keep) < 2:
                continue
            times = (track.frames[keep] - first_frame) * spec.frame_period + spec.time_offset
            positions = track.positions[keep] @ rotation.T + np.asarray(spec.offset)
            self.people.append(_ReplayedPerson(spec.id_offset + track.pedestrian_id,
                                               times.astype(float), positions))
        self.radius = spec.radius

    def state(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids (K,), positions (K, 2) and velocities (K, 2) of the people present at ``now``."""
        present = [p for p in self.people if p.t_first <= now <= p.t_last]
        if not present:
            return np.zeros(0, dtype=int), np.zeros((0, 2)), np.zeros((0, 2))
        ids = np.array([p.id for p in present], dtype=int)
        positions = np.array([p.path(now) for p in present])
        velocities = np.array([p.velocity(now) for p in present])
        return ids, positions, velocities

    @property
    def end_time(self) -> float:
        return max((p.t_last for p in self.people), default=-math.inf)
