"""The grasp frame's pose from the joints (the arm's one kinematics) and the node's
message conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from armbrain_sim.scene import HOME_ARM as HOME
from brain_common.kinematics import Kinematics, top_down_rotation
from brain_common.robot_model import load_robot_model
from grasping.core import make_object, plan_grasps
from grasping.core.panda_fk import grasp_pose_from_joints


def test_grasp_pose_from_joints_is_the_arms_one_kinematics():
    # grasping has no chain of its own: the wrist orientation is brain_common's FK
    # (checked against PyBullet's link 11 in test_kinematics.py).
    kin = Kinematics(load_robot_model())
    rng = np.random.default_rng(7)
    for q in [np.array(HOME), *rng.uniform(kin.lower, kin.upper, (30, 7))]:
        np.testing.assert_array_equal(grasp_pose_from_joints(q), kin.fk(q))
    T = grasp_pose_from_joints(HOME)  # home: 0.40 m in front, 0.47 m up, pointing down
    np.testing.assert_allclose(T[:3, 3], [0.4003, 0.0, 0.4702], atol=1e-3)
    np.testing.assert_allclose(T[:3, :3], top_down_rotation(0.0), atol=1e-3)
    with pytest.raises(ValueError, match="7 finite angles"):
        grasp_pose_from_joints([0.0] * 6)


def test_object_from_msg_and_candidate_to_msg():
    from brain_interfaces.msg import DetectedObject
    from grasping.conversions import msg_from_candidate, object_from_msg, quaternion_from_matrix

    msg = DetectedObject(id="obj_4", label="blue box", shape="box")
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 0.5, -0.1, 0.02
    yaw = 0.6
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
    msg.size.x, msg.size.y, msg.size.z = 0.03, 0.05, 0.04
    obj = object_from_msg(msg)
    assert (obj.id, obj.label, obj.shape) == ("obj_4", "blue box", "box")
    assert obj.position == pytest.approx((0.5, -0.1, 0.02)) and obj.yaw == pytest.approx(yaw)
    assert obj.size == pytest.approx((0.03, 0.05, 0.04))
    msg.pose.orientation.w = msg.pose.orientation.z = 0.0
    with pytest.raises(ValueError, match="not a valid quaternion"):
        object_from_msg(msg)
    msg.pose.orientation.w = 1.0
    msg.shape = ""  # an empty shape is "unknown": planned as its bounding box
    assert object_from_msg(msg).shape == "unknown"

    best = plan_grasps(make_object("obj_1", "box", (0.5, 0.0, 0.025), (0.05, 0.05, 0.05), 0.3), [],
                       reference_rotation=top_down_rotation(0.3)).candidates[0]
    out = msg_from_candidate(best)
    q = out.grasp_pose.orientation
    assert (q.x, q.y, q.z, q.w) == pytest.approx(quaternion_from_matrix(best.rotation))
    # the quaternion turns base axes into the grasp axes
    x, y, z, w = q.x, q.y, q.z, q.w
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(R, best.rotation, atol=1e-12)
    assert (out.approach_direction.x, out.approach_direction.y, out.approach_direction.z) == pytest.approx(
        (0.0, 0.0, -1.0))
    assert out.grasp_type == "top" and out.object_width == pytest.approx(0.05)
    assert out.gripper_width == pytest.approx(0.07) and out.score == pytest.approx(best.score)
    assert out.pre_grasp_distance == pytest.approx(0.10)


def test_bin_from_msg_uses_the_perceived_bin_and_the_prior_only_when_unseen():
    import math

    from brain_common.cell import default_cell
    from brain_interfaces.msg import DetectedBin
    from grasping.conversions import bin_from_msg

    prior = default_cell().bin
    m = DetectedBin(seen=True, source="perceived", wall_thickness=0.012)
    m.pose.position.x, m.pose.position.y = 0.40, -0.38
    m.pose.orientation.z, m.pose.orientation.w = math.sin(math.radians(15)), math.cos(math.radians(15))
    m.inner_size.x, m.inner_size.y, m.inner_size.z = 0.25, 0.15, 0.07
    b = bin_from_msg(m, prior)
    assert (b.x, b.y, b.inner_size, b.wall_height, b.wall_thickness) == (0.40, -0.38, (0.25, 0.15), 0.07, 0.012)
    assert math.degrees(b.yaw) == pytest.approx(30.0)
    assert b.floor_thickness == prior.floor_thickness  # a camera cannot see it: the prior's
    m.seen = False
    assert bin_from_msg(m, prior) is prior
    m.seen, m.inner_size.x = True, float("nan")
    assert bin_from_msg(m, prior) is prior
