"""The bin (an open tray: four thin walls on the table) perceived instead of configured.

The configured bin (PerceptionConfig.bin_center, bin_yaw, bin_size, bin_wall_*) is a
prior. Each frame, the points between min_object_height and max_height above the table
(in the table frame, x and y on the table, z up) are rasterised on a coarse top-down grid;
a connected group of cells whose minimum-area rectangle (cv2.minAreaRect) is bin-sized
(inner sides bin_min_side..bin_max_side) and hollow (most points within a few
centimetres of the rectangle's outline, the middle nearly empty) and with at least three
walls seen along most of their length is the bin. Its outline is then refined: the yaw
from lines fitted to each wall's points (cv2.fitLine), each outer face from a robust
extreme of its wall's points; the wall height from the rim's top points, the thickness
from how far the rim's top points reach inwards.

Yaw convention: a rectangle at yaw t with sides (a, b) is the same as (b, a) at t + 90°
and (a, b) at t + 180°. The representation reported is the one whose yaw is nearest the
prior's (within [-45°, 45°) of bin_yaw), so inner_size[0] is the side along the prior's
x axis: a bin that did not turn keeps the prior's (length, width) order, and comparing it
with the prior needs no modular arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

GRID = 0.0025  # m: cell of the top-down raster the bin is searched on (objects 1 cm away stay apart)
RIM_BAND = 0.03  # m from the outline: a bin's points (walls and rim) lie within this
MIN_RIM_FRACTION = 0.7  # of a candidate's points in the rim band (hollow)
MAX_INTERIOR_FILL = 0.35  # fraction of the interior's cells occupied (objects in the bin)
SIDE_BIN = 0.01  # m: wall coverage is counted in pieces of this length
MIN_WALL_COVERAGE = 0.3  # a wall counts as seen when this fraction of its pieces has points
MIN_WALLS = 3
BEYOND_EDGE = 0.02  # m past where a wall's points end: out of the picture there, the wall may be too
CONFIRM_BAND = 0.01  # m: a point this near a wall of a bin seen before stands on it (confirm_bin)
SOURCES = ("perceived", "prior")


@dataclass(frozen=True, slots=True)
class BinEstimate:
    """The bin in the base frame.

    center: (x, y) of its footprint, m. yaw: rad of its x axis (see the module docstring
    for the choice among equivalent rectangles). inner_size: (x, y) inside the walls, m.
    wall_height, wall_thickness: m. source: "perceived" (seen in this frame) or "prior"
    (the configured bin; not seen). confidence: 0..1, the mean fraction of the four walls'
    length that was seen (1.0 for the prior: it is what was configured, not a measurement).
    walls_seen: the +x, -x, +y, -y walls (bin frame) seen; along an axis with a wall not
    seen, the size is what the seen walls span (a lower bound) when the wall may lie beyond
    the picture, else the prior's (the wall is hidden in the picture).
    """

    center: tuple[float, float]
    yaw: float
    inner_size: tuple[float, float]
    wall_height: float
    wall_thickness: float
    source: str
    confidence: float
    walls_seen: tuple[bool, bool, bool, bool] = (True, True, True, True)

    @property
    def outer_size(self) -> tuple[float, float]:
        """(x, y) outer footprint, m."""
        t2 = 2.0 * self.wall_thickness
        return (self.inner_size[0] + t2, self.inner_size[1] + t2)

    def local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (x, y (N,) m, base frame) in the bin's frame (origin at its centre, x along yaw)."""
        dx, dy = x - self.center[0], y - self.center[1]
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return c * dx + s * dy, -s * dx + c * dy

    def within(self, x: np.ndarray, y: np.ndarray, half: tuple[float, float]) -> np.ndarray:
        """(N,) bool: points within the centred rectangle of half sides `half` (m) of the bin's frame."""
        u, v = self.local(x, y)
        return (np.abs(u) <= half[0]) & (np.abs(v) <= half[1])

    def transformed(self, T: np.ndarray) -> BinEstimate:
        """This bin mapped by the (4, 4) transform T (a rotation about z and a translation)."""
        cx, cy = self.center
        x = T[0, 0] * cx + T[0, 1] * cy + T[0, 3]
        y = T[1, 0] * cx + T[1, 1] * cy + T[1, 3]
        return BinEstimate((float(x), float(y)), self.yaw + math.atan2(T[1, 0], T[0, 0]), self.inner_size,
                           self.wall_height, self.wall_thickness, self.source, self.confidence, self.walls_seen)

    def face_gaps(self, other: BinEstimate, inner: bool = False) -> list[float]:
        """For each wall this bin saw (+x, -x, +y, -y), how far (m) its outer face (inner: its
        inner face) lies outside the same face of `other` (negative: inside). Both bins' yaws
        are within 45 deg of each other (normalise_rectangle_yaw), so +x is +x in both."""
        co, so = math.cos(other.yaw), math.sin(other.yaw)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        axes, axes_o = ((c, s), (-s, c)), ((co, so), (-so, co))
        sizes, sizes_o = (self.inner_size, other.inner_size) if inner else (self.outer_size, other.outer_size)
        gaps = []
        for k, (axis, sign) in enumerate(((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0))):
            if not self.walls_seen[k]:
                continue
            fx = self.center[0] + sign * sizes[axis] / 2.0 * axes[axis][0] - other.center[0]
            fy = self.center[1] + sign * sizes[axis] / 2.0 * axes[axis][1] - other.center[1]
            gaps.append(sign * (fx * axes_o[axis][0] + fy * axes_o[axis][1]) - sizes_o[axis] / 2.0)
        return gaps

    def face_offsets(self, other: BinEstimate) -> tuple[float, float]:
        """(largest distance m of a seen outer face from the same face of `other`, largest
        change m of a side whose two walls were seen): how far this bin is from `other`
        judged only by what was seen (a wall not seen says nothing). Both bins' yaws are
        within 45 deg of each other (normalise_rectangle_yaw), so +x is +x in both."""
        shift, size = max((abs(g) for g in self.face_gaps(other)), default=0.0), 0.0
        for axis in (0, 1):
            if self.walls_seen[2 * axis] and self.walls_seen[2 * axis + 1]:
                size = max(size, abs(self.outer_size[axis] - other.outer_size[axis]))
        return shift, size


def _turn_walls(walls: tuple, quarters: int) -> tuple:
    """The (+x, -x, +y, -y) walls of a rectangle as seen from its frame turned by `quarters`
    quarter turns (the frame's yaw grew by quarters * 90 deg)."""
    for _ in range(quarters % 4):
        px, mx, py, my = walls
        walls = (py, my, mx, px)  # the new +x axis is the old +y, the new +y the old -x
    return walls


def bin_prior(center, yaw: float, outer_size, wall_height: float, wall_thickness: float) -> BinEstimate:
    """The configured bin (PerceptionConfig's bin_center, bin_yaw, bin_size = outer, bin_wall_*) as an estimate."""
    t2 = 2.0 * wall_thickness
    return BinEstimate((float(center[0]), float(center[1])), float(yaw),
                       (max(float(outer_size[0]) - t2, 0.0), max(float(outer_size[1]) - t2, 0.0)),
                       float(wall_height), float(wall_thickness), "prior", 1.0)


def normalise_rectangle_yaw(yaw: float, size: tuple[float, float], prior_yaw: float
                            ) -> tuple[float, tuple[float, float]]:
    """(yaw rad, (a, b) m) of the rectangle (yaw, size) equivalent under 90° turns whose yaw
    is within [-45°, 45°) of prior_yaw; the sides swap for an odd number of quarter turns."""
    quarter = math.pi / 2.0
    k = math.floor((yaw - prior_yaw + quarter / 2.0) / quarter)
    a, b = size
    if k % 2:
        a, b = b, a
    return yaw - k * quarter, (a, b)


def bin_pose_error(a: BinEstimate, b: BinEstimate) -> tuple[float, float]:
    """(centre distance m, yaw difference rad in [0, 45°]) between two bins, modulo the
    rectangle's symmetry (sides not compared)."""
    d = (a.yaw - b.yaw) % (math.pi / 2.0)
    return math.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]), min(d, math.pi / 2.0 - d)


def _quantile(a: np.ndarray, q: float) -> float:
    """The q-quantile (nearest rank below) of a non-empty 1-D array by np.partition: np.quantile
    costs tens of microseconds of overhead per call, and a frame needs several."""
    k = int(q * (len(a) - 1))
    return float(np.partition(a, k)[k])


def _wall_coverage(u: np.ndarray, v: np.ndarray, half: tuple[float, float], band: float) -> list[float]:
    """Fraction of SIDE_BIN pieces with points, per wall (+x, -x, +y, -y), of points (u, v) in the
    rectangle's frame (half sides `half`) that lie within `band` inside its outline."""
    out = []
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        across, along = (u, v) if axis == 0 else (v, u)
        length = 2.0 * half[1 - axis]
        on = (sign * across > half[axis] - band) & (np.abs(along) < half[1 - axis])
        n = max(1, int(length / SIDE_BIN))
        pieces = ((along[on] + half[1 - axis]) / length * n).astype(np.int64)
        out.append(np.count_nonzero(np.bincount(np.clip(pieces, 0, n - 1), minlength=n)) / n)
    return out


def _beyond_view(edges: list[float], k: int, centre: tuple[float, float], cs: tuple[float, float],
                 height: float, in_view: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether the camera could not see past the edge k (+x, -x, +y, -y of the fitted
    rectangle, `edges` in its frame at `centre`, axes cos/sin `cs`) where the seen points
    end: most of a line of points BEYOND_EDGE outside it, at the rim's height, is out of
    the picture (in_view: (N, 3) points -> (N,) bool)."""
    axis, sign = divmod(k, 2)[0], (1.0, -1.0)[k % 2]
    other = 1 - axis
    lo, hi = edges[2 * other + 1], edges[2 * other]
    along = np.linspace(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo), 9)
    across = np.full_like(along, edges[k] + sign * BEYOND_EDGE)
    a_u, a_v = (across, along) if axis == 0 else (along, across)
    c, s = cs
    pts = np.column_stack([centre[0] + c * a_u - s * a_v, centre[1] + s * a_u + c * a_v, np.full_like(along, height)])
    return float(np.mean(~np.asarray(in_view(pts), dtype=bool))) >= 0.5


def fit_bin(points: np.ndarray, prior: BinEstimate, *, min_side: float, max_side: float,
            max_wall_height: float, in_view: Callable[[np.ndarray], np.ndarray] | None = None) -> BinEstimate | None:
    """The bin fitted to (N, 3) table-frame points of one connected group (m), or None when
    they do not look like one (see the module docstring). The yaw is normalised to the prior's.
    in_view: (M, 3) points of the same frame -> (M,) bool, True where the camera's picture
    shows them (None: unknown, a wall not seen is taken as hidden)."""
    if len(points) < 50:
        return None
    xy = np.ascontiguousarray(points[:, :2], dtype=np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(xy)
    if min(w, h) < min_side or max(w, h) > max_side + 0.06:
        return None
    yaw = math.radians(angle)
    c, s = math.cos(yaw), math.sin(yaw)
    dx, dy = xy[:, 0] - cx, xy[:, 1] - cy
    u, v = c * dx + s * dy, -s * dx + c * dy
    half = (w / 2.0, h / 2.0)
    depth_in = np.minimum(half[0] - np.abs(u), half[1] - np.abs(v))  # distance inside the outline
    rim = depth_in < RIM_BAND
    if np.count_nonzero(rim) < MIN_RIM_FRACTION * len(xy):
        return None
    # The middle (beyond the rim band) must be mostly empty: objects stand in a bin, not fill it.
    inner_cells = max(1.0, (w - 2 * RIM_BAND) * (h - 2 * RIM_BAND) / GRID ** 2)
    interior = ~rim
    if np.count_nonzero(interior):
        iu = ((u[interior] + half[0]) / GRID).astype(np.int64)
        iv = ((v[interior] + half[1]) / GRID).astype(np.int64)
        occupied = np.count_nonzero(np.bincount(iu * (int(h / GRID) + 2) + iv))
        if occupied > MAX_INTERIOR_FILL * inner_cells:
            return None
    # Refine the yaw: a line through each wall's points (direction modulo 90 deg), weighted by support.
    sides = []
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        across, along = (u, v) if axis == 0 else (v, u)
        sel = (rim & (sign * across > half[axis] - RIM_BAND) & (np.abs(along) < half[1 - axis] - RIM_BAND)).nonzero()[0]
        sides.append(sel)
    num, den = 0.0, 0.0
    for sel in sides:
        if len(sel) < 20:
            continue
        vx, vy, _, _ = cv2.fitLine(xy[sel], cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        a4 = 4.0 * math.atan2(float(vy), float(vx))  # a line's direction modulo 90 deg, as a vector
        num += len(sel) * math.sin(a4)
        den += len(sel) * math.cos(a4)
    if den or num:
        refined = math.atan2(num, den) / 4.0
        yaw = refined + round((yaw - refined) / (math.pi / 2.0)) * (math.pi / 2.0)
        c, s = math.cos(yaw), math.sin(yaw)
        u, v = c * dx + s * dy, -s * dx + c * dy
    # Outer faces: a robust extreme of each wall's points (noise spreads a few of them outwards).
    edges = []
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        across, along = (u, v) if axis == 0 else (v, u)
        on = ((sign * across > half[axis] - RIM_BAND) & (np.abs(along) < half[1 - axis] - RIM_BAND)).nonzero()[0]
        if len(on) < 20:
            edges.append(sign * half[axis])
            continue
        edges.append(sign * _quantile(sign * across[on], 0.98))
    mu, mv = (edges[0] + edges[1]) / 2.0, (edges[2] + edges[3]) / 2.0
    half = ((edges[0] - edges[1]) / 2.0, (edges[2] - edges[3]) / 2.0)
    centre = (cx + c * mu - s * mv, cy + s * mu + c * mv)
    u, v = u - mu, v - mv
    coverage = _wall_coverage(u, v, half, RIM_BAND)
    seen = [cov >= MIN_WALL_COVERAGE for cov in coverage]
    if sum(seen) < MIN_WALLS:
        return None
    if not all(seen):
        # A wall not seen. Beyond the image's edge (the seen walls run out of the picture):
        # its side is what the seen walls span, a lower bound, and the prior's size is not
        # assumed, so what is placed in the perceived bin lands in the real one. In the
        # picture but hidden (an object in the tray taller than its rim, the arm): the side
        # is one of the prior's sides (never less than what is seen). Which one: the other
        # when the perpendicular extent is measured (both its walls seen) and matches a
        # prior side; else the one along the local axis nearest the prior's axes.
        k = math.floor((yaw - prior.yaw + math.pi / 4.0) / (math.pi / 2.0))
        prior_outer = list(prior.outer_size if k % 2 == 0 else prior.outer_size[::-1])
        for axis in (0, 1):
            other = 1 - axis
            if seen[2 * other] and seen[2 * other + 1] and not (seen[2 * axis] and seen[2 * axis + 1]):
                measured = edges[2 * other] - edges[2 * other + 1]
                a, b = prior.outer_size
                prior_outer[axis] = b if abs(measured - a) < abs(measured - b) else a
        for axis in (0, 1):
            plus, minus = seen[2 * axis], seen[2 * axis + 1]
            if plus == minus:
                continue
            k_unseen = 2 * axis + (1 if plus else 0)
            if in_view is not None and _beyond_view(edges, k_unseen, (cx, cy), (c, s), prior.wall_height, in_view):
                continue  # out of the picture: the lower bound stands
            extent = max(prior_outer[axis], edges[2 * axis] - edges[2 * axis + 1])
            if plus:
                edges[2 * axis + 1] = edges[2 * axis] - extent
            else:
                edges[2 * axis] = edges[2 * axis + 1] + extent
        mu2, mv2 = (edges[0] + edges[1]) / 2.0, (edges[2] + edges[3]) / 2.0
        half = ((edges[0] - edges[1]) / 2.0, (edges[2] - edges[3]) / 2.0)
        centre = (cx + c * mu2 - s * mv2, cy + s * mu2 + c * mv2)
        u, v = u + mu - mu2, v + mv - mv2
    # Wall height: the rim's top; thickness: how far the rim's top reaches in from the outline.
    z = points[:, 2]
    z_rim = z[rim]
    top = _quantile(z_rim, 0.98)
    if top > max_wall_height:
        return None
    on_top = rim & (z > top - 0.004)
    height = _quantile(z[on_top], 0.5)
    depth_in = np.minimum(half[0] - np.abs(u), half[1] - np.abs(v))
    thickness = float(np.clip(_quantile(depth_in[on_top], 0.9), 0.003, RIM_BAND)) if np.count_nonzero(on_top) \
        > 20 else prior.wall_thickness
    inner = (2.0 * half[0] - 2.0 * thickness, 2.0 * half[1] - 2.0 * thickness)
    if min(inner) < min_side or max(inner) > max_side:
        return None
    yaw_n, inner_n = normalise_rectangle_yaw(yaw, inner, prior.yaw)
    walls = _turn_walls(tuple(bool(w) for w in seen), round((yaw_n - yaw) / (math.pi / 2.0)))
    return BinEstimate((float(centre[0]), float(centre[1])), float(yaw_n), (float(inner_n[0]), float(inner_n[1])),
                       height, thickness, "perceived", float(round(sum(coverage) / 4.0, 3)), walls)


def confirm_bin(points: np.ndarray, seen: BinEstimate, band: float = CONFIRM_BAND) -> BinEstimate | None:
    """`seen` (the bin found in an earlier frame) when the (N, 3) points of this frame still
    stand on its walls: within `band` of two perpendicular walls at least (objects taller
    than the rim may hide the others), along at least MIN_WALL_COVERAGE of each, and no
    higher than its rim. Then it is this frame's bin
    (source "perceived", this frame's coverage as confidence); else None.

    For the frames where find_bin cannot tell the bin on its own: large objects inside fill
    it, so it no longer looks hollow. A bin that was moved leaves no points on its old walls."""
    if len(points) < 50:
        return None
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    u, v = seen.local(x, y)
    half = (seen.outer_size[0] / 2.0, seen.outer_size[1] / 2.0)
    t = seen.wall_thickness
    low = z <= seen.wall_height + band
    coverage = []
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        across, along = (u, v) if axis == 0 else (v, u)
        length = 2.0 * half[1 - axis]
        on = low & (np.abs(sign * across - (half[axis] - t / 2.0)) <= t / 2.0 + band) \
            & (np.abs(along) < half[1 - axis])
        n = max(1, int(length / SIDE_BIN))
        pieces = ((along[on] + half[1 - axis]) / length * n).astype(np.int64)
        coverage.append(np.count_nonzero(np.bincount(np.clip(pieces, 0, n - 1), minlength=n)) / n)
    ok = [cov >= MIN_WALL_COVERAGE for cov in coverage]
    if not ((ok[0] or ok[1]) and (ok[2] or ok[3])):  # a wall along each axis pins x, y and yaw
        return None
    return dataclasses.replace(seen, source="perceived", confidence=float(round(sum(coverage) / 4.0, 3)))


def faces_beyond(est: BinEstimate, last: BinEstimate, margin: float = 0.005) -> bool:
    """Whether a wall est saw has its outer or inner face more than `margin` (m) outside the
    same face of `last`. Inner faces too: a fit's wall thickness comes from how far rim
    points reach inwards, and a hand over the rim thickens it."""
    return any(g > margin for inner in (False, True) for g in est.face_gaps(last, inner))


def track_bin(est: BinEstimate | None, last: BinEstimate | None, points: np.ndarray,
              keep_shift: float) -> tuple[BinEstimate | None, BinEstimate | None]:
    """(this frame's bin, the bin to remember) from this frame's fit `est` (find_bin; None:
    not found), the bin remembered from earlier frames, and the frame's (N, 3) points.

    The bin seen before stays while this frame's points still stand on its walls (confirm_bin):
    objects put in it can hide walls, so it is not found or the fit is pulled off by a
    centimetre or two. A fit with all four walls seen, a fit within keep_shift (m) of it,
    walls elsewhere, or a fit with a wall it saw standing beyond it (faces_beyond: the bin
    seen before was only a part of the bin) win: a poorer view seen before, e.g. through
    another camera mount, or a part of the bin fitted in a frame where the hand or an object
    in the bin posed as a wall, is not kept against a better one. (Measured: such a part,
    12 x 11 cm inside a 15 x 25 cm bin whose far wall is out of the picture, was otherwise
    confirmed by the walls it shares with the bin in every later frame.)"""
    if last is None:
        return est, est
    if est is not None and (all(est.walls_seen) or bin_pose_error(est, last)[0] <= keep_shift
                            or faces_beyond(est, last)):
        return est, est
    confirmed = confirm_bin(points, last)
    if confirmed is not None:
        return confirmed, last
    return est, (est if est is not None else last)


def find_bin(points: np.ndarray, prior: BinEstimate, *, min_side: float, max_side: float,
             max_wall_height: float, max_points: int = 4000,
             in_view: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[BinEstimate | None, np.ndarray]:
    """The bin among (N, 3) table-frame points above the table (m), and the indices of the
    group it was fitted to (empty when not found). Groups are connected cells of a GRID
    raster; only groups at least min_side long are tried, the largest first, each on at
    most max_points of its points (evenly sub-sampled)."""
    if len(points) < 50:
        return None, np.zeros(0, np.intp)
    x, y = points[:, 0], points[:, 1]
    x0, y0 = float(x.min()) - 2 * GRID, float(y.min()) - 2 * GRID
    gi = ((x - x0) / GRID).astype(np.int32)
    gj = ((y - y0) / GRID).astype(np.int32)
    shape = (int(gj.max()) + 3, int(gi.max()) + 3)
    cell = gj * shape[1] + gi
    grid = np.zeros(shape, np.uint8)
    np.put(grid, cell, 1)
    grid = cv2.dilate(grid, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=4)
    span = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) * GRID
    candidates = [k for k in range(1, n) if span[k] >= min_side]
    if not candidates:
        return None, np.zeros(0, np.intp)
    lab = labels.take(cell)
    for k in sorted(candidates, key=lambda k: -stats[k, cv2.CC_STAT_AREA]):
        idx = (lab == k).nonzero()[0]
        est = fit_bin(points[idx[::max(1, len(idx) // max_points)]], prior, min_side=min_side, max_side=max_side,
                      max_wall_height=max_wall_height, in_view=in_view)
        if est is not None:
            return est, idx
    return None, np.zeros(0, np.intp)
