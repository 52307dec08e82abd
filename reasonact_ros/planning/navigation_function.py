"""Distance to the goal around obstacles: the goal term that does not trap MPPI.

A sampling planner that scores rollouts by the straight-line distance to its carrot
stops in front of anything concave between them: every way around starts by getting
farther away (narrow_passage: the robot stood before a barrier with the gap a metre
to its left until the episode timed out). Scoring by the length of the shortest
obstacle-free path instead (a navigation function, as the global planner under
Nav2's MPPI provides) makes the way around the way down.

The field is Dijkstra over the 8-connected free cells of the planner's distance grid,
at half its resolution; a cell is free when the footprint there clears every lidar
point by ``clearance``. Pure numpy and scipy; no rclpy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from reasonact_ros.planning.distance_grid import DistanceGrid

# (row, column) offsets of half the 8-neighbourhood: each edge once, the graph undirected.
_NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, math.sqrt(2.0)), (1, -1, math.sqrt(2.0)))


class NavigationFunction:
    """Path length [m] from any cell of a grid to one target, around obstacles.

    ``distances`` come from a ``DistanceGrid``; ``factor`` coarsens it (a coarse cell is
    free only if all its fine cells are). ``slowness`` (the grid's shape, >= 1) multiplies
    the length of a step through a cell, e.g. off the walkway: otherwise the shortest way
    round a barrier that ends at the walkway's edge is across the grass. A cell inside an
    obstacle's clearance within ``entry`` metres of a reachable one holds the way out to
    it plus that cell's length: a robot squeezed past a post is still on its way, not cut
    off (with ``inf`` around it, every rollout near it scored alike and it stood still).
    Other unreachable cells hold ``inf``; a target inside an obstacle's clearance is moved
    to the nearest free cell; ``reachable`` is False only when no cell is free (do not use
    the field then).
    """

    def __init__(self, grid: DistanceGrid, target: tuple[float, float], clearance: float,
                 factor: int = 2, slowness: np.ndarray | None = None, entry: float = 0.5):
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        rows, cols = grid.height // factor, grid.width // factor
        self.resolution = grid.resolution * factor
        self.origin = grid.origin
        self.shape = (rows, cols)
        fine = grid.distances[:rows * factor, :cols * factor]
        free = (fine.reshape(rows, factor, cols, factor).min(axis=(1, 3)) > clearance)
        cell_cost = np.ones(self.shape)
        if slowness is not None:
            fine_cost = np.broadcast_to(slowness, grid.distances.shape)
            fine_cost = fine_cost[:rows * factor, :cols * factor]
            cell_cost = fine_cost.reshape(rows, factor, cols, factor).max(axis=(1, 3))
        self.field = np.full(self.shape, np.inf)
        self._heading: np.ndarray | None = None
        self.reachable = rows > 0 and cols > 0 and bool(free.any())
        if not self.reachable:
            return
        self.target_cell = self._cell(target)
        offset = 0.0
        if not free[self.target_cell]:
            # A carrot on the route can lie inside an obstacle's clearance (the route runs
            # through road works): aim at the nearest free cell, preferring the cheapest
            # ground, and count the rest of the way as a straight line.
            row, col = np.indices(self.shape)
            gap = np.hypot(row - self.target_cell[0], col - self.target_cell[1])
            gap = np.where(free, gap * cell_cost, np.inf)
            self.target_cell = np.unravel_index(int(np.argmin(gap)), self.shape)
            offset = float(np.hypot(self.target_cell[0] - self._cell(target)[0],
                                    self.target_cell[1] - self._cell(target)[1])
                           ) * self.resolution
        field = _dijkstra(free, cell_cost, self.target_cell, self.resolution) + offset
        self.field = _step_out(field, entry, self.resolution)

    def _cell(self, point: tuple[float, float]) -> tuple[int, int]:
        col = int((point[0] - self.origin[0]) // self.resolution)
        row = int((point[1] - self.origin[1]) // self.resolution)
        return (min(max(row, 0), self.shape[0] - 1), min(max(col, 0), self.shape[1] - 1))

    def descent_heading(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Direction [rad] of the shortest path at points (nearest cell), NaN where the
        field has none (unreachable, or flat).

        Minus the field's gradient: the way a robot at that point should be heading.
        """
        if self._heading is None:
            finite = np.isfinite(self.field)
            # Unreachable neighbours count as far uphill; np.gradient needs numbers.
            filled = np.where(finite, self.field,
                              self.field[finite].max() + 10.0 if finite.any() else 0.0)
            d_row, d_col = np.gradient(filled)
            heading = np.arctan2(-d_row, -d_col)
            flat = (np.abs(d_row) + np.abs(d_col)) < 1e-9
            self._heading = np.where(finite & ~flat, heading, np.nan)
        return self._heading[self._cells(x, y)]

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Path length at points (nearest cell; outside the grid: its border)."""
        return self.field[self._cells(x, y)]

    def _cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.clip(((x - self.origin[0]) // self.resolution).astype(int), 0, self.shape[1] - 1)
        row = np.clip(((y - self.origin[1]) // self.resolution).astype(int), 0, self.shape[0] - 1)
        return row, col


def _step_out(field: np.ndarray, entry: float, resolution: float) -> np.ndarray:
    """``field`` with each unreachable cell within ``entry`` of a reachable one set to the
    nearest reachable cell's length plus the straight line to it."""
    reachable = np.isfinite(field)
    if reachable.all() or entry <= 0.0:
        return field
    distance, (rows, cols) = distance_transform_edt(~reachable, return_indices=True)
    distance *= resolution
    stepped = field[rows, cols] + distance
    return np.where(reachable | (distance > entry), field, stepped)


def _dijkstra(free: np.ndarray, cell_cost: np.ndarray, target: tuple[int, int],
              resolution: float) -> np.ndarray:
    rows, cols = free.shape
    index = np.arange(rows * cols).reshape(rows, cols)
    sources, targets, weights = [], [], []
    for d_row, d_col, length in _NEIGHBOURS:
        row_slice = slice(0, rows - d_row)
        col_from = slice(max(0, -d_col), cols - max(0, d_col))
        col_to = slice(max(0, d_col), cols - max(0, -d_col))
        a = free[row_slice, col_from]
        b = free[d_row:, col_to]
        both = a & b
        sources.append(index[row_slice, col_from][both])
        targets.append(index[d_row:, col_to][both])
        # A step costs its length times the mean slowness of the two cells it joins.
        mean_cost = 0.5 * (cell_cost[row_slice, col_from] + cell_cost[d_row:, col_to])
        weights.append(mean_cost[both] * (length * resolution))
    graph = coo_matrix((np.concatenate(weights),
                        (np.concatenate(sources), np.concatenate(targets))),
                       shape=(rows * cols, rows * cols)).tocsr()
    lengths = dijkstra(graph, directed=False, indices=index[target])
    return lengths.reshape(rows, cols)
