"""Cost terms of the sampling planners, vectorised over rollouts.

Rollouts are (S, T) tensors of x, y (odom) for S samples over T steps; every
term returns an (S,) or (S, T) float32 tensor, so MPPI sums them without a
Python loop over samples or time (the loops left run over a handful of people
or walkway segments). Terms of things that do not move (lidar obstacles, the
walkway, a route) are evaluated per grid cell with numpy and gathered once per
rollout point (``StaticCostMap``). The DWA baseline shares only the numpy
``distance_grid.DistanceGrid``, so it runs without torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from reasonact_ros.planning.distance_grid import DistanceGrid

# --- motion model -------------------------------------------------------------------------


def unicycle_rollout(x0: float, y0: float, yaw0: float, v: torch.Tensor, w: torch.Tensor,
                     dt: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrate (S, T) body velocities from one start pose; returns poses after each step.

    Cumulative sums replace the time loop: yaw first, then x and y along the heading at
    the middle of each step (second-order accurate for a constant-(v, w) step).
    """
    yaw = torch.cumsum(w, dim=1).mul_(dt).add_(yaw0)
    heading = yaw - (0.5 * dt) * w
    x = torch.cumsum(v * torch.cos(heading), dim=1).mul_(dt).add_(x0)
    y = torch.cumsum(v * torch.sin(heading), dim=1).mul_(dt).add_(y0)
    return x, y, yaw


def path_angle_cost(x: torch.Tensor, y: torch.Tensor, yaw: torch.Tensor,
                    target: tuple[float, float], threshold: float, weight: float
                    ) -> torch.Tensor:
    """(S,) cost of facing away from the target: ``weight`` per step per radian by which
    the heading misses the direction to the target by more than ``threshold``.

    Without it, backing away from people costs a forward-only robot a U-turn that the
    goal term pays back a second later: in a two-way stream it orbits (Nav2's MPPI has
    the same critic, PathAngleCritic, for the same reason).
    """
    bearing = torch.atan2(target[1] - y, target[0] - x)
    return heading_error_cost(yaw, bearing, threshold, weight)


def heading_error_cost(yaw: torch.Tensor, wanted: torch.Tensor, threshold: float,
                       weight: float) -> torch.Tensor:
    """(S,) cost of heading away from the way to go: ``weight`` per step per radian by
    which ``yaw`` misses ``wanted`` (S, T) by more than ``threshold``; NaN wanted: none."""
    error = torch.remainder(yaw - wanted + math.pi, 2.0 * math.pi).sub_(math.pi).abs_()
    error = torch.nan_to_num_(error.sub_(threshold).clamp_(min=0.0), nan=0.0)
    return error.sum(dim=1).mul_(weight)


def limit_acceleration(controls: np.ndarray, start: np.ndarray, max_step: np.ndarray,
                       lower: np.ndarray, upper: np.ndarray) -> None:
    """Make (S, T, 2) controls reachable from ``start`` (2,) in place, exactly.

    Each step may change by at most ``max_step`` (2,) and stays within [lower, upper].
    A loop over time: use it for a few sequences (the optimum), not for all samples.
    """
    np.minimum(controls, upper, out=controls)
    np.maximum(controls, lower, out=controls)
    previous = np.broadcast_to(np.minimum(np.maximum(start, lower), upper), controls[:, 0].shape)
    for t in range(controls.shape[1]):
        step = controls[:, t]
        np.minimum(step, previous + max_step, out=step)
        np.maximum(step, previous - max_step, out=step)
        previous = step


def integrate_increments(increments: torch.Tensor, start: float, max_step: float,
                         lower: float, upper: float) -> torch.Tensor:
    """One control channel from per-step changes, vectorised: (S, T) -> (S, T) in place.

    Clamping each change to ``max_step`` and then the running sum to [lower, upper] keeps
    every step within the acceleration limit, because clamping to a range never increases
    the difference between neighbours. The sum may wind up past a bound, so a sample that
    saturates takes a while to come back: a property of that sample, which MPPI scores as
    it is. One channel at a time, with scalar bounds: broadcasting a (2,) bound over the
    last axis of an (S, T, 2) tensor is several times slower on CPU.
    """
    increments.clamp_(-max_step, max_step)
    controls = torch.cumsum(increments, dim=1, out=increments).add_(start)
    return controls.clamp_(lower, upper)


def _distance(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """sqrt(dx^2 + dy^2), in place in ``dx``; torch.hypot guards against overflow that
    metre-scale numbers never reach and costs five times as much on CPU."""
    return dx.square_().addcmul_(dy, dy).sqrt_()


# --- static obstacles ---------------------------------------------------------------------


def obstacle_cell_cost(distance: np.ndarray, robot_radius: float, margin: float,
                       collision_weight: float, clearance_weight: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell step cost and collision mask from distances to the nearest lidar point.

    Cheaper per cell than per rollout point: the grid has tens of thousands of cells,
    the rollouts a hundred thousand points, and the cost depends on distance alone.
    """
    collided = distance < robot_radius
    shortfall = np.maximum(robot_radius + margin - distance, 0.0)
    cost = clearance_weight * shortfall * shortfall + collision_weight * collided
    return cost.astype(np.float32), collided


class StaticCostMap:
    """Everything that does not move, summed per cell: one gather per rollout point."""

    def __init__(self, grid: DistanceGrid, cost: np.ndarray, collided: np.ndarray,
                 slowness: np.ndarray | None = None):
        self.grid = grid
        self.slowness = slowness  # per-cell travel-cost factor for the goal's path length
        self._cost = torch.from_numpy(np.ascontiguousarray(cost, dtype=np.float32).reshape(-1))
        self._collided = torch.from_numpy(np.ascontiguousarray(collided).reshape(-1))

    def lookup(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = self.grid
        inv = 1.0 / grid.resolution
        # Outside the grid clamps onto its 'far' border ring. The index is built in float
        # (exact below 2^24 cells) and converted once; take() skips advanced indexing's
        # overhead: half the time of the obvious version.
        ix = ((x - grid.origin[0]) * inv).clamp_(0, grid.width - 1).floor_()
        iy = ((y - grid.origin[1]) * inv).clamp_(0, grid.height - 1).floor_()
        index = iy.mul_(grid.width).add_(ix).long()
        return torch.take(self._cost, index), torch.take(self._collided, index)


# --- goal ---------------------------------------------------------------------------------


def goal_cost(x: torch.Tensor, y: torch.Tensor, target: tuple[float, float],
              progress_weight: float, terminal_weight: float,
              distance: torch.Tensor | None = None,
              arrived: torch.Tensor | None = None) -> torch.Tensor:
    """(S,) cost: mean distance to the target along the rollout plus the final distance.

    The running term rewards getting closer early (speed towards the goal); the
    terminal term decides where the horizon should end. ``distance`` (S, T) replaces
    the straight line, e.g. with the path length around obstacles. ``arrived`` (S, T)
    marks the steps after a rollout reached the goal: nothing is left to go there, so a
    rollout that enters the goal's circle is not asked to stop at its centre.
    """
    if distance is None:
        distance = _distance(x - target[0], y - target[1])
    if arrived is not None:
        distance = distance.masked_fill(arrived, 0.0)
    return distance.mean(dim=1).mul_(progress_weight).add_(distance[:, -1], alpha=terminal_weight)


# --- people -------------------------------------------------------------------------------


def nearest_person_gap(x: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor,
                       radii: list[float], windows: list[tuple[int, int]],
                       far: float = 100.0) -> torch.Tensor:
    """(S, T) distance from the robot centre to the nearest person's surface, per step.

    ``predicted`` is (P, T, 2): where each person is at the time of each rollout step, so
    a crossing is judged at the moment it would happen. Each person is only evaluated
    over ``windows[p]`` = (first, end) steps, the steps at which any rollout can come near
    them: most of the (S, T, P) work is in steps nobody can reach.
    """
    gap = torch.full_like(x, far)
    for person, (first, end) in enumerate(windows):
        if end <= first:
            continue
        px, py = predicted[person, first:end, 0], predicted[person, first:end, 1]
        distance = _distance(x[:, first:end] - px, y[:, first:end] - py).sub_(radii[person])
        torch.minimum(gap[:, first:end], distance, out=gap[:, first:end])
    return gap


def people_cost(gap: torch.Tensor, robot_radius: float, min_clearance: float | torch.Tensor,
                collision_weight: float, clearance_weight: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step cost and collision mask from ``nearest_person_gap``.

    Clearance is surface to surface; below ``min_clearance`` the cost grows with the
    square of the shortfall, and a touching footprint adds ``collision_weight``. The
    requirement is the same at every step: growing it with the prediction time (for
    the prediction's uncertainty) makes every encounter look worse while it is still
    far ahead, and the robot dithers to postpone it. It may differ by rollout: an (S, 1)
    ``min_clearance``.
    """
    clearance = gap - robot_radius
    collided = clearance < 0.0
    shortfall = clearance.neg_().add_(min_clearance).clamp_(min=0.0)
    cost = shortfall.square_().mul_(clearance_weight)
    cost.add_(collided, alpha=collision_weight)
    return cost, collided


def cuts_in_front(x: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor,
                  positions: np.ndarray, ways: np.ndarray, here: np.ndarray) -> torch.Tensor:
    """(S,) whether each rollout crosses, ahead of them, the line of someone walking.

    ``predicted`` is (P, T, 2) as in ``nearest_person_gap``; ``positions`` (P, 2) where
    they are now and ``ways`` (P, 2) their unit directions of walking. A rollout cuts in
    front of someone when at some step it is ahead of them along their way and on the
    other side of their line than the robot is now. Crossing behind them does not count,
    nor does leaving their line from on it.
    """
    cut = torch.zeros(x.shape[0], dtype=torch.bool)
    for person in range(predicted.shape[0]):
        ux, uy = float(ways[person, 0]), float(ways[person, 1])
        start_side = ((here[1] - positions[person, 1]) * ux
                      - (here[0] - positions[person, 0]) * uy)
        if start_side == 0.0:
            continue
        dx = x - predicted[person, :, 0]
        dy = y - predicted[person, :, 1]
        crossed = (dy * ux - dx * uy) * float(start_side) < 0.0
        ahead = (dx * ux + dy * uy) > 0.0
        cut |= (crossed & ahead).any(dim=1)
    return cut


def in_their_way_cost(x_end: torch.Tensor, y_end: torch.Tensor, starts: np.ndarray,
                      ends: np.ndarray, reach: np.ndarray, weight: float) -> torch.Tensor:
    """(S,) cost of ending the horizon where people will walk after it.

    ``starts``/``ends`` (P, 2) bound each walking person's path beyond the horizon;
    a rollout ending within ``reach[p]`` of that segment pays ``weight`` per squared
    metre of the shortfall. The per-step clearance only sees people where they are at
    each step of the horizon: a robot that stops two metres before someone's way out
    of a gap pays nothing for it until they are upon it, and then it is too late to
    step aside (narrow_passage: the person walked into the robot waiting in the gap's
    exit lane). All people at once, (S, P): a loop over them cost 5 ms a cycle in a crowd.
    """
    start = torch.from_numpy(np.asarray(starts, dtype=np.float32)).reshape(-1, 2)
    way = torch.from_numpy(np.asarray(ends, dtype=np.float32)).reshape(-1, 2) - start
    length_sq = way.square().sum(dim=1)
    walking = length_sq >= 1e-12  # standing: their way is their spot
    dx = x_end[:, None] - start[:, 0]
    dy = y_end[:, None] - start[:, 1]
    along = (dx * way[:, 0] + dy * way[:, 1]).div_(torch.where(walking, length_sq, 1.0))
    along.clamp_(0.0, 1.0).mul_(walking)
    distance = _distance(dx - along * way[:, 0], dy - along * way[:, 1])
    reach_t = torch.from_numpy(np.asarray(reach, dtype=np.float32))
    return distance.neg_().add_(reach_t).clamp_(min=0.0).square_().sum(dim=1).mul_(weight)


def proxemics_cost(x: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor,
                   headings: np.ndarray, front_sigma: np.ndarray, back_sigma: np.ndarray,
                   side_sigma: np.ndarray, windows: list[tuple[int, int]], weight: float,
                   stride: int = 1) -> torch.Tensor:
    """(S,) personal-space cost: an asymmetric Gaussian around each predicted person.

    In each person's frame (x along their heading) the space ahead of them, where they
    are about to walk, is larger than the space behind and beside them (Kirby's
    asymmetric Gaussian). ``headings`` is (P, 2) unit vectors, sigmas (P,). A soft
    preference needs no collision-check resolution: every ``stride``-th step is used,
    each weighted ``stride`` times, so the total does not depend on the stride.
    """
    total = x.new_zeros(x.shape[0])
    for person, (first, end) in enumerate(windows):
        first = first + (-first) % stride  # the same steps whatever the window
        if end <= first:
            continue
        steps = slice(first, end, stride)
        dx = x[:, steps] - predicted[person, steps, 0]
        dy = y[:, steps] - predicted[person, steps, 1]
        hx, hy = float(headings[person, 0]), float(headings[person, 1])
        front, back, side = (float(front_sigma[person]), float(back_sigma[person]),
                             float(side_sigma[person]))
        # Coordinates in the person's frame, already divided by the sigmas.
        along = (dx * (hx / front)).add_(dy, alpha=hy / front)
        across = (dy * (hx / side)).add_(dx, alpha=-hy / side)
        # Behind the person the along-axis sigma is ``back``: rescale the negative half.
        # min() picks the rescaled value exactly when it is the one wanted (ratio >= 1).
        ratio = front / back
        rescaled = along * ratio
        along = torch.minimum(along, rescaled) if ratio >= 1.0 else torch.maximum(along, rescaled)
        exponent = along.square_().addcmul_(across, across).mul_(-0.5)
        # exp() of large negative numbers takes a slow path on CPU; e^-9 is nothing anyway.
        total.add_(exponent.clamp_(min=-9.0).exp_().sum(dim=1))
    return total.mul_(weight * stride)


# --- smoothness ---------------------------------------------------------------------------


def smoothness_cost(v: torch.Tensor, w: torch.Tensor, start: tuple[float, float],
                    linear_weight: float, angular_weight: float) -> torch.Tensor:
    """(S,) sum of squared control changes, including the jump from the current velocity."""
    dv = torch.diff(v, dim=1, prepend=v.new_full((v.shape[0], 1), start[0]))
    dw = torch.diff(w, dim=1, prepend=w.new_full((w.shape[0], 1), start[1]))
    return dv.square_().sum(dim=1).mul_(linear_weight).add_(
        dw.square_().sum(dim=1), alpha=angular_weight)


# --- walkway ------------------------------------------------------------------------------


def _resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline."""
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if lengths[-1] <= 0.0:
        return np.repeat(points[:1], count, axis=0)
    stations = np.linspace(0.0, lengths[-1], count)
    return np.column_stack([np.interp(stations, lengths, points[:, 0]),
                            np.interp(stations, lengths, points[:, 1])])


def walkway_frame(left: np.ndarray, right: np.ndarray, query: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Signed lateral offset from the centre line (+ left) and half width at (N, 2) points.

    The edges are paired by relative arc length, which is exact for straight walkways and
    a fair approximation for gently curving ones. One vectorised pass per centre-line
    segment keeps the memory at O(N).
    """
    count = max(len(left), len(right), 2)
    left_r, right_r = _resample_polyline(left, count), _resample_polyline(right, count)
    centre = 0.5 * (left_r + right_r)
    half_width = 0.5 * np.linalg.norm(left_r - right_r, axis=1)
    qx, qy = query[:, 0], query[:, 1]
    best_sq = np.full(len(query), np.inf)
    lateral = np.zeros(len(query))
    width = np.zeros(len(query))
    for index in range(count - 1):
        a, d = centre[index], centre[index + 1] - centre[index]
        length_sq = max(float(d @ d), 1e-12)
        rx, ry = qx - a[0], qy - a[1]
        t = np.clip((rx * d[0] + ry * d[1]) / length_sq, 0.0, 1.0)
        ex, ey = rx - t * d[0], ry - t * d[1]
        dist_sq = ex * ex + ey * ey
        closer = dist_sq < best_sq
        best_sq = np.where(closer, dist_sq, best_sq)
        side = np.sign(d[0] * ry - d[1] * rx)
        lateral = np.where(closer, side * np.sqrt(dist_sq), lateral)
        width = np.where(closer, half_width[index] * (1.0 - t) + half_width[index + 1] * t,
                         width)
    return lateral, width


class WalkwayField:
    """Lateral offset and half width of a walkway on a grid, for per-rollout lookups.

    Building it costs a few milliseconds, so it is kept while the walkway is unchanged and
    the area the rollouts can reach stays inside it.
    """

    def __init__(self, walkway, center: tuple[float, float], half_size: float,
                 resolution: float):
        self.walkway = walkway
        self.resolution = resolution
        self.cells = int(math.ceil(2.0 * half_size / resolution))
        self.origin = (center[0] - half_size, center[1] - half_size)
        self.half_size = half_size
        axis = (np.arange(self.cells) + 0.5) * resolution
        gx, gy = np.meshgrid(self.origin[0] + axis, self.origin[1] + axis)
        lateral, width = walkway_frame(walkway.left, walkway.right,
                                       np.column_stack([gx.ravel(), gy.ravel()]))
        self.lateral = lateral.astype(np.float32)
        self.half_width = width.astype(np.float32)

    def covers(self, walkway, lower: tuple[float, float], upper: tuple[float, float]) -> bool:
        """Whether this field is for ``walkway`` and spans the box [lower, upper]."""
        same = walkway is self.walkway or (
            np.array_equal(walkway.left, self.walkway.left)
            and np.array_equal(walkway.right, self.walkway.right))
        end = self.cells * self.resolution
        inside = all(self.origin[i] <= lower[i] and upper[i] <= self.origin[i] + end
                     for i in range(2))
        return same and inside

    def frame_at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lateral offset and half width at points (nearest cell)."""
        inv = 1.0 / self.resolution
        ix = np.clip(((x - self.origin[0]) * inv).astype(np.int64), 0, self.cells - 1)
        iy = np.clip(((y - self.origin[1]) * inv).astype(np.int64), 0, self.cells - 1)
        index = iy * self.cells + ix
        return self.lateral[index], self.half_width[index]


def walkway_cost(lateral: np.ndarray, half_width: np.ndarray, robot_radius: float,
                 keep_right: float, off_weight: float, keep_right_weight: float,
                 verge_side: float = 0.0, verge_factor: float = 1.0) -> np.ndarray:
    """Step cost of the footprint off the walkway and of the distance to the keep-right line.

    ``keep_right`` is where to walk as a fraction of the half width, right of centre
    (0.5: the middle of the right half). Off the walkway the cost grows linearly and
    quadratically, so leaving it a little to pass someone is possible but never cheap.
    ``verge_side`` (+1 left, -1 right of the walkway's direction, 0 neither) is a side
    whose verge costs only ``verge_factor`` of that: stepping aside for people who
    leave no room on the walkway.
    """
    off = np.maximum(np.abs(lateral) + robot_radius - half_width, 0.0)
    off_cost = off_weight * (off + off * off)
    if verge_side:
        off_cost = np.where(lateral * verge_side > 0.0, off_cost * verge_factor, off_cost)
    preferred = -keep_right * half_width
    return off_cost + keep_right_weight * (lateral - preferred) ** 2


# --- passing side -------------------------------------------------------------------------


def passing_side_cost(x: torch.Tensor, y: torch.Tensor, person_path: torch.Tensor,
                      direction: tuple[float, float], side: float, lateral_gap: float,
                      along_scale: float, weight: float,
                      behind_scale: float | None = None) -> torch.Tensor:
    """(S,) cost of being on the wrong side of one person while level with them.

    ``direction`` is the unit direction the sides are judged along (our way; arriving,
    the reverse of the walk of someone coming towards us), ``side`` +1 to pass on the left
    of the person (they are on our right), -1 on the right. Being less than
    ``lateral_gap`` to the wanted side costs, weighted by how level the robot is with
    the person along ``direction`` (a Gaussian of width ``along_scale``; behind them,
    of width ``behind_scale`` when given: someone to overtake is passed from further back).
    """
    dx = x - person_path[:, 0]
    dy = y - person_path[:, 1]
    ux, uy = direction
    along = dx * ux + dy * uy
    lateral = (dy * ux - dx * uy).mul_(side)
    shortfall = lateral.neg_().add_(lateral_gap).clamp_(min=0.0)
    if behind_scale is not None:
        along = torch.where(along < 0.0, along / behind_scale, along / along_scale)
    else:
        along = along.div_(along_scale)
    level = along.square_().clamp_(max=9.0).neg_().exp_()  # see proxemics
    return shortfall.square_().mul_(level).sum(dim=1).mul_(weight)
