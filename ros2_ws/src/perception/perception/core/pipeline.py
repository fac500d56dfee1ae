"""RGB-D frame -> objects on the table: the perception core's entry point.

    perception = Perception(PerceptionConfig())
    result = perception.process(rgb, depth, K, T_base_optical, stamp)
    for obj in result.objects: obj.id, obj.label, obj.position, obj.yaw, obj.size, ...

Steps of ``process`` (one frame; Perception.last_timings has the seconds per stage):
1. Table plane: RANSAC (seeded) on a sub-sampled point cloud near the plane the
   configured camera pose predicts, refined by least squares. Its inliers' spread is the
   depth noise; above 0.8 mm the depth is median-filtered (3 x 3) before segmentation.
2. Camera pose: the configured pose turned and lifted so the observed plane is z = 0
   (geometry.camera_correction: height, roll, pitch); then, if the bin's walls are seen,
   turned about the vertical and shifted so they fall on the bin's configured footprint
   (landmarks.py: x, y, yaw). Reported always; used when correct_camera_bump.
3. White balance against the table's observed colour (colour.py).
4. Geometry first: every pixel's height above the plane; the points between
   min_object_height and max_height, outside the robot base's circle and the bin's
   footprint (grown by bin_margin), are projected onto the table and rasterised on a
   top-down grid; connected cells are one segment. Objects more than a few millimetres
   apart are separate, even where one hides part of the other in the image.
5. A segment whose pixels touch (in the image, with a depth step below
   robot_attach_distance) pixels above max_height is part of the robot arm, or held by
   it, and is dropped: the arm is the only thing that tall.
6. Colour second: a segment with two or more substantial palette colours (touching
   objects) is split by colour, then again by grid connectivity; pieces of one object
   that only differ in shading (same top height, one over the other's footprint) are
   merged back, and same-coloured segments that a nearer object cuts in two (in the
   image) are joined.
7. Per segment: box or cylinder, centre, yaw, size (fitting.py), colour name from its
   top face, confidence. An object standing on another gets its bottom at the other's top.
8. Tracking (tracking.py) gives stable ids.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from perception.core.colour import UNKNOWN, classify_colours, palette_model, white_balance_gains
from perception.core.config import PerceptionConfig, check_config
from perception.core.fitting import CUBE_TOLERANCE, fit_shape
from perception.core.geometry import (
    CameraCorrection,
    camera_correction,
    expected_table_plane,
    fit_plane_ransac,
    invert_transform,
    plane_in_frame,
    rays_from_intrinsics,
)
from perception.core.landmarks import register_bin
from perception.core.tracking import Detection, Tracker

NOISE_SMOOTH_THRESHOLD = 0.0008  # m: depth noisier than this is median-filtered
MEDIAN_KERNEL = 3  # px: a 5 x 5 median rounds small boxes' corners into discs
SMOOTHED_NOISE_FACTOR = 0.55  # the 3 x 3 median leaves about this fraction of the noise
MERGE_TOP_DIFFERENCE = 0.01  # m: colour pieces with tops closer than this may be one object
MERGE_OVERLAP = 0.5  # fraction of a piece's points over the other piece's footprint
OCCLUSION_STEP = 0.005  # m: a neighbour this much nearer hides the object's outline
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_SQUARE = np.ones((3, 3), np.uint8)
BIN_SEARCH_MARGIN = 0.04  # m around the bin's configured footprint searched for its walls
BIN_POINTS = 400  # at most this many wall points are registered
BIN_STRIDE = 3  # px between the sampled pixels of the bin's image box
BIN_TOP_MARGIN = 0.004  # m below the wall top: points lower are on the walls' vertical faces
_EYE3 = np.eye(3)
STACK_MIN_STEP = 0.015  # m: an object whose top is this much above another's, over it, stands on it


@dataclass(slots=True)
class ObjectEstimate:
    """One object on the table, in the base frame.

    id: stable track id ("obj_<n>"). label: "<colour name> <cube|box|cylinder>".
    colour_name: a palette name or "unknown". shape: "box" or "cylinder".
    position: (3,) centre of the whole object, m. yaw: rad about z of the box's x axis
    (size[0] along it; 0 for cylinders). size: (3,) extents along the object's x, y, z, m
    (cylinder: diameter, diameter, height). mean_rgb: (3,) mean colour of its visible
    pixels after white balance, 0..1. confidence: 0..1. pixels: visible pixels.
    """

    id: str
    label: str
    colour_name: str
    shape: str
    position: np.ndarray
    yaw: float
    size: np.ndarray
    mean_rgb: np.ndarray
    confidence: float
    pixels: int = 0


@dataclass(slots=True)
class PerceptionResult:
    """Everything seen in one frame.

    objects: on the table, outside the bin, not part of the robot; sorted by id number.
    table_plane: (4,) a, b, c, d in the base frame (the frame objects are given in: with
      the camera correction applied it is z = 0), or None when no table was found.
    camera_correction: the bumped-camera estimate (None without a table).
    warnings: what went wrong or looks odd in this frame, one sentence each.
    stamp: s. white_balance: (3,) the gains applied. label_image: (H, W) int32, k > 0 on
    the pixels of objects[k - 1] (only with process(..., with_labels=True)).
    """

    objects: list[ObjectEstimate]
    table_plane: np.ndarray | None
    camera_correction: CameraCorrection | None
    warnings: list[str]
    stamp: float
    white_balance: np.ndarray = field(default_factory=lambda: np.ones(3))
    label_image: np.ndarray | None = None


def check_frame(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T_base_optical: np.ndarray, stamp: float) -> None:
    """Raise ValueError naming the problem if the frame cannot be processed."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 array, got {_describe(rgb)}")
    if not isinstance(depth, np.ndarray) or depth.ndim != 2 or depth.dtype not in (np.float32, np.float64):
        raise ValueError(f"depth must be an (H, W) float32 array in metres, got {_describe(depth)}")
    if depth.shape != rgb.shape[:2]:
        raise ValueError(f"rgb is {rgb.shape[1]}x{rgb.shape[0]} but depth is {depth.shape[1]}x{depth.shape[0]}; "
                         f"they must be registered images of the same size")
    if min(depth.shape) < 16:
        raise ValueError(f"image of {depth.shape[1]}x{depth.shape[0]} pixels is too small (16x16 at least)")
    K = np.asarray(K, dtype=float)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be a finite (3, 3) intrinsic matrix with fx, fy > 0, got {np.round(K, 3).tolist()}")
    T = np.asarray(T_base_optical, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"T_base_optical must be a finite (4, 4) transform, got shape {T.shape}")
    if not np.all(np.abs(T[:3, :3] @ T[:3, :3].T - _EYE3) <= 1e-4 + 1e-5 * _EYE3) or np.linalg.det(T[:3, :3]) < 0:
        raise ValueError("T_base_optical's rotation part is not a rotation matrix")
    if not math.isfinite(stamp):
        raise ValueError(f"stamp must be finite seconds, got {stamp!r}")


def _points_in_frame(z: np.ndarray, rx: np.ndarray, ry: np.ndarray, u: np.ndarray, v: np.ndarray,
                     T: np.ndarray) -> np.ndarray:
    """(N, 3) float32 points of pixels (u, v) at depths z (N,) in the frame T maps the optical
    frame into; rays are separable, so each coordinate costs two gathers."""
    R, t = T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32)
    out = np.empty((len(z), 3), np.float32)
    for k in range(3):
        out[:, k] = z * ((R[k, 0] * rx)[u] + (R[k, 1] * ry + R[k, 2])[v]) + t[k]
    return out


def _rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a[idx] for an (N, k) array and an index array: np.take gathers whole rows several
    times faster than fancy indexing."""
    return np.take(a, idx, axis=0)


def _column_medians(a: np.ndarray) -> np.ndarray:
    """np.median(a, axis=0) of an (N, k) integer array, N >= 1, column by column with
    np.partition (the same values, without np.median's overhead on a narrow array)."""
    n = len(a)
    k = n // 2
    out = np.empty(a.shape[1])
    for j in range(a.shape[1]):
        col = np.ascontiguousarray(a[:, j])
        if n % 2:
            out[j] = np.partition(col, k)[k]
        else:
            part = np.partition(col, (k - 1, k))
            out[j] = (float(part[k - 1]) + float(part[k])) / 2.0
    return out


def _quantile(a: np.ndarray, q: float) -> float:
    """np.percentile(a, 100 q) (linear interpolation; equal up to float rounding) of a
    non-empty 1-D array, by np.partition: far less overhead on one segment's small arrays."""
    pos = q * (len(a) - 1)
    k = min(int(pos), len(a) - 1)
    if k + 1 >= len(a):
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k, k + 1))
    lo, hi = float(part[k]), float(part[k + 1])
    return lo + (hi - lo) * (pos - k)


def _min_max_xy(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2,) minimum and (2,) maximum of the x and y columns of (N, >= 2) points. Column by
    column: numpy reduces a narrow (N, k) array along axis 0 an order of magnitude slower."""
    x, y = P[:, 0], P[:, 1]
    return np.array([x.min(), y.min()]), np.array([x.max(), y.max()])


class _Clock:
    """Seconds spent per named stage (Perception.last_timings)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + t - self._t
        self._t = t


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__


def shape_word(shape: str, size: np.ndarray) -> str:
    """"cube" for a box whose sides are within 15 % of each other, else the shape."""
    if shape == "box" and float(np.max(size) - np.min(size)) <= CUBE_TOLERANCE * float(np.max(size)):
        return "cube"
    return shape


class Perception:
    """The perception core: ``process`` one RGB-D frame after another (see module docstring).

    Keeps the trackers' state between frames; ``reset()`` forgets it (ids keep counting).
    """

    def __init__(self, config: PerceptionConfig | None = None) -> None:
        self.config = check_config(config or PerceptionConfig())
        c = self.config
        self._palette = palette_model(c.palette, c.min_chroma, c.min_saturation)
        self._tracker = Tracker(c.track_gate, c.track_memory)
        self._rays_key: tuple | None = None
        self._rays: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._last_stamp: float | None = None
        self.last_timings: dict[str, float] = {}  # seconds per stage of the last process() call
        self._scratch_arrays: dict[str, np.ndarray] = {}  # frame-sized work arrays, reused

    def reset(self) -> None:
        """Forget the tracks and the last stamp (e.g. after the world was reset)."""
        self._tracker.reset()
        self._last_stamp = None

    # -- helpers -------------------------------------------------------------------------
    def _scratch(self, name: str, shape: tuple[int, int], dtype) -> np.ndarray:
        """A frame-sized work array kept between frames (contents undefined): no per-frame
        allocation of megabyte temporaries. Valid only within one process() call."""
        a = self._scratch_arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._scratch_arrays[name] = np.empty(shape, dtype)
        return a

    def _pixel_rays(self, K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        key = (width, height, *np.asarray(K, dtype=float).ravel().tolist())
        if key != self._rays_key:
            self._rays = rays_from_intrinsics(K, width, height)
            self._rays_key = key
        return self._rays

    def _classify(self, rgb01: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        return classify_colours(rgb01, self._palette, min_chroma=c.min_chroma, min_saturation=c.min_saturation,
                                max_hue_error_deg=c.max_hue_error_deg if strict else None,
                                max_value_error=c.max_value_error if strict else None)

    def _grid_components(self, xy: np.ndarray) -> list[np.ndarray]:
        """Index arrays of the groups of (N, >= 2) xy points that are connected on the top-down grid."""
        res = self.config.grid_resolution
        lo = _min_max_xy(xy)[0] - 2 * res
        gi = ((xy[:, 0] - lo[0]) / res).astype(np.int32)
        gj = ((xy[:, 1] - lo[1]) / res).astype(np.int32)
        shape = (int(gj.max()) + 3, int(gi.max()) + 3)
        grid = np.zeros(shape, np.uint8)
        grid[gj, gi] = 1
        grid = cv2.dilate(grid, _SQUARE)
        n, labels = cv2.connectedComponents(grid, connectivity=4)
        lab = labels[gj, gi]
        order = np.argsort(lab, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(lab, minlength=n))])
        return [order[bounds[k]:bounds[k + 1]] for k in range(1, n) if bounds[k + 1] > bounds[k]]

    def _touches_robot(self, v: np.ndarray, u: np.ndarray, z: np.ndarray, high: np.ndarray,
                       depth: np.ndarray) -> bool:
        """True if a pixel of the segment (v, u rows/cols, z depths) is a 4-neighbour of a pixel
        above max_height (`high`) at a depth within robot_attach_distance."""
        h, w = high.shape
        r0, r1 = max(int(v.min()) - 1, 0), min(int(v.max()) + 2, h)
        c0, c1 = max(int(u.min()) - 1, 0), min(int(u.max()) + 2, w)
        hm = high[r0:r1, c0:c1]
        if not hm.any():
            return False
        dz = np.full(hm.shape, np.nan, np.float32)
        dz[v - r0, u - c0] = z
        dh = np.where(hm, depth[r0:r1, c0:c1], np.nan)
        tol = self.config.robot_attach_distance
        a, b = np.s_[:, :-1], np.s_[:, 1:]
        c, d = np.s_[:-1, :], np.s_[1:, :]
        with np.errstate(invalid="ignore"):
            return bool(np.any(np.abs(dz[a] - dh[b]) < tol) or np.any(np.abs(dz[b] - dh[a]) < tol)
                        or np.any(np.abs(dz[c] - dh[d]) < tol) or np.any(np.abs(dz[d] - dh[c]) < tol))

    def _split_by_colour(self, idx: np.ndarray, cls: np.ndarray, P: np.ndarray) -> list[np.ndarray]:
        """Split one geometric segment (indices into the candidate arrays) into single-colour
        pieces when it holds two or more substantial colours (see the module docstring)."""
        c = self.config
        hist = np.bincount(cls[idx], minlength=len(self._palette.names))
        significant = np.flatnonzero(hist >= max(c.min_pixels, 0.02 * len(idx)))
        if len(significant) <= 1:
            return [idx]
        pieces = []
        for k in significant:
            sub = idx[cls[idx] == k]
            pieces.extend(sub[part] for part in self._grid_components(_rows(P, sub)) if len(part) >= c.min_pixels)
        if len(pieces) <= 1:
            return pieces or [idx]
        return self._merge_pieces(pieces, P)

    def _join_occluded(self, segments: list[np.ndarray], cls: np.ndarray, P: np.ndarray, v: np.ndarray,
                       u: np.ndarray, z: np.ndarray, depth: np.ndarray) -> list[np.ndarray]:
        """Join segments that are one object cut in two by a nearer object: the same main
        colour, tops within MERGE_TOP_DIFFERENCE / 2, together within max_object_size, and
        every pixel on the image line between their centres either theirs or nearer."""
        if len(segments) <= 1:
            return segments
        c = self.config
        n_col = len(self._palette.names)
        main = [int(np.argmax(np.bincount(cls[seg[::4]], minlength=n_col))) for seg in segments]
        if len(set(main)) == len(main):
            return segments  # no two segments of one colour: nothing to join
        info = []
        for seg, colour in zip(segments, main, strict=True):
            Ps = _rows(P, seg)
            k = int(0.9 * (len(seg) - 1))
            info.append((colour, float(np.partition(Ps[:, 2], k)[k]), *_min_max_xy(Ps)))
        parent = list(range(len(segments)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        h, w = depth.shape
        for i in range(len(segments)):
            for j in range(i + 1, len(segments)):
                (ci, ti, loi, hii), (cj, tj, loj, hij) = info[i], info[j]
                if ci != cj or abs(ti - tj) > MERGE_TOP_DIFFERENCE / 2 or root(i) == root(j):
                    continue
                if np.any(np.maximum(hii, hij) - np.minimum(loi, loj) > c.max_object_size):
                    continue
                a, b = segments[i], segments[j]
                ends = [(float(v[q].mean()), float(u[q].mean()), float(np.median(z[q]))) for q in (a, b)]
                n = int(max(abs(ends[0][0] - ends[1][0]), abs(ends[0][1] - ends[1][1]))) + 2
                t = np.linspace(0.0, 1.0, n)
                lv = np.clip(np.rint(ends[0][0] + t * (ends[1][0] - ends[0][0])).astype(int), 0, h - 1)
                lu = np.clip(np.rint(ends[0][1] + t * (ends[1][1] - ends[0][1])).astype(int), 0, w - 1)
                both = np.concatenate([a, b])
                r0, c0 = min(int(v[both].min()), int(lv.min())), min(int(u[both].min()), int(lu.min()))
                own = np.zeros((max(int(v[both].max()), int(lv.max())) - r0 + 1,
                                max(int(u[both].max()), int(lu.max())) - c0 + 1), bool)
                own[v[both] - r0, u[both] - c0] = True
                with np.errstate(invalid="ignore"):
                    nearer = depth[lv, lu] < min(ends[0][2], ends[1][2]) - OCCLUSION_STEP
                if np.all(own[lv - r0, lu - c0] | nearer):
                    parent[root(j)] = root(i)
        groups: dict[int, list[np.ndarray]] = {}
        for i, seg in enumerate(segments):
            groups.setdefault(root(i), []).append(seg)
        return [np.concatenate(g) for g in groups.values()]

    def _merge_pieces(self, pieces: list[np.ndarray], P: np.ndarray) -> list[np.ndarray]:
        """Merge colour pieces that are one object in different shading: tops within
        MERGE_TOP_DIFFERENCE and most of one piece's points over the other's footprint cells."""
        res = self.config.grid_resolution
        rows = [_rows(P, p) for p in pieces]
        lo = np.min([_min_max_xy(r)[0] for r in rows], axis=0) - 2 * res
        cells = [((r[:, :2] - lo) / res).astype(np.int32) for r in rows]
        shape = (max(int(c[:, 1].max()) for c in cells) + 3, max(int(c[:, 0].max()) for c in cells) + 3)
        masks = []
        for c in cells:
            m = np.zeros(shape, np.uint8)
            m[c[:, 1], c[:, 0]] = 1
            masks.append(cv2.dilate(m, _SQUARE))
        tops = [_quantile(r[:, 2], 0.9) for r in rows]
        parent = list(range(len(pieces)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        for i in range(len(pieces)):
            for j in range(i + 1, len(pieces)):
                if abs(tops[i] - tops[j]) > MERGE_TOP_DIFFERENCE:
                    continue
                over_i = masks[j][cells[i][:, 1], cells[i][:, 0]].mean()
                over_j = masks[i][cells[j][:, 1], cells[j][:, 0]].mean()
                if max(over_i, over_j) > MERGE_OVERLAP:
                    parent[root(j)] = root(i)
        groups: dict[int, list[np.ndarray]] = {}
        for i, p in enumerate(pieces):
            groups.setdefault(root(i), []).append(p)
        return [np.concatenate(g) for g in groups.values()]

    def _register_bin(self, depth: np.ndarray, K: np.ndarray, rx: np.ndarray, ry: np.ndarray,
                      T_table_optical: np.ndarray) -> np.ndarray | None:
        """(4, 4) horizontal fix of the table frame from the bin's walls (landmarks.py), or None.
        Samples every BIN_STRIDE-th pixel of the bin's image box (its footprint plus a margin, up to
        the wall top, projected through the current camera pose)."""
        c = self.config
        h, w = depth.shape
        cy, sy = math.cos(c.bin_yaw), math.sin(c.bin_yaw)
        hx, hy = c.bin_size[0] / 2 + BIN_SEARCH_MARGIN, c.bin_size[1] / 2 + BIN_SEARCH_MARGIN
        corners = np.array([[c.bin_center[0] + cy * a - sy * b, c.bin_center[1] + sy * a + cy * b, z]
                            for a in (-hx, hx) for b in (-hy, hy) for z in (0.0, c.bin_wall_height)])
        T_opt = invert_transform(T_table_optical)
        q = corners @ T_opt[:3, :3].T + T_opt[:3, 3]
        if np.any(q[:, 2] <= 0.01):
            return None
        uu = K[0, 0] * q[:, 0] / q[:, 2] + K[0, 2]
        vv = K[1, 1] * q[:, 1] / q[:, 2] + K[1, 2]
        u0, u1 = max(int(uu.min()), 0), min(int(uu.max()) + 1, w)
        v0, v1 = max(int(vv.min()), 0), min(int(vv.max()) + 1, h)
        if u1 - u0 < 10 or v1 - v0 < 10:
            return None
        sub = depth[v0:v1:BIN_STRIDE, u0:u1:BIN_STRIDE]
        fl = np.flatnonzero(np.isfinite(sub))
        sv, su = np.divmod(fl, sub.shape[1])
        P = _points_in_frame(sub.ravel()[fl], rx[u0:u1:BIN_STRIDE], ry[v0:v1:BIN_STRIDE], su, sv, T_table_optical)
        dx, dy = P[:, 0] - c.bin_center[0], P[:, 1] - c.bin_center[1]
        bu, bv = cy * dx + sy * dy, -sy * dx + cy * dy
        near = np.flatnonzero((np.abs(bu) <= hx) & (np.abs(bv) <= hy) & (P[:, 2] > c.min_object_height)
                              & (P[:, 2] < c.bin_wall_height - BIN_TOP_MARGIN))
        if len(near) < 100:
            return None
        near = near[::max(1, len(near) // BIN_POINTS)]
        reg = register_bin(P[near, :2], c.bin_center, c.bin_yaw, c.bin_size, c.bin_wall_thickness,
                           T_table_optical[:2, 3])
        return None if reg is None else reg.T_fix

    def _outline(self, v: np.ndarray, u: np.ndarray, z: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(edge, visible) (n,) bool: the segment's pixels (v rows, u cols, z depths) on its image
        outline, and those of them not on the image border whose outside neighbours are not
        nearer (an occluder) by more than OCCLUSION_STEP."""
        h, w = depth.shape
        r0, r1 = max(int(v.min()) - 2, 0), min(int(v.max()) + 3, h)
        c0, c1 = max(int(u.min()) - 2, 0), min(int(u.max()) + 3, w)
        lv, lu = v - r0, u - c0
        mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
        mask[lv, lu] = 1
        # Pixels without depth (dropouts) leave holes: closed first, so that only the real
        # outline counts as edge.
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _SQUARE, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        inner = cv2.erode(closed, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        edge = inner[lv, lu] == 0
        # Nearest outside neighbour depth: outside pixels keep their depth, inside ones +inf.
        outside = depth[r0:r1, c0:c1].copy()
        outside[lv, lu] = np.inf
        outside[np.isnan(outside)] = np.inf
        nearest = cv2.erode(outside, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)
        # The image border cuts an object as an occluder would.
        border = (v == 0) | (u == 0) | (v == h - 1) | (u == w - 1)
        return edge, edge & ~(nearest[lv, lu] < z - OCCLUSION_STEP) & ~border

    # -- the frame -----------------------------------------------------------------------
    def process(self, rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T_base_optical: np.ndarray,
                stamp: float, *, with_labels: bool = False) -> PerceptionResult:
        """Objects in one frame. rgb (H, W, 3) uint8; depth (H, W) float32 m along the optical
        axis, NaN = no return; K (3, 3); T_base_optical (4, 4) the configured camera pose;
        stamp s (not older than the previous frame's). Raises ValueError for a frame that
        cannot be processed (shapes, types, too little valid depth, out-of-order stamp)."""
        c = self.config
        check_frame(rgb, depth, K, T_base_optical, stamp)
        if self._last_stamp is not None and stamp < self._last_stamp:
            raise ValueError(f"stamp {stamp:.3f} s is older than the previous frame's {self._last_stamp:.3f} s; "
                             f"frames must come in time order (reset() after a jump back)")
        depth = np.asarray(depth, dtype=np.float32)
        K = np.asarray(K, dtype=float)
        T_conf = np.asarray(T_base_optical, dtype=float)
        H, W = depth.shape
        finite = np.isfinite(depth, out=self._scratch("finite", depth.shape, bool))
        valid = np.count_nonzero(finite) / depth.size
        if valid < c.min_valid_depth_fraction:
            raise ValueError(f"only {valid:.1%} of the depth pixels have a return (at least "
                             f"{c.min_valid_depth_fraction:.0%} needed): no usable depth in this frame")
        rx, ry = self._pixel_rays(K, W, H)
        warnings: list[str] = []

        clock = _Clock()
        # 1. Table plane on a sub-sampled cloud near the expected plane.
        s = c.plane_stride
        sub = depth[s // 2::s, s // 2::s]
        sv, su = np.nonzero(np.isfinite(sub))
        sz = sub[sv, su]
        pts = np.column_stack([rx[s // 2::s][su] * sz, ry[s // 2::s][sv] * sz, sz]).astype(np.float64)
        prior = expected_table_plane(T_conf)
        near = np.abs(pts @ prior[:3] + prior[3]) < c.plane_max_offset
        fit = fit_plane_ransac(pts[near], np.random.default_rng(c.seed), tolerance=c.plane_tolerance,
                               iterations=c.ransac_iterations, prior=prior, max_tilt=math.radians(c.plane_max_tilt_deg),
                               max_offset=c.plane_max_offset)
        gains = np.ones(3)
        if fit is None:
            plane_o, noise, correction = prior, 0.0, None
            T_table_optical = T_conf
            T_base_table = np.eye(4)
            warnings.append(f"table plane not found (no plane within {c.plane_max_tilt_deg:g} deg and "
                            f"{c.plane_max_offset:g} m of the configured one); using the configured camera pose")
        else:
            plane_o, noise = fit.plane, fit.noise
            correction = camera_correction(T_conf, plane_o, height_threshold=c.bump_height_threshold,
                                           angle_threshold=math.radians(c.bump_angle_threshold_deg),
                                           applied=c.correct_camera_bump)
            T_table_optical = correction.T_corrected
            T_base_table = np.eye(4) if c.correct_camera_bump else T_conf @ invert_transform(T_table_optical)
            # 3. White balance from the table's inlier pixels.
            if c.white_balance:
                iv = sv[near][fit.inliers] * s + s // 2
                iu = su[near][fit.inliers] * s + s // 2
                table_rgb = _column_medians(rgb[iv, iu]) / 255.0
                gains, why = white_balance_gains(table_rgb, np.asarray(c.table_rgb), c.max_cast)
                if why:
                    warnings.append(why)

        clock.lap("plane")
        # 4. Heights above the plane; candidates between min_object_height and max_height.
        depth_f = depth
        if noise > NOISE_SMOOTH_THRESHOLD:
            depth_f = cv2.medianBlur(np.where(finite, depth, 0.0).astype(np.float32), MEDIAN_KERNEL)
            depth_f[~finite] = np.nan
            noise *= SMOOTHED_NOISE_FACTOR
        n_o = plane_o[:3].astype(np.float32)
        # One full-frame pass per operation, in place (the frame-sized temporaries dominate).
        height = np.add((n_o[0] * rx)[None, :], (n_o[1] * ry + n_o[2])[:, None],
                        out=self._scratch("height", (H, W), np.float32))
        with np.errstate(invalid="ignore"):
            height *= depth_f
            height += np.float32(plane_o[3])
            cand = np.greater(height, c.min_object_height, out=self._scratch("cand", (H, W), bool))
            cand &= np.less(height, c.max_height, out=self._scratch("below", (H, W), bool))
            high = np.greater_equal(height, c.max_height, out=self._scratch("high", (H, W), bool))
        flat = np.flatnonzero(cand)  # (faster than a 2-D np.nonzero)
        vs = flat // W
        us = flat - vs * W
        objects: list[ObjectEstimate] = []
        segments: list[np.ndarray] = []
        zc = np.take(depth_f, flat)
        clock.lap("heights")
        if correction is not None and c.correct_camera_bump and c.register_bin and min(c.bin_size) > 0 and len(zc):
            T_fix = self._register_bin(depth_f, K, rx, ry, T_table_optical)
            if T_fix is not None:
                correction = correction.with_registration(
                    T_fix, T_conf, c.bump_height_threshold, math.radians(c.bump_angle_threshold_deg))
                T_table_optical = correction.T_corrected
        # The candidates' points in the (registered) table frame.
        R_to, t_to = T_table_optical[:3, :3], T_table_optical[:3, 3]
        P = _points_in_frame(zc, rx, ry, us, vs, T_table_optical)
        if correction is not None and correction.bumped:
            warnings.append(
                f"camera appears bumped: height {correction.height_error * 1e3:+.1f} mm, roll "
                f"{math.degrees(correction.roll_error):+.2f} deg, pitch {math.degrees(correction.pitch_error):+.2f} deg"
                + (f", x {correction.x_error * 1e3:+.1f} mm, y {correction.y_error * 1e3:+.1f} mm, yaw "
                   f"{math.degrees(correction.yaw_error):+.2f} deg" if correction.registered else "")
                + " (configured minus observed); "
                + ("corrected" if c.correct_camera_bump else "not corrected (correct_camera_bump is false)"))
        clock.lap("bin_registration")
        if len(P):
            P_base = P if c.correct_camera_bump else P @ T_base_table[:3, :3].T + T_base_table[:3, 3]
            keep = np.ones(len(P), bool)
            if c.robot_exclusion_radius > 0:
                keep &= P_base[:, 0] ** 2 + P_base[:, 1] ** 2 > c.robot_exclusion_radius ** 2
            if min(c.bin_size) > 0:
                cy, sy = math.cos(c.bin_yaw), math.sin(c.bin_yaw)
                dx, dy = P_base[:, 0] - c.bin_center[0], P_base[:, 1] - c.bin_center[1]
                bu, bv = cy * dx + sy * dy, -sy * dx + cy * dy
                keep &= ~((np.abs(bu) <= c.bin_size[0] / 2 + c.bin_margin)
                          & (np.abs(bv) <= c.bin_size[1] / 2 + c.bin_margin))
            kept_idx = np.flatnonzero(keep)
            flat, vs, us, zc, P = flat[kept_idx], vs[kept_idx], us[kept_idx], zc[kept_idx], _rows(P, kept_idx)
        if len(P):
            rgb01 = np.clip(_rows(rgb.reshape(-1, 3), flat).astype(np.float32)
                            * (gains / 255.0).astype(np.float32), 0.0, 1.0)
            cls, _ = self._classify(rgb01, strict=False)
            cls[cls < 0] = 0
            robot_parts = 0
            for idx in self._grid_components(P[:, :2]):
                if len(idx) < c.min_pixels:
                    continue
                if self._touches_robot(vs[idx], us[idx], zc[idx], high, depth_f):
                    robot_parts += 1
                    continue
                segments.extend(self._split_by_colour(idx, cls, P))
            clock.lap("segmentation")
            segments = self._join_occluded(segments, cls, P, vs, us, zc, depth_f)
            objects, kept = self._fit_segments(segments, vs, us, P, rx, ry, zc, rgb01, R_to, t_to, K, noise,
                                               T_base_table, depth_f, warnings)
            segments = [segments[i] for i in kept]
            clock.lap("fitting")

        # 8. Tracking.
        ids = self._tracker.update(
            [Detection(o.position, o.colour_name, o.shape, o.size) for o in objects], stamp)
        for o, tid in zip(objects, ids, strict=True):
            o.id = tid
        order = sorted(range(len(objects)), key=lambda i: int(objects[i].id.rsplit("_", 1)[-1]))
        objects = [objects[i] for i in order]
        label_image = None
        if with_labels:
            label_image = np.zeros((H, W), np.int32)
            for k, i in enumerate(order):
                label_image[vs[segments[i]], us[segments[i]]] = k + 1
        clock.lap("tracking")
        self.last_timings = clock.laps
        self._last_stamp = stamp
        table_plane = None if fit is None else plane_in_frame(plane_o, T_base_table @ T_table_optical)
        return PerceptionResult(objects=objects, table_plane=table_plane, camera_correction=correction,
                                warnings=warnings, stamp=float(stamp), white_balance=np.asarray(gains, float),
                                label_image=label_image)

    def _fit_segments(self, segments, vs, us, P, rx, ry, zc, rgb01, R_to, t_to, K, noise, T_base_table,
                      depth_f, warnings) -> tuple[list[ObjectEstimate], list[int]]:
        """ObjectEstimates (ids not yet assigned) of the segments that look like objects, and
        the indices of those segments. rx (W,), ry (H,): the pixel rays (geometry.rays_from_intrinsics)."""
        c = self.config
        fits, kept = [], []
        top_tol = max(0.0005, 2.5 * noise)
        core_tol = max(0.0005, 1.0 * noise)
        fx = float(K[0, 0])
        R32 = R_to.astype(np.float32)
        for i, seg in enumerate(segments):
            z, v, u = zc[seg], vs[seg], us[seg]
            rays_t = np.empty((len(seg), 3), np.float32)  # the optical rays (rx, ry, 1) turned into the table frame
            ru, rv = rx[u], ry[v]
            for k in range(3):
                rays_t[:, k] = R32[k, 0] * ru + R32[k, 1] * rv + R32[k, 2]
            pixel_size = float(z.mean()) / fx
            edge, outline = self._outline(v, u, z, depth_f)
            fit = fit_shape(_rows(P, seg), rays_t, t_to, outline, edge_mask=edge, top_tolerance=top_tol,
                            pixel_size=pixel_size, core_tolerance=core_tol)
            if fit is None:
                continue
            sx, sy = float(fit.size[0]), float(fit.size[1])
            if max(sx, sy) > c.max_object_size:
                cx, cy = fit.centre_xy
                warnings.append(f"ignored a {sx * 100:.1f} x {sy * 100:.1f} cm {fit.shape} footprint at "
                                f"({cx:.3f}, {cy:.3f}) m: larger than max_object_size {c.max_object_size:g} m "
                                f"(touching objects of one colour?)")
                continue
            if min(sx, sy) < c.min_object_size or fit.top < c.min_object_height:
                continue
            fits.append((i, fit))
        # An object over another, clearly higher, stands on it.
        bottoms = [0.0] * len(fits)
        for a, (_, fa) in enumerate(fits):
            for b, (_, fb) in enumerate(fits):
                if a != b and fa.top > fb.top + STACK_MIN_STEP and \
                        np.hypot(*(fa.centre_xy - fb.centre_xy)) < 0.5 * min(fb.size[0], fb.size[1]):
                    bottoms[a] = max(bottoms[a], fb.top)
        R_bt, t_bt = T_base_table[:3, :3], T_base_table[:3, 3]
        yaw_offset = math.atan2(R_bt[1, 0], R_bt[0, 0])
        # Colour names from the top faces (evenly lit), all objects in one call.
        mean_rgb, name_rgb = np.zeros((len(fits), 3)), np.zeros((len(fits), 3))
        for j, (i, fit) in enumerate(fits):
            colours = _rows(rgb01, segments[i]).astype(np.float64)
            mean_rgb[j] = np.ones(len(colours)) @ colours / len(colours)  # a BLAS mean of the rows
            n_top = np.count_nonzero(fit.top_mask)
            name_rgb[j] = fit.top_mask @ colours / n_top if n_top >= 10 else mean_rgb[j]
        names, errors = self._classify(name_rgb, strict=True) if fits else (np.zeros(0, int), np.zeros(0))
        objects = []
        for j, ((i, fit), bottom) in enumerate(zip(fits, bottoms, strict=True)):
            colour_name = self._palette.names[names[j]] if names[j] >= 0 else UNKNOWN
            size = fit.size.copy()
            size[2] = fit.top - bottom
            centre_t = np.array([fit.centre_xy[0], fit.centre_xy[1], (fit.top + bottom) / 2.0])
            position = R_bt @ centre_t + t_bt
            yaw = fit.yaw + yaw_offset if fit.shape == "box" else 0.0
            if fit.shape == "box":
                yaw = (yaw + math.pi / 2) % math.pi - math.pi / 2
            confidence = self._confidence(len(segments[i]), fit.boxness, colour_name, float(errors[j]))
            label = f"{colour_name} {shape_word(fit.shape, size)}"
            objects.append(ObjectEstimate(id="", label=label, colour_name=colour_name, shape=fit.shape,
                                          position=position, yaw=float(yaw), size=size, mean_rgb=mean_rgb[j],
                                          confidence=confidence, pixels=len(segments[i])))
            kept.append(i)
        return objects, kept

    def _confidence(self, pixels: int, boxness: float, colour_name: str, error: float) -> float:
        """0..1 from pixel support, how clearly the outline is a rectangle or a circle, and the colour match."""
        c = self.config
        support = min(1.0, pixels / (4.0 * c.min_pixels))
        clarity = min(1.0, abs(boxness - 0.5) / 0.25)
        if colour_name == UNKNOWN:
            colour = 0.3
        elif self._palette.chromatic[self._palette.names.index(colour_name)]:
            colour = 1.0 - 0.5 * min(1.0, error / c.max_hue_error_deg)
        else:
            colour = 1.0 - 0.5 * min(1.0, error / c.max_value_error)
        return float(round(support * (0.5 + 0.5 * clarity) * colour, 3))
