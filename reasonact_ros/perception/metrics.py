"""CLEAR MOT tracking metrics (Bernardin & Stiefelhagen 2008) against ground truth.

Per frame: a ground-truth object keeps its previous track while that track stays within
``match_radius``; the rest are paired by minimum total distance. A ground-truth object
matched to a different track than last time is an identity switch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from reasonact_ros.scene import TrackedObject


class MotAccumulator:
    def __init__(self):
        self.frames = 0
        self.ground_truth = 0  # ground-truth object instances over all frames
        self.misses = 0
        self.false_positives = 0
        self.id_switches = 0
        self.matches = 0
        self.ignored_matches = 0  # tracks excused because they sat on ignored ground truth
        self.track_seconds = 0.0  # ground-truth object presence, summed over objects
        self._sq_position = 0.0
        self._sq_velocity = 0.0
        self._last_track_of: dict[int, int] = {}  # gt id -> track id of its last match

    def update(self, gt: list[TrackedObject], tracks: list[TrackedObject],
               match_radius: float = 0.5, dt: float = 0.1,
               ignored: list[TrackedObject] = ()) -> list[tuple[int, int]]:
        """Score one frame ``dt`` seconds long; returns its (gt id, track id) matches.

        ``ignored`` ground truth (e.g. people the sensor cannot see this frame) counts
        neither as a miss nor as a match, and a track left over near one of them is not a
        false positive (it may rightly be coasting through an occlusion).
        """
        if not (math.isfinite(match_radius) and match_radius > 0.0):
            raise ValueError(f"match_radius must be finite and > 0, got {match_radius!r}")
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ValueError(f"dt must be finite and >= 0, got {dt!r}")
        self.frames += 1
        self.ground_truth += len(gt)
        self.track_seconds += len(gt) * dt
        pairs = self._match(gt, tracks, match_radius)
        for gi, ti in pairs:
            g, t = gt[gi], tracks[ti]
            previous = self._last_track_of.get(g.id)
            if previous is not None and previous != t.id:
                self.id_switches += 1
            self._last_track_of[g.id] = t.id
            self._sq_position += (g.x - t.x) ** 2 + (g.y - t.y) ** 2
            self._sq_velocity += (g.vx - t.vx) ** 2 + (g.vy - t.vy) ** 2
        self.matches += len(pairs)
        self.misses += len(gt) - len(pairs)
        leftover = [tracks[j] for j in set(range(len(tracks))) - {j for _, j in pairs}]
        excused = len(self._match(list(ignored), leftover, match_radius, keep_history=False))
        self.ignored_matches += excused
        self.false_positives += len(leftover) - excused
        return [(gt[gi].id, tracks[ti].id) for gi, ti in pairs]

    def _match(self, gt, tracks, radius, keep_history: bool = True) -> list[tuple[int, int]]:
        if not gt or not tracks:
            return []
        g = np.array([[o.x, o.y] for o in gt])
        t = np.array([[o.x, o.y] for o in tracks])
        dist = np.linalg.norm(g[:, None, :] - t[None, :, :], axis=2)
        cost = np.where(dist <= radius, dist, 1e6)
        # Keep last frame's correspondences that are still valid: this is what makes an
        # identity switch a switch rather than a re-optimised assignment.
        track_index = {o.id: j for j, o in enumerate(tracks)} if keep_history else {}
        pinned: set[int] = set()
        for i, o in enumerate(gt if keep_history else ()):
            j = track_index.get(self._last_track_of.get(o.id, -1))
            if j is not None and j not in pinned and dist[i, j] <= radius:
                pinned.add(j)
                cost[i, :] = 1e6
                cost[:, j] = 1e6
                cost[i, j] = -1.0
        rows, cols = linear_sum_assignment(cost)
        return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < 1e6]

    def summary(self) -> dict:
        errors = self.misses + self.false_positives + self.id_switches
        mota = 1.0 - errors / self.ground_truth if self.ground_truth else float("nan")
        per_100 = (100.0 * self.id_switches / self.track_seconds if self.track_seconds > 0
                   else float("nan"))
        rmse_p = math.sqrt(self._sq_position / self.matches) if self.matches else float("nan")
        rmse_v = math.sqrt(self._sq_velocity / self.matches) if self.matches else float("nan")
        return {
            "mota": mota,
            "id_switches_per_100_track_s": per_100,
            "position_rmse_m": rmse_p,
            "velocity_rmse_mps": rmse_v,
            "id_switches": self.id_switches,
            "misses": self.misses,
            "false_positives": self.false_positives,
            "matches": self.matches,
            "ignored_matches": self.ignored_matches,
            "ground_truth": self.ground_truth,
            "track_seconds": self.track_seconds,
            "frames": self.frames,
        }
