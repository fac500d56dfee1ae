"""brain_common kinematics, the arm's one FK/IK (planner, grasping and the sim's oracle):
URDF chain, FK against PyBullet, IK round trips and limits."""

import math

import numpy as np
import pybullet as p
import pytest

from brain_common.kinematics import (
    Kinematics,
    rotation_angle,
    rotation_log,
    top_down_rotation,
    transform_from_position_rotation,
)
from brain_common.robot import ARM_JOINTS, BASE_FRAME, GRASP_FRAME
from brain_common.robot_model import load_robot_model, transform_from_xyz_rpy

HOME = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))

TWO_LINK_URDF = """<?xml version="1.0"?>
<robot name="two_link">
  <link name="base"/>
  <link name="l1"/>
  <link name="l2">
    <collision><origin xyz="0.15 0 0" rpy="0 0 0"/><geometry><box size="0.3 0.04 0.02"/></geometry></collision>
    <collision><geometry><cylinder radius="0.03" length="0.1"/></geometry></collision>
  </link>
  <link name="tip"/>
  <joint name="j1" type="revolute">
    <parent link="base"/><child link="l1"/>
    <origin xyz="0 0 0.1" rpy="0 0 0"/><axis xyz="0 0 1"/>
    <limit lower="-3" upper="3" velocity="1" effort="1"/>
  </joint>
  <joint name="j2" type="revolute">
    <parent link="l1"/><child link="l2"/>
    <origin xyz="0.5 0 0" rpy="0 0 0"/><axis xyz="0 0 1"/>
    <limit lower="-2" upper="2" velocity="2" effort="1"/>
  </joint>
  <joint name="fixed_tip" type="fixed">
    <parent link="l2"/><child link="tip"/>
    <origin xyz="0.3 0 0" rpy="0 0 0"/>
  </joint>
</robot>
"""


@pytest.fixture(scope="module")
def kin():
    return Kinematics(load_robot_model())


@pytest.fixture(scope="module")
def bullet(kin):
    c = p.connect(p.DIRECT)
    robot = p.loadURDF(kin.model.urdf_path, useFixedBase=True, physicsClientId=c)
    yield c, robot
    p.disconnect(physicsClientId=c)


def test_tiny_urdf_chain(tmp_path):
    f = tmp_path / "two_link.urdf"
    f.write_text(TWO_LINK_URDF)
    model = load_robot_model(str(f), base_link="base", tip_link="tip")
    assert model.joint_names == ("j1", "j2")
    np.testing.assert_array_equal(model.lower, [-3, -2])
    np.testing.assert_array_equal(model.velocity, [1, 2])
    k = Kinematics(model)
    T = k.fk([math.pi / 2, -math.pi / 2])
    # j1 turns the 0.5 m link to +y, j2 turns the 0.3 m tip back to +x
    np.testing.assert_allclose(T[:3, 3], [0.3, 0.5, 0.1], atol=1e-12)
    # primitive collision shapes become points whose hull contains them
    box, cyl = model.geometry["l2"]
    np.testing.assert_allclose(box.vertices.min(axis=0), [0.0, -0.02, -0.01])
    np.testing.assert_allclose(box.vertices.max(axis=0), [0.3, 0.02, 0.01])
    assert np.linalg.norm(cyl.vertices[:, :2], axis=1).min() >= 0.03 - 1e-12
    assert model.link("l2").frame == 2 and model.link("tip").frame == 2
    with pytest.raises(ValueError, match="no joint path"):
        load_robot_model(str(f), base_link="base", tip_link="nowhere")


def test_panda_chain_from_urdf(kin):
    m = kin.model
    assert m.joint_names == ARM_JOINTS
    assert (m.base_link, m.tip_link) == (BASE_FRAME, GRASP_FRAME)
    np.testing.assert_allclose(m.lower, [-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671])
    np.testing.assert_allclose(m.velocity, [2.175] * 4 + [2.61] * 3)
    # the fingers hang off the hand frame, swept along +-y of the hand (45 deg in link 7's frame)
    left = m.link("panda_leftfinger")
    assert left.frame == 7 and len(left.sweep) == 1 and left.sweep[0][2] == pytest.approx(0.04)


def test_grasp_frame_is_flange_then_hand_then_pads(kin):
    # panda.urdf: flange 0.107 m along link 7's z, the hand turned -45 deg about z, the
    # grasp target 0.105 m further between the pads (written out here, not read from the URDF).
    T = (transform_from_xyz_rpy((0, 0, 0.107), (0, 0, 0)) @ transform_from_xyz_rpy((0, 0, 0), (0, 0, -math.pi / 4))
         @ transform_from_xyz_rpy((0, 0, 0.105), (0, 0, 0)))
    np.testing.assert_allclose(kin.model.T_last_tip, T, atol=1e-12)


def test_grasp_frame_matches_pybullet_link_11_on_random_in_limit_configurations(kin, bullet):
    """The one FK of the grasp frame against PyBullet's link 11 (panda_grasptarget): the
    same facts the hand-written grasping FK and the sim's PyBullet FK were checked on before
    they were replaced by it."""
    c, robot = bullet
    rng = np.random.default_rng(11)
    Q = np.vstack([HOME, rng.uniform(kin.lower, kin.upper, (200, 7))])
    pos_err, rot_err = [], []
    for q in Q:
        for j in range(7):
            p.resetJointState(robot, j, q[j], physicsClientId=c)
        st = p.getLinkState(robot, 11, computeForwardKinematics=True, physicsClientId=c)
        T = kin.fk(q)
        pos_err.append(np.linalg.norm(T[:3, 3] - st[4]))
        rot_err.append(np.max(np.abs(T[:3, :3] - np.array(p.getMatrixFromQuaternion(st[5])).reshape(3, 3))))
    assert max(pos_err) < 1e-6  # metres
    assert max(rot_err) < 1e-6
    np.testing.assert_allclose(kin.fk_batch(Q), [kin.fk(q) for q in Q], atol=1e-12)
    # home: 0.40 m in front, 0.47 m up, pointing straight down
    T = kin.fk(HOME)
    np.testing.assert_allclose(T[:3, 3], [0.4003, 0.0, 0.4702], atol=1e-3)
    np.testing.assert_allclose(T[:3, :3], top_down_rotation(0.0), atol=1e-3)


def test_top_down_rotation_and_pose_helpers():
    R = top_down_rotation(0.3)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R[:, 2], [0, 0, -1])  # z points down
    np.testing.assert_allclose(R[:, 1], [math.sin(0.3), -math.cos(0.3), 0])  # the fingers close along y
    T = transform_from_position_rotation([0.1, 0.2, 0.3], R)
    np.testing.assert_array_equal(T[:3, :3], R)
    np.testing.assert_array_equal(T[:, 3], [0.1, 0.2, 0.3, 1.0])


@pytest.mark.parametrize("seed", range(6))
def test_fk_matches_pybullet_link_state(kin, bullet, seed):
    c, robot = bullet
    q = np.random.default_rng(seed).uniform(kin.lower, kin.upper)
    for j in range(7):
        p.resetJointState(robot, j, q[j], physicsClientId=c)
    st = p.getLinkState(robot, 11, computeForwardKinematics=True, physicsClientId=c)
    T = kin.fk(q)
    np.testing.assert_allclose(T[:3, 3], st[4], atol=1e-7)
    np.testing.assert_allclose(T[:3, :3], np.array(p.getMatrixFromQuaternion(st[5])).reshape(3, 3), atol=1e-7)
    # every chain frame too (link k is pybullet link k - 1)
    F = kin.frames(q)
    for k in range(1, 8):
        np.testing.assert_allclose(F[k][:3, 3], p.getLinkState(robot, k - 1, computeForwardKinematics=True,
                                                               physicsClientId=c)[4], atol=1e-7)


def test_batch_fk_equals_single(kin):
    Q = np.random.default_rng(3).uniform(kin.lower, kin.upper, (300, 7))  # both batch code paths
    T = kin.fk_batch(Q)
    for i in (0, 17, 299):
        np.testing.assert_allclose(T[i], kin.fk(Q[i]), atol=1e-12)
    np.testing.assert_allclose(kin.fk_batch(Q[:5]), T[:5], atol=1e-12)


def test_jacobian_matches_finite_differences(kin):
    q = HOME + 0.1
    J, T = kin.jacobian(q)
    eps = 1e-6
    for j in range(7):
        dq = np.zeros(7)
        dq[j] = eps
        T2 = kin.fk(q + dq)
        np.testing.assert_allclose((T2[:3, 3] - T[:3, 3]) / eps, J[:3, j], atol=1e-5)
        np.testing.assert_allclose(rotation_log(T2[:3, :3] @ T[:3, :3].T) / eps, J[3:, j], atol=1e-5)


def test_rotation_log_near_pi():
    R = np.diag([1.0, -1.0, -1.0])  # pi about x
    w = rotation_log(R)
    assert np.linalg.norm(w) == pytest.approx(math.pi) and abs(w[0]) == pytest.approx(math.pi)


@pytest.mark.parametrize("seed", range(20))
def test_ik_round_trip_within_limits(kin, seed):
    rng = np.random.default_rng(seed)
    q_true = rng.uniform(kin.lower, kin.upper)
    T = kin.fk(q_true)
    res = kin.ik(T, HOME, rng=np.random.default_rng(seed), time_limit=0.5)
    assert res.success, res
    assert kin.within_limits(res.q)
    T2 = kin.fk(res.q)
    assert np.linalg.norm(T2[:3, 3] - T[:3, 3]) < 1e-3
    assert rotation_angle(T2[:3, :3], T[:3, :3]) < math.radians(1.0)


def test_ik_grasp_pose_seeded_from_current_state_stays_close(kin):
    T = kin.fk(HOME)
    T[:3, 3] += [0.05, -0.03, -0.02]
    res = kin.ik(T, HOME)
    assert res.success and res.attempts == 1
    assert np.max(np.abs(res.q - HOME)) < 0.3  # the nearby solution, not a far branch


def test_ik_wrist_roll_beyond_joint7_range(kin):
    """A yaw that joint 7 alone cannot reach from the seed (its range is < 2 pi)."""
    c, s = math.cos(-2.3), math.sin(-2.3)
    T = np.eye(4)
    T[:3, :3] = [[c, s, 0], [s, -c, 0], [0, 0, -1]]
    T[:3, 3] = [0.5, 0.0, 0.2]
    res = kin.ik(T, HOME)
    assert res.success and kin.within_limits(res.q)


def test_ik_unreachable_fails_fast(kin):
    T = np.eye(4)
    T[:3, 3] = [2.0, 0.0, 0.5]  # 2 m away: out of reach
    res = kin.ik(T, HOME, time_limit=0.05)
    assert not res.success and res.q is None
    assert res.position_error > 0.5


def test_ik_validate_callback_rejects_solutions(kin):
    T = kin.fk(HOME)
    res = kin.ik(T, HOME, restarts=3, validate=lambda q: False, time_limit=0.05)
    assert not res.success
