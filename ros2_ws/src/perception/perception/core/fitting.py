"""Pose, size and shape of one segmented object, in the table frame (table top z = 0).

The camera sees an object's top face whole (it looks down at the table) and some of its
sides. The top height is the robust top of the segment's heights; the top face's pixels
are re-projected onto the horizontal plane at that height (their rays are exact, their
depths noisy), which gives the footprint precisely even with depth noise. The visible
side points, which stand on the footprint's outline, are added. The full height is the
top height, since the object stands on the known table (or on the object below it,
see pipeline). Box vs cylinder: which of a rectangle and a circle fits the outline
better (see fit_shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_OUTLINE_POINTS = 150
CLEAR_BOX_FILL = 0.95  # hull area / min-area rectangle: at least this, unoccluded, is a box
CLEAR_DISC_FILL = (0.72, 0.84)  # and in this range (pi / 4 = 0.785 for a disc), unoccluded, a cylinder
UNOCCLUDED_FRACTION = 0.97  # of the outline pixels no nearer surface hides
# Pixels added to a fitted width: the side points of the near edges are exact, the top
# face's sampled far edges lie on average half a pixel inside the true edge.
EDGE_PIXELS = 0.5
CUBE_TOLERANCE = 0.15  # sides within 15 % of each other: a cube (and yaw is reported modulo 90 deg)


@dataclass(slots=True)
class ShapeFit:
    """Fitted geometry in the table frame. centre_xy (2,) m; yaw rad (boxes, x axis along
    size[0]; 0 for cylinders); size (3,) m (cylinder: diameter, diameter, height); top m
    above the table; boxness 0..1: circle residual / (circle + rectangle residual), > 0.5
    for a box; top_mask (n,) the top-face points."""

    shape: str
    centre_xy: np.ndarray
    yaw: float
    size: np.ndarray
    top: float
    boxness: float
    top_mask: np.ndarray


def normalise_box_yaw(yaw: float, sx: float, sy: float) -> tuple[float, float, float]:
    """Canonical (yaw, size_x, size_y) of a box footprint: a near-square one (sides within
    CUBE_TOLERANCE) has yaw in [-pi/4, pi/4); an oblong one has size_x >= size_y and yaw in
    [-pi/2, pi/2)."""
    if abs(sx - sy) <= CUBE_TOLERANCE * max(sx, sy):
        k = math.floor((yaw + math.pi / 4) / (math.pi / 2))
        yaw -= k * math.pi / 2
        if k % 2:
            sx, sy = sy, sx
        return yaw, sx, sy
    if sy > sx:
        sx, sy, yaw = sy, sx, yaw + math.pi / 2
    yaw = (yaw + math.pi / 2) % math.pi - math.pi / 2
    return yaw, sx, sy


def _circle_fit(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """Algebraic least-squares circle through (N, 2) points: centre (2,), radius."""
    A = np.empty((len(xy), 3))
    A[:, :2], A[:, 2] = xy, 1.0
    b = (xy * xy).sum(axis=1)
    try:
        sol = np.linalg.solve(A.T @ A, A.T @ b)
    except np.linalg.LinAlgError:
        return xy.mean(axis=0), 0.0
    centre = sol[:2] / 2.0
    r = math.sqrt(max(sol[2] + centre @ centre, 0.0))
    return centre, r


_COARSE = np.radians(np.arange(0.0, 90.0, 3.0))
_FINE = np.radians(np.arange(-1.8, 1.81, 0.3))


def _rect_residuals(outline: np.ndarray, extent: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean distance (A,) of the (N, 2) outline points to the nearest side of the rectangle of
    each angle (A,) that bounds the (M, 2) extent points, and the bounds (A, 4) umin umax vmin vmax."""
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    eu = extent[:, 0] * c + extent[:, 1] * s
    ev = -extent[:, 0] * s + extent[:, 1] * c
    b = np.stack([eu.min(axis=1), eu.max(axis=1), ev.min(axis=1), ev.max(axis=1)], axis=1)
    ou = outline[:, 0] * c + outline[:, 1] * s
    ov = -outline[:, 0] * s + outline[:, 1] * c
    d = np.minimum(np.minimum(np.abs(ou - b[:, 0:1]), np.abs(ou - b[:, 1:2])),
                   np.minimum(np.abs(ov - b[:, 2:3]), np.abs(ov - b[:, 3:4])))
    return d.mean(axis=1), b


def fit_shape(points: np.ndarray, rays: np.ndarray, camera: np.ndarray, outline_mask: np.ndarray, *,
              top_tolerance: float, pixel_size: float, edge_mask: np.ndarray | None = None,
              core_tolerance: float | None = None) -> ShapeFit | None:
    """Fit one segment. points (n, 3) table frame, m; rays (n, 3) their pixels' ray
    directions in the table frame; camera (3,) optical centre in the table frame;
    outline_mask (n,): pixels on the segment's image outline that no nearer surface
    hides; top_tolerance: m below the top still counted as the top face; pixel_size: m,
    the footprint of one pixel at the object (the sizes are corrected for sampled points
    lying inside the true edges, see EDGE_PIXELS); edge_mask (n,): all the segment's image
    outline pixels (optional: the footprint's extremes are among them, so the hull is taken
    of these only); core_tolerance: m, only top points this close to the top height are
    re-projected (default: all of the top band). None if the segment has too few points.

    Outline evidence: the side points (they stand on the footprint's outline) and the
    top face's unoccluded outline pixels. A rectangle (orientation searched, extents
    bounding every point) and a circle (least squares) are fitted to it; the smaller
    mean residual decides box or cylinder, so a top face partly hidden by a nearer object
    is still recognised."""
    n = len(points)
    if n < 5:
        return None
    h = points[:, 2]
    k90 = int(0.9 * (n - 1))
    h_hi = float(np.partition(h, k90)[k90])
    top_mask = h >= h_hi - top_tolerance
    top = float(h[top_mask].mean())
    top_mask = np.abs(h - top) <= top_tolerance
    if np.count_nonzero(top_mask) < 5:
        top_mask = h >= h_hi - top_tolerance
    # Re-project only the surest top points (a side pixel just below the top edge would land
    # outside the footprint); side points are those clearly below the top band.
    core = top_mask if core_tolerance is None else top_mask & (np.abs(h - top) <= core_tolerance)
    if np.count_nonzero(core) < 5:
        core = top_mask
    # Row gathers with np.take and column-wise arithmetic: several times faster than
    # boolean indexing and broadcasting on narrow (n, k) arrays.
    r = np.take(rays, np.flatnonzero(core), axis=0)
    s = (top - camera[2]) / r[:, 2]
    top_xy = np.empty((len(r), 2))
    top_xy[:, 0] = camera[0] + r[:, 0] * s
    top_xy[:, 1] = camera[1] + r[:, 1] * s
    side = ~top_mask & (h < top)
    side_xy = np.take(points, np.flatnonzero(side), axis=0)[:, :2]
    extent = np.concatenate([top_xy, side_xy])
    outline = np.concatenate([top_xy[outline_mask[core]], side_xy])
    if len(outline) < 5:
        outline = extent
    centre0 = np.ones(len(extent)) @ extent / len(extent)  # the mean row, by BLAS
    if edge_mask is not None:
        rim = np.concatenate([top_xy[edge_mask[core]], side_xy[edge_mask[side]]])
        if len(rim) >= 3:
            extent = rim
    # Only the hull decides the bounds; a few hundred outline points decide the residuals.
    hull = cv2.convexHull(np.asarray(extent, np.float32))
    extent = hull.reshape(-1, 2).astype(np.float64) - centre0
    outline = outline[::max(1, len(outline) // MAX_OUTLINE_POINTS)] - centre0
    # Fast paths for an unoccluded outline: a box fills its minimum-area rectangle (only
    # the angle needs refining), a disc fills pi/4 of it (only the circle is fitted).
    # Anything else (a partly hidden top, an ambiguous fill) gets both models, fully searched.
    (_, _), (rw, rh), rect_angle = cv2.minAreaRect(hull)
    fill = cv2.contourArea(hull) / (rw * rh) if rw * rh > 0 else 0.0
    unoccluded = edge_mask is not None and \
        np.count_nonzero(outline_mask) >= UNOCCLUDED_FRACTION * np.count_nonzero(edge_mask)
    if unoccluded and CLEAR_DISC_FILL[0] <= fill <= CLEAR_DISC_FILL[1]:
        centre_c, radius = _circle_fit(outline)
        d = 2.0 * radius + EDGE_PIXELS * pixel_size
        return ShapeFit("cylinder", centre0 + centre_c, 0.0, np.array([d, d, top]), top, 0.0, top_mask)
    clear_box = unoccluded and fill >= CLEAR_BOX_FILL
    if clear_box:
        best = math.radians(rect_angle)
    else:
        res, _ = _rect_residuals(outline, extent, _COARSE)
        best = _COARSE[int(np.argmin(res))]
    res_f, bounds = _rect_residuals(outline, extent, best + _FINE)
    k = int(np.argmin(res_f))
    rect_res, angle, (umin, umax, vmin, vmax) = float(res_f[k]), float(best + _FINE[k]), bounds[k]
    if clear_box:
        circ_res, boxness = math.inf, 1.0
    else:
        centre_c, radius = _circle_fit(outline)
        circ_res = float(np.abs(np.hypot(*(outline - centre_c).T) - radius).mean())
        # 1 for a clear box, 0 for a clear cylinder (residuals relative to each other).
        boxness = circ_res / (circ_res + rect_res + 1e-9)
    if rect_res <= circ_res:
        ca, sa = math.cos(angle), math.sin(angle)
        cu, cv = (umin + umax) / 2.0, (vmin + vmax) / 2.0
        centre = centre0 + np.array([cu * ca - cv * sa, cu * sa + cv * ca])
        pad = EDGE_PIXELS * pixel_size
        yaw, sx, sy = normalise_box_yaw(angle, umax - umin + pad, vmax - vmin + pad)
        return ShapeFit("box", centre, yaw, np.array([sx, sy, top]), top, boxness, top_mask)
    d = 2.0 * radius + EDGE_PIXELS * pixel_size
    return ShapeFit("cylinder", centre0 + centre_c, 0.0, np.array([d, d, top]), top, boxness, top_mask)
