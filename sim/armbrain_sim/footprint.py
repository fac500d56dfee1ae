"""Footprints on the table: the 2-D shapes (x/y plane, base frame, metres) that objects,
the bin and the robot base's keep-out circle cover, with exact gaps between them and the
on-table check. Used by the scenario sampler (armbrain_sim.scenario) and its validator
(armbrain_sim.scenario_schema). Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from armbrain_sim.scene import BinSetup, TableSetup


@dataclass(frozen=True, slots=True)
class Footprint:
    """A circle (radius > 0, no corners) or a rectangle (radius 0, four corners), metres."""

    centre: np.ndarray  # (2,)
    radius: float  # circle radius; 0 for a rectangle
    corners: np.ndarray | None  # (4, 2) rectangle corners in order, None for a circle

    def extreme_points(self, n_circle: int = 8) -> np.ndarray:
        """(k, 2) points whose convex hull contains the footprint's outline (circle: on it)."""
        if self.corners is not None:
            return self.corners
        a = np.linspace(0.0, 2.0 * math.pi, n_circle, endpoint=False)
        return self.centre + self.radius * np.column_stack([np.cos(a), np.sin(a)])


def rect(x: float, y: float, size_x: float, size_y: float, yaw: float) -> Footprint:
    c, s = math.cos(yaw), math.sin(yaw)
    half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float) * (size_x / 2.0, size_y / 2.0)
    corners = half @ np.array([[c, s], [-s, c]]) + (x, y)
    return Footprint(np.array([x, y], dtype=float), 0.0, corners)


def circle(x: float, y: float, radius: float) -> Footprint:
    return Footprint(np.array([x, y], dtype=float), radius, None)


def object_footprint(shape: str, size: Sequence[float], x: float, y: float, yaw: float) -> Footprint:
    if shape == "cylinder":
        return circle(x, y, size[0] / 2.0)
    return rect(x, y, size[0], size[1], yaw)


def _points_outline_distance(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(k,) distance from each of `points` (k, 2) to the outline of the polygon `corners` (m, 2)."""
    a = corners
    ab = np.roll(corners, -1, axis=0) - a  # (m, 2) edges
    ap = points[:, None, :] - a[None, :, :]  # (k, m, 2)
    t = np.clip((ap * ab).sum(axis=2) / (ab * ab).sum(axis=1), 0.0, 1.0)
    return np.linalg.norm(ap - t[:, :, None] * ab, axis=2).min(axis=1)


def _inside_convex(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(k,) True where a point lies inside (or on) the convex polygon `corners` (m, 2)."""
    ab = np.roll(corners, -1, axis=0) - corners
    ap = points[:, None, :] - corners[None, :, :]
    cross = ab[None, :, 0] * ap[:, :, 1] - ab[None, :, 1] * ap[:, :, 0]  # (k, m)
    return np.all(cross >= 0.0, axis=1) | np.all(cross <= 0.0, axis=1)


def _polygons_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons (m, 2)."""
    for corners in (a, b):
        edges = np.roll(corners, -1, axis=0) - corners
        axes = np.column_stack([-edges[:, 1], edges[:, 0]])
        pa, pb = a @ axes.T, b @ axes.T  # projections on every axis
        if np.any((pa.max(axis=0) < pb.min(axis=0)) | (pb.max(axis=0) < pa.min(axis=0))):
            return False
    return True


def gap(a: Footprint, b: Footprint) -> float:
    """Free distance between two footprints, metres; <= 0 when they touch or overlap."""
    if a.corners is None and b.corners is None:
        return float(np.linalg.norm(a.centre - b.centre)) - a.radius - b.radius
    if a.corners is None or b.corners is None:
        circle, rect = (a, b) if a.corners is None else (b, a)
        p = circle.centre[None, :]
        d = float(_points_outline_distance(p, rect.corners)[0])
        return (-d if _inside_convex(p, rect.corners)[0] else d) - circle.radius
    if _polygons_overlap(a.corners, b.corners):
        return -1.0
    # Disjoint convex polygons: the closest pair involves a vertex of one of them.
    return float(min(_points_outline_distance(a.corners, b.corners).min(),
                     _points_outline_distance(b.corners, a.corners).min()))


def _bound(fp: Footprint) -> float:
    """Radius of a circle about the centre that holds the footprint, metres."""
    return fp.radius if fp.corners is None else float(np.linalg.norm(fp.corners - fp.centre, axis=1).max())


def gap_if_below(a: Footprint, b: Footprint, limit: float) -> float | None:
    """The gap between a and b if it is below `limit`, else None (cheap when far apart)."""
    if float(np.linalg.norm(a.centre - b.centre)) - _bound(a) - _bound(b) >= limit:
        return None
    g = gap(a, b)
    return g if g < limit else None


def on_table(fp: Footprint, table: TableSetup) -> bool:
    if fp.corners is None:
        lo, hi = fp.centre - fp.radius, fp.centre + fp.radius
    else:
        lo, hi = fp.corners.min(axis=0), fp.corners.max(axis=0)
    half = np.array(table.size) / 2.0
    centre = np.array([table.x, table.y])
    return bool(np.all(lo >= centre - half - 1e-12) and np.all(hi <= centre + half + 1e-12))


def bin_footprint(b: BinSetup) -> Footprint:
    return rect(b.x, b.y, b.inner_size[0] + 2 * b.wall_thickness, b.inner_size[1] + 2 * b.wall_thickness, b.yaw)
