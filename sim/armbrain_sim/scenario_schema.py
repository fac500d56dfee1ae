"""The scenario file's schema: its keys, limits and defaults, the parsed specs (Range,
Region, ObjectSpec, ...) and the validator that turns a YAML mapping into a Scenario with
error messages naming the file, the field path and what is allowed (ScenarioError).

armbrain_sim.scenario loads files through ``parse_scenario`` and re-exports the public
names of this module; the schema itself is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from transforms3d.euler import euler2mat

from armbrain_sim.footprint import Footprint, bin_footprint, circle, gap, object_footprint, on_table
from armbrain_sim.scene import (
    ALL_OBJECTS,
    BinSetup,
    LightSetup,
    SuccessRule,
    TableSetup,
)
from brain_common.cell import LookAtError, default_cell, rotation_from_look_at
from brain_common.palette import PALETTE as _PALETTE


class ScenarioError(ValueError):
    """A scenario file is invalid, or a seed asks for a scene that cannot be built.

    The message names the file, the field path (``objects[1].size``) and what is allowed.
    """


# Object colours (RGB 0..1): the one palette the brain names colours with.
PALETTE = _PALETTE

SHAPES = ("box", "cylinder")
RENDERERS = ("auto", "egl", "tiny")
TARGETS = ("bin", "object", "position")

SIDE_RANGE = (0.02, 0.08)  # m, every side of an object (box side, cylinder diameter and height)
MASS_RANGE = (0.005, 2.0)  # kg
DEFAULT_DENSITY = 500.0  # kg/m^3 (light wood): a 5 cm cube weighs 62.5 g
MIN_GAP = 0.01  # m, free space between any two footprints (objects, bin, robot base)
REACH_RADIUS = (0.3, 0.7)  # m, x/y distance of a randomly placed object's centre from the base
MAX_BIN_RADIUS = 0.8  # m, the bin centre must be within the Panda's reach
DEFAULT_REGION = ((0.25, 0.75), (-0.45, 0.45))  # m, x and y ranges for random placement
DEFAULT_YAW_DEG = (-180.0, 180.0)
DEFAULT_DISTRACTOR_SIDE = (0.03, 0.06)  # m
MAX_DISTRACTORS = 20

DEFAULT_CAMERA_UP = (0.0, 0.0, 1.0)  # with camera.look_at: z up in the image
DEFAULT_RESOLUTION = (640, 480)
DEFAULT_FOV_Y_DEG = 50.0
DEFAULT_NEAR = 0.05
DEFAULT_FAR = 3.0

# Columns: the optical frame's axes (x right, y down, z forward) in the camera body frame
# (ROS camera_link: x forward, y left, z up).
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

# Valid keys per section (the order is the order the docs use).
TOP_KEYS = ("name", "description", "goal", "camera", "light", "table", "bin", "objects", "distractors",
            "perturbations", "success", "target_success_rate")
CAMERA_KEYS = ("position", "look_at", "up", "rpy_deg", "resolution", "fov_deg", "near", "far", "renderer")
LIGHT_KEYS = ("direction", "colour", "ambient", "diffuse", "specular")
TABLE_KEYS = ("colour", "x", "y", "size")
BIN_KEYS = ("x", "y", "yaw_deg", "inner_size", "wall_height", "colour")
OBJECT_KEYS = ("name", "shape", "size", "diameter", "height", "colour", "mass", "position", "region", "yaw_deg")
REGION_KEYS = ("x", "y")
DISTRACTOR_KEYS = ("count", "region", "shapes", "size", "colours")
PERTURBATION_KEYS = ("brightness_gain", "contrast_gain", "colour_cast", "hue_shift_deg", "rgb_noise_sigma",
                     "depth_noise_sigma", "depth_dropout", "camera_jitter")
JITTER_KEYS = ("position_m", "angle_deg")
SUCCESS_KEYS = ("object", "target", "target_object", "position", "xy_tolerance", "z_tolerance")

# Allowed values of the numeric perturbations: (lo, hi, unit).
PERTURBATION_LIMITS: dict[str, tuple[float, float, str]] = {
    "brightness_gain": (0.1, 3.0, ""),
    "contrast_gain": (0.1, 3.0, ""),
    "colour_cast": (0.0, 2.0, ""),
    "hue_shift_deg": (-180.0, 180.0, "deg"),
    "rgb_noise_sigma": (0.0, 64.0, "(0..255 units)"),
    "depth_noise_sigma": (0.0, 0.05, "m"),
    "depth_dropout": (0.0, 0.9, "(fraction)"),
    "position_m": (0.0, 0.2, "m"),
    "angle_deg": (0.0, 30.0, "deg"),
}


# ---------------------------------------------------------------------------------------------
# Parsed scenario


@dataclass(frozen=True, slots=True)
class Range:
    """A closed interval [lo, hi]; lo == hi is a fixed value (drawing it uses no randomness)."""

    lo: float
    hi: float

    @property
    def fixed(self) -> bool:
        return self.lo == self.hi

    def draw(self, rng: np.random.Generator) -> float:
        return self.lo if self.fixed else float(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True, slots=True)
class Region:
    """An axis-aligned rectangle of the table, base frame, metres."""

    x: Range
    y: Range

    def __str__(self) -> str:
        return f"x {fmt(self.x.lo)}..{fmt(self.x.hi)} m, y {fmt(self.y.lo)}..{fmt(self.y.hi)} m"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One named object of a scenario. Either `position` (x, y) is fixed (and `yaw_deg` is a
    fixed Range), or the object is placed at random in `region` with yaw drawn from `yaw_deg`.
    size: (x, y, z) metres (cylinder: diameter, diameter, height)."""

    index: int
    name: str
    shape: str
    size: tuple[float, float, float]
    rgb: tuple[float, float, float]
    colour_name: str
    mass: float
    position: tuple[float, float] | None
    region: Region
    yaw_deg: Range

    @property
    def label(self) -> str:
        return f"objects[{self.index}] '{self.name}'"


@dataclass(frozen=True, slots=True)
class DistractorSpec:
    """`count` distractors (an integer range), each of a random shape from `shapes`, sides
    drawn from `side` (metres), a colour from `colours` (palette names), placed in `region`."""

    count: tuple[int, int]
    region: Region
    shapes: tuple[str, ...]
    side: Range
    colours: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PerturbationSpec:
    """The perturbations of a scenario; each is a Range drawn per seed (fixed when lo == hi)."""

    brightness_gain: Range = Range(1.0, 1.0)
    contrast_gain: Range = Range(1.0, 1.0)
    colour_cast: tuple[Range, Range, Range] = (Range(1.0, 1.0), Range(1.0, 1.0), Range(1.0, 1.0))
    hue_shift_deg: Range = Range(0.0, 0.0)
    rgb_noise_sigma: Range = Range(0.0, 0.0)
    depth_noise_sigma: Range = Range(0.0, 0.0)
    depth_dropout: Range = Range(0.0, 0.0)
    jitter_position_m: Range = Range(0.0, 0.0)
    jitter_angle_deg: Range = Range(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """The configured camera. T_base_optical_nominal: (4, 4), read-only."""

    width: int
    height: int
    fov_y_deg: float
    near: float
    far: float
    renderer: str
    T_base_optical_nominal: np.ndarray


def default_mass(shape: str, size: Sequence[float]) -> float:
    """kg, from DEFAULT_DENSITY."""
    volume = math.pi * (size[0] / 2.0) ** 2 * size[2] if shape == "cylinder" else size[0] * size[1] * size[2]
    return DEFAULT_DENSITY * volume


def table_bounds(table: TableSetup) -> str:
    return (f"x {fmt(table.x - table.size[0] / 2)}..{fmt(table.x + table.size[0] / 2)} m, "
            f"y {fmt(table.y - table.size[1] / 2)}..{fmt(table.y + table.size[1] / 2)} m")


def fmt(v: float) -> str:
    return f"{v:g}"


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _ScenarioSoFar(Protocol):
    """What the validator needs of the scenario built so far (armbrain_sim.scenario.Scenario):
    its table and its placement rule (why a footprint cannot stand there, or None)."""

    @property
    def table(self) -> TableSetup: ...

    def _placement_problem(self, fp: Footprint, height: float, placed: Iterable[tuple[str, Footprint]],
                           random: bool) -> str | None: ...


ScenarioT = TypeVar("ScenarioT")


def parse_scenario(data: Any, path: Path, scenario_type: Callable[..., ScenarioT]) -> ScenarioT:
    """The validated scenario of a scenario file's YAML `data` read from `path` (named in
    the messages), built as `scenario_type` (armbrain_sim.scenario.Scenario). Raises
    ScenarioError naming the file, the field and what is allowed."""
    return _Parser(path, scenario_type).scenario(data)


class _Parser:
    """Validation with messages that name the file and the field path."""

    def __init__(self, path: Path, scenario_type: Callable[..., Any]) -> None:
        self.path = path
        self.scenario_type = scenario_type  # built here, sampled there: injected to keep the modules acyclic

    def error(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")

    # -- primitives -----------------------------------------------------------------------

    def mapping(self, value: Any, where: str, keys: Sequence[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(where or "top level", f"expected a mapping with keys {', '.join(keys)}; "
                                                   f"got {value!r}")
        for k in value:
            if k not in keys:
                close = difflib.get_close_matches(str(k), keys, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                name = f"{where}.{k}" if where else str(k)
                raise self.error(name, f"unknown key{hint}; valid keys: {', '.join(keys)}")
        return value

    def number(self, value: Any, where: str, lo: float, hi: float, unit: str = "") -> float:
        allowed = f"allowed: {fmt(lo)}..{fmt(hi)}{' ' + unit if unit else ''}"
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # YAML 1.1 reads 1e-3 (no dot) as text
                value = float(value)
        if not is_number(value) or not math.isfinite(value):
            raise self.error(where, f"{value!r} is not a number; {allowed}")
        if not lo <= value <= hi:
            raise self.error(where, f"{fmt(value)} is out of range; {allowed}")
        return float(value)

    def integer(self, value: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"{value!r} is not an integer; allowed: {lo}..{hi}")
        if not lo <= value <= hi:
            raise self.error(where, f"{value} is out of range; allowed: {lo}..{hi}")
        return value

    def vector(self, value: Any, where: str, n: int, lo: float, hi: float, unit: str = "",
               names: str = "") -> tuple[float, ...]:
        if not isinstance(value, list | tuple) or len(value) != n:
            shape = f"[{names}]" if names else f"a list of {n} numbers"
            raise self.error(where, f"expected {shape}; got {value!r}")
        return tuple(self.number(v, f"{where}[{i}]", lo, hi, unit) for i, v in enumerate(value))

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.error(where, f"{value!r} is not valid; choices: {', '.join(choices)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.error(where, f"expected text; got {value!r}")
        return value

    def range_or_number(self, value: Any, where: str, lo: float, hi: float, unit: str = "") -> Range:
        """A fixed number, or [lo, hi] (lo <= hi) drawn uniformly per seed."""
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise self.error(where, f"expected a number or a [lo, hi] range; got {value!r}")
            a = self.number(value[0], f"{where}[0]", lo, hi, unit)
            b = self.number(value[1], f"{where}[1]", lo, hi, unit)
            if a > b:
                raise self.error(where, f"range [{fmt(a)}, {fmt(b)}] has lo > hi")
            return Range(a, b)
        v = self.number(value, where, lo, hi, unit)
        return Range(v, v)

    def colour(self, value: Any, where: str) -> tuple[tuple[float, float, float], str]:
        """(rgb, palette name or "")."""
        if isinstance(value, str):
            name = value.strip().lower()
            if name not in PALETTE:
                raise self.error(where, f"{value!r} is not a palette colour; choices: {', '.join(PALETTE)} "
                                        f"or [r, g, b] in 0..1")
            return PALETTE[name], name
        if isinstance(value, list | tuple) and len(value) == 3:
            r, g, b = self.vector(value, where, 3, 0.0, 1.0)
            return (r, g, b), ""
        raise self.error(where, f"{value!r} is not a colour; give a palette name ({', '.join(PALETTE)}) "
                                f"or [r, g, b] in 0..1")

    def region(self, value: Any, where: str) -> Region:
        m = self.mapping(value, where, REGION_KEYS)
        for k in REGION_KEYS:
            if k not in m:
                raise self.error(f"{where}.{k}", "missing; a region is {x: [lo, hi], y: [lo, hi]} in metres")
        rx = self.range_or_number(m["x"], f"{where}.x", -3.0, 3.0, "m")
        ry = self.range_or_number(m["y"], f"{where}.y", -3.0, 3.0, "m")
        return Region(rx, ry)

    # -- sections -------------------------------------------------------------------------

    def scenario(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise self.error("", f"a scenario file is a mapping with keys {', '.join(TOP_KEYS)}; got {data!r}")
        top = self.mapping(data, "", TOP_KEYS)
        name = self.text(top.get("name", self.path.stem), "name").strip()
        if not name:
            raise self.error("name", "must not be empty")
        description = self.text(top.get("description", ""), "description")
        raw_goal = top.get("goal", "")
        if isinstance(raw_goal, list):
            if not raw_goal:
                raise self.error("goal", "an empty list; give a goal or a list of goals")
            goals = tuple(self.text(g, f"goal[{i}]") for i, g in enumerate(raw_goal))
        else:
            goals = (self.text(raw_goal, "goal"),) if raw_goal else ()
        goal = "; ".join(goals)
        camera = self.camera(top.get("camera"))
        light = self.light(top.get("light"))
        table = self.table(top.get("table"))
        bin_ = self.bin(top.get("bin"), table)
        partial = self.scenario_type(path=self.path, name=name, description=description, goal=goal, goals=goals,
                                     camera=camera, light=light, table=table, bin=bin_, objects=(), distractors=None,
                                     perturbations=PerturbationSpec(), success=())
        # The placement checks are the Scenario's own, so objects and distractors are
        # validated against a scenario built so far.
        objects = self.objects(top.get("objects"), partial)
        partial = dataclasses.replace(partial, objects=objects)
        distractors = self.distractors(top.get("distractors"), partial)
        perturbations = self.perturbations(top.get("perturbations"))
        success = self.success(top.get("success"), objects, table)
        target = top.get("target_success_rate")
        target = None if target is None else self.number(target, "target_success_rate", 0.0, 1.0)
        return dataclasses.replace(partial, distractors=distractors, perturbations=perturbations, success=success,
                                   target_success_rate=target)

    def camera(self, value: Any) -> CameraSpec:
        m = self.mapping(value, "camera", CAMERA_KEYS)
        # Defaults: the cell's camera mount (brain_common.cell); a position alone keeps its orientation.
        mount = default_cell().camera.T_base_optical()
        position = np.array(self.vector(m.get("position", list(mount[:3, 3])), "camera.position", 3, -5.0, 5.0,
                                        "m", "x, y, z"))
        if "rpy_deg" in m:
            for k in ("look_at", "up"):
                if k in m:
                    raise self.error(f"camera.{k}", "give either camera.look_at (+ up) or camera.rpy_deg, not both")
            r, p, y = self.vector(m["rpy_deg"], "camera.rpy_deg", 3, -360.0, 360.0, "deg", "roll, pitch, yaw")
            R_base_body = euler2mat(math.radians(r), math.radians(p), math.radians(y), "sxyz")
            R = R_base_body @ R_BODY_OPTICAL
        elif "look_at" in m:
            look_at = np.array(self.vector(m["look_at"], "camera.look_at", 3, -5.0, 5.0, "m", "x, y, z"))
            up = np.array(self.vector(m.get("up", DEFAULT_CAMERA_UP), "camera.up", 3, -1.0, 1.0, "", "x, y, z"))
            try:
                R = rotation_from_look_at(position, look_at, up)
            except LookAtError as exc:
                raise self.error(f"camera.{exc.field}", str(exc)) from None
        else:
            if "up" in m:
                raise self.error("camera.up", "is used only with camera.look_at")
            R = mount[:3, :3]
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = position
        T.setflags(write=False)
        resolution = m.get("resolution", list(DEFAULT_RESOLUTION))
        if not isinstance(resolution, list | tuple) or len(resolution) != 2:
            raise self.error("camera.resolution", f"expected [width, height] in pixels; got {resolution!r}")
        width = self.integer(resolution[0], "camera.resolution[0]", 16, 4096)
        height = self.integer(resolution[1], "camera.resolution[1]", 16, 4096)
        fov = self.number(m.get("fov_deg", DEFAULT_FOV_Y_DEG), "camera.fov_deg", 10.0, 120.0, "deg")
        near = self.number(m.get("near", DEFAULT_NEAR), "camera.near", 0.001, 1.0, "m")
        far = self.number(m.get("far", DEFAULT_FAR), "camera.far", 0.1, 100.0, "m")
        if far <= near:
            raise self.error("camera.far", f"{fmt(far)} m must be greater than camera.near ({fmt(near)} m)")
        renderer = self.choice(m.get("renderer", "auto"), "camera.renderer", RENDERERS)
        return CameraSpec(width=width, height=height, fov_y_deg=fov, near=near, far=far, renderer=renderer,
                          T_base_optical_nominal=T)

    def light(self, value: Any) -> LightSetup:
        m = self.mapping(value, "light", LIGHT_KEYS)
        d = LightSetup()
        direction = self.vector(m.get("direction", d.direction), "light.direction", 3, -10.0, 10.0, "", "x, y, z")
        if math.hypot(*direction) < 1e-6:
            raise self.error("light.direction", "must not be [0, 0, 0]; it points from the scene to the light")
        colour = self.colour(m["colour"], "light.colour")[0] if "colour" in m else d.colour
        return LightSetup(direction=direction, colour=colour,
                          ambient=self.number(m.get("ambient", d.ambient), "light.ambient", 0.0, 1.0),
                          diffuse=self.number(m.get("diffuse", d.diffuse), "light.diffuse", 0.0, 1.0),
                          specular=self.number(m.get("specular", d.specular), "light.specular", 0.0, 1.0))

    def table(self, value: Any) -> TableSetup:
        m = self.mapping(value, "table", TABLE_KEYS)
        d = TableSetup()
        rgb = self.colour(m["colour"], "table.colour")[0] if "colour" in m else d.rgb
        x = self.number(m.get("x", d.x), "table.x", -2.0, 2.0, "m")
        y = self.number(m.get("y", d.y), "table.y", -2.0, 2.0, "m")
        size = self.vector(m.get("size", d.size), "table.size", 2, 0.3, 4.0, "m", "x, y")
        if not (abs(x) <= size[0] / 2 and abs(y) <= size[1] / 2):
            raise self.error("table", f"the robot base (x = 0, y = 0) must stand on the table; this table covers "
                                      f"x {fmt(x - size[0] / 2)}..{fmt(x + size[0] / 2)} m, "
                                      f"y {fmt(y - size[1] / 2)}..{fmt(y + size[1] / 2)} m")
        return TableSetup(x=x, y=y, size=(size[0], size[1]), thickness=d.thickness, rgb=rgb)

    def bin(self, value: Any, table: TableSetup) -> BinSetup:
        m = self.mapping(value, "bin", BIN_KEYS)
        d = BinSetup()
        x = self.number(m.get("x", d.x), "bin.x", -2.0, 2.0, "m")
        y = self.number(m.get("y", d.y), "bin.y", -2.0, 2.0, "m")
        yaw = math.radians(self.number(m.get("yaw_deg", math.degrees(d.yaw)), "bin.yaw_deg", -360.0, 360.0, "deg"))
        inner = self.vector(m.get("inner_size", d.inner_size), "bin.inner_size", 2, 0.08, 0.5, "m", "x, y")
        wall = self.number(m.get("wall_height", d.wall_height), "bin.wall_height", 0.01, 0.2, "m")
        rgb = self.colour(m["colour"], "bin.colour")[0] if "colour" in m else d.rgb
        b = BinSetup(x=x, y=y, yaw=yaw, inner_size=(inner[0], inner[1]), wall_height=wall,
                     wall_thickness=d.wall_thickness, floor_thickness=d.floor_thickness, rgb=rgb)
        fp = bin_footprint(b)
        if not on_table(fp, table):
            raise self.error("bin", f"the bin (centre x {fmt(x)}, y {fmt(y)} m) is not fully on the table "
                                    f"({table_bounds(table)})")
        if gap(fp, circle(0.0, 0.0, default_cell().base_keepout_radius)) < MIN_GAP:
            raise self.error("bin", f"the bin overlaps the robot base's keep-out circle (radius "
                                    f"{fmt(default_cell().base_keepout_radius)} m around x = 0, y = 0)")
        r = math.hypot(x, y)
        if r > MAX_BIN_RADIUS:
            raise self.error("bin", f"the bin centre is {r:.3f} m from the robot base; the arm reaches "
                                    f"at most {fmt(MAX_BIN_RADIUS)} m")
        return b

    def objects(self, value: Any, scenario: _ScenarioSoFar) -> tuple[ObjectSpec, ...]:
        if not isinstance(value, list) or not value:
            raise self.error("objects", f"expected a list of at least one object; got {value!r}")
        raw = [self.mapping(v, f"objects[{i}]", OBJECT_KEYS) for i, v in enumerate(value)]
        explicit: dict[str, int] = {}
        for i, m in enumerate(raw):
            if "name" in m:
                name = self.text(m["name"], f"objects[{i}].name").strip()
                if not name or any(c.isspace() for c in name):
                    raise self.error(f"objects[{i}].name", f"{m['name']!r} is not valid; a name is one word "
                                                           f"(letters, digits, _ -)")
                if name.startswith("distractor_"):
                    raise self.error(f"objects[{i}].name", f"'{name}': names starting with 'distractor_' are "
                                                           f"reserved for distractors")
                if name in explicit:
                    raise self.error(f"objects[{i}].name", f"'{name}' is already the name of "
                                                           f"objects[{explicit[name]}]; names must be unique")
                explicit[name] = i
        taken = set(explicit)
        specs = [self.object(i, m, taken) for i, m in enumerate(raw)]
        placed: list[tuple[str, Footprint]] = []
        for o in specs:
            if o.position is None:
                continue
            fp = object_footprint(o.shape, o.size, o.position[0], o.position[1], math.radians(o.yaw_deg.lo))
            problem = scenario._placement_problem(fp, o.size[2], placed, random=False)
            if problem:
                raise self.error(f"objects[{o.index}].position", f"'{o.name}' at x {fmt(o.position[0])}, "
                                                                 f"y {fmt(o.position[1])} m {problem}")
            placed.append((o.label, fp))
        for o in specs:
            if o.position is None:
                self.check_region(scenario, o.region, o.shape, o.size, o.yaw_deg, placed,
                                  f"objects[{o.index}].region", f"'{o.name}'")
        return tuple(specs)

    def object(self, i: int, m: dict, taken: set[str]) -> ObjectSpec:
        where = f"objects[{i}]"
        shape = self.choice(m.get("shape", "box"), f"{where}.shape", SHAPES)
        lo, hi = SIDE_RANGE
        if shape == "box":
            for k in ("diameter", "height"):
                if k in m:
                    raise self.error(f"{where}.{k}", "only for shape: cylinder; a box has size: [x, y, z] "
                                                     "(or one number for a cube)")
            if "size" not in m:
                raise self.error(f"{where}.size", f"missing; a box needs size: [x, y, z] or one number for a cube, "
                                                  f"each {fmt(lo)}..{fmt(hi)} m")
            if isinstance(m["size"], list | tuple):
                sx, sy, sz = self.vector(m["size"], f"{where}.size", 3, lo, hi, "m", "x, y, z")
            else:
                sx = sy = sz = self.number(m["size"], f"{where}.size", lo, hi, "m")
            size = (sx, sy, sz)
        else:
            if "size" in m:
                raise self.error(f"{where}.size", "only for shape: box; a cylinder has diameter and height")
            for k in ("diameter", "height"):
                if k not in m:
                    raise self.error(f"{where}.{k}", f"missing; a cylinder needs diameter and height, "
                                                     f"each {fmt(lo)}..{fmt(hi)} m")
            dia = self.number(m["diameter"], f"{where}.diameter", lo, hi, "m")
            size = (dia, dia, self.number(m["height"], f"{where}.height", lo, hi, "m"))
        if "colour" not in m:
            raise self.error(f"{where}.colour", f"missing; give a palette name ({', '.join(PALETTE)}) or [r, g, b]")
        rgb, colour_name = self.colour(m["colour"], f"{where}.colour")
        mass = (self.number(m["mass"], f"{where}.mass", *MASS_RANGE, "kg") if "mass" in m
                else default_mass(shape, size))
        if "name" in m:
            name = m["name"].strip()
        else:
            base = f"{colour_name}_{shape}" if colour_name else shape
            name, k = base, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
        position = None
        if "position" in m:
            if "region" in m:
                raise self.error(f"{where}.region", "give either position (a fixed pose) or region (random), not both")
            position = self.vector(m["position"], f"{where}.position", 2, -3.0, 3.0, "m", "x, y")
            yaw = self.number(m.get("yaw_deg", 0.0), f"{where}.yaw_deg", -360.0, 360.0, "deg")
            yaw_deg = Range(yaw, yaw)
            region = Region(Range(position[0], position[0]), Range(position[1], position[1]))
        else:
            region = (self.region(m["region"], f"{where}.region") if "region" in m
                      else Region(Range(*DEFAULT_REGION[0]), Range(*DEFAULT_REGION[1])))
            yaw_deg = self.range_or_number(m.get("yaw_deg", list(DEFAULT_YAW_DEG)), f"{where}.yaw_deg",
                                           -360.0, 360.0, "deg")
        return ObjectSpec(index=i, name=name, shape=shape, size=size, rgb=rgb, colour_name=colour_name, mass=mass,
                          position=(position[0], position[1]) if position is not None else None,
                          region=region, yaw_deg=yaw_deg)

    def check_region(self, scenario: _ScenarioSoFar, region: Region, shape: str, size: tuple[float, float, float],
                     yaw_deg: Range, placed: list[tuple[str, Footprint]], where: str, what: str) -> None:
        """Fail at load when no point of a grid over `region` can hold the object on its own."""
        yaw = math.radians((yaw_deg.lo + yaw_deg.hi) / 2.0)
        for x in np.linspace(region.x.lo, region.x.hi, 25):
            for y in np.linspace(region.y.lo, region.y.hi, 25):
                fp = object_footprint(shape, size, float(x), float(y), yaw)
                if scenario._placement_problem(fp, size[2], placed, random=True) is None:
                    return
        reach = f"{fmt(REACH_RADIUS[0])}..{fmt(REACH_RADIUS[1])} m"
        raise self.error(where, f"no place in {region} where {what} fits: it must be fully on the table "
                                f"({table_bounds(scenario.table)}), {reach} from the robot base, "
                                f"clear of the bin and of fixed objects by "
                                f"{fmt(MIN_GAP)} m, and in the camera's view")

    def distractors(self, value: Any, scenario: _ScenarioSoFar) -> DistractorSpec | None:
        if value is None:
            return None
        m = self.mapping(value, "distractors", DISTRACTOR_KEYS)
        if "count" not in m:
            raise self.error("distractors.count", f"missing; a number 0..{MAX_DISTRACTORS} or a [lo, hi] range")
        c = m["count"]
        if isinstance(c, list | tuple):
            if len(c) != 2:
                raise self.error("distractors.count", f"expected a number or a [lo, hi] range; got {c!r}")
            count = (self.integer(c[0], "distractors.count[0]", 0, MAX_DISTRACTORS),
                     self.integer(c[1], "distractors.count[1]", 0, MAX_DISTRACTORS))
            if count[0] > count[1]:
                raise self.error("distractors.count", f"range {list(count)} has lo > hi")
        else:
            n = self.integer(c, "distractors.count", 0, MAX_DISTRACTORS)
            count = (n, n)
        region = (self.region(m["region"], "distractors.region") if "region" in m
                  else Region(Range(*DEFAULT_REGION[0]), Range(*DEFAULT_REGION[1])))
        shapes = m.get("shapes", list(SHAPES))
        if not isinstance(shapes, list) or not shapes:
            raise self.error("distractors.shapes", f"expected a list of shapes from: {', '.join(SHAPES)}")
        shapes = tuple(self.choice(s, f"distractors.shapes[{i}]", SHAPES) for i, s in enumerate(shapes))
        side = self.range_or_number(m.get("size", list(DEFAULT_DISTRACTOR_SIDE)), "distractors.size",
                                    *SIDE_RANGE, "m")
        # Distractors never share a colour with a named object (an object given as RGB
        # excludes the palette colour nearest to it), so a goal naming a colour stays unique.
        used = set()
        for o in scenario.objects:
            used.add(o.colour_name or min(PALETTE, key=lambda k, o=o: math.dist(PALETTE[k], o.rgb)))
        if "colours" in m:
            colours = m["colours"]
            if not isinstance(colours, list) or not colours:
                raise self.error("distractors.colours", f"expected a list of palette names from: {', '.join(PALETTE)}")
            for i, c in enumerate(colours):
                self.choice(c, f"distractors.colours[{i}]", tuple(PALETTE))
                if c in used:
                    raise self.error(f"distractors.colours[{i}]", f"'{c}' is a named object's colour; distractors "
                                                                  f"must differ from: {', '.join(sorted(used))}")
            colours = tuple(colours)
        else:
            colours = tuple(k for k in PALETTE if k not in used)
            if not colours:
                raise self.error("distractors", "the named objects use every palette colour; none is left for "
                                                "distractors")
        if count[1] > 0:
            s = side.lo
            self.check_region(scenario, region, "cylinder", (s, s, s), Range(0.0, 0.0),
                              scenario._fixed_placed(), "distractors.region", f"a {fmt(s)} m distractor")
        return DistractorSpec(count=count, region=region, shapes=shapes, side=side, colours=colours)

    def perturbations(self, value: Any) -> PerturbationSpec:
        m = self.mapping(value, "perturbations", PERTURBATION_KEYS)

        def field(key: str, default: float) -> Range:
            lo, hi, unit = PERTURBATION_LIMITS[key]
            return self.range_or_number(m.get(key, default), f"perturbations.{key}", lo, hi, unit)

        cast = m.get("colour_cast", [1.0, 1.0, 1.0])
        if not isinstance(cast, list | tuple) or len(cast) != 3:
            raise self.error("perturbations.colour_cast", f"expected [r, g, b] gains, each a number or a [lo, hi] "
                                                          f"range; got {cast!r}")
        lo, hi, _ = PERTURBATION_LIMITS["colour_cast"]
        colour_cast = tuple(self.range_or_number(c, f"perturbations.colour_cast[{i}]", lo, hi)
                            for i, c in enumerate(cast))
        jitter = self.mapping(m.get("camera_jitter"), "perturbations.camera_jitter", JITTER_KEYS)
        jitter_ranges = []
        for k in JITTER_KEYS:
            lo, hi, unit = PERTURBATION_LIMITS[k]
            jitter_ranges.append(self.range_or_number(jitter.get(k, 0.0), f"perturbations.camera_jitter.{k}",
                                                      lo, hi, unit))
        return PerturbationSpec(
            brightness_gain=field("brightness_gain", 1.0), contrast_gain=field("contrast_gain", 1.0),
            colour_cast=colour_cast,  # type: ignore[arg-type]
            hue_shift_deg=field("hue_shift_deg", 0.0), rgb_noise_sigma=field("rgb_noise_sigma", 0.0),
            depth_noise_sigma=field("depth_noise_sigma", 0.0), depth_dropout=field("depth_dropout", 0.0),
            jitter_position_m=jitter_ranges[0], jitter_angle_deg=jitter_ranges[1])

    def success(self, value: Any, objects: tuple[ObjectSpec, ...], table: TableSetup) -> tuple[SuccessRule, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("success", f"expected a list of rules; got {value!r}")
        names = [o.name for o in objects]
        rules = []
        for i, raw in enumerate(value):
            where = f"success[{i}]"
            m = self.mapping(raw, where, SUCCESS_KEYS)
            if "object" not in m:
                raise self.error(f"{where}.object", f"missing; objects: {', '.join(names)}")
            obj = m["object"]
            if obj == ALL_OBJECTS:
                if m.get("target", "bin") != "bin" or set(m) - {"object", "target", "z_tolerance"}:
                    raise self.error(where, f"object: '{ALL_OBJECTS}' (every object, distractors included) "
                                            f"takes target: bin and z_tolerance only; got {m!r}")
            elif obj not in names:
                raise self.error(f"{where}.object", f"{obj!r} is not an object of this scenario; "
                                                    f"objects: {', '.join(names)} (or '{ALL_OBJECTS}': all)")
            target = self.choice(m.get("target", "bin"), f"{where}.target", TARGETS)
            d = SuccessRule(object=obj)
            target_object, position = d.target_object, d.position
            if "target_object" in m and target != "object":
                raise self.error(f"{where}.target_object", "only with target: object")
            if "position" in m and target != "position":
                raise self.error(f"{where}.position", "only with target: position")
            if target == "object":
                if "target_object" not in m:
                    raise self.error(f"{where}.target_object", f"missing for target: object; objects: "
                                                               f"{', '.join(names)}")
                target_object = m["target_object"]
                others = [n for n in names if n != obj]
                if target_object not in others:
                    raise self.error(f"{where}.target_object", f"{target_object!r} is not another object of this "
                                                               f"scenario; objects: {', '.join(others)}")
            if target == "position":
                if "position" not in m:
                    raise self.error(f"{where}.position", "missing for target: position; give [x, y] in metres")
                position = self.vector(m["position"], f"{where}.position", 2, -3.0, 3.0, "m", "x, y")
                if not on_table(circle(position[0], position[1], 0.0), table):
                    raise self.error(f"{where}.position", f"[{fmt(position[0])}, {fmt(position[1])}] is not on "
                                                          f"the table ({table_bounds(table)})")
            rules.append(SuccessRule(
                object=obj, target=target, target_object=target_object, position=(position[0], position[1]),
                xy_tolerance=self.number(m.get("xy_tolerance", d.xy_tolerance), f"{where}.xy_tolerance",
                                         0.001, 0.2, "m"),
                z_tolerance=self.number(m.get("z_tolerance", d.z_tolerance), f"{where}.z_tolerance",
                                        0.001, 0.2, "m")))
        return tuple(rules)
