"""RGB-D frame -> objects on the table: the perception core's entry point.

    perception = Perception(PerceptionConfig())
    result = perception.process(rgb, depth, K, T_base_optical, stamp)
    for obj in result.objects: obj.id, obj.label, obj.position, obj.yaw, obj.size, ...

Steps of ``process`` (one frame; Perception.last_timings has the seconds per stage):
1. Table plane: RANSAC (seeded) on a sub-sampled point cloud near the plane the
   configured camera pose predicts, refined by least squares. Its inliers' spread is the
   depth noise; above 0.8 mm the depth is median-filtered (3 x 3) before segmentation.
2. Camera pose: the configured pose turned and lifted so the observed plane is z = 0
   (geometry.camera_correction: height, roll, pitch); then, if the bin is perceived
   (bin_detection.py) within what a bump explains of its configured pose, turned about
   the vertical and shifted so its walls fall on the configured footprint (landmarks.py:
   x, y, yaw); a bin seen farther away has moved and corrects nothing. Reported always;
   used when correct_camera_bump.
3. White balance (colour.estimate_white_balance): the table's observed colour, and the
   robot's white links as an achromatic reference telling the table's paint (table_rgb
   is its prior) from the light's tint.
4. Geometry first: every pixel's height above the plane; the points between
   min_object_height and max_height, outside the robot base and the bin's walls (its
   footprint grown by bin_margin), are projected onto the table and rasterised on a
   top-down grid; connected cells are one segment. Points inside the bin's walls are
   segmented alike, apart: they are the bin's contents. Objects more than a few millimetres
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

``process`` runs these as named stage methods (_table_and_camera, _candidates,
_white_balance, _bin_and_registration, _segment_and_fit, _track); the segmentation
helpers of steps 4-7 are in segmentation.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from perception.core.arrays import column_medians, concatenated_runs, pixel_boxes, take_rows
from perception.core.bin_detection import BinEstimate, bin_pose_error, bin_prior, find_bin, track_bin
from perception.core.colour import (
    UNKNOWN,
    WhiteBalance,
    classify_colours,
    estimate_white_balance,
    palette_model,
    white_balance_gains,
)
from perception.core.config import PerceptionConfig, check_config
from perception.core.fitting import CUBE_TOLERANCE, fit_shape
from perception.core.geometry import (
    CameraCorrection,
    PlaneFit,
    camera_correction,
    expected_table_plane,
    fit_plane_ransac,
    invert_transform,
    plane_in_frame,
    rays_from_intrinsics,
)
from perception.core.landmarks import register_bin
from perception.core.segmentation import (
    grid_components,
    join_occluded,
    segment_outline,
    split_by_colour,
    touches_robot,
)
from perception.core.tracking import Detection, Tracker

NOISE_SMOOTH_THRESHOLD = 0.0008  # m: depth noisier than this is median-filtered
MEDIAN_KERNEL = 3  # px: a 5 x 5 median rounds small boxes' corners into discs
SMOOTHED_NOISE_FACTOR = 0.55  # the 3 x 3 median leaves about this fraction of the noise
BIN_SEARCH_MARGIN = 0.04  # m around the bin's configured footprint searched for its walls
BIN_POINTS = 400  # at most this many wall points are registered
BIN_STRIDE = 3  # px between the sampled pixels of the bin's image box
BIN_TOP_MARGIN = 0.004  # m below the wall top: points lower are on the walls' vertical faces
_EYE3 = np.eye(3)
_ROTATION_TOLERANCE = 1e-4 + 1e-5 * _EYE3  # of R R^T - I
STACK_MIN_STEP = 0.015  # m: an object whose top is this much above another's, over it, stands on it
ON_TABLE, IN_BIN, EXCLUDED = 0, 1, 2  # where a candidate point is (Perception._where)
ROBOT_STRIDE = 4  # px between the sampled pixels of the robot's white-balance reference (at 640 px wide)
BIN_FIT_POINTS = 2000  # at most this many points of a bin candidate are fitted


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
    bin: the bin (bin_detection.BinEstimate, base frame): perceived in this frame, or the
      configured prior (source "prior", with a warning) when it was not seen; None when no
      bin is configured (bin_size (0, 0)) and none was seen.
    bin_contents: objects standing inside the bin's walls (ids "bin_<k>", not tracked;
      size z measured from the table plane: the floor's thickness is not perceived). They
      are never in `objects`.
    table_rgb: (3,) the table's paint as perceived (its observed colour white-balanced),
      0..1, or None without a table. white_balance_reference: where the gains come from
      (colour.WhiteBalance.reference: "table_prior", "robot", "table_neutral", "none").
    """

    objects: list[ObjectEstimate]
    table_plane: np.ndarray | None
    camera_correction: CameraCorrection | None
    warnings: list[str]
    stamp: float
    white_balance: np.ndarray = field(default_factory=lambda: np.ones(3))
    label_image: np.ndarray | None = None
    bin: BinEstimate | None = None
    bin_contents: list[ObjectEstimate] = field(default_factory=list)
    table_rgb: np.ndarray | None = None
    white_balance_reference: str = "none"


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
    (a, b, c), (d, e, f), (g, h, i) = T[:3, :3].tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)  # np.linalg.det costs more than all else here
    if not np.all(np.abs(T[:3, :3] @ T[:3, :3].T - _EYE3) <= _ROTATION_TOLERANCE) or det < 0:
        raise ValueError("T_base_optical's rotation part is not a rotation matrix")
    if not math.isfinite(stamp):
        raise ValueError(f"stamp must be finite seconds, got {stamp!r}")


def _coordinate(k: int, z: np.ndarray, rx: np.ndarray, ry: np.ndarray, u: np.ndarray, v: np.ndarray,
                T: np.ndarray) -> np.ndarray:
    """(N,) float32 coordinate k (0 x, 1 y, 2 z) of the points of pixels (u, v) at depths z (N,)
    in the frame T maps the optical frame into; rays are separable, so it costs two gathers."""
    R, t = T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32)
    return z * ((R[k, 0] * rx).take(u) + (R[k, 1] * ry + R[k, 2]).take(v)) + t[k]


BIN_KEEP_SHIFT = 0.005  # m: a fit this near the bin seen before follows it (drift); farther, the walls decide


def _picture_test(T_frame_optical: np.ndarray, K: np.ndarray, shape: tuple[int, int], margin: int = 2):
    """in_view((M, 3) points of a frame whose camera pose is T_frame_optical) -> (M,) bool:
    in front of the camera and inside its (H, W) picture, `margin` pixels from its edges."""
    T = invert_transform(T_frame_optical)
    h, w = shape

    def in_view(points: np.ndarray) -> np.ndarray:
        q = np.asarray(points, dtype=float) @ T[:3, :3].T + T[:3, 3]
        z = q[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = K[0, 0] * q[:, 0] / z + K[0, 2]
            v = K[1, 1] * q[:, 1] / z + K[1, 2]
        return (z > 0.01) & (u >= margin) & (u <= w - 1 - margin) & (v >= margin) & (v <= h - 1 - margin)

    return in_view


def _points_in_frame(z: np.ndarray, rx: np.ndarray, ry: np.ndarray, u: np.ndarray, v: np.ndarray,
                     T: np.ndarray) -> np.ndarray:
    """(N, 3) float32 points of pixels (u, v) at depths z (N,) in the frame T maps the optical
    frame into (see _coordinate)."""
    out = np.empty((len(z), 3), np.float32)
    for k in range(3):
        out[:, k] = _coordinate(k, z, rx, ry, u, v, T)
    return out


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
    if shape == "box":
        sides = [float(x) for x in size]  # builtin max and min beat numpy's on three numbers
        if max(sides) - min(sides) <= CUBE_TOLERANCE * max(sides):
            return "cube"
    return shape


@dataclass(slots=True)
class _Table:
    """The table and the camera from it (Perception._table_and_camera). fit: the RANSAC fit or
    None; plane_o: (4,) the plane in the optical frame (the prior without a fit); noise: m,
    the depth noise; correction: the camera correction (None without a table); T_table_optical,
    T_base_table: (4, 4); observed: (3,) the table's observed colour 0..1, or None; gains: (3,)
    the white-balance gains (Perception._white_balance may replace them)."""

    fit: PlaneFit | None
    plane_o: np.ndarray
    noise: float
    correction: CameraCorrection | None
    T_table_optical: np.ndarray
    T_base_table: np.ndarray
    observed: np.ndarray | None
    gains: np.ndarray


@dataclass(slots=True)
class _Candidates:
    """The candidate pixels (Perception._candidates): depth_f (H, W) float32 m (median-filtered
    when noisy), noise m (after the filter), height (H, W) float32 m above the plane (NaN
    without depth); flat, vs, us, zc (N,): the candidates' flat indices, rows, columns, depths m."""

    depth_f: np.ndarray
    noise: float
    height: np.ndarray
    flat: np.ndarray
    vs: np.ndarray
    us: np.ndarray
    zc: np.ndarray


@dataclass(slots=True)
class _Cell:
    """The bin and the registered camera (Perception._bin_and_registration). P (N, 3) float32: the
    candidates in the table frame; Pb (N, 3): in the base frame; bin_est: the bin seen, or None;
    bin_used: the bin seen or the configured prior; correction, T_table_optical (4, 4): after
    the bin registration."""

    P: np.ndarray
    Pb: np.ndarray
    bin_est: BinEstimate | None
    bin_used: BinEstimate
    correction: CameraCorrection | None
    T_table_optical: np.ndarray


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
        self._prior_key: bytes | None = None
        self._prior = np.zeros(4)
        self._rays: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._last_stamp: float | None = None
        self.last_timings: dict[str, float] = {}  # seconds per stage of the last process() call
        self._scratch_arrays: dict[str, np.ndarray] = {}  # frame-sized work arrays, reused
        self._bin_prior = bin_prior(c.bin_center, c.bin_yaw, c.bin_size, c.bin_wall_height, c.bin_wall_thickness)
        self._last_bin: BinEstimate | None = None  # the last bin find_bin saw (confirm_bin checks it)
        self._last_T: np.ndarray | None = None  # the camera pose it was seen through

    def reset(self) -> None:
        """Forget the tracks, the last stamp and the last bin seen (e.g. after the world was reset)."""
        self._tracker.reset()
        self._last_stamp = None
        self._last_bin = None

    def rewind(self, stamp: float) -> None:
        """Time jumped back to `stamp` (s): frames from there on are in order again. Unlike
        reset() the tracks (and their ids) stay."""
        self._tracker.rewind(stamp)
        self._last_stamp = None

    # -- helpers -------------------------------------------------------------------------
    def _scratch(self, name: str, shape: tuple[int, int], dtype) -> np.ndarray:
        """A frame-sized work array kept between frames (contents undefined): no per-frame
        allocation of megabyte temporaries. Valid only within one process() call."""
        a = self._scratch_arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._scratch_arrays[name] = np.empty(shape, dtype)
        return a

    def _table_prior(self, T_base_optical: np.ndarray) -> np.ndarray:
        """The configured table plane (4,) in the optical frame (expected_table_plane), kept
        while the configured pose stays the same. Read-only."""
        key = T_base_optical.tobytes()
        if key != self._prior_key:
            self._prior = expected_table_plane(T_base_optical)
            self._prior.setflags(write=False)
            self._prior_key = key
        return self._prior

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

    def _robot_white(self, rgb: np.ndarray, height: np.ndarray) -> np.ndarray | None:
        """(3,) median colour (0..1) of the brighter half of the robot's pixels (above max_height:
        only the arm is that tall; sampled every ROBOT_STRIDE px at 640 px wide), or None when fewer than
        min_reference_pixels are seen. The Panda's links are white: an achromatic reference."""
        c = self.config
        s = max(1, ROBOT_STRIDE * rgb.shape[1] // 640)  # as many samples at any resolution
        with np.errstate(invalid="ignore"):
            robot = height[s // 2::s, s // 2::s] >= c.max_height
        n = int(np.count_nonzero(robot))
        if n < c.min_reference_pixels:
            return None
        px = rgb[s // 2::s, s // 2::s][robot].astype(np.int32)
        bright = px.sum(axis=1)
        px = px[bright >= np.median(bright)]
        if len(px) < c.min_reference_pixels // 2:
            return None
        return column_medians(px) / 255.0

    def _perceive_bin(self, P: np.ndarray, in_view=None) -> tuple[BinEstimate | None, bool]:
        """(the bin seen among the (N, 3) base-frame candidate points, or None; moved: it is
        farther from the configured bin than a camera bump explains, see PerceptionConfig).
        in_view: (M, 3) points of P's frame -> (M,) bool, in the camera's picture."""
        c = self.config
        if not c.perceive_bin or len(P) < 50:
            return None, False
        # Every other point: the walls stay connected on the raster, at half the cost.
        x, y = P[::2, 0], P[::2, 1]
        away = 2 * (x * x + y * y > c.robot_exclusion_radius ** 2).nonzero()[0]
        Pa = take_rows(P, away)
        est, _ = find_bin(Pa, self._bin_prior, min_side=c.bin_min_side, max_side=c.bin_max_side,
                          max_wall_height=c.bin_max_wall_height, max_points=BIN_FIT_POINTS, in_view=in_view)
        est, self._last_bin = track_bin(est, self._last_bin, Pa, BIN_KEEP_SHIFT)
        if est is None:
            return None, False
        prior = self._bin_prior
        if min(c.bin_size) <= 0:
            return est, True
        # Judged by the walls seen: a wall out of the image leaves its side's size unknown.
        d, size_change = est.face_offsets(prior)
        _, dyaw = bin_pose_error(est, prior)
        moved = d > c.bin_bump_max_shift or math.degrees(dyaw) > c.bin_bump_max_yaw_deg \
            or size_change > c.bin_bump_max_size_change
        return est, moved

    def _where(self, x: np.ndarray, y: np.ndarray, bin_est: BinEstimate | None) -> np.ndarray:
        """(N,) uint8 ON_TABLE, IN_BIN or EXCLUDED for base-frame points (x, y (N,) m): on the
        robot's base (robot_exclusion_radius, robot_base_footprint) or the bin's walls (its outer footprint grown by
        bin_margin, minus its inside shrunk by bin_contents_margin) they are excluded."""
        c = self.config
        where = np.zeros(len(x), np.uint8)
        if bin_est is not None:
            ho = (bin_est.outer_size[0] / 2 + c.bin_margin, bin_est.outer_size[1] / 2 + c.bin_margin)
            hi = (bin_est.inner_size[0] / 2 - c.bin_contents_margin, bin_est.inner_size[1] / 2 - c.bin_contents_margin)
            u, v = bin_est.local(x, y)
            au, av = np.abs(u), np.abs(v)
            where[(au <= ho[0]) & (av <= ho[1])] = EXCLUDED
            where[(au <= hi[0]) & (av <= hi[1])] = IN_BIN
        if c.robot_exclusion_radius > 0:
            where[x ** 2 + y ** 2 <= c.robot_exclusion_radius ** 2] = EXCLUDED
        x0, x1, y0, y1 = c.robot_base_footprint
        if x1 > x0 and y1 > y0:
            where[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)] = EXCLUDED
        return where

    def _objects_among(self, sub: np.ndarray, P, vs, us, zc, cls, rgb01, height, depth_f, rx, ry, R_to, t_to, K,
                       noise, T_base_table, warnings) -> tuple[list[ObjectEstimate], list[np.ndarray]]:
        """Objects (ids not assigned) among the candidates `sub` (indices into the candidate
        arrays) and their segments (index arrays into the same): steps 4-7 of the module docstring."""
        c = self.config
        if len(sub) == 0:
            return [], []
        segments: list[np.ndarray] = []
        n_colours = len(self._palette.names)
        parts = [sub[idx] for idx in grid_components(take_rows(P, sub)[:, :2], c.grid_resolution)
                 if len(idx) >= c.min_pixels]
        order, starts = concatenated_runs(parts)
        for idx, box in zip(parts, pixel_boxes(vs.take(order), us.take(order), starts), strict=True):
            if touches_robot(idx, box, vs, us, zc, height, depth_f, c.max_height, c.robot_attach_distance):
                continue
            segments.extend(split_by_colour(idx, cls, P, n_colours, c.min_pixels, c.grid_resolution))
        segments = join_occluded(segments, cls, P, vs, us, zc, depth_f, n_colours, c.max_object_size)
        objects, kept = self._fit_segments(segments, vs, us, P, rx, ry, zc, rgb01, R_to, t_to, K, noise,
                                           T_base_table, depth_f, warnings)
        return objects, [segments[i] for i in kept]

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
        z, rxs, rys = sub.ravel()[fl], rx[u0:u1:BIN_STRIDE], ry[v0:v1:BIN_STRIDE]
        # Heights first: only points on the walls' vertical faces need x and y.
        height = _coordinate(2, z, rxs, rys, su, sv, T_table_optical)
        walls = ((height > c.min_object_height) & (height < c.bin_wall_height - BIN_TOP_MARGIN)).nonzero()[0]
        z, su, sv = z.take(walls), su.take(walls), sv.take(walls)
        x, y = (_coordinate(k, z, rxs, rys, su, sv, T_table_optical) for k in (0, 1))
        dx, dy = x - c.bin_center[0], y - c.bin_center[1]
        bu, bv = cy * dx + sy * dy, -sy * dx + cy * dy
        near = ((np.abs(bu) <= hx) & (np.abs(bv) <= hy)).nonzero()[0]
        if len(near) < 100:
            return None
        near = near[::max(1, len(near) // BIN_POINTS)]
        xy = np.column_stack([x.take(near), y.take(near)])
        reg = register_bin(xy, c.bin_center, c.bin_yaw, c.bin_size, c.bin_wall_thickness,
                           T_table_optical[:2, 3])
        return None if reg is None else reg.T_fix

    # -- the frame -----------------------------------------------------------------------
    def process(self, rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T_base_optical: np.ndarray,
                stamp: float, *, with_labels: bool = False) -> PerceptionResult:
        """Objects in one frame. rgb (H, W, 3) uint8; depth (H, W) float32 m along the optical
        axis, NaN = no return; K (3, 3); T_base_optical (4, 4) the configured camera pose;
        stamp s (not older than the previous frame's). Raises ValueError for a frame that
        cannot be processed (shapes, types, too little valid depth, out-of-order stamp).
        The stages below are the steps of the module docstring."""
        depth, K, T_conf, finite = self._checked_frame(rgb, depth, K, T_base_optical, stamp)
        if self._last_T is None or not np.allclose(self._last_T, T_conf, atol=1e-4):
            self._last_bin, self._last_T = None, np.array(T_conf, dtype=float)  # another camera mount
        rx, ry = self._pixel_rays(K, depth.shape[1], depth.shape[0])
        warnings: list[str] = []
        clock = _Clock()
        table = self._table_and_camera(rgb, depth, rx, ry, T_conf, warnings)
        clock.lap("plane")
        cand = self._candidates(depth, finite, rx, ry, table)
        clock.lap("heights")
        white_balance = self._white_balance(rgb, cand.height, table, warnings)
        clock.lap("white_balance")
        cell = self._bin_and_registration(cand, table, K, rx, ry, T_conf, warnings)
        clock.lap("bin")
        objects, segments, bin_contents, vs, us = self._segment_and_fit(rgb, cand, cell, table, K, rx, ry, warnings)
        if len(vs):
            clock.lap("segmentation_fitting")
        objects, label_image = self._track(objects, segments, vs, us, stamp, depth.shape if with_labels else None)
        clock.lap("tracking")
        self.last_timings = clock.laps
        self._last_stamp = stamp
        c, gains, table_observed = self.config, table.gains, table.observed
        table_plane = None if table.fit is None else \
            plane_in_frame(table.plane_o, table.T_base_table @ cell.T_table_optical)
        return PerceptionResult(objects=objects, table_plane=table_plane, camera_correction=cell.correction,
                                warnings=warnings, stamp=float(stamp), white_balance=np.asarray(gains, float),
                                label_image=label_image,
                                bin=cell.bin_used if (min(c.bin_size) > 0 or cell.bin_est is not None) else None,
                                bin_contents=bin_contents,
                                table_rgb=None if table_observed is None else np.clip(table_observed * gains, 0, 1),
                                white_balance_reference=("none" if table_observed is None else
                                                         white_balance.reference if white_balance is not None
                                                         else "table_prior"))

    def _checked_frame(self, rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T_base_optical: np.ndarray,
                       stamp: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The frame checked (check_frame, time order, enough valid depth; ValueError naming the
        problem otherwise) and converted: depth (H, W) float32 m, K (3, 3) float, T_conf (4, 4)
        float the configured camera pose, finite (H, W) bool where depth has a return (scratch)."""
        c = self.config
        check_frame(rgb, depth, K, T_base_optical, stamp)
        if self._last_stamp is not None and stamp < self._last_stamp:
            raise ValueError(f"stamp {stamp:.3f} s is older than the previous frame's {self._last_stamp:.3f} s; "
                             f"frames must come in time order (rewind() after a jump back)")
        depth = np.asarray(depth, dtype=np.float32)
        K = np.asarray(K, dtype=float)
        T_conf = np.asarray(T_base_optical, dtype=float)
        finite = np.isfinite(depth, out=self._scratch("finite", depth.shape, bool))
        valid = np.count_nonzero(finite) / depth.size
        if valid < c.min_valid_depth_fraction:
            raise ValueError(f"only {valid:.1%} of the depth pixels have a return (at least "
                             f"{c.min_valid_depth_fraction:.0%} needed): no usable depth in this frame")
        return depth, K, T_conf, finite

    def _table_and_camera(self, rgb: np.ndarray, depth: np.ndarray, rx: np.ndarray, ry: np.ndarray,
                          T_conf: np.ndarray, warnings: list[str]) -> _Table:
        """Steps 1, 2 (height, roll, pitch) and 3 (the table's colour) of the module docstring.
        rgb (H, W, 3) uint8; depth (H, W) float32 m; rx (W,), ry (H,) the pixel rays; T_conf
        (4, 4) the configured camera pose. Appends a warning when no table plane is found."""
        c = self.config
        W = depth.shape[1]
        # Table plane on a sub-sampled cloud near the expected plane.
        s = c.plane_stride
        sub = depth[s // 2::s, s // 2::s]
        fl = np.flatnonzero(np.isfinite(sub))
        sv, su = np.divmod(fl, sub.shape[1])
        sz = sub.ravel()[fl]
        pts = np.empty((len(fl), 3))
        pts[:, 0], pts[:, 1], pts[:, 2] = rx[s // 2::s].take(su) * sz, ry[s // 2::s].take(sv) * sz, sz
        prior = self._table_prior(T_conf)
        near = (np.abs(pts @ prior[:3] + prior[3]) < c.plane_max_offset).nonzero()[0]
        fit = fit_plane_ransac(take_rows(pts, near), np.random.default_rng(c.seed), tolerance=c.plane_tolerance,
                               iterations=c.ransac_iterations, prior=prior, max_tilt=math.radians(c.plane_max_tilt_deg),
                               max_offset=c.plane_max_offset)
        if fit is None:
            warnings.append(f"table plane not found (no plane within {c.plane_max_tilt_deg:g} deg and "
                            f"{c.plane_max_offset:g} m of the configured one); using the configured camera pose")
            return _Table(fit=None, plane_o=prior, noise=0.0, correction=None, T_table_optical=T_conf,
                          T_base_table=np.eye(4), observed=None, gains=np.ones(3))
        gains = np.ones(3)
        table_observed = None
        correction = camera_correction(T_conf, fit.plane, height_threshold=c.bump_height_threshold,
                                       angle_threshold=math.radians(c.bump_angle_threshold_deg),
                                       applied=c.correct_camera_bump)
        T_table_optical = correction.T_corrected
        T_base_table = np.eye(4) if c.correct_camera_bump else T_conf @ invert_transform(T_table_optical)
        # White balance from the table's inlier pixels.
        if c.white_balance:
            iv = sv.take(near)[fit.inliers] * s + s // 2
            iu = su.take(near)[fit.inliers] * s + s // 2
            table_observed = column_medians(take_rows(rgb.reshape(-1, 3), iv * W + iu)) / 255.0
            if not c.perceive_table:
                gains, why = white_balance_gains(table_observed, np.asarray(c.table_rgb), c.max_cast)
                if why:
                    warnings.append(why)
        return _Table(fit=fit, plane_o=fit.plane, noise=fit.noise, correction=correction,
                      T_table_optical=T_table_optical, T_base_table=T_base_table, observed=table_observed, gains=gains)

    def _candidates(self, depth: np.ndarray, finite: np.ndarray, rx: np.ndarray, ry: np.ndarray,
                    table: _Table) -> _Candidates:
        """Step 4's heights: every pixel's height above the table plane (H, W) m, and the
        candidate pixels between min_object_height and max_height. depth (H, W) float32 m is
        median-filtered first when the plane's noise exceeds NOISE_SMOOTH_THRESHOLD; finite
        (H, W) bool: where it has a return."""
        c = self.config
        H, W = depth.shape
        plane_o, noise = table.plane_o, table.noise
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
        flat = np.flatnonzero(cand)  # (faster than a 2-D np.nonzero)
        vs = flat // W
        us = flat - vs * W
        return _Candidates(depth_f=depth_f, noise=noise, height=height, flat=flat, vs=vs, us=us,
                           zc=depth_f.take(flat))

    def _white_balance(self, rgb: np.ndarray, height: np.ndarray, table: _Table,
                       warnings: list[str]) -> WhiteBalance | None:
        """Step 3 when perceive_table: white balance from what the scene offers (the table's
        observed colour, the robot's white links above max_height in `height` (H, W) m).
        Sets table.gains (3,); None when the table's colour is not perceived."""
        c = self.config
        if table.observed is None or not c.perceive_table:
            return None
        white_balance = estimate_white_balance(
            table.observed, np.asarray(c.table_rgb), self._robot_white(rgb, height),
            max_cast=c.max_cast, tolerance=c.table_prior_tolerance, max_brightness_gain=c.max_brightness_gain)
        table.gains = white_balance.gains
        if white_balance.warning:
            warnings.append(white_balance.warning)
        return white_balance

    def _bin_and_registration(self, cand: _Candidates, table: _Table, K: np.ndarray, rx: np.ndarray,
                              ry: np.ndarray, T_conf: np.ndarray, warnings: list[str]) -> _Cell:
        """Step 2 (x, y, yaw): the candidates' points in the table frame (the base frame when
        the camera correction is applied, else through the configured pose), the bin among
        them, and the camera's x, y, yaw from the bin when it stands where it is configured.
        Warns when the bin is not seen or has moved, and when the camera appears bumped."""
        c = self.config
        correction, T_table_optical, T_base_table = table.correction, table.T_table_optical, table.T_base_table
        P = _points_in_frame(cand.zc, rx, ry, cand.us, cand.vs, T_table_optical)
        Pb = P if c.correct_camera_bump else \
            P @ T_base_table[:3, :3].T.astype(np.float32) + T_base_table[:3, 3].astype(np.float32)
        T_pb_optical = T_table_optical if c.correct_camera_bump else T_base_table @ T_table_optical
        bin_est, moved = self._perceive_bin(Pb, _picture_test(T_pb_optical, K, cand.depth_f.shape))
        # The bin is a landmark for the camera's x, y, yaw only when the table plane shows the
        # camera moved (height, roll or pitch): a bump that turns the camera exactly about the
        # vertical and shifts it exactly sideways is rare, a bin pushed a few cm is not. With
        # the plane unchanged, a bin off its configured pose has moved.
        if bin_est is not None and not moved and (correction is None or not correction.bumped):
            d, _ = bin_est.face_offsets(self._bin_prior)
            _, dyaw = bin_pose_error(bin_est, self._bin_prior)
            moved = d > c.bin_moved_min_shift or math.degrees(dyaw) > c.bin_moved_min_yaw_deg
        if bin_est is not None and not moved and correction is not None and c.correct_camera_bump \
                and c.register_bin and min(c.bin_size) > 0 and len(cand.zc):
            T_fix = self._register_bin(cand.depth_f, K, rx, ry, T_table_optical)
            if T_fix is not None:
                correction = correction.with_registration(
                    T_fix, T_conf, c.bump_height_threshold, math.radians(c.bump_angle_threshold_deg))
                T_table_optical = correction.T_corrected
                R2, t2 = T_fix[:2, :2].astype(np.float32), T_fix[:2, 3].astype(np.float32)
                P[:, :2] = P[:, :2] @ R2.T + t2
                bin_est = bin_est.transformed(T_fix)
        if bin_est is None:
            bin_used = self._bin_prior
            if c.perceive_bin and min(c.bin_size) > 0:
                warnings.append(f"bin not seen: using its configured pose ({c.bin_center[0]:.3f}, "
                                f"{c.bin_center[1]:.3f}) m, yaw {math.degrees(c.bin_yaw):.1f} deg; camera x, y, yaw "
                                f"not corrected")
        else:
            bin_used = bin_est
            if moved:
                d, dyaw = bin_pose_error(bin_est, self._bin_prior)
                warnings.append(f"bin seen at ({bin_est.center[0]:.3f}, {bin_est.center[1]:.3f}) m, yaw "
                                f"{math.degrees(bin_est.yaw):.1f} deg, inner {bin_est.inner_size[0] * 100:.1f} x "
                                f"{bin_est.inner_size[1] * 100:.1f} cm: {d * 100:.1f} cm / "
                                f"{math.degrees(dyaw):.1f} deg "
                                f"from its configured pose; using the seen bin; camera x, y, yaw not corrected from it")
        if correction is not None and correction.bumped:
            warnings.append(
                f"camera appears bumped: height {correction.height_error * 1e3:+.1f} mm, roll "
                f"{math.degrees(correction.roll_error):+.2f} deg, pitch {math.degrees(correction.pitch_error):+.2f} deg"
                + (f", x {correction.x_error * 1e3:+.1f} mm, y {correction.y_error * 1e3:+.1f} mm, yaw "
                   f"{math.degrees(correction.yaw_error):+.2f} deg" if correction.registered else "")
                + " (configured minus observed); "
                + ("corrected" if c.correct_camera_bump else "not corrected (correct_camera_bump is false)"))
        return _Cell(P=P, Pb=Pb, bin_est=bin_est, bin_used=bin_used, correction=correction,
                     T_table_optical=T_table_optical)

    def _segment_and_fit(self, rgb: np.ndarray, cand: _Candidates, cell: _Cell, table: _Table, K: np.ndarray,
                         rx: np.ndarray, ry: np.ndarray, warnings: list[str]
                         ) -> tuple[list[ObjectEstimate], list[np.ndarray], list[ObjectEstimate], np.ndarray,
                                    np.ndarray]:
        """Steps 4-7: the candidates outside the robot's base and the bin's walls, segmented
        on the table and inside the bin apart, then fitted. Returns the objects on the table
        (ids not assigned), their segments (index arrays into the kept candidates), the bin's
        contents (ids "bin_<k>"), and the kept candidates' rows vs and columns us (N,)."""
        c = self.config
        # Objects on the table, and in the bin, are segmented apart; the robot's base and the
        # bin's walls are neither.
        Pb, bin_est = cell.Pb, cell.bin_est
        where = self._where(Pb[:, 0], Pb[:, 1], cell.bin_used if min(c.bin_size) > 0 or bin_est is not None else None)
        kept_idx = (where != EXCLUDED).nonzero()[0]
        flat, vs, us, zc, where = (a.take(kept_idx) for a in (cand.flat, cand.vs, cand.us, cand.zc, where))
        P = take_rows(cell.P, kept_idx)
        objects: list[ObjectEstimate] = []
        segments: list[np.ndarray] = []
        bin_contents: list[ObjectEstimate] = []
        if len(P):
            rgb01 = np.clip(take_rows(rgb.reshape(-1, 3), flat).astype(np.float32)
                            * (table.gains / 255.0).astype(np.float32), 0.0, 1.0)
            cls, _ = self._classify(rgb01, strict=False)
            cls[cls < 0] = 0
            R_to, t_to = cell.T_table_optical[:3, :3], cell.T_table_optical[:3, 3]
            common = (P, vs, us, zc, cls, rgb01, cand.height, cand.depth_f, rx, ry, R_to, t_to, K, cand.noise,
                      table.T_base_table, warnings)
            objects, segments = self._objects_among((where == ON_TABLE).nonzero()[0], *common)
            in_bin_idx = (where == IN_BIN).nonzero()[0]
            if len(in_bin_idx):
                bin_contents, _ = self._objects_among(in_bin_idx, *common)
                for k, o in enumerate(bin_contents):
                    o.id = f"bin_{k}"
        return objects, segments, bin_contents, vs, us

    def _track(self, objects: list[ObjectEstimate], segments: list[np.ndarray], vs: np.ndarray, us: np.ndarray,
               stamp: float, label_shape: tuple[int, int] | None) -> tuple[list[ObjectEstimate], np.ndarray | None]:
        """Step 8: stable ids from the tracker; the objects sorted by id number, and with
        label_shape (H, W) the label image (H, W) int32 (k > 0 on the pixels vs, us of
        segments[i] of the k-th object), else None."""
        ids = self._tracker.update(
            [Detection(o.position, o.colour_name, o.shape, o.size) for o in objects], stamp)
        for o, tid in zip(objects, ids, strict=True):
            o.id = tid
        order = sorted(range(len(objects)), key=lambda i: int(objects[i].id.rsplit("_", 1)[-1]))
        objects = [objects[i] for i in order]
        label_image = None
        if label_shape is not None:
            label_image = np.zeros(label_shape, np.int32)
            for k, i in enumerate(order):
                label_image[vs[segments[i]], us[segments[i]]] = k + 1
        return objects, label_image

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
        # The segments' points gathered once, segment after segment: each segment is a slice
        # (a few large gathers instead of many small ones).
        order, starts = concatenated_runs(segments)
        spans = [(int(a), int(a) + len(seg)) for a, seg in zip(starts, segments, strict=True)]
        Z, V, U = zc.take(order), vs.take(order), us.take(order)
        P_seg, rgb_seg = take_rows(P, order), take_rows(rgb01, order)
        rays_t = np.empty((len(order), 3), np.float32)  # the optical rays (rx, ry, 1) turned into the table frame
        ru, rv = rx.take(U), ry.take(V)
        for k in range(3):
            rays_t[:, k] = R32[k, 0] * ru + R32[k, 1] * rv + R32[k, 2]
        boxes = pixel_boxes(V, U, starts)
        for i, ((a, b), box) in enumerate(zip(spans, boxes, strict=True)):
            z = Z[a:b]
            pixel_size = float(z.mean()) / fx
            edge, outline = segment_outline(V[a:b], U[a:b], z, box, depth_f)
            fit = fit_shape(P_seg[a:b], rays_t[a:b], t_to, outline, edge_mask=edge, top_tolerance=top_tol,
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
            a, b = spans[i]
            colours = rgb_seg[a:b].astype(np.float64)
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
