"""planner.task.placement: goal-time feasibility and placement poses."""

import pytest

from planner.task.goals import GoalError, Target
from planner.task.placement import (
    BinModel,
    Workspace,
    WorldObject,
    bin_slot,
    check_graspable,
    check_position_target,
    check_stack_target,
    place_pose,
)


def cube(id_, x, y, side=0.05, colour="red", shape="box"):
    return WorldObject(id_, f"{colour} cube", colour, shape, (x, y, side / 2), 0.0, (side, side, side))


BIN = BinModel()
WS = Workspace()


def test_graspable():
    check_graspable(cube("obj_1", 0.5, 0, 0.05))
    with pytest.raises(GoalError) as e:
        check_graspable(WorldObject("obj_2", "blue box", "blue", "box", (0.5, 0, 0.03), 0, (0.095, 0.12, 0.06)))
    assert str(e.value) == "blue box (obj_2) is 9.5 cm wide; the gripper opens 8 cm"


@pytest.mark.parametrize(("xy", "message"), [
    ((0.1, 0.0), "position (0.10, 0.00) is 0.10 m from the robot base, out of reach; valid: 0.25 .. 0.75 m"),
    ((0.9, 0.0), "is 0.90 m from the robot base, out of reach"),
    ((0.45, 0.42), "position (0.45, 0.42) is on the bin; say 'in the bin' to put it there"),
    ((0.52, 0.0), "position (0.52, 0.00) is occupied by red cube (obj_2)"),
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


def test_bin_slots_fill_from_the_centre_and_report_full():
    obj = cube("obj_1", 0.4, 0)
    # with the fingers around it, a 5 cm cube needs 10 cm: the default 20 cm bin takes one
    assert bin_slot(obj, BIN, []) == pytest.approx((0.45, 0.42))
    assert bin_slot(obj, BIN, [(0.45, 0.42, obj.radius)]) is None
    BIG = BinModel(inner_size=(0.24, 0.24))
    first = bin_slot(obj, BIG, [])
    assert BIG.contains(*first, margin=obj.radius)
    assert bin_slot(cube("one_fits", 0, 0, 0.07), BinModel(inner_size=(0.20, 0.20)), []) == pytest.approx((0.45, 0.42))
    occupied = []
    for _ in range(4):
        slot = bin_slot(obj, BIG, occupied)
        assert slot is not None and BIG.contains(*slot, margin=obj.radius)
        occupied.append((*slot, obj.radius))
    assert len({(round(x, 3), round(y, 3)) for x, y, _ in occupied}) == 4
    assert bin_slot(obj, BIG, occupied) is None  # a 24 cm bin takes four 5 cm cubes
    for (x1, y1, r1) in occupied:
        for (x2, y2, r2) in occupied:
            if (x1, y1) != (x2, y2):
                assert ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5 >= r1 + r2
    assert bin_slot(cube("big", 0, 0, 0.08), BinModel(inner_size=(0.1, 0.1)), []) is None


def test_place_poses():
    a, b = cube("obj_1", 0.4, 0, 0.04), cube("obj_2", 0.5, 0.1, 0.06)
    x, y, z = place_pose(Target("bin"), a, None, BIN, [])
    assert BIN.contains(x, y, margin=a.radius) and z == pytest.approx(0.025)
    assert place_pose(Target("object"), a, b, BIN, []) == pytest.approx((0.5, 0.1, 0.08))
    assert place_pose(Target("position", position=(0.3, -0.2)), a, None, BIN, []) == pytest.approx((0.3, -0.2, 0.02))
