"""Following a goal or a route of waypoints: the stretch of route to steer along this cycle."""

from __future__ import annotations

import numpy as np

from reasonact_ros.scene import Goal


class RouteTracker:
    """Remembers how far along a route the robot has come and looks ahead along it.

    A single waypoint is steered at directly. A route is joined where the robot is
    nearest to it; a robot more than ``join_distance`` away first drives to its first
    waypoint. Progress only moves forward, so a route that doubles back on itself is
    followed in order instead of short-cutting to whichever segment is nearest.
    """

    join_distance = 0.5  # [m]

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._goal: Goal | None = None
        self._points = np.zeros((0, 2))
        self._segment = 0

    def lookahead_path(self, goal: Goal, position: np.ndarray, lookahead: float) -> np.ndarray:
        """(N >= 2, 2) polyline from the robot's projection ``lookahead`` metres along the
        route, through any waypoints on the way; the last point is the carrot."""
        position = np.asarray(position, dtype=float)
        if len(goal.waypoints) == 1:
            return np.array([position, goal.final], dtype=float)
        if goal != self._goal:
            self._goal, self._segment = goal, 0
            self._points = np.asarray(goal.waypoints, dtype=float)
            off_route = distance_to_polyline(position[0], position[1], self._points)
            if off_route > max(self.join_distance, goal.tolerance):
                self._points = np.vstack([position[None, :], self._points])
        points = self._points
        best_segment, best_t, best_dist = self._segment, 0.0, np.inf
        for index in range(self._segment, len(points) - 1):
            a, b = points[index], points[index + 1]
            d = b - a
            length_sq = float(d @ d)
            t = 0.0 if length_sq == 0.0 else float(np.clip((position - a) @ d / length_sq, 0, 1))
            dist = float(np.linalg.norm(a + t * d - position))
            if dist < best_dist - 1e-9:
                best_segment, best_t, best_dist = index, t, dist
        self._segment = best_segment
        a, b = points[best_segment], points[best_segment + 1]
        cursor = a + best_t * (b - a)
        path = [cursor]
        remaining = lookahead
        for index in range(best_segment, len(points) - 1):
            end = points[index + 1]
            length = float(np.linalg.norm(end - cursor))
            if length >= remaining:
                path.append(cursor + (end - cursor) * (remaining / max(length, 1e-9)))
                return np.array(path)
            remaining -= length
            cursor = end
            path.append(end)
        return np.array(path)

    def carrot(self, goal: Goal, position: np.ndarray, lookahead: float) -> np.ndarray:
        """The point ``lookahead`` metres along the route past the robot's projection."""
        return self.lookahead_path(goal, position, lookahead)[-1]


def distance_to_polyline(x: np.ndarray, y: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance from points (any shape) to a (N >= 2, 2) polyline."""
    best = np.full(np.shape(x), np.inf)
    for a, b in zip(polyline[:-1], polyline[1:], strict=True):
        d = b - a
        length_sq = max(float(d @ d), 1e-12)
        t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1]) / length_sq, 0.0, 1.0)
        best = np.minimum(best, np.hypot(x - a[0] - t * d[0], y - a[1] - t * d[1]))
    return best
