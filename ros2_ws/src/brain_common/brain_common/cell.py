"""The work cell, described once: table, bin, camera mount, robot base, gripper, clearances.

A cell's description lives in its robot configuration (``config/robots/<cell>.yaml``,
key ``cell``); :func:`load_cell` reads it into one frozen, validated :class:`Cell` that
every node, the simulator's defaults, the benches and the docs use. Pure Python (numpy,
transforms3d, yaml): no ROS.

What a camera can see (the table's paint, the bin's pose and size) is a **prior** here:
perception observes it each frame and says which it used. What it cannot see (the
robot's base, the gripper's geometry, the clearances kept) is described here only.

Frames and units: the base frame (``base_frame``, x forward, y left, z up, origin at the
robot base on the table top, so the table top is z = 0); metres, radians (``*_deg`` in
the file), RGB colours in 0..1. The camera mount is the optical frame's pose in the base
frame (ROS optical convention: z along the view, x right, y down in the image).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brain_common.robot import ARM_JOINTS

DEFAULT_CELL_FILE = "panda_sim.yaml"  # in the robot configurations' directory (brain_common share/robots)


@dataclass(frozen=True, slots=True)
class Table:
    """The table top: centred at (x, y), surface at z = 0. size (x, y), thickness: m.
    paint: RGB prior of its top (perception estimates the real paint)."""

    x: float
    y: float
    size: tuple[float, float]
    thickness: float
    paint: tuple[float, float, float]

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) of the top, m."""
        hx, hy = self.size[0] / 2.0, self.size[1] / 2.0
        return self.x - hx, self.x + hx, self.y - hy, self.y + hy

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        """True if (x, y) lies on the top, at least `margin` m inside its edges."""
        x0, x1, y0, y1 = self.bounds()
        return x0 + margin <= x <= x1 - margin and y0 + margin <= y <= y1 - margin

    def describe(self) -> str:
        x0, x1, y0, y1 = self.bounds()
        return f"x {x0:.2f}..{x1:.2f} m, y {y0:.2f}..{y1:.2f} m"


@dataclass(frozen=True, slots=True)
class Bin:
    """The open tray standing on the table: centre (x, y) m, yaw about z rad; inner_size
    (along its own x, y) m; walls of wall_height and wall_thickness, floor of floor_thickness."""

    x: float
    y: float
    yaw: float
    inner_size: tuple[float, float]
    wall_height: float
    wall_thickness: float
    floor_thickness: float

    @property
    def floor_z(self) -> float:
        """Height of the floor's top surface, m."""
        return self.floor_thickness

    @property
    def outer_size(self) -> tuple[float, float]:
        """Footprint (along its own x, y) including the walls, m."""
        t = 2.0 * self.wall_thickness
        return self.inner_size[0] + t, self.inner_size[1] + t

    def to_local(self, x: float, y: float) -> tuple[float, float]:
        """Base-frame (x, y) -> the bin's own (u, v) about its centre."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = x - self.x, y - self.y
        return c * dx + s * dy, -s * dx + c * dy

    def to_base(self, u: float, v: float) -> tuple[float, float]:
        """The bin's own (u, v) -> base-frame (x, y)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return self.x + c * u - s * v, self.y + s * u + c * v

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        """True if (x, y) lies inside the walls, at least `margin` m from them."""
        u, v = self.to_local(x, y)
        return abs(u) <= self.inner_size[0] / 2 - margin and abs(v) <= self.inner_size[1] / 2 - margin

    def parts(self) -> list[tuple[str, tuple[float, float, float], tuple[float, float, float]]]:
        """The floor and four walls as boxes: (name, size (3,) m, centre (3,) m in the bin's own
        frame, origin at its footprint's centre on the table). The floor fills the inside; the
        walls along its x axis span the outer width. The one description of the bin's shape
        that the planner, grasp synthesis and the live view build on."""
        ix, iy = self.inner_size
        wt, wh, ft = self.wall_thickness, self.wall_height, self.floor_thickness
        return [
            ("bin_floor", (ix, iy, ft), (0.0, 0.0, ft / 2.0)),
            ("bin_wall_px", (wt, iy + 2.0 * wt, wh), (ix / 2.0 + wt / 2.0, 0.0, wh / 2.0)),
            ("bin_wall_nx", (wt, iy + 2.0 * wt, wh), (-ix / 2.0 - wt / 2.0, 0.0, wh / 2.0)),
            ("bin_wall_py", (ix, wt, wh), (0.0, iy / 2.0 + wt / 2.0, wh / 2.0)),
            ("bin_wall_ny", (ix, wt, wh), (0.0, -iy / 2.0 - wt / 2.0, wh / 2.0)),
        ]


def matrix_from_position_quaternion(position: Sequence[float], xyzw: Sequence[float]) -> np.ndarray:
    """(4, 4) pose from a position (3,) m and a quaternion (x, y, z, w)."""
    from transforms3d.quaternions import quat2mat

    x, y, z, w = (float(v) for v in xyzw)
    T = np.eye(4)
    T[:3, :3] = quat2mat([w, x, y, z])
    T[:3, 3] = [float(v) for v in position]
    return T


@dataclass(frozen=True, slots=True)
class CameraMount:
    """The camera's nominal mount: the optical frame `frame` at `position` (m) with
    `orientation` (quaternion x, y, z, w) in the base frame. On a robot the calibration's
    /tf_static wins; this is the prior and the fallback."""

    frame: str
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]

    def T_base_optical(self) -> np.ndarray:  # noqa: N802 (frames named as in CONVENTIONS.md)
        """(4, 4) the optical frame's pose in the base frame."""
        return matrix_from_position_quaternion(self.position, self.orientation)


@dataclass(frozen=True, slots=True)
class Gripper:
    """The parallel gripper: max_opening between the pads, m; grip_margin: the least slack
    an object must leave inside the opening (wider objects are refused), m."""

    max_opening: float
    grip_margin: float


@dataclass(frozen=True, slots=True)
class Clearances:
    """The one clearance policy, m (grasp synthesis and the motion planner keep the same).

    contact: hand and fingers from the fixtures (table, bin) and from what they rest on,
      on the short straight moves next to contact (descend, lift, place, retreat).
    neighbour: fingers and hand from perceived neighbours (perception's error included).
    motion: every part of the arm from every obstacle on free motions.
    fingertip: fingertips above the surface an object stands on, at the grasp.
    """

    contact: float
    neighbour: float
    motion: float
    fingertip: float


@dataclass(frozen=True, slots=True)
class Cell:
    """One work cell. base_keepout_radius: the robot base's circle about the origin, m
    (nothing is placed or reported there). home: the arm's waiting pose, one angle per
    ARM_JOINTS (rad), where it leaves the camera's view of the table between objects."""

    name: str
    base_frame: str
    table: Table
    bin: Bin
    camera: CameraMount
    base_keepout_radius: float
    gripper: Gripper
    clearances: Clearances
    home: tuple[float, ...]


def perceived_bin(prior: Bin, x: float, y: float, yaw: float, inner_size: Sequence[float], wall_height: float,
                  wall_thickness: float) -> Bin | None:
    """The bin as perceived, with what a camera cannot see (the floor's thickness) and any
    value not measured (<= 0) taken from the prior; None when a value is not finite or an
    inner side is not positive (a broken observation, not a bin)."""
    values = (x, y, yaw, *inner_size, wall_height, wall_thickness)
    if len(inner_size) != 2 or not all(math.isfinite(float(v)) for v in values) or min(inner_size) <= 0.0:
        return None
    return Bin(float(x), float(y), float(yaw), (float(inner_size[0]), float(inner_size[1])),
               float(wall_height) if wall_height > 0 else prior.wall_height,
               float(wall_thickness) if wall_thickness > 0 else prior.wall_thickness, prior.floor_thickness)


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rad) of the body x axis projected on the base xy plane, of a quaternion (x, y, z, w)
    of any norm (its rotation matrix's atan2(R[1, 0], R[0, 0]))."""
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


def bin_from_detected(b: Any, prior: Bin) -> Bin | None:
    """The bin a brain_interfaces/DetectedBin reports (read by attribute: no message import),
    with what a camera cannot see from `prior`; None for a broken report (perceived_bin).
    Whether it was seen this frame (b.seen) is the caller's to judge."""
    q, s = b.pose.orientation, b.inner_size
    return perceived_bin(prior, b.pose.position.x, b.pose.position.y, yaw_from_quaternion(q.x, q.y, q.z, q.w),
                         (s.x, s.y), s.z, b.wall_thickness)


# -- validation ------------------------------------------------------------------------

def _finite(where: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"cell {where} = {value!r} must be a finite number")


def _positive(where: str, value: float, unit: str = "m") -> None:
    _finite(where, value)
    if value <= 0.0:
        raise ValueError(f"cell {where} = {value!r} must be > 0 {unit}")


def _non_negative(where: str, value: float) -> None:
    _finite(where, value)
    if value < 0.0:
        raise ValueError(f"cell {where} = {value!r} must be >= 0 m")


def check_cell(cell: Cell) -> Cell:
    """Return `cell` if it describes a possible cell; raise ValueError naming the bad value."""
    t, b = cell.table, cell.bin
    for name in ("x", "y"):
        _finite(f"table.{name}", getattr(t, name))
    for i, v in enumerate(t.size):
        _positive(f"table.size[{i}]", v)
    _positive("table.thickness", t.thickness)
    if not t.contains(0.0, 0.0):
        raise ValueError(f"cell table ({t.describe()}) must hold the robot base at x = 0, y = 0")
    if len(t.paint) != 3 or not all(0.0 <= c <= 1.0 for c in t.paint):
        raise ValueError(f"cell table.paint = {list(t.paint)!r} must be [r, g, b] each in 0..1")
    for name in ("x", "y", "yaw"):
        _finite(f"bin.{name}", getattr(b, name))
    for i, v in enumerate(b.inner_size):
        _positive(f"bin.inner_size[{i}]", v)
    for name in ("wall_height", "wall_thickness", "floor_thickness"):
        _positive(f"bin.{name}", getattr(b, name))
    if b.floor_thickness >= b.wall_height:
        raise ValueError(f"cell bin.floor_thickness = {b.floor_thickness!r} m must be below "
                         f"bin.wall_height = {b.wall_height!r} m")
    ox, oy = b.outer_size
    for cu in (-ox / 2, ox / 2):
        for cv in (-oy / 2, oy / 2):
            if not t.contains(*b.to_base(cu, cv)):
                raise ValueError(f"cell bin (centre x {b.x:.3f}, y {b.y:.3f} m, outer {ox:.3f} x {oy:.3f} m) "
                                 f"is not fully on the table ({t.describe()})")
    if math.hypot(b.x, b.y) - math.hypot(ox, oy) / 2 < cell.base_keepout_radius:
        raise ValueError(f"cell bin (centre x {b.x:.3f}, y {b.y:.3f} m) reaches into the robot base's keep-out "
                         f"circle (radius {cell.base_keepout_radius} m)")
    cam = cell.camera
    if not cam.frame:
        raise ValueError("cell camera.frame must name the camera's optical frame")
    for i, v in enumerate(cam.position):
        _finite(f"camera.position[{i}]", v)
    q = np.asarray(cam.orientation, float)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise ValueError(f"cell camera.orientation = {list(cam.orientation)!r} must be a unit quaternion [x, y, z, w]")
    _positive("base_keepout_radius", cell.base_keepout_radius)
    if not cell.base_frame:
        raise ValueError("cell base_frame must name the robot's base frame")
    g = cell.gripper
    _positive("gripper.max_opening", g.max_opening)
    _non_negative("gripper.grip_margin", g.grip_margin)
    if g.grip_margin >= g.max_opening:
        raise ValueError(f"cell gripper.grip_margin = {g.grip_margin!r} m must be below "
                         f"gripper.max_opening = {g.max_opening!r} m")
    if len(cell.home) != len(ARM_JOINTS):
        raise ValueError(f"cell home = {list(cell.home)!r} must give one angle (rad) per arm joint: "
                         f"{len(ARM_JOINTS)} ({', '.join(ARM_JOINTS)})")
    for i, v in enumerate(cell.home):
        _finite(f"home[{i}]", v)
    c = cell.clearances
    for name in ("contact", "neighbour", "motion", "fingertip"):
        _non_negative(f"clearances.{name}", getattr(c, name))
    if c.neighbour < c.contact:
        raise ValueError(f"cell clearances.neighbour = {c.neighbour!r} m must be >= clearances.contact = "
                         f"{c.contact!r} m (perceived neighbours are known less well than fixtures)")
    return cell


# -- reading ---------------------------------------------------------------------------

CELL_KEYS = ("name", "base_frame", "table", "bin", "camera", "base_keepout_radius", "gripper", "clearances", "home")
TABLE_KEYS = ("center", "size", "thickness", "paint")
BIN_KEYS = ("center", "yaw_deg", "inner_size", "wall_height", "wall_thickness", "floor_thickness")
CAMERA_KEYS = ("frame", "position", "look_at", "up", "orientation")
GRIPPER_KEYS = ("max_opening", "grip_margin")
CLEARANCE_KEYS = ("contact", "neighbour", "motion", "fingertip")


def _section(data: Mapping[str, Any], key: str, keys: Sequence[str], where: str) -> Mapping[str, Any]:
    if key not in data:
        raise ValueError(f"{where}: cell.{key} is missing; it needs {', '.join(keys)}")
    value = data[key]
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: cell.{key} must be a mapping with {', '.join(keys)}; got {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValueError(f"{where}: cell.{key}.{unknown[0]} is not a known key; valid: {', '.join(keys)}")
    return value


def _number(m: Mapping[str, Any], key: str, where: str) -> float:
    if key not in m:
        raise ValueError(f"{where} is missing {key}")
    v = m[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{where}.{key} = {v!r} must be a number")
    return float(v)


def _vector(m: Mapping[str, Any], key: str, n: int, where: str) -> tuple[float, ...]:
    if key not in m:
        raise ValueError(f"{where} is missing {key}")
    v = m[key]
    if (not isinstance(v, list | tuple) or len(v) != n
            or any(isinstance(e, bool) or not isinstance(e, int | float) for e in v)):
        raise ValueError(f"{where}.{key} = {v!r} must be a list of {n} numbers")
    return tuple(float(e) for e in v)


class LookAtError(ValueError):
    """A degenerate camera view; `field` is "look_at" or "up", the value to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def rotation_from_look_at(position: Sequence[float], look_at: Sequence[float],
                          up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(3, 3) rotation of an optical frame at `position` looking at `look_at`, `up` up in
    the image. Raises LookAtError when the view is degenerate."""
    z = np.asarray(look_at, float) - np.asarray(position, float)
    if np.linalg.norm(z) < 1e-6:
        raise LookAtError("look_at", "equals camera.position; the camera must look somewhere else")
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    if np.linalg.norm(x) < 1e-6:
        raise LookAtError("up", f"{[float(v) for v in up]} is parallel to the view direction "
                                f"{z.round(3).tolist()}; choose an up vector across the view")
    x = x / np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])


def quaternion_from_matrix(R: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a (3, 3) rotation, w >= 0."""
    from transforms3d.quaternions import mat2quat

    w, x, y, z = mat2quat(np.asarray(R, float))
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    return float(x), float(y), float(z), float(w)


def cell_from_dict(data: Any, where: str = "cell") -> Cell:
    """A validated Cell from the ``cell`` mapping of a robot configuration.
    Raises ValueError naming `where` and the bad key or value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: cell must be a mapping with {', '.join(CELL_KEYS)}; got {data!r}")
    unknown = sorted(set(data) - set(CELL_KEYS))
    if unknown:
        raise ValueError(f"{where}: cell.{unknown[0]} is not a known key; valid: {', '.join(CELL_KEYS)}")
    t = _section(data, "table", TABLE_KEYS, where)
    w = f"{where}: cell.table"
    cx, cy = _vector(t, "center", 2, w)
    table = Table(cx, cy, _vector(t, "size", 2, w), _number(t, "thickness", w), _vector(t, "paint", 3, w))
    b = _section(data, "bin", BIN_KEYS, where)
    w = f"{where}: cell.bin"
    bx, by = _vector(b, "center", 2, w)
    bin_ = Bin(bx, by, math.radians(_number(b, "yaw_deg", w)), _vector(b, "inner_size", 2, w),
               _number(b, "wall_height", w), _number(b, "wall_thickness", w), _number(b, "floor_thickness", w))
    c = _section(data, "camera", CAMERA_KEYS, where)
    w = f"{where}: cell.camera"
    position = _vector(c, "position", 3, w)
    if ("orientation" in c) == ("look_at" in c):
        raise ValueError(f"{w}: give either orientation [x, y, z, w] (from a calibration) or look_at [x, y, z] "
                         "(+ up), exactly one")
    if "orientation" in c:
        orientation = _vector(c, "orientation", 4, w)
    else:
        up = _vector(c, "up", 3, w) if "up" in c else (0.0, 0.0, 1.0)
        try:
            orientation = quaternion_from_matrix(rotation_from_look_at(position, _vector(c, "look_at", 3, w), up))
        except LookAtError as exc:
            raise ValueError(f"{w}.{exc.field}: {exc}") from None
    frame = c.get("frame")
    if not isinstance(frame, str):
        raise ValueError(f"{w}.frame = {frame!r} must name the camera's optical frame")
    camera = CameraMount(frame, position, orientation)
    g = _section(data, "gripper", GRIPPER_KEYS, where)
    w = f"{where}: cell.gripper"
    gripper = Gripper(_number(g, "max_opening", w), _number(g, "grip_margin", w))
    k = _section(data, "clearances", CLEARANCE_KEYS, where)
    w = f"{where}: cell.clearances"
    clearances = Clearances(*(_number(k, n, w) for n in CLEARANCE_KEYS))
    base_frame = data.get("base_frame")
    if not isinstance(base_frame, str):
        raise ValueError(f"{where}: cell.base_frame = {base_frame!r} must name the robot's base frame")
    name = data.get("name", "")
    cell = Cell(str(name), base_frame, table, bin_, camera, _number(data, "base_keepout_radius", f"{where}: cell"),
                gripper, clearances, _vector(data, "home", len(ARM_JOINTS), f"{where}: cell"))
    try:
        return check_cell(cell)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_cell(path: str | Path) -> Cell:
    """The Cell described by the ``cell`` key of a robot configuration file.
    Raises ValueError naming the file and the problem."""
    from brain_common.files import read_yaml

    p = Path(path)
    data = read_yaml(p, "robot configuration")
    if not isinstance(data, Mapping) or "cell" not in data:
        raise ValueError(f"robot configuration {p} has no 'cell' section describing the work cell "
                         f"(table, bin, camera, gripper, clearances); see {DEFAULT_CELL_FILE}")
    return cell_from_dict(data["cell"], str(p))


def default_cell_path() -> Path:
    """The default cell's robot configuration: share/brain_common/robots/panda_sim.yaml
    (config/robots/ of the source tree), or next to this package in a source checkout."""
    from brain_common.share import share_dir

    try:
        return share_dir("brain_common") / "robots" / DEFAULT_CELL_FILE
    except LookupError:
        return Path(__file__).resolve().parents[4] / "config" / "robots" / DEFAULT_CELL_FILE


_DEFAULT: Cell | None = None


def default_cell() -> Cell:
    """The default cell (loaded once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_cell(default_cell_path())
    return _DEFAULT


def cell_for(path: str | Path | None) -> Cell:
    """The cell of robot configuration `path`, or the default cell for None or ""."""
    return load_cell(path) if path else default_cell()
