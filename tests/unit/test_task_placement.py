"""planner.task.placement: goal-time feasibility and placement poses."""

import math
from dataclasses import replace

import numpy as np
import pytest

from brain_common.cell import default_cell
from planner.task.goals import GoalError, Target
from planner.task.placement import (
    FINGER_HALF_WIDTH,
    FINGER_SPAN,
    Workspace,
    WorldObject,
    bin_slot,
    check_graspable,
    check_position_target,
    check_stack_target,
    held_extents,
    place_pose,
)


def cube(id_, x, y, side=0.05, colour="red", shape="box"):
    return WorldObject(id_, f"{colour} cube", colour, shape, (x, y, side / 2), 0.0, (side, side, side))


BIN = default_cell().bin
WS = Workspace()


def test_graspable():
    check_graspable(cube("obj_1", 0.5, 0, 0.05), default_cell().gripper)
    with pytest.raises(GoalError) as e:
        check_graspable(WorldObject("obj_2", "blue box", "blue", "box", (0.5, 0, 0.03), 0, (0.095, 0.12, 0.06)),
                        default_cell().gripper)
    assert str(e.value) == "blue box (obj_2) is 9.5 cm wide; the gripper opens 8 cm and needs 8 mm of slack"


@pytest.mark.parametrize(("xy", "message"), [
    ((0.1, 0.0), "position (0.10, 0.00) is 0.10 m from the robot base, out of reach; valid: 0.25 .. 0.75 m"),
    ((0.9, 0.0), "is 0.90 m from the robot base, out of reach"),
    ((0.45, 0.42), "position (0.45, 0.42) is on the bin; say 'in the bin' to put it there"),
    ((0.52, 0.0), "position (0.52, 0.00) is occupied by red cube (obj_2)"),
    # within reach (0.71 m) but past the table's edge; the extent is the cell's, not restated
    ((0.2, -0.68), "position (0.20, -0.68) is off the table: red cube (3.5 cm about its centre) must stand "
                   f"wholly on the table top, which spans {default_cell().table.describe()}"),
    ((0.2, -0.58), "position (0.20, -0.58) is off the table"),  # its centre on it, its footprint not
    ((0.45, 0.26), "position (0.45, 0.26) is against the bin's wall; leave 2.5 cm between red cube and the bin"),
])
def test_position_targets(xy, message):
    obj, other = cube("obj_1", 0.4, -0.2), cube("obj_2", 0.5, 0.0)
    with pytest.raises(GoalError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_position_target(xy, obj, [obj, other], BIN, WS)
    check_position_target((0.5, -0.2), obj, [obj, other], BIN, WS)  # free and in reach


def test_stack_targets():
    a, b = cube("obj_1", 0.4, 0), cube("obj_2", 0.5, 0)
    check_stack_target(a, b)
    with pytest.raises(GoalError, match="cannot put red cube \\(obj_1\\) on itself"):
        check_stack_target(a, a)
    with pytest.raises(GoalError, match="too small to carry"):
        check_stack_target(cube("obj_3", 0.4, 0, 0.07), cube("obj_4", 0.5, 0, 0.02))


def test_bin_slots_pack_a_row_along_the_bin_and_report_full():
    # fingers along the bin's v axis (they span +-7.7 cm in the collision model): one row of
    # 5 cm cubes along u in a 20 cm bin, three of them
    SMALL = replace(default_cell().bin, inner_size=(0.20, 0.20))
    slots = []
    for _ in range(3):
        slot = bin_slot(0.05, 0.05, SMALL, slots)
        assert slot is not None
        slots.append(slot)
    assert [round(s.u, 3) for s in slots] == [-0.063, -0.001, 0.061]
    assert all(abs(s.v) <= 0.1 - 0.012 - 0.077 + 1e-9 for s in slots)
    assert bin_slot(0.05, 0.05, SMALL, slots) is None
    assert bin_slot(0.03, 0.03, SMALL, slots) is None  # 3.5 cm left, a 3 cm cube needs 3 + 2 * 1.2
    for a in slots:  # clear of each other by the clearance
        for b in slots:
            if a is not b:
                assert a.clear_of(b, 0.012 - 1e-9)
    # the default 36 cm x 20 cm bin takes five
    LONG = default_cell().bin
    slots = []
    while (slot := bin_slot(0.05, 0.05, LONG, slots)) is not None:
        slots.append(slot)
    assert len(slots) == 5
    # too big for any bin of 10 cm
    assert bin_slot(0.08, 0.08, replace(default_cell().bin, inner_size=(0.1, 0.1)), []) is None


def test_bin_slots_pack_mixed_sizes_densely():
    WIDE = replace(default_cell().bin, inner_size=(0.36, 0.36))
    sizes = [(0.06, 0.06), (0.03, 0.04), (0.05, 0.05), (0.04, 0.03), (0.06, 0.06), (0.05, 0.06), (0.04, 0.04)]
    slots = []
    for along, across in sizes:
        slot = bin_slot(along, across, WIDE, slots, height=0.05)
        assert slot is not None and slot.height == 0.05
        assert abs(slot.u) + slot.half_u <= 0.18 and abs(slot.v) + max(slot.half_v, 0.077) <= 0.18
        slots.append(slot)
    assert len({round(s.v, 3) for s in slots}) == 2  # two rows across the 36 cm
    for a in slots:
        for b in slots:
            if a is not b:
                assert a.clear_of(b, 0.012 - 1e-9)


def test_held_extents():
    box = WorldObject("b", "red box", "red", "box", (0.5, 0, 0.02), 0.0, (0.06, 0.03, 0.04))
    assert held_extents(box, (1.0, 0.0)) == pytest.approx((0.06, 0.03))
    assert held_extents(box, (0.0, -1.0)) == pytest.approx((0.03, 0.06))
    turned = WorldObject("b", "red box", "red", "box", (0.5, 0, 0.02), math.pi / 4, (0.04, 0.04, 0.04))
    assert held_extents(turned, (1.0, 0.0)) == pytest.approx((0.04 * math.sqrt(2),) * 2)
    cyl = WorldObject("c", "red cylinder", "red", "cylinder", (0.5, 0, 0.02), 0.3, (0.04, 0.04, 0.04))
    assert held_extents(cyl, (0.6, 0.8)) == (0.04, 0.04)


def test_finger_constants_cover_the_collision_model():
    """bin_slot's finger footprint must contain the fingers as the planner's collision
    model sees them (else a slot would be chosen that the planner then refuses)."""
    from planner.motion.config import MotionConfig, build_motion

    kin, cm, _ = build_motion(MotionConfig())
    q = np.array([0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785])  # any pose: spheres move with the hand
    T = kin.fk(q)
    names, X, r = cm.world_spheres(q)
    P = (X - T[:3, 3]) @ T[:3, :3]  # in the grasp frame: y is the closing axis
    fingers = np.array(["finger" in n for n in names])
    assert (np.abs(P[fingers, 1]) + r[fingers]).max() <= FINGER_SPAN
    assert (np.abs(P[fingers, 0]) + r[fingers]).max() <= FINGER_HALF_WIDTH


def test_place_poses():
    a, b = cube("obj_1", 0.4, 0, 0.04), cube("obj_2", 0.5, 0.1, 0.06)
    x, y, z = place_pose(Target("bin"), a, None, BIN, [])
    assert BIN.contains(x, y, margin=a.radius) and z == pytest.approx(0.025)
    assert place_pose(Target("object"), a, b, BIN, []) == pytest.approx((0.5, 0.1, 0.08))
    assert place_pose(Target("position", position=(0.3, -0.2)), a, None, BIN, []) == pytest.approx((0.3, -0.2, 0.02))
