"""The motion layer's configuration as one frozen dataclass, from config/planner.params.yaml.

``MotionConfig.from_dict(d)`` takes the ``motion`` group of the planner's parameters
(a plain dict: the node hands over its declared parameters; tests pass literals);
``load_motion_config()`` takes the defaults of config/planner.params.yaml.
``build_motion(config)`` makes the objects a node owns: kinematics, the fixtures-only
collision model, the planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from brain_common.cell import Bin, Cell, default_cell
from brain_common.kinematics import Kinematics
from brain_common.robot import ARM_ACCELERATION_LIMITS, ARM_JERK_LIMITS
from brain_common.robot_model import load_robot_model
from planner.motion.collision import CollisionModel, Obstacle, bin_obstacles, table_obstacle
from planner.motion.exact import ExactHand
from planner.motion.monitor import Tolerances
from planner.motion.planner import MotionPlanner, PlannerConfig
from planner.motion.timing import TimingLimits

PLANNER_KEYS = {f.name for f in fields(PlannerConfig)}


@dataclass(frozen=True)
class MotionConfig:
    """Everything the motion layer is configured with (see config/planner.params.yaml)."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    cell: Cell = field(default_factory=default_cell)  # table, bin (prior), clearances: brain_common.cell
    self_margin: float = 0.0
    tune_allocator: bool = True
    # The margins: fractions of the arm's own limits (velocity: the URDF's; acceleration and
    # jerk: brain_common.robot, Franka's datasheet) that motions use. The defaults live in
    # config/planner.params.yaml; these mirror them for tests that build a config in code.
    velocity_scale: float = 0.95
    acceleration_scale: float = 1.0
    jerk_scale: float = 0.5
    blend: bool = True  # one motion through a chain of paths (no stop at their waypoints), verified
    blend_step: float = 0.05  # rad: straight segments are subdivided this finely before blending
    blend_corner: float = 0.15  # rad: junctions of a chain are rounded within this (0: through every waypoint)
    trajectory_dt: float = 0.01
    tolerances: Tolerances = field(default_factory=Tolerances)
    start_delay: float = 0.2
    joint_states_max_age: float = 0.5  # s: an older joint state is no current state (the executor's watchdog)
    exact_hand: bool = True  # the hand's convex hulls judge what its spheres flag near obstacles (exact.py)

    @property
    def margin(self) -> float:
        """m every robot sphere keeps from obstacles on free motions (the cell's clearances.motion)."""
        return self.cell.clearances.motion

    @staticmethod
    def from_dict(d: dict, cell: Cell | None = None) -> MotionConfig:
        """From the `motion` parameter group and the cell (default: the default cell);
        unknown keys raise ValueError naming them."""
        d = dict(d or {})
        planner_kw = {k: d.pop(k) for k in list(d) if k in PLANNER_KEYS}
        tol_kw = {}
        for key, name in (("start_tolerance", "start"), ("path_tolerance", "path"), ("goal_tolerance", "goal"),
                          ("timeout_scale", "timeout_scale"), ("timeout_margin", "timeout_margin")):
            if key in d:
                tol_kw[name] = float(d.pop(key))
        known = {f.name for f in fields(MotionConfig)} - {"planner", "tolerances", "cell"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown motion parameter(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(known | PLANNER_KEYS))}")
        cfg = MotionConfig(planner=PlannerConfig(**planner_kw), tolerances=Tolerances(**tol_kw),
                           cell=cell if cell is not None else default_cell(), **d)
        cfg.check()
        return cfg

    def check(self) -> None:
        for name in ("trajectory_dt", "start_delay", "joint_states_max_age"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"motion config: {name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.self_margin) and self.self_margin >= 0):
            raise ValueError(f"motion config: self_margin must be >= 0, got {self.self_margin!r}")
        for name in ("velocity_scale", "acceleration_scale", "jerk_scale"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 < v <= 1.0):
                raise ValueError(f"motion config: {name} must be in (0, 1] (a fraction of the arm's limits), got {v!r}")
        if not (math.isfinite(self.blend_step) and 0.0 < self.blend_step <= 0.5):
            raise ValueError(f"motion config: blend_step must be in (0, 0.5] rad, got {self.blend_step!r}")
        if not (math.isfinite(self.blend_corner) and 0.0 <= self.blend_corner <= 0.5):
            raise ValueError(f"motion config: blend_corner must be in [0, 0.5] rad, got {self.blend_corner!r}")

    def timing_limits(self, kinematics: Kinematics) -> TimingLimits:
        """The limits motions are timed within: the arm's own (velocity: the URDF's;
        acceleration, jerk: brain_common.robot) times the configured margins."""
        n = kinematics.dof
        if len(ARM_ACCELERATION_LIMITS) != n or len(ARM_JERK_LIMITS) != n:
            raise ValueError(f"the arm has {n} joints but brain_common.robot gives {len(ARM_ACCELERATION_LIMITS)} "
                             f"acceleration and {len(ARM_JERK_LIMITS)} jerk limits")
        return TimingLimits(kinematics.model.velocity.copy(),
                            np.asarray(ARM_ACCELERATION_LIMITS) * self.acceleration_scale,
                            np.asarray(ARM_JERK_LIMITS) * self.jerk_scale, self.velocity_scale)

    def fixtures(self, bin_: Bin | None = None) -> list[Obstacle]:
        """The table (described) and the bin: `bin_` as perceived, or the cell's prior."""
        return [table_obstacle(self.cell.table), *bin_obstacles(bin_ if bin_ is not None else self.cell.bin)]


def load_motion_config(path: str | Path | None = None, cell: Cell | None = None) -> MotionConfig:
    """MotionConfig from the defaults of the planner's described parameters (the `motion`
    group of config/planner.params.yaml, or of `path`), for `cell` (default: the default cell)."""
    from brain_common.params import load_param_specs, node_param_specs, param_defaults

    specs = load_param_specs(path, "planner") if path is not None else node_param_specs("planner", "planner")
    return MotionConfig.from_dict(param_defaults(specs, "motion"), cell)


def build_motion(config: MotionConfig, rng: np.random.Generator | None = None,
                 urdf_path: str | None = None) -> tuple[Kinematics, CollisionModel, MotionPlanner]:
    """(kinematics, collision model of the fixtures, planner) for a node to own; add
    perceived objects with ``collision.with_obstacles([*config.fixtures(), *objects])``."""
    if config.tune_allocator:
        from planner.motion.allocator import tune_allocator

        tune_allocator()
    kin = Kinematics(load_robot_model(urdf_path))
    cm = CollisionModel(kin, config.fixtures(), margin=config.margin, self_margin=config.self_margin,
                        exact=ExactHand(kin.model) if config.exact_hand else None)
    return kin, cm, MotionPlanner(kin, cm, config.planner, rng=rng)
