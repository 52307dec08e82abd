"""Social-navigation metrics of one episode, and their aggregation over many.

Pure numpy, no rclpy: the input is what ``bringup.step_record`` logs per simulator
step (t, x, y, yaw, v, w, people [(id, x, y, vx, vy, radius)], decision), the
episode's events (collisions, goal, timeout) and the goal. Definitions and their
sources are in docs/METRICS.md; every distance to a person here is surface to
surface: centre distance - robot radius - person radius.

Time-weighted quantities give each step the time since the previous step (the
first step gets the second step's duration), so a log with an irregular step
still averages over time rather than over samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Hall's proxemic zones as used by HuNavSim and Francis et al. (2023) [m], surface to surface.
INTIMATE_M = 0.45
PERSONAL_M = 1.2
SOCIAL_M = 3.6

STOPPED_SPEED = 0.05  # [m/s] slower than this (and turning slower than STOPPED_TURN) is stopped
STOPPED_TURN = 0.05  # [rad/s]
FREEZE_S = 1.0  # [s] stopped longer than this before the goal is a freeze

COLLISION_PERSON = "collision_person"
COLLISION_OBSTACLE = "collision_obstacle"
GOAL_REACHED = "goal_reached"
TIMEOUT = "timeout"

RECORD_KEYS = ("t", "x", "y", "yaw", "v", "w")


@dataclass(frozen=True)
class EpisodeGoal:
    """Where the episode had to go: route waypoints in odom, the last one is the goal."""

    waypoints: tuple[tuple[float, float], ...]
    tolerance: float = 0.3  # [m]
    start: tuple[float, float] | None = None  # [m] None: the first logged position

    def __post_init__(self):
        if not self.waypoints:
            raise ValueError("a goal needs at least one waypoint")
        for point in self.waypoints:
            if len(point) != 2 or not all(math.isfinite(float(v)) for v in point):
                raise ValueError(f"waypoint must be two finite numbers, got {point!r}")
        if not (math.isfinite(self.tolerance) and self.tolerance > 0.0):
            raise ValueError(f"goal tolerance must be positive, got {self.tolerance!r}")

    @property
    def final(self) -> tuple[float, float]:
        return self.waypoints[-1]


@dataclass(frozen=True)
class Event:
    """An episode event as plain data (sim.events.EpisodeEvent or its dict form)."""

    time: float | None  # [s] sim time; None when only the count is known
    kind: str
    other_id: int = -1
    robot_at_fault: bool = False


# ---------------------------------------------------------------------------------------------
# Input checking
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Track:
    """The trajectory as arrays: one row per step."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray
    w: np.ndarray
    people: tuple[np.ndarray, ...]  # per step (K, 6): id, x, y, vx, vy, radius
    decisions: tuple[str, ...]

    @property
    def dt(self) -> np.ndarray:
        """Duration each step stands for [s]."""
        if len(self.t) < 2:
            return np.zeros(len(self.t))
        steps = np.diff(self.t)
        return np.concatenate([[steps[0]], steps])

    @property
    def duration(self) -> float:
        return float(self.dt.sum())


def as_track(trajectory: Sequence[Mapping]) -> Track:
    """Check and convert step records; raises ValueError naming the bad step and field."""
    if isinstance(trajectory, (str, bytes)) or not isinstance(trajectory, Sequence):
        raise TypeError(f"trajectory must be a sequence of step records, got "
                        f"{type(trajectory).__name__}")
    if len(trajectory) == 0:
        raise ValueError("trajectory is empty")
    columns: dict[str, list[float]] = {key: [] for key in RECORD_KEYS}
    people, decisions = [], []
    for index, record in enumerate(trajectory):
        if not isinstance(record, Mapping):
            raise TypeError(f"step {index}: expected a dict, got {type(record).__name__}")
        for key in RECORD_KEYS:
            if key not in record:
                raise ValueError(f"step {index}: missing field {key!r}")
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value)):
                raise ValueError(f"step {index}: {key} must be a finite number, got {value!r}")
            columns[key].append(float(value))
        raw = record.get("people") or []
        try:
            rows = np.asarray(raw, dtype=float).reshape(-1, 6) if len(raw) else np.zeros((0, 6))
            if len(raw) and np.asarray(raw, dtype=float).shape[-1] != 6:
                raise ValueError
        except (TypeError, ValueError):
            rows = None
        if rows is None or not np.all(np.isfinite(rows)):
            raise ValueError(f"step {index}: people must be finite (id, x, y, vx, vy, radius) "
                             f"rows, got {raw!r:.80}")
        people.append(rows)
        decisions.append(str(record.get("decision") or ""))
    t = np.asarray(columns["t"])
    if len(t) > 1 and np.any(np.diff(t) <= 0.0):
        bad = int(np.argmax(np.diff(t) <= 0.0)) + 1
        raise ValueError(f"step {bad}: time must increase, got {t[bad - 1]} then {t[bad]}")
    return Track(t, *(np.asarray(columns[k]) for k in RECORD_KEYS[1:]), tuple(people),
                 tuple(decisions))


def as_events(events: Iterable) -> list[Event]:
    """EpisodeEvent objects or dicts with time/kind (other_id, robot_at_fault optional)."""
    out = []
    for item in events or ():
        if isinstance(item, Event):
            out.append(item)
            continue
        get = item.get if isinstance(item, Mapping) else lambda k, d=None, i=item: getattr(
            i, k, d)
        kind = get("kind")
        if not isinstance(kind, str):
            raise ValueError(f"event without a kind: {item!r}")
        time = get("time")
        out.append(Event(None if time is None else float(time), kind,
                         int(get("other_id", -1)), bool(get("robot_at_fault", False))))
    return out


# ---------------------------------------------------------------------------------------------
# Distances to people
# ---------------------------------------------------------------------------------------------

def closest_person(track: Track, robot_radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the closest person's id (-1 if nobody) and their surface-to-surface
    distance [m] (inf if nobody)."""
    ids = np.full(len(track.t), -1, dtype=int)
    out = np.full(len(track.t), np.inf)
    for k, rows in enumerate(track.people):
        if len(rows):
            gaps = np.hypot(rows[:, 1] - track.x[k], rows[:, 2] - track.y[k]) \
                - rows[:, 5] - robot_radius
            nearest = int(np.argmin(gaps))
            ids[k], out[k] = int(rows[nearest, 0]), float(gaps[nearest])
    return ids, out


def closest_person_distance(track: Track, robot_radius: float) -> np.ndarray:
    """Per step, the surface-to-surface distance to the closest person [m]; inf if nobody."""
    return closest_person(track, robot_radius)[1]


ZONES = ("intimate", "personal", "social", "public")


def proxemic_zones(distance: np.ndarray) -> np.ndarray:
    """Per distance [m], the name of Hall's zone it falls in; "" for nobody there (inf)."""
    distance = np.asarray(distance, dtype=float)
    return np.select([distance < INTIMATE_M, distance < PERSONAL_M, distance < SOCIAL_M,
                      np.isfinite(distance)], list(ZONES), default="")


def proxemic_fractions(distance: np.ndarray, dt: np.ndarray) -> dict[str, float]:
    """Fraction of episode time the closest person is in each of Hall's zones."""
    total = float(dt.sum())
    if total <= 0.0:
        return dict.fromkeys(ZONES, 0.0)
    zones = proxemic_zones(distance)
    return {name: float(dt[zones == name].sum() / total) for name in ZONES}


def time_to_collision(track: Track, robot_radius: float) -> np.ndarray:
    """Per step, the least time [s] until the robot's and a person's discs touch if both
    keep their current velocities; 0 while touching, inf when no course meets."""
    out = np.full(len(track.t), np.inf)
    for k, rows in enumerate(track.people):
        if not len(rows):
            continue
        robot_velocity = track.v[k] * np.array([math.cos(track.yaw[k]), math.sin(track.yaw[k])])
        p = rows[:, 1:3] - [track.x[k], track.y[k]]
        u = rows[:, 3:5] - robot_velocity
        reach = rows[:, 5] + robot_radius
        # |p + u t| = reach  ->  a t^2 + 2 b t + c = 0
        a = np.einsum("ij,ij->i", u, u)
        b = np.einsum("ij,ij->i", p, u)
        c = np.einsum("ij,ij->i", p, p) - reach ** 2
        disc = b * b - a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            first = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        ttc = np.where(c <= 0.0, 0.0,
                       np.where((a > 1e-12) & (disc >= 0.0) & (first >= 0.0), first, np.inf))
        out[k] = float(ttc.min())
    return out


# ---------------------------------------------------------------------------------------------
# Motion
# ---------------------------------------------------------------------------------------------

def path_length(track: Track, until: float | None = None) -> float:
    """Length of the driven path [m], up to time ``until`` when given."""
    keep = track.t <= until + 1e-9 if until is not None else slice(None)
    return float(np.hypot(np.diff(track.x[keep]), np.diff(track.y[keep])).sum())


def reference_length(goal: EpisodeGoal, start: tuple[float, float]) -> float:
    """The shortest way to succeed: straight from the start through the route's waypoints
    to the edge of the goal circle (the route length minus the goal tolerance)."""
    points = np.array([start, *goal.waypoints], dtype=float)
    return max(0.0, float(np.hypot(*np.diff(points, axis=0).T).sum()) - goal.tolerance)


def _derivative(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.zeros(0)
    return np.diff(values) / np.diff(t)


def stopped_mask(track: Track) -> np.ndarray:
    return (np.abs(track.v) < STOPPED_SPEED) & (np.abs(track.w) < STOPPED_TURN)


def freezes(track: Track, until: float | None, min_duration_s: float = FREEZE_S
            ) -> list[tuple[float, float]]:
    """(start, duration) of every stop longer than ``min_duration_s`` before ``until``
    (the time the goal was reached; None: never). A stop lasts from its first stopped
    step to the next moving step, or to the end of the log."""
    stopped = stopped_mask(track)
    if until is not None:
        stopped &= track.t < until
    found = []
    k, n = 0, len(track.t)
    while k < n:
        if not stopped[k]:
            k += 1
            continue
        begin = k
        while k < n and stopped[k]:
            k += 1
        end_time = track.t[k] if k < n else track.t[-1] + track.dt[-1]
        if until is not None:
            end_time = min(end_time, until)
        duration = float(end_time - track.t[begin])
        if duration > min_duration_s + 1e-9:
            found.append((float(track.t[begin]), duration))
    return found


def heading_change(track: Track) -> float:
    """Sum of absolute yaw changes [rad], each wrapped to (-pi, pi]."""
    steps = np.diff(track.yaw)
    return float(np.abs(np.arctan2(np.sin(steps), np.cos(steps))).sum())


# ---------------------------------------------------------------------------------------------
# One episode
# ---------------------------------------------------------------------------------------------

def _percentile(values: Sequence[float], q: float) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.percentile(values, q)) if values else None


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def episode_metrics(trajectory: Sequence[Mapping], events: Iterable, goal: EpisodeGoal,
                    robot_radius: float = 0.3, timeout_s: float | None = None,
                    reasoning_stats: Mapping | None = None) -> dict:
    """Every per-episode metric of docs/METRICS.md as a JSON-ready dict.

    ``events``: the episode's events; when they hold no goal event the goal counts as
    reached at the first step within the goal tolerance of the final waypoint
    (a log without the simulator's events). ``timeout_s``: the episode's limit, used
    when the events carry no timeout. ``reasoning_stats``: the reasoning engine's
    ``stats`` dict (validator rejections, LLM latencies), when known.
    """
    if not (math.isfinite(robot_radius) and robot_radius >= 0.0):
        raise ValueError(f"robot_radius must be finite and >= 0, got {robot_radius!r}")
    track = as_track(trajectory)
    events = as_events(events)
    dt = track.dt
    kinds = Counter(e.kind for e in events)

    goal_times = [e.time for e in events if e.kind == GOAL_REACHED and e.time is not None]
    goal_time = min(goal_times) if goal_times else None
    if goal_time is None and not kinds[GOAL_REACHED]:
        gx, gy = goal.final
        inside = np.hypot(track.x - gx, track.y - gy) <= goal.tolerance
        goal_time = float(track.t[np.argmax(inside)]) if inside.any() else None
    reached = goal_time is not None or kinds[GOAL_REACHED] > 0
    timed_out = kinds[TIMEOUT] > 0 or (
        not reached and timeout_s is not None and track.t[-1] >= timeout_s - 1e-6)
    person_hits = kinds[COLLISION_PERSON]
    obstacle_hits = kinds[COLLISION_OBSTACLE]
    at_fault = sum(1 for e in events if e.robot_at_fault and e.kind.startswith("collision"))

    distance = closest_person_distance(track, robot_radius)
    seen = np.isfinite(distance)
    ttc = time_to_collision(track, robot_radius)
    zones = proxemic_fractions(distance, dt)

    start = goal.start if goal.start is not None else (float(track.x[0]), float(track.y[0]))
    length = path_length(track, goal_time)
    reference = reference_length(goal, start)
    ratio = length / reference if reached and reference > 1e-6 else None

    speed = np.abs(track.v)
    accel = _derivative(track.v, track.t)
    jerk = _derivative(accel, track.t[1:]) if len(accel) >= 2 else np.zeros(0)
    frozen = freezes(track, goal_time)
    decision_steps = Counter(d for d in track.decisions if d)

    stats = dict(reasoning_stats or {})
    latencies = [float(v) for v in stats.get("llm_latency_ms", []) or []]
    rejections = stats.get("rejections")
    return {
        "success": bool(reached and person_hits + obstacle_hits == 0 and not timed_out),
        "goal_reached": bool(reached),
        "timeout": bool(timed_out),
        "collisions": person_hits + obstacle_hits,
        "collisions_person": person_hits,
        "collisions_obstacle": obstacle_hits,
        "collisions_robot_at_fault": at_fault,
        "time_to_goal_s": None if goal_time is None else float(goal_time),
        "duration_s": float(track.t[-1]),
        "path_length_m": length,
        "reference_length_m": reference,
        "path_length_ratio": ratio,
        "min_person_distance_m": float(distance.min()) if seen.any() else None,
        "mean_person_distance_m": (float(np.average(distance[seen], weights=dt[seen]))
                                   if seen.any() and dt[seen].sum() > 0 else None),
        "people_present_fraction": (float(dt[seen].sum() / dt.sum()) if dt.sum() > 0
                                    else 0.0),
        "intimate_time_fraction": zones["intimate"],
        "personal_time_fraction": zones["personal"],
        "social_time_fraction": zones["social"],
        "public_time_fraction": zones["public"],
        "min_time_to_collision_s": _finite_or_none(float(ttc.min())),
        "mean_speed_mps": float(np.average(speed, weights=dt)) if dt.sum() > 0 else 0.0,
        "max_speed_mps": float(speed.max()),
        "mean_abs_accel_mps2": float(np.abs(accel).mean()) if len(accel) else 0.0,
        "mean_abs_jerk_mps3": float(np.abs(jerk).mean()) if len(jerk) else 0.0,
        "heading_change_rad": heading_change(track),
        "time_not_moving_s": float(dt[stopped_mask(track)].sum()),
        "freezes": len(frozen),
        "freeze_time_s": float(sum(d for _, d in frozen)),
        "decision_steps": dict(sorted(decision_steps.items())),
        "validator_rejections": (int(sum(rejections.values())) if isinstance(rejections,
                                                                             Mapping)
                                 else None),
        "llm_requests": stats.get("llm_requests"),
        "llm_latency_ms_p50": _percentile(latencies, 50),
        "llm_latency_ms_p95": _percentile(latencies, 95),
    }


# ---------------------------------------------------------------------------------------------
# Many episodes
# ---------------------------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % Wilson score interval of a success rate; None for no episodes."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _mean(values: Iterable) -> float | None:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(values)) if values else None


def aggregate(episodes: Sequence[Mapping], by_scenario: bool = True) -> dict:
    """Summary over episodes (each an ``episode_metrics`` dict, plus ``scenario``).

    Rates are over all episodes; time to goal and path-length ratio over successful
    episodes only (CrowdNav convention); proxemic fractions, speeds and smoothness are
    means of the per-episode values; ``min_person_distance_m`` is the least over all
    episodes (the worst case) and ``mean_min_person_distance_m`` the mean of the
    per-episode minima.
    """
    n = len(episodes)
    successes = [e for e in episodes if e.get("success")]
    minima = [e.get("min_person_distance_m") for e in episodes]
    finite_minima = [m for m in minima if m is not None]
    latencies_p50 = [e.get("llm_latency_ms_p50") for e in episodes]
    latencies_p95 = [e.get("llm_latency_ms_p95") for e in episodes]
    rejections = [e.get("validator_rejections") for e in episodes
                  if e.get("validator_rejections") is not None]
    interval = wilson_interval(len(successes), n)
    decisions: Counter[str] = Counter()
    for e in episodes:
        decisions.update(e.get("decision_steps") or {})
    out = {
        "episodes": n,
        "success_rate": len(successes) / n if n else None,
        "success_rate_ci95": list(interval) if interval else None,
        "collisions": int(sum(e.get("collisions", 0) for e in episodes)),
        "collisions_person": int(sum(e.get("collisions_person", 0) for e in episodes)),
        "collisions_obstacle": int(sum(e.get("collisions_obstacle", 0) for e in episodes)),
        "collision_rate": (sum(1 for e in episodes if e.get("collisions", 0) > 0) / n
                           if n else None),
        "timeout_rate": sum(1 for e in episodes if e.get("timeout")) / n if n else None,
        "intimate_time_fraction": _mean(e.get("intimate_time_fraction") for e in episodes),
        "personal_time_fraction": _mean(e.get("personal_time_fraction") for e in episodes),
        "social_time_fraction": _mean(e.get("social_time_fraction") for e in episodes),
        "min_person_distance_m": min(finite_minima) if finite_minima else None,
        "mean_min_person_distance_m": _mean(finite_minima),
        "mean_person_distance_m": _mean(e.get("mean_person_distance_m") for e in episodes),
        "min_time_to_collision_s": min(
            (e["min_time_to_collision_s"] for e in episodes
             if e.get("min_time_to_collision_s") is not None), default=None),
        "mean_time_to_goal_s": _mean(e.get("time_to_goal_s") for e in successes),
        "path_length_ratio": _mean(e.get("path_length_ratio") for e in successes),
        "mean_speed_mps": _mean(e.get("mean_speed_mps") for e in episodes),
        "mean_abs_accel_mps2": _mean(e.get("mean_abs_accel_mps2") for e in episodes),
        "mean_abs_jerk_mps3": _mean(e.get("mean_abs_jerk_mps3") for e in episodes),
        "heading_change_rad": _mean(e.get("heading_change_rad") for e in episodes),
        "time_not_moving_s": _mean(e.get("time_not_moving_s") for e in episodes),
        "freezes": int(sum(e.get("freezes", 0) for e in episodes)),
        "freeze_rate": (sum(1 for e in episodes if e.get("freezes", 0) > 0) / n
                        if n else None),
        "validator_rejections": int(sum(rejections)) if rejections else None,
        "llm_latency_ms_p50": _mean(latencies_p50),
        "llm_latency_ms_p95": _mean(latencies_p95),
        "decision_steps": dict(sorted(decisions.items())),
        # Episodes that left lockstep on a starved machine: not reproducible by seed.
        "episodes_out_of_lockstep": sum(1 for e in episodes if e.get("lockstep_misses")),
    }
    if by_scenario:
        names = sorted({str(e.get("scenario", "")) for e in episodes})
        out["by_scenario"] = {
            name: aggregate([e for e in episodes if str(e.get("scenario", "")) == name],
                            by_scenario=False)
            for name in names}
    return out


# Metrics where a larger value is better; for the rest smaller is better or neither.
HIGHER_IS_BETTER = frozenset({"success_rate", "min_person_distance_m",
                              "mean_min_person_distance_m", "mean_person_distance_m",
                              "min_time_to_collision_s"})
LOWER_IS_BETTER = frozenset({"collisions", "collisions_person", "collisions_obstacle",
                             "collision_rate", "timeout_rate", "intimate_time_fraction",
                             "personal_time_fraction", "mean_time_to_goal_s",
                             "path_length_ratio", "mean_abs_accel_mps2", "mean_abs_jerk_mps3",
                             "heading_change_rad", "time_not_moving_s", "freezes",
                             "freeze_rate", "validator_rejections", "llm_latency_ms_p50",
                             "llm_latency_ms_p95"})


def compare(metrics_a: Mapping, metrics_b: Mapping) -> list[dict]:
    """Per numeric top-level metric present in either: a, b, delta = b - a, relative
    change (None when a is 0 or missing), and whether b is better, worse or the same."""
    rows = []
    keys = list(metrics_a) + [k for k in metrics_b if k not in metrics_a]
    for key in keys:
        a, b = metrics_a.get(key), metrics_b.get(key)
        numeric = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)]
        if not any(numeric) or any(isinstance(v, (dict, list)) for v in (a, b)):
            continue
        delta = float(b) - float(a) if all(numeric) else None
        relative = delta / abs(float(a)) if delta is not None and a not in (0, 0.0) else None
        verdict = "n/a"
        if delta is not None:
            if abs(delta) < 1e-12:
                verdict = "same"
            elif key in HIGHER_IS_BETTER:
                verdict = "better" if delta > 0 else "worse"
            elif key in LOWER_IS_BETTER:
                verdict = "better" if delta < 0 else "worse"
        rows.append({"metric": key, "a": a, "b": b, "delta": delta, "relative": relative,
                     "verdict": verdict})
    return rows


def episode_verdict(record: Mapping) -> str:
    """An episode in a few words: success, error, or what went wrong."""
    if record.get("outcome") == "error":
        return "error"
    if record.get("success"):
        return "success"
    contacts = int(record.get("collisions") or 0)
    parts = [f"{contacts} contact{'s' if contacts != 1 else ''}"] if contacts else []
    if record.get("timeout"):
        parts.append("timeout")
    return ", ".join(parts) or "failed"


def time_where_both_succeeded(records_a: Sequence[Mapping],
                              records_b: Sequence[Mapping]) -> dict | None:
    """Mean time to goal of each run over the (scenario, seed) episodes *both* succeeded
    in; None when there is none.

    ``mean_time_to_goal_s`` is over each run's own successes (CrowdNav), so a run that
    also reaches the goal in the long, hard episodes the other fails looks slower for
    it (DWA + none fails most `crowd` episodes; the rules' stack takes 30 s in them).
    Over the same episodes, the difference is the cost of the behaviour alone.
    """
    def key(record):
        return (str(record.get("scenario")), record.get("seed"))

    by_key_b = {key(r): r for r in records_b}
    pairs = [(float(a["time_to_goal_s"]), float(b["time_to_goal_s"]))
             for a in records_a if (b := by_key_b.get(key(a))) is not None
             and a.get("success") and b.get("success")
             and a.get("time_to_goal_s") is not None and b.get("time_to_goal_s") is not None]
    if not pairs:
        return None
    mean_a = sum(a for a, _ in pairs) / len(pairs)
    mean_b = sum(b for _, b in pairs) / len(pairs)
    return {"episodes": len(pairs), "a": mean_a, "b": mean_b,
            "relative": (mean_b - mean_a) / mean_a if mean_a > 0 else None}


def changed_episodes(records_a: Sequence[Mapping], records_b: Sequence[Mapping]) -> list[dict]:
    """The (scenario, seed) episodes both runs hold whose verdict differs, in A's order.
    Episodes are deterministic per seed, so each is the doing of what differs between the
    runs (code, parameters), not of chance."""
    def key(record):
        return (str(record.get("scenario")), record.get("seed"))

    by_key_b = {key(r): r for r in records_b}
    rows = []
    for record_a in records_a:
        record_b = by_key_b.get(key(record_a))
        if record_b is None:
            continue
        verdict_a, verdict_b = episode_verdict(record_a), episode_verdict(record_b)
        if verdict_a != verdict_b:
            rows.append({"scenario": key(record_a)[0], "seed": key(record_a)[1],
                         "a": verdict_a, "b": verdict_b})
    return rows
