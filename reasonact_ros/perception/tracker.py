"""Multi-target tracking: constant-velocity Kalman filters, Mahalanobis gating and
Hungarian assignment, with tracks that go tentative -> confirmed -> lost (coasting,
still reported) -> hidden (kept unreported to re-identify someone who reappears).

All tracks are filtered together as stacked arrays: with twenty people a per-track
Python loop of small matrix products costs more than the rest of the lidar pipeline.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from reasonact_ros.scene import ObjectClass

# No assignment may cost this much; it marks pairs outside the gate.
_FORBIDDEN = 1e9
# Stamps like 0.1 * k are not exact; "unseen for 0.3 s" must not flip on rounding.
_TIME_EPS = 1e-6


@dataclass(frozen=True)
class TrackerConfig:
    """Noise levels and track life cycle. Defaults suit people seen by a 2D lidar at 10 Hz."""

    accel_std: float = 0.7  # [m/s^2] white-noise acceleration: walking people turn and stop
    measurement_std: float = 0.06  # [m] detection position noise when a detection gives none
    initial_speed_std: float = 1.2  # [m/s] a new track may walk at any normal speed
    gate_chi2: float = 13.8  # Mahalanobis distance^2 gate (99.9 % for 2 dof)
    max_gate_distance: float = 1.2  # [m] a coasting track's gate never grows beyond this
    gate_floor: float = 0.4  # [m] an established track always accepts a detection this near
    maneuver_nis: float = 9.2  # innovation (NIS) above this widens the prior (99 %, 2 dof)
    max_inflation: float = 4.0  # ...by at most this factor
    confirm_hits: int = 3  # detections before a tentative track is reported
    tentative_max_misses: int = 2  # a tentative track missing this often is dropped
    max_coast_s: float = 1.0  # [s] a confirmed track is reported this long unseen (coasting)
    max_hidden_s: float = 3.0  # [s] ...and kept, unreported, this long to re-identify
    min_new_track_separation: float = 0.35  # [m] no new track this close to a known one
    max_speed: float = 3.0  # [m/s] faster velocity estimates are clipped (nobody runs here)
    first_id: int = 1

    def __post_init__(self):
        for name in ("accel_std", "measurement_std", "initial_speed_std", "gate_chi2",
                     "max_gate_distance", "max_speed"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"tracker {name} must be finite and > 0, got {value!r}")
        if not math.isfinite(self.max_coast_s) or self.max_coast_s < 0.0:
            raise ValueError(f"tracker max_coast_s must be >= 0, got {self.max_coast_s!r}")
        if not math.isfinite(self.max_hidden_s) or self.max_hidden_s < self.max_coast_s:
            raise ValueError(f"tracker max_hidden_s must be >= max_coast_s, got "
                             f"{self.max_hidden_s!r}")
        for name in ("gate_floor", "min_new_track_separation"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise ValueError(f"tracker {name} must be finite and >= 0, got {value!r}")
        if not (self.maneuver_nis > 0.0 and self.max_inflation >= 1.0):
            raise ValueError("tracker maneuver_nis must be > 0 and max_inflation >= 1")
        if self.confirm_hits < 1 or self.tentative_max_misses < 1:
            raise ValueError("tracker confirm_hits and tentative_max_misses must be >= 1")


@dataclass(frozen=True)
class Detection:
    """One object seen in one scan, in odom."""

    x: float  # [m]
    y: float  # [m]
    radius: float = 0.25  # [m]
    shape_class: ObjectClass = ObjectClass.PEDESTRIAN  # what its shape suggests; UNKNOWN: no vote
    std: float | None = None  # [m] position noise; None uses TrackerConfig.measurement_std
    can_start_track: bool = True  # False for weak evidence (one return) that only confirms

    def __post_init__(self):
        if not (math.isfinite(self.x) and math.isfinite(self.y)):
            raise ValueError(f"detection position must be finite, got ({self.x}, {self.y})")
        if self.std is not None and not (math.isfinite(self.std) and self.std > 0.0):
            raise ValueError(f"detection std must be finite and > 0, got {self.std!r}")

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y])


class TrackStatus(enum.Enum):
    TENTATIVE = "tentative"  # seen, but not often enough to report
    CONFIRMED = "confirmed"  # seen in the latest update
    LOST = "lost"  # confirmed, unseen for a while, coasting on its velocity (reported)
    HIDDEN = "hidden"  # unseen too long to report, kept to give a reappearing person its id


@dataclass
class Track:
    id: int
    state: np.ndarray  # [x, y, vx, vy] odom
    covariance: np.ndarray  # 4 x 4
    status: TrackStatus
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0  # consecutive updates without a detection
    confirmed_at: float | None = None
    radius: float = 0.25
    person_votes: float = 0.0  # running count of person-shaped detections
    obstacle_votes: float = 0.0
    has_moved: bool = False  # ever confidently faster than walking-noise, and gone somewhere
    camera_score: float = 0.0  # [0, 1] camera evidence that this is a person, decays
    camera_stamp: float = -math.inf
    camera_hits: int = 0

    origin: np.ndarray | None = None  # [x, y] where it was first seen

    def __post_init__(self):
        if self.origin is None:
            self.origin = self.state[:2].copy()

    @property
    def position(self) -> np.ndarray:
        return self.state[:2].copy()

    @property
    def velocity(self) -> np.ndarray:
        return self.state[2:].copy()

    @property
    def speed(self) -> float:
        return float(math.hypot(self.state[2], self.state[3]))

    @property
    def is_reported(self) -> bool:
        return self.status in (TrackStatus.CONFIRMED, TrackStatus.LOST)

    def position_std(self) -> float:
        return float(math.sqrt(max(0.5 * (self.covariance[0, 0] + self.covariance[1, 1]), 0.0)))

    def velocity_std(self) -> float:
        return float(math.sqrt(max(0.5 * (self.covariance[2, 2] + self.covariance[3, 3]), 0.0)))


_I2 = np.eye(2)


def _inverse_2x2(S: np.ndarray) -> np.ndarray:
    """Inverse of a stack of symmetric 2 x 2 matrices, in closed form (n, 2, 2)."""
    a, b, c = S[:, 0, 0], S[:, 0, 1], S[:, 1, 1]
    det = a * c - b * b
    return np.stack([np.stack([c, -b], axis=1), np.stack([-b, a], axis=1)], axis=1) / det[
        :, None, None]


def _transition(dt: float) -> np.ndarray:
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    return F


def _process_noise(dt: float, accel_std: float) -> np.ndarray:
    """Discrete white-noise acceleration model for one axis pair."""
    q = accel_std**2
    dt2, dt3, dt4 = dt * dt, dt**3, dt**4
    Q = np.zeros((4, 4))
    Q[0, 0] = Q[1, 1] = dt4 / 4.0 * q
    Q[0, 2] = Q[2, 0] = Q[1, 3] = Q[3, 1] = dt3 / 2.0 * q
    Q[2, 2] = Q[3, 3] = dt2 * q
    return Q


class MultiTargetTracker:
    """Tracks detections over time; ``update`` returns the reported (confirmed/lost) tracks."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._tracks: list[Track] = []
        self._next_id = self.config.first_id
        self._time: float | None = None

    @property
    def tracks(self) -> list[Track]:
        """Every live track, tentative ones included."""
        return list(self._tracks)

    @property
    def time(self) -> float | None:
        return self._time

    def predict_to(self, now: float) -> None:
        """Advance every track to ``now`` without measurements (e.g. before associating
        camera detections)."""
        if self._time is None:
            self._time = now
            return
        dt = now - self._time
        if dt < 0.0:
            raise ValueError(f"tracker time went backwards: {now} < {self._time}; call reset()")
        if dt == 0.0 or not self._tracks:
            self._time = now
            return
        F = _transition(dt)
        Q = _process_noise(dt, self.config.accel_std)
        states = np.stack([t.state for t in self._tracks]) @ F.T
        covs = F @ np.stack([t.covariance for t in self._tracks]) @ F.T + Q
        for track, x, P in zip(self._tracks, states, covs, strict=True):
            track.state, track.covariance = x, P
        self._time = now

    def update(self, detections: list[Detection], now: float) -> list[Track]:
        if not math.isfinite(now):
            raise ValueError(f"tracker time must be finite, got {now!r}")
        self.predict_to(now)
        cfg = self.config
        matches, unmatched_tracks, unmatched_dets = self._associate(detections)
        if matches:
            self._correct(matches, detections, now)
        for ti in unmatched_tracks:
            track = self._tracks[ti]
            track.misses += 1
            if track.status == TrackStatus.CONFIRMED:
                track.status = TrackStatus.LOST
            if (track.status == TrackStatus.LOST
                    and now - track.last_seen > cfg.max_coast_s + _TIME_EPS):
                track.status = TrackStatus.HIDDEN
        occupied = np.array([t.state[:2] for t in self._tracks
                             if t.status != TrackStatus.TENTATIVE]).reshape(-1, 2)
        for di in unmatched_dets:
            det = detections[di]
            if not det.can_start_track:
                continue
            # Two bodies cannot overlap: a detection inside a known one is a fragment of it
            # (a partly hidden person), and a second track there would steal its identity.
            if len(occupied) and np.min(np.hypot(*(occupied - [det.x, det.y]).T)) < (
                    cfg.min_new_track_separation):
                continue
            self._start_track(det, now)
        self._tracks = [t for t in self._tracks if not self._expired(t, now)]
        for t in self._tracks:
            if t.status == TrackStatus.TENTATIVE and t.hits >= cfg.confirm_hits:
                t.status = TrackStatus.CONFIRMED
                t.confirmed_at = now
        return [t for t in self._tracks if t.is_reported]

    def _expired(self, track: Track, now: float) -> bool:
        if track.status == TrackStatus.TENTATIVE:
            return track.misses >= self.config.tentative_max_misses
        return now - track.last_seen > self.config.max_hidden_s + _TIME_EPS

    def _measurement_vars(self, detections: list[Detection]) -> np.ndarray:
        return np.array([(d.std if d.std is not None else self.config.measurement_std) ** 2
                         for d in detections])

    def _associate(self, detections: list[Detection]):
        """Established tracks choose first, tentative ones take what is left: a person
        reappearing from behind someone keeps their identity instead of being claimed by
        a track just born from their first returns."""
        n_tracks, n_dets = len(self._tracks), len(detections)
        established = [i for i, t in enumerate(self._tracks)
                       if t.status != TrackStatus.TENTATIVE]
        tentative = [i for i, t in enumerate(self._tracks) if t.status == TrackStatus.TENTATIVE]
        matches = self._assign(established, list(range(n_dets)), detections,
                               self.config.gate_floor)
        used_d = {j for _, j in matches}
        matches += self._assign(tentative, [j for j in range(n_dets) if j not in used_d],
                                detections, 0.0)
        used_t = {i for i, _ in matches}
        used_d = {j for _, j in matches}
        return (matches, [i for i in range(n_tracks) if i not in used_t],
                [j for j in range(n_dets) if j not in used_d])

    def _assign(self, track_idx: list[int], det_idx: list[int], detections: list[Detection],
                gate_floor: float) -> list[tuple[int, int]]:
        if not track_idx or not det_idx:
            return []
        tracks = [self._tracks[i] for i in track_idx]
        pos = np.stack([t.state[:2] for t in tracks])
        P = np.stack([t.covariance[:2, :2] for t in tracks])
        z = np.array([[detections[j].x, detections[j].y] for j in det_idx])
        r = self._measurement_vars([detections[j] for j in det_idx])
        # Innovation covariance for every pair: S = P_pos + R (R is isotropic per detection).
        S = P[:, None, :, :] + r[None, :, None, None] * np.eye(2)
        a, b, c = S[..., 0, 0], S[..., 0, 1], S[..., 1, 1]
        det = a * c - b * b
        diff = z[None, :, :] - pos[:, None, :]
        ex, ey = diff[..., 0], diff[..., 1]
        d2 = (c * ex * ex - 2.0 * b * ex * ey + a * ey * ey) / det
        euclid = np.hypot(ex, ey)
        # The floor: a filter that has grown overconfident (its person sped up behind
        # someone) must still accept a detection at body distance from its prediction.
        gated = ((d2 <= self.config.gate_chi2) | (euclid <= gate_floor)) & (
            euclid <= self.config.max_gate_distance)
        # The log-determinant makes this a likelihood: a vague (coasting) track does not
        # win a detection merely because its wide gate makes every distance look small.
        cost = np.where(gated, np.minimum(d2, 4.0 * self.config.gate_chi2) + np.log(det),
                        _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        return [(track_idx[i], det_idx[j]) for i, j in zip(rows, cols, strict=True)
                if cost[i, j] < _FORBIDDEN]

    def _correct(self, matches, detections: list[Detection], now: float) -> None:
        idx_t = [i for i, _ in matches]
        tracks = [self._tracks[i] for i in idx_t]
        dets = [detections[j] for _, j in matches]
        x = np.stack([t.state for t in tracks])
        P = np.stack([t.covariance for t in tracks])
        z = np.array([[d.x, d.y] for d in dets])
        r = self._measurement_vars(dets)
        innovation = z - x[:, :2]
        S_inv = _inverse_2x2(P[:, :2, :2] + r[:, None, None] * _I2)
        nis = np.einsum("ni,nij,nj->n", innovation, S_inv, innovation)
        # A surprise (the person turned, stopped or sped up) means the constant-velocity
        # model was too sure of itself: widen the prior so the velocity catches up quickly.
        inflate = np.clip(nis / self.config.maneuver_nis, 1.0, self.config.max_inflation)
        if np.any(inflate > 1.0):
            P = P * inflate[:, None, None]
            S_inv = _inverse_2x2(P[:, :2, :2] + r[:, None, None] * _I2)
        K = P[:, :, :2] @ S_inv  # (n, 4, 2)
        x = x + (K @ innovation[:, :, None])[:, :, 0]
        P = P - K @ P[:, :2, :]
        P = 0.5 * (P + P.transpose(0, 2, 1))  # keep it symmetric through many updates
        speed = np.hypot(x[:, 2], x[:, 3])
        too_fast = speed > self.config.max_speed
        if np.any(too_fast):
            x[too_fast, 2:] *= (self.config.max_speed / speed[too_fast])[:, None]
        for track, det, xi, Pi in zip(tracks, dets, x, P, strict=True):
            track.state, track.covariance = xi, Pi
            # Weak evidence (a lone return) keeps a track alive but never confirms a
            # tentative one: clutter must not build tracks out of single returns.
            if det.can_start_track or track.status != TrackStatus.TENTATIVE:
                track.hits += 1
            track.misses = 0
            track.last_seen = now
            if track.status in (TrackStatus.LOST, TrackStatus.HIDDEN):
                track.status = TrackStatus.CONFIRMED
            # Radius and shape: slow running averages, so one odd view does not flip a class.
            if det.shape_class == ObjectClass.UNKNOWN:
                continue  # weak evidence says nothing about size or shape
            track.radius += 0.2 * (det.radius - track.radius)
            person = det.shape_class == ObjectClass.PEDESTRIAN
            track.person_votes = 0.9 * track.person_votes + (1.0 if person else 0.0)
            track.obstacle_votes = 0.9 * track.obstacle_votes + (0.0 if person else 1.0)

    def _start_track(self, det: Detection, now: float) -> None:
        cfg = self.config
        var_p = (det.std if det.std is not None else cfg.measurement_std) ** 2
        P = np.diag([var_p, var_p, cfg.initial_speed_std**2, cfg.initial_speed_std**2])
        person = det.shape_class == ObjectClass.PEDESTRIAN
        track = Track(id=self._next_id, state=np.array([det.x, det.y, 0.0, 0.0]), covariance=P,
                      status=TrackStatus.TENTATIVE, first_seen=now, last_seen=now,
                      radius=det.radius, person_votes=1.0 if person else 0.0,
                      obstacle_votes=0.0 if person else 1.0)
        self._next_id += 1
        self._tracks.append(track)
        if cfg.confirm_hits <= 1:
            track.status = TrackStatus.CONFIRMED
            track.confirmed_at = now
