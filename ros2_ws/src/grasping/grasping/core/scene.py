"""What grasp synthesis knows about the world: the object, its neighbours, the bin.

Frames and units: the robot base frame (``panda_link0``, x forward, y left, z up, the
table top at z = 0), metres, radians. Objects stand upright (perception reports the
object's z axis as the table normal), so every obstacle is a vertical prism
(grasping.core.geometry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from grasping.core.geometry import Prism, cylinder, rectangle

SHAPES = ("box", "cylinder", "unknown")


@dataclass(frozen=True, slots=True)
class ObjectModel:
    """An object as perception reports it (mirrors brain_interfaces/DetectedObject).

    id: perception id ("obj_3"). label: "<colour> <shape word>" ("red cube").
    shape: "box", "cylinder" or "unknown" (treated as its bounding box).
    position: (3,) centre of the whole object, base frame, metres. yaw: rotation about
    z of the object's x axis, radians (cylinders: any). size: (3,) extent along the
    object's x, y, z axes, metres (cylinders: diameter, diameter, height).
    """

    id: str
    label: str
    shape: str
    position: tuple[float, float, float]
    yaw: float
    size: tuple[float, float, float]

    @property
    def name(self) -> str:
        """How messages name it: "red cube (obj_3)", or the id alone without a label."""
        return f"{self.label} ({self.id})" if self.label else self.id

    @property
    def bottom(self) -> float:
        return self.position[2] - self.size[2] / 2.0

    @property
    def top(self) -> float:
        return self.position[2] + self.size[2] / 2.0

    def axis(self, index: int) -> tuple[float, float]:
        """Unit vector (2,) of the object's x (0) or y (1) axis in the base xy plane."""
        a = self.yaw + (math.pi / 2.0 if index == 1 else 0.0)
        return (math.cos(a), math.sin(a))


def make_object(id: str, shape: str, position: Sequence[float], size: Sequence[float], yaw: float = 0.0,
                label: str = "") -> ObjectModel:
    """An ObjectModel from any sequences, checked (see check_object)."""
    obj = ObjectModel(str(id), str(label), str(shape), tuple(float(v) for v in position), float(yaw),
                      tuple(float(v) for v in size))
    check_object(obj)
    return obj


def check_object(obj: ObjectModel) -> None:
    """Raise ValueError naming the bad field of `obj`."""
    who = obj.name or "object"
    if obj.shape not in SHAPES:
        raise ValueError(f"{who}: shape {obj.shape!r} is not one of {', '.join(SHAPES)}")
    if len(obj.position) != 3 or not all(math.isfinite(v) for v in obj.position):
        raise ValueError(f"{who}: position {obj.position} must be 3 finite numbers (m)")
    if len(obj.size) != 3 or not all(math.isfinite(v) and v > 0.0 for v in obj.size):
        raise ValueError(f"{who}: size {obj.size} must be 3 numbers > 0 (m)")
    if not math.isfinite(obj.yaw):
        raise ValueError(f"{who}: yaw {obj.yaw} is not finite")


@dataclass(frozen=True, slots=True)
class Obstacle:
    """Something the fingers and hand must not touch. name: how a message names it.
    static: its geometry is configured, not perceived (the bin), so a smaller clearance
    suffices (no perception error to absorb)."""

    name: str
    prism: Prism
    static: bool = False


def object_prism(obj: ObjectModel) -> Prism:
    """The object's volume as a vertical prism."""
    cx, cy = obj.position[0], obj.position[1]
    if obj.shape == "cylinder":
        return cylinder((cx, cy), max(obj.size[0], obj.size[1]) / 2.0, obj.bottom, obj.top)
    return rectangle((cx, cy), obj.axis(0), obj.size[0] / 2.0, obj.size[1] / 2.0, obj.bottom, obj.top)


@dataclass(frozen=True, slots=True)
class BinModel:
    """The open tray (defaults: the sim's default bin, armbrain_sim.scene.BinSetup).

    (x, y): centre, base frame, metres; yaw about z, radians; inner_size (x, y) metres;
    walls of wall_height and wall_thickness standing on the table, floor of floor_thickness.
    """

    x: float = 0.45
    y: float = 0.42
    yaw: float = 0.0
    inner_size: tuple[float, float] = (0.36, 0.20)
    wall_height: float = 0.06
    wall_thickness: float = 0.01
    floor_thickness: float = 0.005

    def obstacles(self) -> list[Obstacle]:
        """The four walls and the floor as obstacles."""
        ix, iy = self.inner_size
        wt = self.wall_thickness
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        out = []
        for (u, v), (hx, hy) in ((((ix + wt) / 2.0, 0.0), (wt / 2.0, iy / 2.0 + wt)),
                                 ((-(ix + wt) / 2.0, 0.0), (wt / 2.0, iy / 2.0 + wt)),
                                 ((0.0, (iy + wt) / 2.0), (ix / 2.0, wt / 2.0)),
                                 ((0.0, -(iy + wt) / 2.0), (ix / 2.0, wt / 2.0))):
            centre = (self.x + c * u - s * v, self.y + s * u + c * v)
            out.append(Obstacle("the bin wall", rectangle(centre, (c, s), hx, hy, 0.0, self.wall_height), True))
        out.append(Obstacle("the bin floor", rectangle((self.x, self.y), (c, s), ix / 2.0, iy / 2.0, 0.0,
                                                       self.floor_thickness), True))
        return out


def check_bin(b: BinModel) -> None:
    """Raise ValueError naming the bad field of a bin description."""
    for name in ("x", "y", "yaw"):
        if not math.isfinite(getattr(b, name)):
            raise ValueError(f"bin {name} {getattr(b, name)} is not finite")
    if len(b.inner_size) != 2 or not all(v > 0.0 for v in b.inner_size):
        raise ValueError(f"bin inner_size {b.inner_size} must be 2 numbers > 0 (m)")
    for name in ("wall_height", "wall_thickness", "floor_thickness"):
        if not getattr(b, name) > 0.0:
            raise ValueError(f"bin {name} {getattr(b, name)} must be > 0 (m)")
