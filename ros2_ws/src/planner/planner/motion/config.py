"""The motion layer's configuration as one frozen dataclass, from config/planner.yaml.

``MotionConfig.from_dict(d)`` takes the ``motion`` group of the planner's parameters
(a plain dict: the node hands over its declared parameters; tests pass literals);
``load_motion_config(path)`` reads a ROS parameters file. ``build_motion(config)`` makes
the objects a node owns: kinematics, the fixtures-only collision model, the planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import yaml

from planner.motion.collision import CollisionModel, Obstacle, bin_obstacles, table_obstacle
from planner.motion.kinematics import Kinematics
from planner.motion.monitor import Tolerances
from planner.motion.planner import MotionPlanner, PlannerConfig
from planner.motion.robot_model import load_robot_model
from planner.motion.timing import TimingLimits

PLANNER_KEYS = {f.name for f in fields(PlannerConfig)}


@dataclass(frozen=True)
class MotionConfig:
    """Everything the motion layer is configured with (see config/planner.yaml)."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    margin: float = 0.01
    self_margin: float = 0.0
    tune_allocator: bool = True
    table_center: tuple[float, float] = (0.45, 0.0)
    table_size: tuple[float, float] = (1.0, 1.2)
    bin_center: tuple[float, float] = (0.45, 0.42)
    bin_yaw: float = 0.0
    bin_inner_size: tuple[float, float] = (0.36, 0.20)
    bin_wall_height: float = 0.06
    bin_wall_thickness: float = 0.01
    velocity_scale: float = 0.5
    acceleration_limits: tuple[float, ...] = (3.75, 1.875, 2.5, 3.125, 3.75, 5.0, 5.0)
    jerk_limits: tuple[float, ...] = (50.0,) * 7
    trajectory_dt: float = 0.01
    tolerances: Tolerances = field(default_factory=Tolerances)
    start_delay: float = 0.2

    @staticmethod
    def from_dict(d: dict) -> MotionConfig:
        """From the `motion` parameter group; unknown keys raise ValueError naming them."""
        d = dict(d or {})
        planner_kw = {k: d.pop(k) for k in list(d) if k in PLANNER_KEYS}
        tol_kw = {}
        for key, name in (("start_tolerance", "start"), ("path_tolerance", "path"), ("goal_tolerance", "goal"),
                          ("timeout_scale", "timeout_scale"), ("timeout_margin", "timeout_margin")):
            if key in d:
                tol_kw[name] = float(d.pop(key))
        known = {f.name for f in fields(MotionConfig)} - {"planner", "tolerances"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown motion parameter(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(known | PLANNER_KEYS))}")
        for k in ("table_center", "table_size", "bin_center", "bin_inner_size", "acceleration_limits", "jerk_limits"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        cfg = MotionConfig(planner=PlannerConfig(**planner_kw), tolerances=Tolerances(**tol_kw), **d)
        cfg.check()
        return cfg

    def check(self) -> None:
        for name in ("margin", "bin_wall_height", "bin_wall_thickness", "trajectory_dt", "start_delay"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"motion config: {name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.self_margin) and self.self_margin >= 0):
            raise ValueError(f"motion config: self_margin must be >= 0, got {self.self_margin!r}")
        TimingLimits(np.ones(len(self.acceleration_limits)), np.asarray(self.acceleration_limits),
                     np.asarray(self.jerk_limits), self.velocity_scale)

    def timing_limits(self, kinematics: Kinematics) -> TimingLimits:
        """Velocity from the URDF (scaled), acceleration and jerk from the configuration."""
        n = kinematics.dof
        if len(self.acceleration_limits) != n or len(self.jerk_limits) != n:
            raise ValueError(f"motion config: acceleration_limits and jerk_limits need {n} values, got "
                             f"{len(self.acceleration_limits)} and {len(self.jerk_limits)}")
        return TimingLimits(kinematics.model.velocity.copy(), np.asarray(self.acceleration_limits),
                            np.asarray(self.jerk_limits), self.velocity_scale)

    def fixtures(self) -> list[Obstacle]:
        """The table and the bin: fixed furniture known by configuration (not perceived)."""
        return [table_obstacle(self.table_center, self.table_size),
                *bin_obstacles(self.bin_center, self.bin_yaw, self.bin_inner_size, self.bin_wall_height,
                               self.bin_wall_thickness)]


def load_motion_config(path: str | Path, node_name: str = "planner") -> MotionConfig:
    """MotionConfig from a ROS parameters file (``<node>: ros__parameters: motion: {...}``)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    try:
        group = data[node_name]["ros__parameters"].get("motion", {})
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: no {node_name}.ros__parameters section") from exc
    return MotionConfig.from_dict(group)


def build_motion(config: MotionConfig, rng: np.random.Generator | None = None,
                 urdf_path: str | None = None) -> tuple[Kinematics, CollisionModel, MotionPlanner]:
    """(kinematics, collision model of the fixtures, planner) for a node to own; add
    perceived objects with ``collision.with_obstacles([*config.fixtures(), *objects])``."""
    if config.tune_allocator:
        from planner.motion.allocator import tune_allocator

        tune_allocator()
    kin = Kinematics(load_robot_model(urdf_path))
    cm = CollisionModel(kin, config.fixtures(), margin=config.margin, self_margin=config.self_margin)
    return kin, cm, MotionPlanner(kin, cm, config.planner, rng=rng)
