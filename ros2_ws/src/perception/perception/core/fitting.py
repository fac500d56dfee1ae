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
    """Algebraic least-squares circle through (N, 2) points: centre (2,), radius.

    Minimises sum (|p - centre|^2 - radius^2)^2 (Kasa); in coordinates relative to the mean
    point the normal equations are 2 x 2: [[Suu, Suv], [Suv, Svv]] c = ([Suuu + Suvv,
    Svvv + Suuv]) / 2, radius^2 = |c|^2 + (Suu + Svv) / N."""
    n = len(xy)
    mean = np.ones(n) @ xy / n  # the mean row, by BLAS
    u, v = xy[:, 0] - mean[0], xy[:, 1] - mean[1]
    uu, vv = u * u, v * v
    suu, svv, suv = float(uu.sum()), float(vv.sum()), float(u @ v)
    det = suu * svv - suv * suv
    if not det > 0.0:
        return mean, 0.0  # collinear (or fewer than three distinct) points
    bu, bv = float((uu + vv) @ u) / 2.0, float((uu + vv) @ v) / 2.0
    cu, cv = (svv * bu - suv * bv) / det, (suu * bv - suv * bu) / det
    return mean + np.array([cu, cv]), math.sqrt(cu * cu + cv * cv + (suu + svv) / n)


_COARSE = np.radians(np.arange(0.0, 90.0, 3.0))
_FINE = np.radians(np.arange(-1.8, 1.81, 0.3))


def _rect_residuals(outline: np.ndarray, extent: np.ndarray,
                    angles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean distance (A,) of the (N, 2) outline points to the nearest side of the rectangle of
    each angle (A,) that bounds the (M, 2) extent points, and the bounds lo, hi (2A,): along
    each angle's u axis (cos, sin) in rows 0..A-1, along its v axis (-sin, cos) in rows A..2A-1."""
    n = len(angles)
    c, s = np.cos(angles), np.sin(angles)
    axes = np.empty((2 * n, 2))
    axes[:n, 0], axes[:n, 1], axes[n:, 0], axes[n:, 1] = c, s, -s, c
    e = axes @ extent.T
    lo, hi = e.min(axis=1), e.max(axis=1)
    # Distance to the nearer of the two sides along each axis, | |x - mid| - half |, in place
    # on one (2A, N) array: a handful of calls, whatever the number of angles.
    d = axes @ outline.T
    d -= ((lo + hi) / 2.0)[:, None]
    np.abs(d, out=d)
    d -= ((hi - lo) / 2.0)[:, None]
    np.abs(d, out=d)
    d = np.minimum(d[:n], d[n:], out=d[:n])
    return np.add.reduce(d, axis=1) / len(outline), lo, hi


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
    dh = np.abs(h - top)
    top_mask = dh <= top_tolerance
    if np.count_nonzero(top_mask) < 5:
        top_mask = h >= h_hi - top_tolerance
    # Re-project only the surest top points (a side pixel just below the top edge would land
    # outside the footprint); side points are those clearly below the top band.
    core = top_mask if core_tolerance is None else top_mask & (dh <= core_tolerance)
    if np.count_nonzero(core) < 5:
        core = top_mask
    core_idx, side_idx = core.nonzero()[0], (~top_mask & (h < top)).nonzero()[0]
    side_xy = points.take(side_idx, axis=0)[:, :2]
    outline_side = np.arange(len(side_idx))
    rim_side = None if edge_mask is None else edge_mask[side_idx].nonzero()[0]

    def footprint(top_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """xy (k, 2): the top points top_idx re-projected (at the top height), then the side
        points; the rows of xy on the outline, and on the rim (None without edge_mask). Row
        gathers with take and column-wise arithmetic: several times faster than boolean
        indexing and broadcasting on narrow (n, k) arrays."""
        m = len(top_idx)
        xy = np.empty((m + len(side_idx), 2))
        r = rays.take(top_idx, axis=0)
        s = (top - camera[2]) / r[:, 2]
        xy[:m, 0] = camera[0] + r[:, 0] * s
        xy[:m, 1] = camera[1] + r[:, 1] * s
        xy[m:] = side_xy
        outline_rows = np.concatenate([outline_mask[top_idx].nonzero()[0], m + outline_side])
        rim_rows = None if edge_mask is None else np.concatenate([edge_mask[top_idx].nonzero()[0], m + rim_side])
        return xy, outline_rows, rim_rows

    # Only the side points and the top points on the image outline (edge or outline mask)
    # bound the footprint; the other top points need no re-projection, unless the outline is
    # too short (then every point is outline or extent).
    if edge_mask is None:
        xy, outline_rows, rim_rows = footprint(core_idx)
    else:
        xy, outline_rows, rim_rows = footprint(core_idx[edge_mask[core_idx] | outline_mask[core_idx]])
        if len(outline_rows) < 5 or len(rim_rows) < 3:
            xy, outline_rows, rim_rows = footprint(core_idx)
    if len(outline_rows) < 5:
        outline_rows = np.arange(len(xy))
    extent = xy if rim_rows is None or len(rim_rows) < 3 else xy.take(rim_rows, axis=0)
    centre0 = np.ones(len(extent)) @ extent / len(extent)  # an origin near the footprint's centre (BLAS mean)
    # Only the hull decides the bounds; a few hundred outline points decide the residuals.
    hull = cv2.convexHull(np.asarray(extent, np.float32))
    extent = hull.reshape(-1, 2).astype(np.float64) - centre0
    outline = xy.take(outline_rows[::max(1, len(outline_rows) // MAX_OUTLINE_POINTS)], axis=0) - centre0
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
        res, _, _ = _rect_residuals(outline, extent, _COARSE)
        best = _COARSE[int(res.argmin())]
    res_f, lo, hi = _rect_residuals(outline, extent, best + _FINE)
    k = int(res_f.argmin())
    rect_res, angle = float(res_f[k]), float(best + _FINE[k])
    umin, umax, vmin, vmax = float(lo[k]), float(hi[k]), float(lo[len(_FINE) + k]), float(hi[len(_FINE) + k])
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
