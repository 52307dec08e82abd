"""Where people will be: constant-velocity prediction over the planning horizon."""

from __future__ import annotations

import numpy as np

from reasonact_ros.scene import TrackedObject

MOVING_SPEED = 0.2  # [m/s] slower than this, a track's heading is noise: treat as standing

CROSSING = "crossing"  # the person's path cuts across ours
ALONG = "along"  # the person walks in our corridor, towards us or ahead of us


def predict_constant_velocity(people: tuple[TrackedObject, ...], steps: int,
                              dt: float) -> np.ndarray:
    """(P, steps, 2) odom positions at t = dt, 2 dt, ... steps dt."""
    if steps < 1 or not dt > 0.0:
        raise ValueError(f"need steps >= 1 and dt > 0, got steps={steps}, dt={dt}")
    if not people:
        return np.zeros((0, steps, 2))
    start = np.array([[p.x, p.y] for p in people])
    velocity = np.array([[p.vx, p.vy] for p in people])
    # A non-finite velocity estimate is no prediction at all: assume the person stands still.
    velocity = np.where(np.isfinite(velocity), velocity, 0.0)
    times = dt * np.arange(1, steps + 1)
    return start[:, None, :] + velocity[:, None, :] * times[None, :, None]


def path_conflict(corridor_start: np.ndarray, corridor_end: np.ndarray, person: TrackedObject,
                  horizon: float, threshold: float, samples: int = 24) -> str | None:
    """Whether a walking person's predicted path comes within ``threshold`` of our corridor.

    The corridor is the straight segment the robot intends to drive; the person walks at
    constant velocity for ``horizon`` seconds. Standing people are not conflicts: they
    are obstacles for the costs to steer around. A meeting point at the very start of the
    corridor (someone behind us) is not a conflict either. Returns CROSSING, ALONG or None.
    """
    speed = person.speed
    if not np.isfinite(speed) or speed < MOVING_SPEED:
        return None
    s = np.linspace(0.0, 1.0, samples)
    ours = corridor_start[None, :] + s[:, None] * (corridor_end - corridor_start)[None, :]
    theirs = person.position[None, :] + (s * horizon)[:, None] * person.velocity[None, :]
    distance = np.linalg.norm(ours[:, None, :] - theirs[None, :, :], axis=2)
    ours_index, _ = np.unravel_index(np.argmin(distance), distance.shape)
    if distance[ours_index].min() > threshold or ours_index == 0:
        return None
    corridor = corridor_end - corridor_start
    length = float(np.linalg.norm(corridor))
    if length < 1e-6:
        return None
    sine = abs(corridor[0] * person.vy - corridor[1] * person.vx) / (length * speed)
    return CROSSING if sine > 0.5 else ALONG
