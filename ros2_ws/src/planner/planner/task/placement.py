"""Where to put an object, and goal-time feasibility checks (pure Python).

Frames: base frame (panda_link0), table top z = 0, metres and radians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.task.goals import GoalError, Target

MAX_GRIPPER_OPENING = 0.08  # m between the pads (Panda hand)
FINGER_REACH = 0.025  # m a finger (with the opening slack) sticks out beyond the gripped faces
GRIP_MARGIN = 0.008  # m: an object must be this much narrower than the opening (as grasping checks)


@dataclass(frozen=True, slots=True)
class WorldObject:
    """A perceived object as the task layer sees it. position: (3,) centre; size: (3,) along
    its own axes (yaw about z); shape "box" | "cylinder" | "unknown"."""

    id: str
    label: str
    colour: str
    shape: str
    position: tuple[float, float, float]
    yaw: float
    size: tuple[float, float, float]

    @property
    def top_z(self) -> float:
        return self.position[2] + self.size[2] / 2.0

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle, metres."""
        return 0.5 * math.hypot(self.size[0], self.size[1])

    @property
    def grip_width(self) -> float:
        """The narrowest horizontal extent: what the fingers must span."""
        return min(self.size[0], self.size[1])


@dataclass(frozen=True, slots=True)
class BinModel:
    """The bin: centre (x, y), yaw, inner size (x, y), floor top height and wall height."""

    x: float = 0.45
    y: float = 0.42
    yaw: float = 0.0
    inner_size: tuple[float, float] = (0.20, 0.20)
    floor_z: float = 0.005
    wall_height: float = 0.06

    def to_local(self, x: float, y: float) -> tuple[float, float]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = x - self.x, y - self.y
        return c * dx + s * dy, -s * dx + c * dy

    def to_base(self, u: float, v: float) -> tuple[float, float]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return self.x + c * u - s * v, self.y + s * u + c * v

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        u, v = self.to_local(x, y)
        return abs(u) <= self.inner_size[0] / 2 - margin and abs(v) <= self.inner_size[1] / 2 - margin


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where the arm can place on the table: radial reach from the base (metres)."""

    min_reach: float = 0.25
    max_reach: float = 0.75
    finger_clearance: float = 0.025  # m of free space a finger needs beside an object


def check_graspable(obj: WorldObject) -> None:
    """GoalError (INVALID_GOAL) when the gripper cannot span the object."""
    width = obj.grip_width
    if width > MAX_GRIPPER_OPENING - GRIP_MARGIN:
        raise GoalError(f"{obj.label} ({obj.id}) is {width * 100:.1f} cm wide; the gripper opens "
                        f"{MAX_GRIPPER_OPENING * 100:.0f} cm")


def check_position_target(xy: tuple[float, float], obj: WorldObject, others: Sequence[WorldObject],
                          bin_: BinModel, ws: Workspace) -> None:
    """GoalError when (x, y) is out of reach, in the bin or occupied."""
    r = math.hypot(*xy)
    if not ws.min_reach <= r <= ws.max_reach:
        raise GoalError(f"position ({xy[0]:.2f}, {xy[1]:.2f}) is {r:.2f} m from the robot base, out of reach; "
                        f"valid: {ws.min_reach:.2f} .. {ws.max_reach:.2f} m from the base on the table")
    if bin_.contains(*xy, margin=-obj.radius):
        raise GoalError(f"position ({xy[0]:.2f}, {xy[1]:.2f}) is on the bin; say 'in the bin' to put it there")
    for o in others:
        if o.id == obj.id:
            continue
        gap = math.hypot(o.position[0] - xy[0], o.position[1] - xy[1]) - o.radius - obj.radius
        if gap < ws.finger_clearance:
            raise GoalError(f"position ({xy[0]:.2f}, {xy[1]:.2f}) is occupied by {o.label} ({o.id}); "
                            f"leave {ws.finger_clearance * 100:.1f} cm for the fingers")


def check_stack_target(obj: WorldObject, base: WorldObject) -> None:
    """GoalError when `obj` cannot be stacked on `base`."""
    if obj.id == base.id:
        raise GoalError(f"cannot put {obj.label} ({obj.id}) on itself")
    if base.shape not in ("box", "cylinder"):
        raise GoalError(f"cannot stack on {base.label} ({base.id}): its shape is unknown")
    if min(base.size[0], base.size[1]) < 0.5 * min(obj.size[0], obj.size[1]):
        raise GoalError(f"{base.label} ({base.id}) is too small to carry {obj.label}: its top is "
                        f"{min(base.size[:2]) * 100:.1f} cm across, {obj.label} is {obj.grip_width * 100:.1f} cm")


def bin_slot(obj: WorldObject, bin_: BinModel, occupied: Sequence[tuple[float, float, float]],
             clearance: float = 0.012) -> tuple[float, float] | None:
    """A free (x, y) in the bin for `obj`, clear of the walls and of the discs (x, y, radius)
    already there. Slots are the cells of the densest square grid that fits objects of this
    size with the fingers around it, nearest to the bin centre first. None when full."""
    # The fingers stick out beyond the gripped faces: keep them off the walls and neighbours.
    radius = max(obj.radius, obj.grip_width / 2 + FINGER_REACH)
    half = np.array(bin_.inner_size) / 2 - radius - clearance
    if (half < 0).any():
        return None
    pitch = 2 * radius + clearance
    axes = []
    for h in half:
        n = int(2 * h // pitch) + 1
        axes.append([0.0] if n == 1 else list(np.linspace(-h, h, n)))
    candidates = sorted(((u, v) for u in axes[0] for v in axes[1]), key=lambda c: (math.hypot(*c), c))
    for u, v in candidates:
        x, y = bin_.to_base(u, v)
        if all(math.hypot(x - ox, y - oy) >= radius + r + clearance for ox, oy, r in occupied):
            return x, y
    return None


def place_pose(target: Target, obj: WorldObject, base: WorldObject | None, bin_: BinModel,
               bin_occupied: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Centre (x, y, z) where `obj` should rest: on the bin floor, on top of `base`, or on the table."""
    half_h = obj.size[2] / 2.0
    if target.kind == "bin":
        slot = bin_slot(obj, bin_, bin_occupied)
        if slot is None:
            raise GoalError(f"the bin has no free spot left for {obj.label}")
        return slot[0], slot[1], bin_.floor_z + half_h
    if target.kind == "object":
        assert base is not None
        return base.position[0], base.position[1], base.top_z + half_h
    assert target.position is not None
    return target.position[0], target.position[1], half_h
