"""Where to put an object, and goal-time feasibility checks (pure Python).

Frames: base frame (panda_link0), table top z = 0, metres and radians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from brain_common.cell import Bin, Gripper, Table, default_cell
from planner.task.goals import GoalError, Target

FINGER_REACH = 0.025  # m a finger (with the opening slack) sticks out beyond the gripped faces
# The fingers as the motion layer's collision model sees them (it covers each finger over its
# whole travel, so the fingers span the full opening whatever the grip; from the grasp centre):
FINGER_SPAN = 0.077  # m along the closing axis, either side
FINGER_HALF_WIDTH = 0.022  # m across it


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
class Workspace:
    """Where the arm can place: on the cell's `table` (the node passes its cell's), within a
    radial reach from the base (metres)."""

    min_reach: float = 0.25
    max_reach: float = 0.75
    finger_clearance: float = 0.025  # m of free space a finger needs beside an object
    table: Table = field(default_factory=lambda: default_cell().table)


def check_graspable(obj: WorldObject, gripper: Gripper) -> None:
    """GoalError (INVALID_GOAL) when the gripper cannot span the object with its margin."""
    width = obj.grip_width
    if width > gripper.max_opening - gripper.grip_margin:
        raise GoalError(f"{obj.label} ({obj.id}) is {width * 100:.1f} cm wide; the gripper opens "
                        f"{gripper.max_opening * 100:.0f} cm and needs {gripper.grip_margin * 1000:.0f} mm of slack")


def check_position_target(xy: tuple[float, float], obj: WorldObject, others: Sequence[WorldObject],
                          bin_: Bin, ws: Workspace) -> None:
    """GoalError when `obj` centred at (x, y) is out of reach, would not stand wholly on the
    table, or its footprint (with a finger's clearance) meets the bin's walls or another object."""
    at = f"position ({xy[0]:.2f}, {xy[1]:.2f})"
    r = math.hypot(*xy)
    if not ws.min_reach <= r <= ws.max_reach:
        raise GoalError(f"{at} is {r:.2f} m from the robot base, out of reach; "
                        f"valid: {ws.min_reach:.2f} .. {ws.max_reach:.2f} m from the base on the table")
    if not ws.table.contains(*xy, margin=obj.radius):
        raise GoalError(f"{at} is off the table: {obj.label} ({obj.radius * 100:.1f} cm about its centre) must "
                        f"stand wholly on the table top, which spans {ws.table.describe()}")
    if bin_.contains(*xy, margin=-obj.radius):
        raise GoalError(f"{at} is on the bin; say 'in the bin' to put it there")
    if bin_.contains(*xy, margin=-(obj.radius + bin_.wall_thickness + ws.finger_clearance)):
        raise GoalError(f"{at} is against the bin's wall; leave {ws.finger_clearance * 100:.1f} cm between "
                        f"{obj.label} and the bin for the fingers")
    for o in others:
        if o.id == obj.id:
            continue
        gap = math.hypot(o.position[0] - xy[0], o.position[1] - xy[1]) - o.radius - obj.radius
        if gap < ws.finger_clearance:
            raise GoalError(f"{at} is occupied by {o.label} ({o.id}); "
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


@dataclass(frozen=True, slots=True)
class BinItem:
    """An object put in the bin: a rectangle in the bin frame (u along the bin's x, v along
    its y), centre (u, v) and half extents, and its height, metres."""

    u: float
    v: float
    half_u: float
    half_v: float
    height: float = 0.0

    def clear_of(self, other: BinItem, clearance: float) -> bool:
        return (abs(self.u - other.u) >= self.half_u + other.half_u + clearance
                or abs(self.v - other.v) >= self.half_v + other.half_v + clearance)


def held_extents(obj: WorldObject, closing_xy: Sequence[float]) -> tuple[float, float]:
    """(along, across): the object's horizontal extent along the fingers' closing axis
    (a horizontal direction in the base frame) and across it, metres."""
    if obj.shape == "cylinder":
        d = max(obj.size[0], obj.size[1])
        return d, d
    phi = math.atan2(closing_xy[1], closing_xy[0]) - obj.yaw
    c, s = abs(math.cos(phi)), abs(math.sin(phi))
    return obj.size[0] * c + obj.size[1] * s, obj.size[0] * s + obj.size[1] * c


def bin_slot(along: float, across: float, bin_: Bin, occupied: Sequence[BinItem],
             clearance: float = 0.012, height: float = 0.0) -> BinItem | None:
    """Where in the bin to put an object whose extent is `along` the fingers' closing axis
    and `across` it, when it is lowered with the closing axis along the bin's v axis.
    Returns its footprint (bin frame), or None when the bin has no room left.

    The object keeps `clearance` from the walls and from `occupied`; so do the fingers, which
    (as the collision model covers them) reach FINGER_SPAN either side along v and
    FINGER_HALF_WIDTH either side along u. Slots fill row by row from the bin's (-u, -v)
    corner: bottom-left packing over the positions where the new footprint touches a wall or
    an occupied one (plus `clearance`), which packs mixed sizes densely."""
    item = BinItem(0.0, 0.0, across / 2, along / 2, height)
    fingers = BinItem(0.0, 0.0, FINGER_HALF_WIDTH, max(FINGER_SPAN, along / 2 + FINGER_REACH))
    u_max = bin_.inner_size[0] / 2 - clearance - max(item.half_u, fingers.half_u)
    v_max = bin_.inner_size[1] / 2 - clearance - fingers.half_v
    if u_max < 0 or v_max < 0:
        return None
    us, vs = {-u_max, u_max}, {-v_max, v_max}
    for o in occupied:
        for half in (item.half_u, fingers.half_u):
            us.update((o.u - o.half_u - half - clearance, o.u + o.half_u + half + clearance))
        for half in (item.half_v, fingers.half_v):
            vs.update((o.v - o.half_v - half - clearance, o.v + o.half_v + half + clearance))
    eps = 1e-9
    for v in sorted(x for x in vs if abs(x) <= v_max + eps):
        for u in sorted(x for x in us if abs(x) <= u_max + eps):
            here = BinItem(u, v, item.half_u, item.half_v, height)
            reach = BinItem(u, v, fingers.half_u, fingers.half_v)
            if all(here.clear_of(o, clearance - eps) and reach.clear_of(o, clearance - eps) for o in occupied):
                return here
    return None


def place_pose(target: Target, obj: WorldObject, base: WorldObject | None, bin_: Bin,
               bin_occupied: Sequence[BinItem], closing_xy: Sequence[float] = (0.0, 1.0),
               ) -> tuple[float, float, float]:
    """Centre (x, y, z) where `obj` should rest: on the bin floor, on top of `base`, or on the
    table. For the bin, `closing_xy` is the fingers' closing axis (base frame) at the release;
    it must lie along the bin's v axis (see bin_slot)."""
    half_h = obj.size[2] / 2.0
    if target.kind == "bin":
        slot = bin_slot(*held_extents(obj, closing_xy), bin_, bin_occupied, height=obj.size[2])
        if slot is None:
            raise GoalError(f"the bin has no free spot left for {obj.label} ({len(bin_occupied)} objects put "
                            f"there already)")
        x, y = bin_.to_base(slot.u, slot.v)
        return x, y, bin_.floor_z + half_h
    if target.kind == "object":
        assert base is not None
        return base.position[0], base.position[1], base.top_z + half_h
    assert target.position is not None
    return target.position[0], target.position[1], half_h
