"""Benchmark of the perception core on seeded simulated scenes, scored against ground truth.

Run from the repository root:  .venv/bin/python bench/perception.py [--scenes N] [--quick]

Scenes: 1-8 objects per scene (boxes and cylinders, every side 2-8 cm, palette colours,
random poses on the table in the robot's reach and the camera's view; about a third of
the objects are placed touching another one, faces flush, 0.5 mm apart, with a different
colour), the arm at home, the default camera, table, bin and light. Scene k is drawn
from seed k, so every condition sees the same layouts. Each scene is rendered once per
condition with one SimWorld (EGL, reset between scenes) and scored against
SimWorld.object_poses() and the SceneInstance's objects.

Conditions: nominal, then each perturbation of the scenario schema alone: brightness
x0.6..1.4, colour cast 0.85..1.15 per channel, hue shift -10..10 deg, pixel noise sigma 5,
depth noise sigma 2 mm, 5 % dropped depth, three distractor objects added, camera
bumped by 2 cm and 2 deg (random direction and axis). Values are drawn per scene.
Then the cell differs from the configuration perception is given (PerceptionConfig()'s
bin and table are the defaults; only the camera pose is passed exactly, as a
calibration would): the bin moved to the robot's other side (0.45, -0.42); the bin
nudged 3 cm (0.45, 0.45: within what a camera bump explains, so taken for one); the bin
rotated (centre (0.50, 0.36), yaw 30..90 deg); the bin resized (inner 0.25 x 0.15 m);
the table near-black (0.06), white (0.95), grey (0.5), wood (0.62, 0.42, 0.22); the
wood table under a tinted light (light colour (1, 0.80..0.95, 0.65..0.85)); a side
camera mount (at (0.45, -0.80, 0.65) looking at (0.45, 0.05, 0)); 2 cm cubes only;
8 cm cubes only; white objects only on the white table.
In every scene one more object (a 3..5 cm cube or cylinder of a random palette colour)
stands inside the bin, where the camera sees it (a separate random stream: the table
layout is that of the other conditions); it must be in bin_contents, not in objects.

Figures per condition: the bin's pose error (centre cm, yaw deg modulo 90, inner size
cm; median / p95; the share of frames where it was perceived), the bin-contents check
(the in-bin object reported in bin_contents with its colour within 3 cm, and nothing
else there), recall (of all objects, and of those with at least MIN_VISIBLE_PX pixels in
view: the targets are on the latter), precision (a detection matches a true object within
3 cm in xy, one to one), colour and shape accuracy of the matches, position error of the
centre (median / p95 mm), yaw error of boxes (median deg, modulo 90 deg for square
footprints and 180 deg otherwise), size error (median / p95 of the mean absolute error
of the three extents, mm), and the core's latency per 640x480 frame (median / p95 ms over
the scenes of the best of three runs of each frame, one core: OpenCV and BLAS
single-threaded; the median time per pipeline stage is in the JSON). Baselines in the same run: a naive colour-threshold
detector (fixed HSV thresholds on the raw image, pixels 1..18 cm above z = 0 through the
configured camera pose, image blobs, centroid of the blob's 3D points) and, for the
bumped camera, the core with correct_camera_bump off. The last line is one JSON object.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core (numpy's BLAS, before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import ctypes
import dataclasses
import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from transforms3d.axangles import axangle2mat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sim"))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "ros2_ws" / "src" / "perception"))

from armbrain_sim.scenario import PALETTE, load_scenario  # noqa: E402
from armbrain_sim.scene import ObjectInstance, Perturbations, SceneInstance  # noqa: E402
from armbrain_sim.world import SimWorld, yaw_from_quaternion  # noqa: E402
from perception.core import Perception, PerceptionConfig  # noqa: E402

CONDITIONS = ("nominal", "brightness", "colour_cast", "hue_shift", "rgb_noise", "depth_noise", "depth_dropout",
              "distractors", "camera_bump", "bin_moved", "bin_nudged", "bin_rotated", "bin_resized", "table_black",
              "table_white",
              "table_grey", "table_wood", "tinted_light", "side_camera", "small_objects", "large_objects",
              "white_on_white")
CELL_CONDITIONS = CONDITIONS[CONDITIONS.index("bin_moved"):]  # the cell differs from its configuration
TABLE_COLOURS = {"table_black": (0.06, 0.06, 0.06), "table_white": (0.95, 0.95, 0.95),
                 "table_grey": (0.5, 0.5, 0.5), "table_wood": (0.62, 0.42, 0.22), "tinted_light": (0.62, 0.42, 0.22),
                 "white_on_white": (0.95, 0.95, 0.95)}
SIDE_CAMERA_YAML = """
name: side_camera
camera: {position: [0.45, -0.80, 0.65], look_at: [0.45, 0.05, 0.0]}
objects: [{size: 0.05, colour: red}]
"""
MATCH_RADIUS = 0.03  # m, xy
LATENCY_REPEATS = 3
SIDE = (0.02, 0.08)  # m
REGION = ((0.25, 0.75), (-0.45, 0.45))
REACH = (0.3, 0.7)
TOUCH_PROBABILITY = 0.35
TOUCH_GAP = 0.0005  # m between flush faces of touching objects
MIN_GAP = 0.01  # m between other objects, and to the bin and the robot base
# Recall is also scored over the objects the camera can see at all (>= MIN_VISIBLE_PX of a
# segmentation render at the true camera pose): about a third of the objects are placed
# touching another, and a low one behind a taller one can be wholly hidden. The targets
# are on that figure; plain recall is printed beside it, and each miss says its pixels.
MIN_VISIBLE_PX = 150
TARGETS = {"nominal": {"recall_visible": 0.995, "precision": 0.995, "colour_accuracy": 0.99, "shape_accuracy": 0.99,
                       "position_median_mm": 3.0, "position_p95_mm": 6.0, "yaw_median_deg": 3.0,
                       "latency_median_ms": 5.0},
           "perturbation": {"recall_visible": 0.98, "position_median_mm": 5.0},
           "cell": {"recall_visible": 0.99, "position_median_mm": 3.0, "bin_contents_ok": 0.99}}


def flush_c_stdio() -> None:
    """The EGL plugin prints through C stdio; flush it so it never lands after our JSON line."""
    ctypes.CDLL(None).fflush(None)


# -- scenes ----------------------------------------------------------------------------------

def _boundary(o: ObjectInstance, n: int = 48) -> np.ndarray:
    """(n, 2) points on the footprint outline."""
    x, y = o.position
    if o.shape == "cylinder":
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        return np.column_stack([x + o.size[0] / 2 * np.cos(a), y + o.size[0] / 2 * np.sin(a)])
    t = np.linspace(-0.5, 0.5, n // 4, endpoint=False)
    sx, sy = o.size[0], o.size[1]
    local = np.concatenate([np.column_stack([t * sx, np.full_like(t, -sy / 2)]),
                            np.column_stack([np.full_like(t, sx / 2), t * sy]),
                            np.column_stack([-t * sx, np.full_like(t, sy / 2)]),
                            np.column_stack([np.full_like(t, -sx / 2), -t * sy])])
    c, s = math.cos(o.yaw), math.sin(o.yaw)
    return local @ np.array([[c, s], [-s, c]]) + [x, y]


def _inside(points: np.ndarray, o: ObjectInstance, margin: float) -> np.ndarray:
    d = points - np.asarray(o.position)
    if o.shape == "cylinder":
        return np.hypot(d[:, 0], d[:, 1]) <= o.size[0] / 2 + margin
    c, s = math.cos(o.yaw), math.sin(o.yaw)
    u, v = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]
    return (np.abs(u) <= o.size[0] / 2 + margin) & (np.abs(v) <= o.size[1] / 2 + margin)


def _clear(a: ObjectInstance, b: ObjectInstance, gap: float) -> bool:
    return not (_inside(_boundary(a), b, gap).any() or _inside(_boundary(b), a, gap).any()
                or _inside(np.array([a.position]), b, 0).any() or _inside(np.array([b.position]), a, 0).any())


def _in_view(o: ObjectInstance, T: np.ndarray, K: np.ndarray, width: int, height: int) -> bool:
    pts = _boundary(o, 16)
    p = (np.column_stack([pts, np.full(len(pts), o.size[2])]) - T[:3, 3]) @ T[:3, :3]
    u = K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2]
    v = K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]
    return bool(np.all((u > 0.05 * width) & (u < 0.95 * width) & (v > 0.05 * height) & (v < 0.95 * height)))


def _placeable(o: ObjectInstance, placed: list[ObjectInstance], partner: ObjectInstance | None,
               base: SceneInstance, K: np.ndarray) -> bool:
    r = math.hypot(*o.position)
    if not (REACH[0] <= r <= REACH[1]) or not _in_view(o, base.camera.T_base_optical_nominal, K,
                                                         base.camera.width, base.camera.height):
        return False
    b = base.bin
    bin_obj = ObjectInstance("bin", "box", (b.inner_size[0] + 2 * b.wall_thickness,
                                            b.inner_size[1] + 2 * b.wall_thickness, b.wall_height), (0, 0, 0), "",
                             1.0, (b.x, b.y), b.yaw)
    base_obj = ObjectInstance("base", "cylinder", (0.24, 0.24, 0.1), (0, 0, 0), "", 1.0, (0.0, 0.0), 0.0)
    if not (_clear(o, bin_obj, MIN_GAP) and _clear(o, base_obj, MIN_GAP)):
        return False
    return all(_clear(o, q, TOUCH_GAP / 2 if q is partner else MIN_GAP) for q in placed)


def random_objects(rng: np.random.Generator, base: SceneInstance, K: np.ndarray, count: int,
                   placed: list[ObjectInstance], prefix: str = "obj", side: tuple[float, float] | None = None,
                   colours: list[str] | None = None) -> list[ObjectInstance]:
    """`count` random objects added to `placed` (see the module docstring), or fewer if no room.
    side: every side of every object (cubes only) instead of random sizes; colours: the palette names drawn from."""
    names = colours or list(PALETTE)
    out: list[ObjectInstance] = []
    for _ in range(count):
        for _try in range(300):
            shape = "box" if rng.random() < 0.6 else "cylinder"
            if side is not None:
                shape, size = "box", (float(side),) * 3
            elif shape == "box":
                size = tuple(float(v) for v in rng.uniform(*SIDE, size=3))
            else:
                d, h = rng.uniform(*SIDE, size=2)
                size = (float(d), float(d), float(h))
            colour = names[int(rng.integers(len(names)))]
            all_placed = placed + out
            partner = None
            if all_placed and rng.random() < TOUCH_PROBABILITY:
                partner = all_placed[int(rng.integers(len(all_placed)))]
                if colour == partner.colour_name:
                    continue  # (touching objects of one colour are one segment: not this bench's question)
                yaw = partner.yaw if partner.shape == "box" else float(rng.uniform(-np.pi, np.pi))
                axis = int(rng.integers(2))
                sign = 1.0 if rng.random() < 0.5 else -1.0
                ext_p = partner.size[axis] / 2 if partner.shape == "box" else partner.size[0] / 2
                ext_o = size[axis] / 2 if shape == "box" else size[0] / 2
                a = yaw + (np.pi / 2 if axis else 0.0)
                dist = ext_p + ext_o + TOUCH_GAP
                pos = (partner.position[0] + sign * dist * math.cos(a), partner.position[1] + sign * dist * math.sin(a))
            else:
                pos = (float(rng.uniform(*REGION[0])), float(rng.uniform(*REGION[1])))
                yaw = float(rng.uniform(-np.pi, np.pi))
            o = ObjectInstance(name=f"{prefix}_{len(all_placed)}", shape=shape, size=size, rgb=PALETTE[colour],
                               colour_name=colour, mass=0.05, position=(float(pos[0]), float(pos[1])),
                               yaw=float(yaw))
            if _placeable(o, all_placed, partner, base, K):
                out.append(o)
                break
    return out


def jittered_camera(T: np.ndarray, rng: np.random.Generator, position_m: float, angle_deg: float) -> np.ndarray:
    """The nominal pose moved by position_m along a random direction and turned by angle_deg
    about a random axis through the optical centre (as scenario.py does)."""
    d = rng.normal(size=3)
    a = rng.normal(size=3)
    T = T.copy()
    T[:3, 3] += position_m * d / np.linalg.norm(d)
    T[:3, :3] = axangle2mat(a / np.linalg.norm(a), math.radians(angle_deg)) @ T[:3, :3]
    return T


def base_for(base: SceneInstance, condition: str, side_camera) -> SceneInstance:
    """The cell of a condition: the default one, or its bin, table or camera changed."""
    if condition == "bin_moved":
        return dataclasses.replace(base, bin=dataclasses.replace(base.bin, x=0.45, y=-0.42))
    if condition == "bin_nudged":  # within what a camera bump explains: the policy's blind spot, measured
        return dataclasses.replace(base, bin=dataclasses.replace(base.bin, x=0.45, y=0.45))
    if condition == "bin_rotated":
        return dataclasses.replace(base, bin=dataclasses.replace(base.bin, x=0.50, y=0.36))
    if condition == "bin_resized":
        return dataclasses.replace(base, bin=dataclasses.replace(base.bin, inner_size=(0.25, 0.15)))
    if condition in TABLE_COLOURS:
        return dataclasses.replace(base, table=dataclasses.replace(base.table, rgb=TABLE_COLOURS[condition]))
    if condition == "side_camera":
        return dataclasses.replace(base, camera=side_camera)
    return base


def in_bin_object(rng: np.random.Generator, base: SceneInstance, K: np.ndarray) -> ObjectInstance | None:
    """A random 3..5 cm cube or cylinder inside the bin (1 cm from its walls), in the camera's view."""
    b = base.bin
    names = list(PALETTE)
    for _ in range(100):
        side = float(rng.uniform(0.03, 0.05))
        shape = "box" if rng.random() < 0.6 else "cylinder"
        reach = [b.inner_size[k] / 2 - side * 0.75 - 0.01 for k in (0, 1)]
        u, v = (float(rng.uniform(-r, r)) for r in reach)
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        colour = names[int(rng.integers(len(names)))]
        o = ObjectInstance("in_bin", shape, (side, side, side), PALETTE[colour], colour, 0.05,
                           (b.x + c * u - s * v, b.y + s * u + c * v), float(rng.uniform(-np.pi, np.pi)))
        if _in_view(o, base.camera.T_base_optical_nominal, K, base.camera.width, base.camera.height) \
                and _over_walls(o, b, base.camera.T_base_optical_nominal[:3, 3]):
            return o
    return None


def _over_walls(o: ObjectInstance, b, camera: np.ndarray) -> bool:
    """The camera's line of sight to the top centre of `o` (inside the bin) passes 5 mm above the walls."""
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    top = np.array([o.position[0], o.position[1], o.size[2]])
    d = np.asarray(camera, dtype=float) - top
    du, dv = c * d[0] + s * d[1], -s * d[0] + c * d[1]  # direction in the bin's frame
    pu = c * (top[0] - b.x) + s * (top[1] - b.y)
    pv = -s * (top[0] - b.x) + c * (top[1] - b.y)
    ts = [(np.sign(dd) * b.inner_size[k] / 2 - pp) / dd for k, (dd, pp) in enumerate(((du, pu), (dv, pv))) if dd]
    t = min(ts)  # where the sight line leaves the inside
    return top[2] + t * d[2] > b.wall_height + 0.005


def scene_for(base: SceneInstance, seed: int, condition: str, K: np.ndarray) -> SceneInstance:
    rng = np.random.default_rng([seed, 4])
    layout_rng, pert_rng, extra_rng = rng.spawn(3)
    bin_rng, cell_rng = np.random.default_rng([seed, 5]).spawn(2)
    if condition == "bin_rotated":
        base = dataclasses.replace(base, bin=dataclasses.replace(base.bin, yaw=math.radians(cell_rng.uniform(30, 90))))
    side = {"small_objects": 0.02, "large_objects": 0.08}.get(condition)
    colours = ["white"] if condition == "white_on_white" else None
    objects = random_objects(layout_rng, base, K, int(layout_rng.integers(1, 9)), [], side=side, colours=colours)
    pert = Perturbations()
    camera = base.camera
    light = base.light
    if condition == "tinted_light":
        light = dataclasses.replace(light, colour=(1.0, float(cell_rng.uniform(0.8, 0.95)),
                                                   float(cell_rng.uniform(0.65, 0.85))))
    if condition == "brightness":
        pert = Perturbations(brightness_gain=float(pert_rng.uniform(0.6, 1.4)))
    elif condition == "colour_cast":
        pert = Perturbations(colour_cast=tuple(float(v) for v in pert_rng.uniform(0.85, 1.15, size=3)))
    elif condition == "hue_shift":
        pert = Perturbations(hue_shift_deg=float(pert_rng.uniform(-10.0, 10.0)))
    elif condition == "rgb_noise":
        pert = Perturbations(rgb_noise_sigma=5.0)
    elif condition == "depth_noise":
        pert = Perturbations(depth_noise_sigma=0.002)
    elif condition == "depth_dropout":
        pert = Perturbations(depth_dropout=0.05)
    elif condition == "distractors":
        objects = objects + random_objects(extra_rng, base, K, 3, objects, prefix="distractor")
    elif condition == "camera_bump":
        camera = dataclasses.replace(camera, T_base_optical=jittered_camera(
            np.asarray(camera.T_base_optical_nominal), pert_rng, 0.02, 2.0))
    inside = in_bin_object(bin_rng, base, K)
    extra = {"in_bin": inside} if inside is not None else {}
    return dataclasses.replace(base, seed=seed, objects=tuple(objects) + ((inside,) if inside else ()),
                               perturbations=pert, camera=camera, light=light, success=(), extra=extra)


# -- the naive baseline ------------------------------------------------------------------------

def naive_detect(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(colour name, centroid (3,)) of blobs of fixed-threshold palette colours 1..18 cm above z = 0."""
    h, w = depth.shape
    u = (np.arange(w) - K[0, 2]) / K[0, 0]
    v = (np.arange(h) - K[1, 2]) / K[1, 1]
    pts = np.stack([depth * u[None, :], depth * v[:, None], depth], axis=-1) @ T[:3, :3].T + T[:3, 3]
    with np.errstate(invalid="ignore"):
        above = (pts[..., 2] > 0.01) & (pts[..., 2] < 0.18)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int32)
    hue, sat, val = hsv[..., 0] * 2, hsv[..., 1], hsv[..., 2]
    out = []
    for name, ref in PALETTE.items():
        r_h = cv2.cvtColor(np.uint8([[np.array(ref) * 255]]), cv2.COLOR_RGB2HSV)[0, 0, 0].astype(int)
        if name == "white":
            mask = (sat < 50) & (val > 180)
        elif name == "black":
            mask = val < 50
        else:
            dh = np.abs(hue - 2 * r_h)
            mask = (np.minimum(dh, 360 - dh) < 12) & (sat > 100) & (val > 40)
        mask &= above
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] >= 30:
                out.append((name, np.nanmean(pts[labels == k], axis=0)))
    return out


# -- scoring -----------------------------------------------------------------------------------

def yaw_error_deg(est_yaw: float, est_size: np.ndarray, true_yaw: float, true_size) -> float:
    sx, sy = true_size[0], true_size[1]
    if abs(sx - sy) <= 0.15 * max(sx, sy):
        period = np.pi / 2
        t = true_yaw
    else:
        period = np.pi
        t = true_yaw if sx >= sy else true_yaw + np.pi / 2
    e = est_yaw if est_size[0] >= est_size[1] or abs(est_size[0] - est_size[1]) <= 0.15 * max(est_size[:2]) \
        else est_yaw + np.pi / 2
    d = (e - t) % period
    return math.degrees(min(d, period - d))


def size_error_mm(obj_shape: str, est_size: np.ndarray, true_size) -> float:
    est_xy = sorted(est_size[:2])
    true_xy = sorted(true_size[:2])
    return 1e3 * float(np.mean(np.abs([est_xy[0] - true_xy[0], est_xy[1] - true_xy[1], est_size[2] - true_size[2]])))


def match(est_xy: np.ndarray, true_xy: np.ndarray) -> list[tuple[int, int]]:
    if len(est_xy) == 0 or len(true_xy) == 0:
        return []
    cost = np.linalg.norm(est_xy[:, None, :] - true_xy[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(np.where(cost < MATCH_RADIUS, cost, 1e3))
    return [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < MATCH_RADIUS]


class Score:
    def __init__(self) -> None:
        self.n_true = self.n_est = self.tp = self.colour_ok = self.shape_ok = 0
        self.n_visible = self.tp_visible = 0  # true objects with >= MIN_VISIBLE_PX in view, and found
        self.pos_mm: list[float] = []
        self.yaw_deg: list[float] = []
        self.size_mm: list[float] = []
        self.latency_ms: list[float] = []
        self.stage_ms: dict[str, list[float]] = {}
        self.failures: list[str] = []
        self.bin_centre_cm: list[float] = []
        self.bin_yaw_deg: list[float] = []
        self.bin_size_cm: list[float] = []
        self.bin_frames = self.bin_perceived = 0
        self.contents_scenes = self.contents_ok = 0

    def add_bin(self, scene: SceneInstance, truth: dict, result, seed: int) -> None:
        """The bin's pose error and the bin-contents check of one frame (a core result)."""
        b, est = scene.bin, getattr(result, "bin", None)
        self.bin_frames += 1
        if est is not None:
            self.bin_perceived += est.source == "perceived"
            if est.source != "perceived":
                self.failures.append(f"seed {seed}: bin not perceived (true ({b.x:.3f}, {b.y:.3f}), "
                                     f"{math.degrees(b.yaw):.0f} deg)")
            self.bin_centre_cm.append(100 * math.hypot(est.center[0] - b.x, est.center[1] - b.y))
            d = (est.yaw - b.yaw) % (np.pi / 2)
            self.bin_yaw_deg.append(math.degrees(min(d, np.pi / 2 - d)))
            # Sides compared in the estimate's frame: b's sides swap when the yaws differ by ~90 deg.
            k = round((est.yaw - b.yaw) / (np.pi / 2))
            true_inner = b.inner_size if k % 2 == 0 else b.inner_size[::-1]
            self.bin_size_cm.append(100 * max(abs(est.inner_size[i] - true_inner[i]) for i in (0, 1)))
        inside = scene.extra.get("in_bin")
        if inside is None:
            return
        self.contents_scenes += 1
        contents = list(getattr(result, "bin_contents", []))
        xy = np.asarray(truth[inside.name].position[:2])
        hits = [o for o in contents if np.linalg.norm(np.asarray(o.position[:2]) - xy) < MATCH_RADIUS]
        ok = len(contents) == 1 and len(hits) == 1 and hits[0].colour_name == inside.colour_name
        self.contents_ok += ok
        if not ok:
            seen = [(o.label, np.round(o.position[:2], 3).tolist()) for o in contents]
            self.failures.append(f"seed {seed}: bin contents {seen}"
                                 f", expected {inside.colour_name} {inside.shape} at {np.round(xy, 3).tolist()}")

    def add(self, scene: SceneInstance, truth: dict, objects: list, seed: int, visible: dict[str, int]) -> None:
        """visible: name -> pixels of each object in view (SimWorld.visible_pixels)."""
        names = [o.name for o in scene.objects if o.name != "in_bin"]
        true_xy = np.array([truth[n].position[:2] for n in names]).reshape(-1, 2)
        est_xy = np.array([o.position[:2] for o in objects]).reshape(-1, 2)
        pairs = match(est_xy, true_xy)
        self.n_true += len(names)
        self.n_est += len(objects)
        self.tp += len(pairs)
        matched_true = {c for _, c in pairs}
        seen = [c for c, n in enumerate(names) if visible[n] >= MIN_VISIBLE_PX]
        self.n_visible += len(seen)
        self.tp_visible += len(matched_true.intersection(seen))
        matched_est = {r for r, _ in pairs}
        for c, n in enumerate(names):
            if c not in matched_true:
                o = scene.object_named(n)
                self.failures.append(f"seed {seed}: missed {o.colour_name} {o.shape} {np.round(o.size, 3).tolist()} "
                                     f"at {np.round(truth[n].position[:2], 3).tolist()} ({visible[n]} px in view)")
        for r, o in enumerate(objects):
            if r not in matched_est:
                self.failures.append(f"seed {seed}: false {getattr(o, 'label', o)} at "
                                     f"{np.round(o.position[:2], 3).tolist()}")
        for r, c in pairs:
            est, gt = objects[r], scene.object_named(names[c])
            pose = truth[names[c]]
            ok_colour = est.colour_name == gt.colour_name
            ok_shape = est.shape == gt.shape
            self.colour_ok += ok_colour
            self.shape_ok += ok_shape
            if not ok_colour or not ok_shape:
                self.failures.append(f"seed {seed}: {gt.colour_name} {gt.shape} {np.round(gt.size, 3).tolist()} "
                                     f"seen as {est.colour_name} {est.shape}")
            self.pos_mm.append(1e3 * float(np.linalg.norm(np.asarray(est.position) - pose.position)))
            if est.size is None:
                continue
            if gt.shape == "box" and est.shape == "box":
                self.yaw_deg.append(yaw_error_deg(est.yaw, np.asarray(est.size), yaw_from_quaternion(pose.quaternion),
                                                  gt.size))
            self.size_mm.append(size_error_mm(gt.shape, np.asarray(est.size), gt.size))

    def summary(self) -> dict:
        def q(v, p):
            return round(float(np.percentile(v, p)), 2) if v else None

        return {
            "objects": self.n_true, "detections": self.n_est,
            "recall": round(self.tp / self.n_true, 4) if self.n_true else None,
            "objects_visible": self.n_visible,
            "recall_visible": round(self.tp_visible / self.n_visible, 4) if self.n_visible else None,
            "precision": round(self.tp / self.n_est, 4) if self.n_est else None,
            "colour_accuracy": round(self.colour_ok / self.tp, 4) if self.tp else None,
            "shape_accuracy": round(self.shape_ok / self.tp, 4) if self.tp else None,
            "position_median_mm": q(self.pos_mm, 50), "position_p95_mm": q(self.pos_mm, 95),
            "yaw_median_deg": q(self.yaw_deg, 50), "yaw_p95_deg": q(self.yaw_deg, 95),
            "size_median_mm": q(self.size_mm, 50), "size_p95_mm": q(self.size_mm, 95),
            "latency_median_ms": q(self.latency_ms, 50), "latency_p95_ms": q(self.latency_ms, 95),
            "stage_median_ms": {k: q(v, 50) for k, v in self.stage_ms.items()} or None,
            "bin_perceived": round(self.bin_perceived / self.bin_frames, 4) if self.bin_frames else None,
            "bin_centre_median_cm": q(self.bin_centre_cm, 50), "bin_centre_p95_cm": q(self.bin_centre_cm, 95),
            "bin_yaw_median_deg": q(self.bin_yaw_deg, 50), "bin_yaw_p95_deg": q(self.bin_yaw_deg, 95),
            "bin_size_median_cm": q(self.bin_size_cm, 50), "bin_size_p95_cm": q(self.bin_size_cm, 95),
            "bin_contents_ok": round(self.contents_ok / self.contents_scenes, 4) if self.contents_scenes else None,
        }


@dataclasses.dataclass
class NaiveObject:
    colour_name: str
    position: np.ndarray
    shape: str = "box"
    yaw: float = 0.0
    size: np.ndarray | None = None
    label: str = "naive"


def run_condition(world: SimWorld, base: SceneInstance, condition: str, seeds: list[int], K: np.ndarray,
                  verbose: bool, side_camera) -> dict:
    core = Perception(PerceptionConfig())
    uncorrected = Perception(PerceptionConfig(correct_camera_bump=False))
    scores = {"core": Score(), "naive": Score()}
    if condition == "camera_bump":
        scores["uncorrected"] = Score()
    t = 0.0
    base = base_for(base, condition, side_camera)
    for seed in seeds:
        scene = scene_for(base, seed, condition, K)
        world.reset(scene)
        frame = world.render()
        truth = world.object_poses()
        visible = world.visible_pixels()
        T_conf = np.asarray(scene.camera.T_base_optical_nominal, dtype=float)
        t += 1.0
        # Latency: best of LATENCY_REPEATS runs of the same frame (from a reset tracker), so
        # other processes on this shared machine inflate it less; stage times of that run.
        best = math.inf
        for _ in range(LATENCY_REPEATS):
            core.reset()
            t0 = time.perf_counter()
            result = core.process(frame.rgb, frame.depth, frame.K, T_conf, t)
            elapsed = time.perf_counter() - t0
            if elapsed < best:
                best, stages = elapsed, dict(core.last_timings)
        scores["core"].latency_ms.append(best * 1e3)
        for name, seconds in stages.items():
            scores["core"].stage_ms.setdefault(name, []).append(seconds * 1e3)
        scores["core"].add(scene, truth, result.objects, seed, visible)
        scores["core"].add_bin(scene, truth, result, seed)
        naive = [NaiveObject(c, p) for c, p in naive_detect(frame.rgb, frame.depth, frame.K, T_conf)]
        scores["naive"].add(scene, truth, naive, seed, visible)
        if "uncorrected" in scores:
            uncorrected.reset()
            scores["uncorrected"].add(scene, truth, uncorrected.process(frame.rgb, frame.depth, frame.K, T_conf,
                                                                        t).objects, seed, visible)
    out = {name: s.summary() for name, s in scores.items()}
    out["core"]["failures"] = scores["core"].failures[:40]
    if verbose:
        for f in scores["core"].failures[:40]:
            print(f"    {f}", flush=True)
    return out


def _fmt(v, unit: str = "", pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:g}{unit}"


def print_condition(name: str, r: dict) -> None:
    c = r["core"]
    print(f"{name:14s} core: recall {_fmt(c['recall'], pct=True)} (of the {c['objects_visible']} with >= "
          f"{MIN_VISIBLE_PX} px in view: {_fmt(c['recall_visible'], pct=True)}), "
          f"precision {_fmt(c['precision'], pct=True)}, "
          f"colour {_fmt(c['colour_accuracy'], pct=True)}, shape {_fmt(c['shape_accuracy'], pct=True)}, "
          f"position {_fmt(c['position_median_mm'])}/{_fmt(c['position_p95_mm'])} mm (median/p95), "
          f"yaw {_fmt(c['yaw_median_deg'])} deg, size {_fmt(c['size_median_mm'])}/{_fmt(c['size_p95_mm'])} mm, "
          f"latency {_fmt(c['latency_median_ms'])}/{_fmt(c['latency_p95_ms'])} ms ({c['objects']} objects)",
          flush=True)
    print(f"{'':14s} bin: perceived {_fmt(c['bin_perceived'], pct=True)}, centre {_fmt(c['bin_centre_median_cm'])}/"
          f"{_fmt(c['bin_centre_p95_cm'])} cm, yaw {_fmt(c['bin_yaw_median_deg'])}/{_fmt(c['bin_yaw_p95_deg'])} deg, "
          f"inner size {_fmt(c['bin_size_median_cm'])}/{_fmt(c['bin_size_p95_cm'])} cm (median/p95); contents "
          f"check {_fmt(c['bin_contents_ok'], pct=True)}", flush=True)
    stages = c.get("stage_median_ms") or {}
    print(f"{'':14s} stages (median ms): " + ", ".join(f"{k} {v:g}" for k, v in stages.items()), flush=True)
    for base in ("naive", "uncorrected"):
        if base in r:
            b = r[base]
            print(f"{'':14s} {base}: recall {_fmt(b['recall'], pct=True)}, precision {_fmt(b['precision'], pct=True)}, "
                  f"colour {_fmt(b['colour_accuracy'], pct=True)}, position {_fmt(b['position_median_mm'])}/"
                  f"{_fmt(b['position_p95_mm'])} mm", flush=True)


def check_targets(results: dict) -> list[str]:
    missed = []
    for cond, r in results.items():
        targets = TARGETS["nominal"] if cond == "nominal" else \
            TARGETS["cell"] if cond in CELL_CONDITIONS else TARGETS["perturbation"]
        for key, goal in targets.items():
            v = r["core"][key]
            higher_is_better = ("recall", "recall_visible", "precision", "colour_accuracy", "shape_accuracy",
                                "bin_contents_ok")
            worse = v is None or (v < goal if key in higher_is_better else v > goal)
            if worse:
                sense = "<=" if key.endswith(("_ms", "_mm", "_deg")) else ">="
                missed.append(f"{cond}.{key} = {v} (target {sense} {goal})")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100, help="scenes per condition (default 100)")
    parser.add_argument("--quick", action="store_true", help="10 scenes per condition (a smoke run)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--verbose", action="store_true", help="print the core's misses and mistakes")
    args = parser.parse_args(argv)
    n = 10 if args.quick else args.scenes
    if n < 1:
        parser.error("--scenes must be >= 1")
    cv2.setNumThreads(1)
    command = " ".join([".venv/bin/python", "bench/perception.py", *map(shlex.quote, sys.argv[1:] if argv is None
                                                                          else argv)])
    print(f"command: {command}", flush=True)
    base = load_scenario(ROOT / "sim" / "scenarios" / "one_cube.yaml").sample(0)
    base = dataclasses.replace(base, objects=(), success=())
    seeds = list(range(n))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "side_camera.yaml"
        path.write_text(SIDE_CAMERA_YAML)
        side_camera = load_scenario(path).sample(0).camera
    with SimWorld(base, renderer="egl") as world:
        K = world.render().K
        for cond in args.conditions:
            results[cond] = run_condition(world, base, cond, seeds, K, args.verbose, side_camera)
            flush_c_stdio()
            print_condition(cond, results[cond])
    missed = check_targets(results)
    print("targets: " + ("all met" if not missed else "missed: " + "; ".join(missed)), flush=True)
    flush_c_stdio()
    print(json.dumps({"command": command, "scenes_per_condition": n, "conditions": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
