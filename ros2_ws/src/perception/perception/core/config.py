"""Tunables of the perception core, the colour palette and the default camera pose.

Units: metres, radians unless a name ends in ``_deg``; colours are RGB in 0..1.
Frames: the base frame is the robot base (``panda_link0``: x forward, y left, z up, the
table top at z = 0); the camera optical frame is z forward, x right, y down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from brain_common.cell import Cell, default_cell, matrix_from_position_quaternion
from brain_common.palette import PALETTE as _PALETTE

# The palette perception names colours with (brain_common.palette: one palette for the
# brain and the simulator's paints). A colour is named by its hue (chromatic entries) or
# its brightness (white, black) after white balance (see colour.py), so the values
# describe the paint, not one lighting.
PALETTE: tuple[tuple[str, tuple[float, float, float]], ...] = tuple(_PALETTE.items())


# The cell's priors (bin, table paint, camera mount, robot base) come from the one Cell
# (brain_common.cell, config/robots/<cell>.yaml): config_from_cell builds a config for a
# cell; the defaults below read the default cell.
def _cell_default(read: Callable[[Cell], Any]) -> Any:
    return field(default_factory=lambda: read(default_cell()))


@dataclass(frozen=True, slots=True)
class PerceptionConfig:
    """Every tunable of the perception core (frozen; build a new one to change anything).

    Camera
      camera_position: (3,) optical centre in the base frame, m (the configured extrinsic).
      camera_quaternion: (4,) x, y, z, w orientation of the optical frame in the base frame.
      correct_camera_bump: express objects in the base frame through the camera pose
        corrected with the observed table plane (height, roll, pitch); False uses the
        configured pose as it is (the bump is still estimated and reported).
      bump_height_threshold, bump_angle_threshold_deg: above these the correction is
        reported as a warning ("camera appears bumped").
    Table plane
      plane_tolerance: RANSAC inlier distance, m.
      plane_max_tilt_deg, plane_max_offset: how far the observed table may be from the
        configured one (angle between normals; height at the camera's foot point, m).
      plane_stride: pixel step of the sub-sampled cloud the plane is fitted on.
      ransac_iterations, seed: RANSAC hypotheses per frame and the seed of its generator
        (the same frame always gives the same plane).
      min_valid_depth_fraction: a depth image with fewer valid (finite) pixels is rejected.
    Objects
      min_object_height: points higher than this above the table may be objects, m.
      max_height: points higher than this are not objects (the arm), m.
      min_object_size, max_object_size: accepted footprint sides, m (smallest side >=
        min, largest side <= max).
      min_pixels: smaller segments are ignored.
      grid_resolution: cell of the top-down occupancy grid objects are segmented in, m.
      robot_exclusion_radius: nothing within this xy distance of the base origin is an
        object (the robot's base), m.
      robot_attach_distance: a segment whose pixels touch the arm (points above
        max_height) with a depth step below this is part of the robot, m.
      bin_center, bin_yaw, bin_size: the bin's outer footprint (x, y m; rad; x, y m);
        points inside it (grown by bin_margin) are ignored, so objects in the bin and the
        bin itself are not reported. bin_size (0, 0) disables it.
      bin_wall_height, bin_wall_thickness: m. register_bin: with correct_camera_bump, also
        correct the camera's x, y and yaw by registering the bin's walls (landmarks.py).
    Colour
      palette: (name, (r, g, b)) pairs, the colours objects are named with.
      table_rgb: paint colour of the table top; the observed table colour is white-balanced
        to it (per-channel gains), which removes brightness changes and colour casts.
      white_balance: apply that white balance.
      max_cast: largest per-channel deviation of the white-balance gains from their mean
        that is believed (beyond it only the brightness is normalised, with a warning).
      min_chroma, min_saturation: below either, a colour is achromatic (white, black).
      max_hue_error_deg: a chromatic colour farther than this from every palette hue is
        "unknown"; max_value_error likewise for achromatic ones (value 0..1).
    Tracking
      track_gate: largest distance a kept object may move between frames, m.
      track_memory: seconds a lost object is remembered for re-identification (an object
        carried away and put down elsewhere gets its id back when colour, shape and size
        match one lost object).
    The cell perceived (added fields; the bin_* and table_rgb fields above are the priors)
      perceive_bin: find the bin in every frame (bin_detection.py); False trusts the
        configured bin as before.
      bin_min_side, bin_max_side: inner sides a perceived bin may have, m.
      bin_max_wall_height: taller rims are not a bin, m.
      bin_bump_max_shift, bin_bump_max_yaw_deg, bin_bump_max_size_change: a perceived bin
        within these of the configured one (centre m, yaw deg, each outer side m), when the
        table plane shows the camera bumped (bump_*_threshold), is the configured bin seen
        through a bumped camera: it registers the camera's x, y, yaw (register_bin).
        Farther, or with the plane as configured, the bin has moved: the perceived bin is
        used and the camera is corrected from the table plane only.
      bin_moved_min_shift, bin_moved_min_yaw_deg: with the plane as configured, a perceived
        bin this far from the configured one (centre m, yaw deg) has moved (a warning);
        nearer, it is the configured bin seen with the fit's error (a far camera's fit is a
        centimetre off), and its walls register the camera's x, y, yaw as for a bump.
      bin_contents_margin: points this far inside the perceived inner walls (m) are the
        bin's contents (PerceptionResult.bin_contents), not its walls.
      perceive_table: estimate the table's paint and the light from the scene (colour.py
        estimate_white_balance); False white-balances against table_rgb as before.
      table_prior_tolerance: the table is the configured paint when its observed
        chromaticity, corrected by the robot's white links, is within this of table_rgb's
        (r, g, b divided by their sum).
      max_brightness_gain: a table needing a larger (or smaller, 1/x) brightness gain to
        match table_rgb is not that paint.
      min_reference_pixels: sampled robot pixels needed to use its white links as the
        illuminant reference.
      robot_base_footprint: (x_min, x_max, y_min, y_max) m, the robot base link's footprint
        (panda_link0's bounding box grown by 7 mm; it reaches 16 cm behind the origin, beyond
        robot_exclusion_radius): nothing there is an object. All zeros disables it.
    """

    camera_position: tuple[float, float, float] = _cell_default(lambda c: c.camera.position)
    camera_quaternion: tuple[float, float, float, float] = _cell_default(lambda c: c.camera.orientation)
    correct_camera_bump: bool = True
    bump_height_threshold: float = 0.005
    bump_angle_threshold_deg: float = 0.5

    plane_tolerance: float = 0.004
    plane_max_tilt_deg: float = 10.0
    plane_max_offset: float = 0.08
    plane_stride: int = 8
    ransac_iterations: int = 40
    seed: int = 0
    min_valid_depth_fraction: float = 0.05

    min_object_height: float = 0.010
    max_height: float = 0.18
    min_object_size: float = 0.015
    max_object_size: float = 0.10
    min_pixels: int = 30
    grid_resolution: float = 0.002
    robot_exclusion_radius: float = _cell_default(lambda c: c.base_keepout_radius)
    robot_attach_distance: float = 0.03
    bin_center: tuple[float, float] = _cell_default(lambda c: (c.bin.x, c.bin.y))
    bin_yaw: float = _cell_default(lambda c: c.bin.yaw)
    bin_size: tuple[float, float] = _cell_default(lambda c: c.bin.outer_size)
    bin_margin: float = 0.01
    bin_wall_height: float = _cell_default(lambda c: c.bin.wall_height)
    bin_wall_thickness: float = _cell_default(lambda c: c.bin.wall_thickness)
    register_bin: bool = True

    palette: tuple[tuple[str, tuple[float, float, float]], ...] = PALETTE
    table_rgb: tuple[float, float, float] = _cell_default(lambda c: c.table.paint)
    white_balance: bool = True
    max_cast: float = 0.3
    min_chroma: float = 0.12
    min_saturation: float = 0.3
    max_hue_error_deg: float = 20.0
    max_value_error: float = 0.35

    track_gate: float = 0.05
    track_memory: float = 60.0

    perceive_bin: bool = True
    bin_min_side: float = 0.10
    bin_max_side: float = 0.60
    bin_max_wall_height: float = 0.20
    bin_bump_max_shift: float = 0.06
    bin_bump_max_yaw_deg: float = 5.0
    bin_bump_max_size_change: float = 0.02
    bin_moved_min_shift: float = 0.015
    bin_moved_min_yaw_deg: float = 2.0
    bin_contents_margin: float = 0.005
    perceive_table: bool = True
    table_prior_tolerance: float = 0.04
    max_brightness_gain: float = 2.5
    min_reference_pixels: int = 50
    robot_base_footprint: tuple[float, float, float, float] = (-0.165, 0.085, -0.105, 0.105)

    def T_base_optical(self) -> np.ndarray:  # noqa: N802 (frames named as in CONVENTIONS.md)
        """(4, 4) the configured camera pose (optical frame in the base frame)."""
        return matrix_from_position_quaternion(self.camera_position, self.camera_quaternion)


def _positive(cfg: PerceptionConfig, name: str) -> None:
    v = getattr(cfg, name)
    if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
        raise ValueError(f"PerceptionConfig.{name} must be a finite number > 0, got {v!r}")


def check_config(cfg: PerceptionConfig) -> PerceptionConfig:
    """Return cfg if every field is valid, else raise ValueError naming the field and value."""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"PerceptionConfig.{f.name} must be finite, got {v!r}")
    for name in ("bump_height_threshold", "bump_angle_threshold_deg", "plane_tolerance", "plane_max_tilt_deg",
                 "plane_max_offset", "min_object_height", "max_height", "min_object_size", "max_object_size",
                 "grid_resolution", "robot_attach_distance", "bin_wall_height", "bin_wall_thickness", "max_cast",
                 "min_chroma", "min_saturation",
                 "max_hue_error_deg", "max_value_error", "track_gate", "track_memory", "bin_min_side",
                 "bin_max_side", "bin_max_wall_height", "bin_bump_max_shift", "bin_bump_max_yaw_deg",
                 "bin_bump_max_size_change", "bin_moved_min_shift", "bin_moved_min_yaw_deg",
                 "table_prior_tolerance"):
        _positive(cfg, name)
    if len(cfg.camera_position) != 3 or not all(math.isfinite(c) for c in cfg.camera_position):
        raise ValueError(f"PerceptionConfig.camera_position must be 3 finite numbers (m), got {cfg.camera_position!r}")
    q = np.asarray(cfg.camera_quaternion, dtype=float)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(float(np.linalg.norm(q)) - 1.0) > 1e-3:
        raise ValueError(f"PerceptionConfig.camera_quaternion must be a unit quaternion (x, y, z, w), "
                         f"got {cfg.camera_quaternion!r}")
    if cfg.max_height <= cfg.min_object_height:
        raise ValueError(f"PerceptionConfig.max_height ({cfg.max_height} m) must exceed min_object_height "
                         f"({cfg.min_object_height} m)")
    if cfg.max_object_size <= cfg.min_object_size:
        raise ValueError(f"PerceptionConfig.max_object_size ({cfg.max_object_size} m) must exceed min_object_size "
                         f"({cfg.min_object_size} m)")
    if not (isinstance(cfg.plane_stride, int) and 1 <= cfg.plane_stride <= 64):
        raise ValueError(f"PerceptionConfig.plane_stride must be an integer 1..64, got {cfg.plane_stride!r}")
    if not (isinstance(cfg.ransac_iterations, int) and 1 <= cfg.ransac_iterations <= 10000):
        raise ValueError(f"PerceptionConfig.ransac_iterations must be an integer 1..10000, "
                         f"got {cfg.ransac_iterations!r}")
    if not (isinstance(cfg.min_pixels, int) and cfg.min_pixels >= 3):
        raise ValueError(f"PerceptionConfig.min_pixels must be an integer >= 3, got {cfg.min_pixels!r}")
    if not 0.0 < cfg.min_valid_depth_fraction <= 1.0:
        raise ValueError(f"PerceptionConfig.min_valid_depth_fraction must be in (0, 1], "
                         f"got {cfg.min_valid_depth_fraction!r}")
    if cfg.robot_exclusion_radius < 0 or cfg.bin_margin < 0 or min(cfg.bin_size) < 0:
        raise ValueError("PerceptionConfig.robot_exclusion_radius, bin_margin and bin_size must be >= 0, got "
                         f"{cfg.robot_exclusion_radius!r}, {cfg.bin_margin!r}, {cfg.bin_size!r}")
    if not cfg.palette:
        raise ValueError("PerceptionConfig.palette is empty; give at least one (name, (r, g, b)) pair")
    names = [n for n, _ in cfg.palette]
    if len(set(names)) != len(names):
        raise ValueError(f"PerceptionConfig.palette has duplicate names: {names}")
    for name, rgb in cfg.palette:
        if not name or name == "unknown" or not name.isidentifier():
            raise ValueError(f"PerceptionConfig.palette: name {name!r} is not valid (one word, not 'unknown')")
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise ValueError(f"PerceptionConfig.palette: {name} = {rgb!r}; expected (r, g, b) each in 0..1")
    if len(cfg.table_rgb) != 3 or not all(0.0 < c <= 1.0 for c in cfg.table_rgb):
        raise ValueError(f"PerceptionConfig.table_rgb must be (r, g, b) each in (0, 1], got {cfg.table_rgb!r}")
    fp = cfg.robot_base_footprint
    if len(fp) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in fp) \
            or fp[0] > fp[1] or fp[2] > fp[3]:
        raise ValueError(f"PerceptionConfig.robot_base_footprint must be (x_min, x_max, y_min, y_max) m with "
                         f"min <= max, got {fp!r}")
    if cfg.bin_max_side <= cfg.bin_min_side:
        raise ValueError(f"PerceptionConfig.bin_max_side ({cfg.bin_max_side} m) must exceed bin_min_side "
                         f"({cfg.bin_min_side} m)")
    if not (isinstance(cfg.bin_contents_margin, int | float) and 0.0 <= cfg.bin_contents_margin < 0.05):
        raise ValueError(f"PerceptionConfig.bin_contents_margin must be in [0, 0.05) m, "
                         f"got {cfg.bin_contents_margin!r}")
    if not (isinstance(cfg.max_brightness_gain, int | float) and cfg.max_brightness_gain > 1.0):
        raise ValueError(f"PerceptionConfig.max_brightness_gain must be > 1, got {cfg.max_brightness_gain!r}")
    if not (isinstance(cfg.min_reference_pixels, int) and cfg.min_reference_pixels >= 3):
        raise ValueError(f"PerceptionConfig.min_reference_pixels must be an integer >= 3, "
                         f"got {cfg.min_reference_pixels!r}")
    return cfg


def config_from_cell(cell: Cell, **tunables: Any) -> PerceptionConfig:
    """A checked PerceptionConfig whose priors (camera mount, table paint, bin, robot base)
    are those of `cell`; `tunables` set the other fields."""
    b = cell.bin
    return check_config(replace(
        PerceptionConfig(**tunables),
        camera_position=cell.camera.position, camera_quaternion=cell.camera.orientation,
        table_rgb=cell.table.paint, robot_exclusion_radius=cell.base_keepout_radius,
        bin_center=(b.x, b.y), bin_yaw=b.yaw, bin_size=b.outer_size, bin_wall_height=b.wall_height,
        bin_wall_thickness=b.wall_thickness))
