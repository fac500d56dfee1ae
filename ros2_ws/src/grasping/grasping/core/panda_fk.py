"""Forward kinematics of the Franka Panda grasp frame from the 7 arm joint angles.

Used only to know the current wrist orientation (the "little wrist rotation" score term);
the motion layer owns inverse kinematics. The chain is panda.urdf's (pybullet_data
franka_panda, the same numbers as Franka's published kinematics): each joint's fixed
origin (xyz, rpy) followed by a rotation about its z axis; then the flange (0.107 m), the
hand turned -45 deg about z, and the grasp frame ``panda_grasptarget`` 0.105 m further.
Pure numpy; metres, radians.
"""

from __future__ import annotations

import math

import numpy as np

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")

_H = math.pi / 2.0
# (xyz, roll about x) of joints 1..7 (pitch and yaw are 0 for all of them).
_JOINTS = (
    ((0.0, 0.0, 0.333), 0.0),
    ((0.0, 0.0, 0.0), -_H),
    ((0.0, -0.316, 0.0), _H),
    ((0.0825, 0.0, 0.0), _H),
    ((-0.0825, 0.384, 0.0), -_H),
    ((0.0, 0.0, 0.0), _H),
    ((0.088, 0.0, 0.0), _H),
)


def _origin(xyz: tuple[float, float, float], roll: float, yaw: float = 0.0) -> np.ndarray:
    cr, sr, cy, sy = math.cos(roll), math.sin(roll), math.cos(yaw), math.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    T[:3, 3] = xyz
    return T


def _rot_z(q: float) -> np.ndarray:
    c, s = math.cos(q), math.sin(q)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


_FLANGE_TO_GRASP = _origin((0.0, 0.0, 0.107), 0.0) @ _origin((0.0, 0.0, 0.0), 0.0, -math.pi / 4.0) @ _origin(
    (0.0, 0.0, 0.105), 0.0)


def grasp_pose_from_joints(q) -> np.ndarray:
    """(7,) arm joint angles, rad -> (4, 4) T_base_grasp (panda_grasptarget in panda_link0)."""
    q = np.asarray(q, dtype=float)
    if q.shape != (7,) or not np.all(np.isfinite(q)):
        raise ValueError(f"grasp_pose_from_joints: q must be 7 finite angles, got {q!r}")
    T = np.eye(4)
    for (xyz, roll), qi in zip(_JOINTS, q, strict=True):
        T = T @ _origin(xyz, roll) @ _rot_z(float(qi))
    return T @ _FLANGE_TO_GRASP
