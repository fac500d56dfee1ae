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

from brain_common.cell import Bin
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


def bin_obstacles(b: Bin) -> list[Obstacle]:
    """The bin's four walls and its floor as static obstacles (the cell's Bin, prior or perceived)."""
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    out = []
    for name, (sx, sy, sz), (u, v, z) in b.parts():
        what = "the bin floor" if name == "bin_floor" else "the bin wall"
        out.append(Obstacle(what, rectangle(b.to_base(u, v), (c, s), sx / 2.0, sy / 2.0, z - sz / 2.0, z + sz / 2.0),
                            True))
    return out
