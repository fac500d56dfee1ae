"""Grasp synthesis (grasping.core.synthesis): candidates, checks and ranking with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brain_common.cell import default_cell
from brain_common.kinematics import top_down_rotation
from grasping.core import (
    PANDA_HAND,
    SynthesisConfig,
    make_object,
    plan_grasps,
)
from grasping.core.geometry import prism_distance
from grasping.core.scene import object_prism
from grasping.core.synthesis import world_prism

CFG = SynthesisConfig()


def cube(x=0.5, y=0.0, side=0.05, yaw=0.0, id="obj_1", label="red cube"):
    return make_object(id, "box", (x, y, side / 2.0), (side, side, side), yaw, label)


def box(x, y, size, yaw=0.0, id="obj_2", label="green box"):
    return make_object(id, "box", (x, y, size[2] / 2.0), size, yaw, label)


def cylinder(x, y, d, h, id="obj_3", label="yellow cylinder"):
    return make_object(id, "cylinder", (x, y, h / 2.0), (d, d, h), 0.0, label)


def closing_axis(c) -> np.ndarray:
    return c.rotation[:, 1]


def finger_gap(c, obstacle) -> float:
    """Least distance (m) between the candidate's fingers, hand and wrist (swept along the
    approach) and an object, recomputed from the gripper model."""
    boxes = PANDA_HAND.finger_boxes(c.gripper_width, c.pre_grasp_distance) + PANDA_HAND.hand_boxes(
        c.pre_grasp_distance)
    return min(prism_distance(world_prism(c.position, c.rotation, b), object_prism(obstacle)) for b in boxes)


def axis_angle_deg(u, v) -> float:
    """Angle between two lines (directions up to sign), degrees."""
    return math.degrees(math.acos(min(1.0, abs(float(np.dot(u, v))))))


def test_a_5cm_cube_gets_top_down_grasps_across_both_face_pairs():
    yaw = 0.3
    plan = plan_grasps(cube(yaw=yaw), [], None, CFG)
    assert plan.success, plan.message
    tops = [c for c in plan.candidates if c.grasp_type == "top"]
    assert len(tops) == len(plan.candidates) == 40  # 2 face pairs x 5 positions x 2 openings x 2 wrist turns
    x_axis = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    y_axis = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    across_x = [c for c in tops if axis_angle_deg(closing_axis(c), x_axis) < 1e-6]
    across_y = [c for c in tops if axis_angle_deg(closing_axis(c), y_axis) < 1e-6]
    assert len(across_x) == len(across_y) == 20
    for c in tops:
        np.testing.assert_allclose(c.approach, [0.0, 0.0, -1.0], atol=1e-12)
        assert c.object_width == pytest.approx(0.05)
        assert c.gripper_width in (pytest.approx(0.07), pytest.approx(0.058))  # 2 cm / 0.8 cm of slack
        assert c.position[2] == pytest.approx(0.05 - CFG.grasp_depth)  # 2.5 cm below the top
        assert c.pre_grasp_distance == pytest.approx(0.10)
        np.testing.assert_allclose(c.pre_grasp_position, c.position + np.array([0.0, 0.0, 0.10]), atol=1e-12)
        np.testing.assert_allclose(c.rotation.T @ c.rotation, np.eye(3), atol=1e-12)
        assert np.linalg.det(c.rotation) == pytest.approx(1.0)
    best = plan.candidates[0]
    np.testing.assert_allclose(best.position, [0.5, 0.0, 0.025], atol=1e-12)  # centred
    assert best.gripper_width == pytest.approx(0.07)  # the comfortable opening first
    # Shifted positions lie on the face's centre line, within the face minus the pad's half width.
    for c in across_x:
        offset = c.position[:2] - [0.5, 0.0]
        assert abs(float(np.dot(offset, x_axis[:2]))) < 1e-12
        assert abs(float(np.dot(offset, y_axis[:2]))) <= 0.025 - PANDA_HAND.pad_width / 2.0 + 1e-12


def test_the_score_is_in_0_1_and_ranked_best_first():
    plan = plan_grasps(box(0.45, 0.1, (0.03, 0.06, 0.04), yaw=1.0), [cube(0.45, -0.01, id="obj_9")],
                       default_cell().bin, CFG, top_down_rotation(0.0))
    scores = [c.score for c in plan.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    for c in plan.candidates:
        assert set(c.terms) == {"narrow", "clearance", "centred", "wrist", "slack", "contact"}
        assert all(0.0 <= v <= 1.0 for v in c.terms.values())


def test_a_box_too_wide_for_the_gripper_is_refused_with_its_width():
    plan = plan_grasps(box(0.5, 0.0, (0.095, 0.12, 0.05), label="blue box"), [], None, CFG)
    assert not plan.success and plan.candidates == []
    assert plan.message == "blue box is 9.5 cm wide; the gripper opens 8 cm"
    assert {r.reason for r in plan.rejections} == {"too_wide"}
    # 7.5 cm fits between the pads but leaves less than the 1 cm margin
    plan = plan_grasps(box(0.5, 0.0, (0.075, 0.09, 0.05), label="blue box"), [], None, CFG)
    assert not plan.success
    assert plan.message == ("blue box is 7.5 cm wide; the gripper opens 8 cm and needs 0.8 cm of room around it "
                            "to close safely")


def test_a_box_wide_one_way_is_grasped_across_its_narrow_side_only():
    plan = plan_grasps(box(0.5, 0.0, (0.09, 0.04, 0.05)), [], None, CFG)
    assert plan.success
    assert {round(c.object_width, 6) for c in plan.candidates} == {0.04}
    assert all(axis_angle_deg(closing_axis(c), [0.0, 1.0, 0.0]) < 1e-6 for c in plan.candidates)


def test_ranking_prefers_the_narrow_side():
    plan = plan_grasps(box(0.5, 0.0, (0.06, 0.03, 0.04), yaw=0.4), [], None, CFG)
    best = plan.candidates[0]
    assert best.object_width == pytest.approx(0.03)
    assert axis_angle_deg(closing_axis(best), [-math.sin(0.4), math.cos(0.4), 0.0]) < 1e-6
    wide = [c for c in plan.candidates if c.object_width == pytest.approx(0.06)]
    narrow_centred = [c for c in plan.candidates if c.object_width == pytest.approx(0.03)
                      and c.terms["centred"] == 1.0]
    assert wide and max(c.score for c in wide) < min(c.score for c in narrow_centred)


def test_a_neighbour_blocks_the_grasps_whose_fingers_would_hit_it():
    target = cube(0.5, 0.0)
    # A taller box 1.5 cm beside the cube's +y face: no finger fits in the gap.
    neighbour = box(0.5, 0.025 + 0.015 + 0.02, (0.04, 0.04, 0.08))
    plan = plan_grasps(target, [neighbour], None, CFG)
    assert plan.success
    blocked = [r for r in plan.rejections if r.reason == "collision"]
    assert blocked and {r.obstacles for r in blocked} == {("green box (obj_2)",)}
    for c in plan.candidates:
        assert finger_gap(c, neighbour) >= CFG.min_finger_clearance - 1e-9
        # every survivor closes along x: fingers on the free faces
        assert axis_angle_deg(closing_axis(c), [1.0, 0.0, 0.0]) < 1e-6
    # The same grasps without the neighbour include ones closing along y (which would hit it).
    free = plan_grasps(target, [], None, CFG)
    hits = [c for c in free.candidates if finger_gap(c, neighbour) < CFG.min_finger_clearance]
    along_y = [c for c in free.candidates if axis_angle_deg(closing_axis(c), [0.0, 1.0, 0.0]) < 1e-6]
    assert along_y and all(any(c is h for h in hits) for c in along_y)
    # closing along x, the hand (8 cm tall neighbour, hand 6.4 cm above the table) hits it
    # only from the positions shifted towards it
    assert all(c.position[1] > 0.0 for c in hits if not any(c is a for a in along_y))
    at_depth = [c for c in plan.candidates if c.position[2] == pytest.approx(0.025)]
    assert len(free.candidates) - len(hits) == len(at_depth)
    # the others were raised until the palm passes over the neighbour's top (8 cm)
    for c in plan.candidates:
        if c.position[2] != pytest.approx(0.025):
            assert c.position[2] + PANDA_HAND.hand_offset >= 0.08 + CFG.min_finger_clearance
    # Among the survivors, those shifted away from the neighbour score higher (more clearance).
    assert plan.candidates[0].position[1] < 0.0


def test_no_collision_free_grasp_names_what_is_in_the_way():
    target = cube(0.5, 0.0, id="obj_1", label="red cube")
    around = [box(0.5 + dx, dy, (0.04, 0.04, 0.06), id=f"obj_{k}", label=f"{c} box")
              for k, (dx, dy, c) in enumerate(((0.052, 0.0, "blue"), (-0.052, 0.0, "green"),
                                               (0.0, 0.052, "black"), (0.0, -0.052, "white")), start=2)]
    plan = plan_grasps(target, around, None, CFG)
    assert not plan.success and plan.candidates == []
    assert plan.message.startswith("no collision-free grasp for red cube (obj_1): the fingers or hand would hit ")
    for name in ("blue box (obj_2)", "green box (obj_3)", "black box (obj_4)", "white box (obj_5)"):
        assert name in plan.message
    assert "a side grasp needs the pads 5.7 cm above the table" in plan.message  # tried too


def test_bin_walls_are_obstacles():
    b = default_cell().bin
    wall_y = b.y - b.inner_size[1] / 2.0 - b.wall_thickness  # the outer face nearest the robot's workspace
    target = cube(b.x, wall_y - 0.012 - 0.025)  # 1.2 cm from the wall
    with_bin = plan_grasps(target, [], b, CFG)
    without = plan_grasps(target, [], None, CFG)
    assert with_bin.success and len(with_bin.candidates) < len(without.candidates)
    assert {r.obstacles for r in with_bin.rejections if r.reason == "collision"} == {("the bin wall",)}
    for c in with_bin.candidates:  # fingers between the cube and the wall would not fit
        assert axis_angle_deg(closing_axis(c), [1.0, 0.0, 0.0]) < 1e-6


@pytest.mark.parametrize("yaw_ref_deg", [-170.0, -47.0, 0.0, 13.0, 90.0, 123.0])
def test_cylinders_are_grasped_at_any_yaw_starting_from_the_current_wrist_yaw(yaw_ref_deg):
    target = cylinder(0.5, -0.1, 0.045, 0.05)
    yaw_ref = math.radians(yaw_ref_deg)
    plan = plan_grasps(target, [], None, CFG, top_down_rotation(yaw_ref))
    assert plan.success
    yaws = sorted({round(math.degrees(c.yaw) % 360.0, 6) % 360.0 for c in plan.candidates})
    assert len(yaws) == 12  # every 30 deg all around
    steps = np.diff([*yaws, yaws[0] + 360.0])
    np.testing.assert_allclose(steps, 30.0, atol=1e-6)
    best = plan.candidates[0]
    assert abs((math.degrees(best.yaw) - yaw_ref_deg + 180.0) % 360.0 - 180.0) < 1e-6
    assert best.terms["wrist"] == pytest.approx(1.0)
    for c in plan.candidates:
        assert c.object_width == pytest.approx(0.045)
        np.testing.assert_allclose(c.position[:2], [0.5, -0.1], atol=1e-12)


def test_a_cylinder_next_to_a_neighbour_gets_the_yaws_that_clear_it():
    target = cylinder(0.5, 0.0, 0.04, 0.05, id="obj_1")
    neighbour = box(0.5, 0.02 + 0.012 + 0.02, (0.04, 0.04, 0.04))  # lower than the palm
    plan = plan_grasps(target, [neighbour], None, CFG, top_down_rotation(math.pi / 2.0))
    assert plan.success
    for c in plan.candidates:
        assert finger_gap(c, neighbour) >= CFG.min_finger_clearance - 1e-9
    # closing roughly along x (fingers away from the neighbour at +y) survives, along y does not
    angles = [axis_angle_deg(closing_axis(c), [0.0, 1.0, 0.0]) for c in plan.candidates]
    assert min(angles) >= 30.0 - 1e-6 and max(angles) == pytest.approx(90.0)


def test_synthesis_is_deterministic():
    args = (box(0.45, 0.1, (0.03, 0.06, 0.07), yaw=0.7), [cube(0.5, 0.17, id="obj_9"),
                                                         cylinder(0.38, 0.1, 0.03, 0.03, id="obj_8")],
            default_cell().bin, CFG, top_down_rotation(0.2))
    a, b = plan_grasps(*args), plan_grasps(*args)
    assert a.message == b.message and len(a.candidates) == len(b.candidates) > 0
    for ca, cb in zip(a.candidates, b.candidates, strict=True):
        assert np.array_equal(ca.position, cb.position) and np.array_equal(ca.rotation, cb.rotation)
        assert (ca.score, ca.gripper_width, ca.grasp_type) == (cb.score, cb.gripper_width, cb.grasp_type)
    assert len(plan_grasps(*args, max_candidates=5).candidates) == 5


def test_tall_objects_also_get_side_grasps_from_the_robot_side():
    target = box(0.5, 0.2, (0.04, 0.05, 0.08), yaw=0.2)
    plan = plan_grasps(target, [], None, CFG, top_down_rotation(0.0))
    sides = [c for c in plan.candidates if c.grasp_type == "side"]
    assert sides and any(c.grasp_type == "top" for c in plan.candidates)
    radial = np.array([0.5, 0.2, 0.0]) / math.hypot(0.5, 0.2)
    for c in sides:
        assert c.approach[2] == pytest.approx(0.0, abs=1e-12)  # horizontal
        assert float(np.dot(c.approach, radial)) >= math.cos(math.radians(60.0)) - 1e-9  # away from the base
        assert abs(c.rotation[2, 0]) == pytest.approx(1.0)  # the hand's x axis vertical
        assert c.position[2] == pytest.approx(0.045 + CFG.table_clearance)  # wrist (4.5 cm) + table clearance
        pad_lo, pad_hi = c.position[2] - PANDA_HAND.pad_width / 2.0, c.position[2] + PANDA_HAND.pad_width / 2.0
        assert pad_lo > 0.0 and pad_hi < 0.08  # the pads on the object's side
    short = plan_grasps(box(0.5, 0.2, (0.04, 0.05, 0.04)), [], None, CFG)
    assert all(c.grasp_type == "top" for c in short.candidates)


def test_a_grasp_blocked_by_something_low_is_raised_over_it():
    # A 3.5 cm tall box 1.5 cm from the bin's outer wall (6 cm): grasps shifted towards the
    # wall would put the palm (3.9 cm above the grasp frame) into it; raised, the pads
    # still hold the upper part of the box.
    b = default_cell().bin
    wall_y = b.y - b.inner_size[1] / 2.0 - b.wall_thickness
    target = box(b.x, wall_y - 0.015 - 0.02, (0.03, 0.04, 0.035), yaw=0.0)
    plan = plan_grasps(target, [], b, CFG)
    assert plan.success
    default_z = PANDA_HAND.fingertip + CFG.table_clearance  # 3.5 cm: the fingertips' limit above the table
    raised = [c for c in plan.candidates if c.position[2] > default_z + 1e-9]
    for c in raised:
        palm = c.position[2] + PANDA_HAND.hand_offset
        assert palm >= b.wall_height + CFG.min_static_clearance - 1e-9
        assert c.position[2] == pytest.approx(b.wall_height + CFG.min_static_clearance - PANDA_HAND.hand_offset,
                                              abs=2e-4)  # just enough
        assert 0.035 - (c.position[2] - PANDA_HAND.fingertip) >= CFG.min_contact - 1e-9
    # grasps that fit at the usual depth (hand parallel to the wall) come first
    assert plan.candidates[0].position[2] == pytest.approx(default_z)
    assert axis_angle_deg(closing_axis(plan.candidates[0]), [1.0, 0.0, 0.0]) < 1e-6


def test_flat_objects_are_too_shallow_for_the_pads():
    plan = plan_grasps(box(0.5, 0.0, (0.05, 0.05, 0.008), label="green box"), [], None, CFG)
    assert not plan.success
    assert plan.message.startswith("no collision-free grasp for green box (obj_2): it is 0.8 cm tall: the pads would "
                                   "touch only")
    assert {r.reason for r in plan.rejections} == {"too_shallow"}


def test_fingertips_stay_above_the_surface_under_the_object():
    for h in (0.02, 0.03, 0.07):
        plan = plan_grasps(cube(side=h), [], None, CFG)
        for c in plan.candidates:
            tip = c.position[2] - PANDA_HAND.fingertip
            assert tip >= CFG.table_clearance - 1e-12
            assert c.position[2] + PANDA_HAND.hand_offset >= h + CFG.hand_clearance - 1e-12  # palm above the top
    # an object standing on the bin floor: the surface is the floor
    b = default_cell().bin
    inside = make_object("obj_5", "box", (b.x, b.y, b.floor_thickness + 0.01), (0.03, 0.03, 0.02), math.pi / 4.0,
                         "red box")  # diagonal: the 21 cm long hand fits in the 20 cm bin only so
    plan = plan_grasps(inside, [], b, CFG)
    assert plan.success, plan.message
    assert min(c.position[2] - PANDA_HAND.fingertip for c in plan.candidates) == pytest.approx(
        b.floor_thickness + CFG.table_clearance)


def test_the_object_itself_is_not_its_own_neighbour_and_bad_objects_are_refused():
    target = cube()
    alone = plan_grasps(target, [], None, CFG)
    assert len(plan_grasps(target, [target], None, CFG).candidates) == len(alone.candidates)
    with pytest.raises(ValueError, match="position"):
        make_object("obj_1", "box", (0.5, float("nan"), 0.02), (0.04, 0.04, 0.04))
    with pytest.raises(ValueError, match="size"):
        make_object("obj_1", "box", (0.5, 0.0, 0.02), (0.04, 0.0, 0.04))
    with pytest.raises(ValueError, match="shape 'sphere'"):
        make_object("obj_1", "sphere", (0.5, 0.0, 0.02), (0.04, 0.04, 0.04))
    with pytest.raises(ValueError, match="min_open_margin"):
        SynthesisConfig(open_margin=0.005, min_open_margin=0.01)


# -- the schema's extremes: 2 cm and 7-8 cm objects -------------------------------------
@pytest.mark.parametrize("height", [0.02, 0.0195, 0.0185])
def test_a_2cm_cube_perceived_a_little_short_is_grasped_above_the_table(height):
    obj = box(0.5, 0.0, (0.02, 0.02, height), label="red cube")
    plan = plan_grasps(obj, [], None, CFG)
    assert plan.success, plan.message
    for c in plan.candidates:
        assert c.grasp_type == "top"
        assert c.object_width == pytest.approx(0.02)
        tip = c.position[2] - PANDA_HAND.fingertip
        assert tip == pytest.approx(CFG.table_clearance)  # as low as the table allows
        assert height - tip >= CFG.min_contact - 1e-9  # pads on >= 6 mm of the perceived height
        assert c.gripper_width in (pytest.approx(0.04), pytest.approx(0.028))


def test_a_2cm_cylinder_is_grasped_and_a_1_7cm_tall_object_is_too_shallow():
    plan = plan_grasps(cylinder(0.5, 0.0, 0.02, 0.02), [], None, CFG)
    assert plan.success, plan.message
    assert {round(c.object_width, 4) for c in plan.candidates} == {0.02}
    low = plan_grasps(box(0.5, 0.0, (0.02, 0.02, 0.017)), [], None, CFG)
    assert not low.success and "the pads would touch only 5 mm" in low.message


def test_a_7cm_cube_and_cylinder_fit_the_8cm_opening_with_the_least_slack():
    for obj in (cube(side=0.07), cylinder(0.5, 0.0, 0.07, 0.08)):
        plan = plan_grasps(obj, [], None, CFG)
        assert plan.success, plan.message
        tops = [c for c in plan.candidates if c.grasp_type == "top"]
        assert tops and all(c.object_width == pytest.approx(0.07) for c in tops)
        assert {round(c.gripper_width, 4) for c in tops} == {0.078, 0.08}  # 7 cm + min_open_margin .. the full 8 cm


def test_an_8cm_box_is_grasped_only_across_its_6cm_faces_and_a_7_5cm_cube_not_at_all():
    plan = plan_grasps(box(0.5, 0.0, (0.08, 0.06, 0.075)), [], None, CFG)
    assert plan.success, plan.message
    assert {round(c.object_width, 4) for c in plan.candidates} == {0.06}
    wide = plan_grasps(cube(side=0.075), [], None, CFG)
    assert not wide.success
    assert "red cube is 7.5 cm wide; the gripper opens 8 cm and needs 0.8 cm of room" in wide.message
