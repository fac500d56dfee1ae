"""A concrete simulated scene: what a scenario file becomes after sampling with a seed.

The scenario (armbrain_sim.scenario) describes a scene and its randomisation; its
``sample(seed)`` returns a SceneInstance in which every random draw is made. The world
(armbrain_sim.world) builds exactly this instance. No ROS imports here.

Frames and units: the base frame is the robot base (``panda_link0``): x forward, y left,
z up, origin at the robot base on the table top (table top is z = 0). Metres, radians,
kilograms, colours as RGB in 0..1. The camera frame is the ROS optical frame
(z forward along the view, x right, y down in the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brain_common.cell import default_cell
from brain_common.robot import BASE_FRAME

__all__ = ["BASE_FRAME", "CAMERA_FRAME", "HOME_ARM", "MAX_GRIPPER_OPENING"]

# The simulated cell is the default cell (brain_common.cell, config/robots/panda_sim.yaml):
# scenarios vary it; its facts are not restated here.
CAMERA_FRAME = default_cell().camera.frame
# The arm's waiting pose above the table, gripper pointing down (rad): the cell's home.
HOME_ARM = default_cell().home
MAX_GRIPPER_OPENING = default_cell().gripper.max_opening  # m between the finger pads (2 x finger travel)


@dataclass(frozen=True, slots=True, eq=False)
class CameraSetup:
    """An RGB-D camera.

    T_base_optical: (4, 4) pose of the optical frame in the base frame as it really is
    in the sim (after any "bumped camera" jitter). T_base_optical_nominal: the pose the
    camera is configured to have (what a calibration file would say); the brain is given
    this one. fov_y_deg: vertical field of view. near/far: clipping planes, metres;
    depth beyond far (or no hit) has no return.
    """

    width: int
    height: int
    fov_y_deg: float
    near: float
    far: float
    T_base_optical: np.ndarray
    T_base_optical_nominal: np.ndarray
    renderer: str = "auto"  # "auto" | "egl" | "tiny"

    def __eq__(self, other: object) -> bool:  # the poses are arrays: compare by value
        if not isinstance(other, CameraSetup):
            return NotImplemented
        return ((self.width, self.height, self.fov_y_deg, self.near, self.far, self.renderer)
                == (other.width, other.height, other.fov_y_deg, other.near, other.far, other.renderer)
                and np.array_equal(self.T_base_optical, other.T_base_optical)
                and np.array_equal(self.T_base_optical_nominal, other.T_base_optical_nominal))

    __hash__ = None  # mutable-by-content arrays inside


@dataclass(frozen=True, slots=True)
class LightSetup:
    """Directional light. direction: (3,) from the scene towards the light, base frame.
    colour: (3,) RGB 0..1. ambient/diffuse/specular: PyBullet's lighting coefficients."""

    direction: tuple[float, float, float] = (0.3, 0.2, 1.0)
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.35
    specular: float = 0.05


@dataclass(frozen=True, slots=True)
class TableSetup:
    """Table top centred at (x, y) with its top surface at z = 0. size: (x, y) metres.
    Defaults: the default cell's table."""

    x: float = field(default_factory=lambda: default_cell().table.x)
    y: float = field(default_factory=lambda: default_cell().table.y)
    size: tuple[float, float] = field(default_factory=lambda: default_cell().table.size)
    thickness: float = field(default_factory=lambda: default_cell().table.thickness)
    rgb: tuple[float, float, float] = field(default_factory=lambda: default_cell().table.paint)


@dataclass(frozen=True, slots=True)
class BinSetup:
    """Open tray standing on the table. (x, y): centre; inner size (x, y); walls of
    `wall_height` and `wall_thickness`, floor of `floor_thickness`; yaw about z.
    Defaults: the default cell's bin; rgb is the simulated tray's paint."""

    x: float = field(default_factory=lambda: default_cell().bin.x)
    y: float = field(default_factory=lambda: default_cell().bin.y)
    yaw: float = field(default_factory=lambda: default_cell().bin.yaw)
    inner_size: tuple[float, float] = field(default_factory=lambda: default_cell().bin.inner_size)
    wall_height: float = field(default_factory=lambda: default_cell().bin.wall_height)
    wall_thickness: float = field(default_factory=lambda: default_cell().bin.wall_thickness)
    floor_thickness: float = field(default_factory=lambda: default_cell().bin.floor_thickness)
    rgb: tuple[float, float, float] = (0.35, 0.35, 0.38)


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    """One movable object, resting on the table.

    name: unique in the scene (scenario-given or "distractor_<k>"). shape: "box" or
    "cylinder". size: (x, y, z) metres (cylinder: x == y == diameter). position: (x, y)
    of the centre on the table (z = size[2] / 2). yaw: about z, radians.
    colour_name: the palette name it was drawn from, or "" when given as RGB.
    """

    name: str
    shape: str
    size: tuple[float, float, float]
    rgb: tuple[float, float, float]
    colour_name: str
    mass: float
    position: tuple[float, float]
    yaw: float
    distractor: bool = False


@dataclass(frozen=True, slots=True)
class Perturbations:
    """Sensor and image perturbations applied to every rendered frame.

    brightness_gain / contrast_gain: multiply intensity / contrast about mid-grey.
    colour_cast: (3,) per-channel gains. hue_shift_deg: rotate hue. rgb_noise_sigma:
    Gaussian pixel noise in 0..255 units. depth_noise_sigma: Gaussian depth noise, metres.
    depth_dropout: fraction of depth pixels with no return (NaN).
    """

    brightness_gain: float = 1.0
    contrast_gain: float = 1.0
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    hue_shift_deg: float = 0.0
    rgb_noise_sigma: float = 0.0
    depth_noise_sigma: float = 0.0
    depth_dropout: float = 0.0

    @property
    def any_image_change(self) -> bool:
        return self != Perturbations()


ALL_OBJECTS = "*"  # a success rule's object meaning every object of the episode, distractors included


@dataclass(frozen=True, slots=True)
class SuccessRule:
    """How an episode is judged from ground truth.

    object: name of the object that must end somewhere. target: "bin" (its centre inside
    the bin's inner footprint, resting on the bin floor), "object" (resting on top of
    `target_object`, centres within `xy_tolerance`), or "position" (resting on the table,
    centre within `xy_tolerance` of `position` (x, y)). z_tolerance: allowed error of the
    resting height, metres. world.SimWorld.check_success applies these rules.
    """

    object: str
    target: str = "bin"
    target_object: str = ""
    position: tuple[float, float] = (0.0, 0.0)
    xy_tolerance: float = 0.03
    z_tolerance: float = 0.02


@dataclass(frozen=True, slots=True)
class SceneInstance:
    """Everything the world needs to build one episode; all randomness resolved."""

    scenario_name: str
    seed: int
    camera: CameraSetup
    light: LightSetup
    table: TableSetup
    bin: BinSetup
    objects: tuple[ObjectInstance, ...]
    perturbations: Perturbations
    goal: str
    success: tuple[SuccessRule, ...]
    home_arm: tuple[float, ...] = HOME_ARM
    extra: dict = field(default_factory=dict)

    def object_named(self, name: str) -> ObjectInstance:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"no object named {name!r}; objects: {', '.join(o.name for o in self.objects)}")
