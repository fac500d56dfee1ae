"""Scenarios as data: a YAML file describes a scene and its randomisation.

``load_scenario(path)`` reads and validates a scenario file (every mistake is reported at
load, naming the file, the field and what is allowed); ``Scenario.sample(seed)`` draws
every random quantity from ``np.random.default_rng(seed)`` and returns a
``armbrain_sim.scene.SceneInstance`` that the world builds as is. The schema, the frames
and the seeding rules are documented in ``docs/scenarios.md``.

Frames and units: the base frame (``panda_link0``), x forward, y left, z up, origin at the
robot base on the table top (z = 0). Metres, kilograms; angles in the YAML are degrees
(``*_deg``) and radians in the SceneInstance. Pure Python: numpy, yaml, transforms3d.

This module holds the Scenario type, its seeded sampling and the loaders; the file's
schema and validator are in ``scenario_schema.py`` and the table-top footprint geometry
in ``footprint.py`` (their public names are importable from here too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from transforms3d.axangles import axangle2mat

from armbrain_sim.footprint import Footprint, bin_footprint, circle, gap_if_below, object_footprint, on_table
from armbrain_sim.scenario_schema import (
    BIN_KEYS,
    CAMERA_KEYS,
    DEFAULT_CAMERA_UP,
    DEFAULT_DENSITY,
    DEFAULT_DISTRACTOR_SIDE,
    DEFAULT_FAR,
    DEFAULT_FOV_Y_DEG,
    DEFAULT_NEAR,
    DEFAULT_REGION,
    DEFAULT_RESOLUTION,
    DEFAULT_YAW_DEG,
    DISTRACTOR_KEYS,
    JITTER_KEYS,
    LIGHT_KEYS,
    MASS_RANGE,
    MAX_BIN_RADIUS,
    MAX_DISTRACTORS,
    MIN_GAP,
    OBJECT_KEYS,
    PALETTE,
    PERTURBATION_KEYS,
    PERTURBATION_LIMITS,
    R_BODY_OPTICAL,
    REACH_RADIUS,
    REGION_KEYS,
    RENDERERS,
    SHAPES,
    SIDE_RANGE,
    SUCCESS_KEYS,
    TABLE_KEYS,
    TARGETS,
    TOP_KEYS,
    CameraSpec,
    DistractorSpec,
    ObjectSpec,
    PerturbationSpec,
    Range,
    Region,
    ScenarioError,
    default_mass,
    fmt,
    parse_scenario,
    table_bounds,
)
from armbrain_sim.scene import (
    BinSetup,
    CameraSetup,
    LightSetup,
    ObjectInstance,
    Perturbations,
    SceneInstance,
    SuccessRule,
    TableSetup,
)
from brain_common.cell import default_cell
from brain_common.share import share_dir

# The names this module had before the schema and the footprints moved out; importers use them.
__all__ = [
    "BIN_KEYS",
    "CAMERA_KEYS",
    "DEFAULT_CAMERA_UP",
    "DEFAULT_DENSITY",
    "DEFAULT_DISTRACTOR_SIDE",
    "DEFAULT_FAR",
    "DEFAULT_FOV_Y_DEG",
    "DEFAULT_NEAR",
    "DEFAULT_REGION",
    "DEFAULT_RESOLUTION",
    "DEFAULT_YAW_DEG",
    "DISTRACTOR_KEYS",
    "JITTER_KEYS",
    "LAYOUT_RESTARTS",
    "LIGHT_KEYS",
    "MASS_RANGE",
    "MAX_BIN_RADIUS",
    "MAX_DISTRACTORS",
    "MIN_GAP",
    "OBJECT_KEYS",
    "PALETTE",
    "PERTURBATION_KEYS",
    "PERTURBATION_LIMITS",
    "PLACEMENT_TRIES",
    "REACH_RADIUS",
    "REGION_KEYS",
    "RENDERERS",
    "R_BODY_OPTICAL",
    "SHAPES",
    "SIDE_RANGE",
    "SUCCESS_KEYS",
    "TABLE_KEYS",
    "TARGETS",
    "TOP_KEYS",
    "VIEW_MARGIN",
    "CameraSpec",
    "DistractorSpec",
    "ObjectSpec",
    "PerturbationSpec",
    "Range",
    "Region",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "load_scenarios",
    "resolve_scenario_path",
    "scenario_dir",
]

VIEW_MARGIN = 0.05  # fraction of width/height: random objects' top faces stay this far inside the image
PLACEMENT_TRIES = 200  # random poses tried per object
LAYOUT_RESTARTS = 20  # whole layouts tried before a seed is declared impossible


# ---------------------------------------------------------------------------------------------
# The scenario


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario file. ``sample(seed)`` turns it into a SceneInstance."""

    path: Path
    name: str
    description: str
    goal: str  # the goals joined with "; " (for logs and sim/reset's answer)
    camera: CameraSpec
    light: LightSetup
    table: TableSetup
    bin: BinSetup
    objects: tuple[ObjectSpec, ...]
    distractors: DistractorSpec | None
    perturbations: PerturbationSpec
    success: tuple[SuccessRule, ...]
    target_success_rate: float | None = None  # the rate an evaluation campaign must reach, 0..1
    goals: tuple[str, ...] = ()  # the operator goals of an episode, given one after the other

    def sample(self, seed: int) -> SceneInstance:
        """The scene for `seed` (an int >= 0): same seed, same scene, in any process.

        Every draw comes from ``np.random.default_rng(seed)``, split into independent
        streams (object layout, distractors, each perturbation, camera jitter) so that
        adding a perturbation or distractors to a scenario leaves the named objects' poses
        of a seed unchanged. Raises ScenarioError (naming scenario, seed and object) when
        the objects cannot be placed without overlap.
        """
        seed = _check_seed(seed)
        root = np.random.default_rng(seed)
        layout_rng, distractor_rng, perturbation_rng, jitter_rng = root.spawn(4)
        objects = self._place_objects(layout_rng, seed)
        distractors = self._make_distractors(distractor_rng, objects, seed)
        perturbations = self._draw_perturbations(perturbation_rng)
        T_base_optical, jitter = self._jittered_camera(jitter_rng)
        camera = CameraSetup(
            width=self.camera.width, height=self.camera.height, fov_y_deg=self.camera.fov_y_deg,
            near=self.camera.near, far=self.camera.far, T_base_optical=T_base_optical,
            T_base_optical_nominal=self.camera.T_base_optical_nominal, renderer=self.camera.renderer)
        return SceneInstance(
            scenario_name=self.name, seed=seed, camera=camera, light=self.light, table=self.table,
            bin=self.bin, objects=objects + distractors, perturbations=perturbations, goal=self.goal,
            success=self.success,
            extra={"scenario_path": str(self.path), "description": self.description,
                   "distractor_count": len(distractors), "camera_jitter": jitter})

    # -- placement ------------------------------------------------------------------------

    def _placement_problem(self, fp: Footprint, height: float, placed: Iterable[tuple[str, Footprint]],
                           random: bool) -> str | None:
        """Why an object with footprint `fp` cannot stand there, or None if it can."""
        if not on_table(fp, self.table):
            return f"is not fully on the table ({table_bounds(self.table)})"
        if gap_if_below(fp, circle(0.0, 0.0, default_cell().base_keepout_radius), MIN_GAP) is not None:
            return (f"is inside the robot base's keep-out circle (radius {fmt(default_cell().base_keepout_radius)} m "
                    f"+ {fmt(MIN_GAP)} m gap around x = 0, y = 0)")
        bin_gap = gap_if_below(fp, bin_footprint(self.bin), MIN_GAP)
        if bin_gap is not None:
            where = "overlaps the bin's footprint" if bin_gap <= 0 else f"is only {bin_gap:.3f} m from the bin"
            return f"{where}; at least {fmt(MIN_GAP)} m of gap is needed"
        if random:
            r = float(np.hypot(*fp.centre))
            if not REACH_RADIUS[0] <= r <= REACH_RADIUS[1]:
                return f"is {r:.3f} m from the base; allowed {fmt(REACH_RADIUS[0])}..{fmt(REACH_RADIUS[1])} m"
            if not self._in_view(fp, height):
                return "is not fully in the camera's view"
        for label, other in placed:
            g = gap_if_below(fp, other, MIN_GAP)
            if g is not None:
                where = f"overlaps {label}" if g <= 0 else f"is only {g:.3f} m from {label}"
                return f"{where}; at least {fmt(MIN_GAP)} m of gap is needed"
        return None

    def _in_view(self, fp: Footprint, height: float) -> bool:
        """True if the footprint's top outline projects inside the nominal image with a margin."""
        cam = self.camera
        T = cam.T_base_optical_nominal
        pts = fp.extreme_points()
        p_base = np.column_stack([pts, np.full(len(pts), height)])
        p_opt = (p_base - T[:3, 3]) @ T[:3, :3]
        if np.any(p_opt[:, 2] <= cam.near):
            return False
        f = (cam.height / 2.0) / math.tan(math.radians(cam.fov_y_deg) / 2.0)
        u = f * p_opt[:, 0] / p_opt[:, 2] + cam.width / 2.0
        v = f * p_opt[:, 1] / p_opt[:, 2] + cam.height / 2.0
        mu, mv = VIEW_MARGIN * cam.width, VIEW_MARGIN * cam.height
        return bool(np.all((u >= mu) & (u <= cam.width - mu) & (v >= mv) & (v <= cam.height - mv)))

    def _try_place(self, rng: np.random.Generator, shape: str, size: tuple[float, float, float], region: Region,
                   yaw_deg: Range, placed: list[tuple[str, Footprint]]) -> tuple[float, float, float] | None:
        """A random (x, y, yaw) in `region` where the object fits, or None after PLACEMENT_TRIES."""
        for _ in range(PLACEMENT_TRIES):
            x, y = region.x.draw(rng), region.y.draw(rng)
            yaw = math.radians(yaw_deg.draw(rng))
            fp = object_footprint(shape, size, x, y, yaw)
            if self._placement_problem(fp, size[2], placed, random=True) is None:
                return x, y, yaw
        return None

    def _fixed_placed(self) -> list[tuple[str, Footprint]]:
        return [(o.label, object_footprint(o.shape, o.size, o.position[0], o.position[1],
                                            math.radians(o.yaw_deg.lo)))
                for o in self.objects if o.position is not None]

    def _place_objects(self, rng: np.random.Generator, seed: int) -> tuple[ObjectInstance, ...]:
        failed: ObjectSpec | None = None
        for _ in range(LAYOUT_RESTARTS):
            placed = self._fixed_placed()
            poses: dict[int, tuple[float, float, float]] = {}
            for o in self.objects:
                if o.position is not None:
                    poses[o.index] = (o.position[0], o.position[1], math.radians(o.yaw_deg.lo))
                    continue
                pose = self._try_place(rng, o.shape, o.size, o.region, o.yaw_deg, placed)
                if pose is None:
                    failed = o
                    break
                poses[o.index] = pose
                placed.append((o.label, object_footprint(o.shape, o.size, *pose)))
            else:
                return tuple(
                    ObjectInstance(name=o.name, shape=o.shape, size=o.size, rgb=o.rgb, colour_name=o.colour_name,
                                   mass=o.mass, position=(poses[o.index][0], poses[o.index][1]),
                                   yaw=poses[o.index][2])
                    for o in self.objects)
        assert failed is not None
        raise ScenarioError(
            f"{self.path}: scenario '{self.name}', seed {seed}: cannot place {failed.label} in the region "
            f"{failed.region} without overlap ({LAYOUT_RESTARTS} layouts x {PLACEMENT_TRIES} tries); "
            f"widen the region or use fewer or smaller objects")

    def _make_distractors(self, rng: np.random.Generator, objects: tuple[ObjectInstance, ...],
                          seed: int) -> tuple[ObjectInstance, ...]:
        spec = self.distractors
        if spec is None:
            return ()
        lo, hi = spec.count
        count = lo if lo == hi else int(rng.integers(lo, hi + 1))
        drawn = []
        for k in range(count):
            shape = spec.shapes[int(rng.integers(len(spec.shapes)))]
            colour = spec.colours[int(rng.integers(len(spec.colours)))]
            if shape == "cylinder":
                d, h = spec.side.draw(rng), spec.side.draw(rng)
                size = (d, d, h)
            else:
                size = (spec.side.draw(rng), spec.side.draw(rng), spec.side.draw(rng))
            drawn.append((f"distractor_{k}", shape, size, colour))
        object_fps = [(f"'{o.name}'", object_footprint(o.shape, o.size, *o.position, o.yaw)) for o in objects]
        failed = ""
        for _ in range(LAYOUT_RESTARTS):
            placed = list(object_fps)
            out: list[ObjectInstance] = []
            for name, shape, size, colour in drawn:
                pose = self._try_place(rng, shape, size, spec.region, Range(*DEFAULT_YAW_DEG), placed)
                if pose is None:
                    failed = name
                    break
                placed.append((f"'{name}'", object_footprint(shape, size, *pose)))
                out.append(ObjectInstance(name=name, shape=shape, size=size, rgb=PALETTE[colour], colour_name=colour,
                                          mass=default_mass(shape, size), position=(pose[0], pose[1]), yaw=pose[2],
                                          distractor=True))
            else:
                return tuple(out)
        raise ScenarioError(
            f"{self.path}: scenario '{self.name}', seed {seed}: cannot place {failed} (of {count} distractors) "
            f"in the region {spec.region} without overlap ({LAYOUT_RESTARTS} layouts x {PLACEMENT_TRIES} tries); "
            f"widen distractors.region or lower distractors.count")

    # -- perturbations and camera ---------------------------------------------------------

    def _draw_perturbations(self, rng: np.random.Generator) -> Perturbations:
        p = self.perturbations
        ranges = [p.brightness_gain, p.contrast_gain, *p.colour_cast, p.hue_shift_deg, p.rgb_noise_sigma,
                  p.depth_noise_sigma, p.depth_dropout]
        # One stream per field: making one of them random does not change the others' draws.
        v = [r.draw(child) for r, child in zip(ranges, rng.spawn(len(ranges)), strict=True)]
        return Perturbations(brightness_gain=v[0], contrast_gain=v[1], colour_cast=(v[2], v[3], v[4]),
                             hue_shift_deg=v[5], rgb_noise_sigma=v[6], depth_noise_sigma=v[7], depth_dropout=v[8])

    def _jittered_camera(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """T_base_optical: the nominal pose moved by exactly position_m along a random direction
        (base frame) and turned by exactly angle_deg about a random axis through the camera."""
        p = self.perturbations
        position_m = p.jitter_position_m.draw(rng)
        angle_deg = p.jitter_angle_deg.draw(rng)
        direction = _random_unit_vector(rng)
        axis = _random_unit_vector(rng)
        T = self.camera.T_base_optical_nominal.copy()
        T[:3, 3] += position_m * direction
        T[:3, :3] = axangle2mat(axis, math.radians(angle_deg)) @ T[:3, :3]
        T.setflags(write=False)
        jitter = {"position_m": position_m, "angle_deg": angle_deg,
                  "translation_m": [float(c) for c in position_m * direction], "axis": [float(c) for c in axis]}
        return T, jitter


def _random_unit_vector(rng: np.random.Generator) -> np.ndarray:
    """A direction drawn uniformly on the unit sphere, (3,)."""
    while True:
        v = rng.normal(size=3)
        n = float(np.linalg.norm(v))
        if n > 1e-9:
            return v / n


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ScenarioError(f"seed: {seed!r} is not valid; a seed is an integer >= 0")
    return int(seed)


# ---------------------------------------------------------------------------------------------
# Loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario YAML file. Raises ScenarioError on any problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenario(data, path, Scenario)


def load_scenarios(path_or_dir: str | Path) -> list[Scenario]:
    """One file, or every *.yaml under a directory (recursively, sorted by path).

    Raises ScenarioError when a directory holds no scenario or two files share a name.
    """
    path = Path(path_or_dir)
    if not path.is_dir():
        return [load_scenario(path)]
    files = sorted(path.rglob("*.yaml"))
    if not files:
        raise ScenarioError(f"{path}: no *.yaml scenario files in this directory")
    scenarios = [load_scenario(f) for f in files]
    seen: dict[str, Path] = {}
    for s in scenarios:
        if s.name in seen:
            raise ScenarioError(f"{s.path}: name: '{s.name}' is already the name of {seen[s.name]}; "
                                f"scenario names must be unique")
        seen[s.name] = s.path
    return scenarios


def scenario_dir() -> Path:
    """The shipped scenarios: share/armbrain_sim/scenarios (the source tree's sim/scenarios
    in an editable install)."""
    try:
        return share_dir("armbrain_sim") / "scenarios"
    except (LookupError, OSError):
        return Path(__file__).resolve().parent.parent / "scenarios"


def resolve_scenario_path(name: str) -> Path:
    """A scenario path as given, or a file name (or relative path) inside the shipped scenarios."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = scenario_dir() / name
    if shipped.is_file():
        return shipped
    raise ScenarioError(f"scenario {name!r} not found (neither a file nor in {scenario_dir()})")
