"""Polyline geometry for walkways: offset edges and nearest points, vectorised."""

from __future__ import annotations

import numpy as np


def offset_polyline(points: np.ndarray, distance: float) -> np.ndarray:
    """The polyline shifted sideways by ``distance`` (positive: to the left of travel).

    Inner vertices use the mitre of the two adjacent segment normals so that a
    bent walkway keeps its width along both segments.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"a polyline must be (N>=2, 2), got {points.shape}")
    segments = np.diff(points, axis=0)
    lengths = np.linalg.norm(segments, axis=1)
    if np.any(lengths <= 1e-9):
        raise ValueError("a polyline must not repeat a point")
    normals = np.column_stack([-segments[:, 1], segments[:, 0]]) / lengths[:, None]
    vertex_normals = np.empty_like(points)
    vertex_normals[0], vertex_normals[-1] = normals[0], normals[-1]
    if len(points) > 2:
        mitre = normals[:-1] + normals[1:]
        mitre /= np.linalg.norm(mitre, axis=1, keepdims=True)
        # Scale so the offset is ``distance`` from both neighbouring segments.
        cos_half = np.sum(mitre * normals[1:], axis=1)
        vertex_normals[1:-1] = mitre / np.maximum(cos_half, 0.2)[:, None]
    return points + distance * vertex_normals


def closest_points(points: np.ndarray, polyline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (K, 2) points: the nearest (K, 2) points on the polyline and the (K, 2) unit
    tangents of the segments they lie on."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    length_sq = np.sum(ab * ab, axis=1)
    t = np.einsum("kij,ij->ki", points[:, None, :] - a[None], ab) / length_sq
    t = np.clip(t, 0.0, 1.0)
    candidates = a[None] + t[..., None] * ab[None]
    dist_sq = np.sum((candidates - points[:, None, :]) ** 2, axis=2)
    best = np.argmin(dist_sq, axis=1)
    nearest = candidates[np.arange(len(points)), best]
    tangents = ab[best] / np.sqrt(length_sq[best])[:, None]
    return nearest, tangents
