"""Panda kinematics (FK/IK of the grasp frame) on a private PyBullet client. No ROS imports.

The grasp frame is link 11 ``panda_grasptarget``: between the finger pads, z pointing out
of the hand (down for a top-down grasp), the fingers closing along its y axis. Poses are
in the base frame (``panda_link0`` at the origin). IK follows the measured recipe in
ROS_ON_PIP.md: ``calculateInverseKinematics`` with maxNumIterations=100 and
residualThreshold=1e-5 (never IK_SDLS), seeded by resetting the joints of a private robot
copy (``currentPositions=`` is avoided), random restarts, and only in-limit solutions
accepted after an FK check.
"""

from __future__ import annotations

import os

import numpy as np
import pybullet as p
import pybullet_data
from transforms3d.quaternions import mat2quat

PANDA_URDF = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")
ARM_JOINT_INDICES = tuple(range(7))
FINGER_JOINT_INDICES = (9, 10)
GRASP_LINK = 11  # panda_grasptarget


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (4,) quaternion xyzw."""
    w, x, y, z = mat2quat(np.asarray(R, dtype=float))
    return np.array([x, y, z, w])


def matrix_from_quaternion(q_xyzw) -> np.ndarray:
    """(4,) quaternion xyzw -> (3, 3) rotation."""
    return np.asarray(p.getMatrixFromQuaternion([float(v) for v in q_xyzw])).reshape(3, 3)


def top_down_rotation(yaw: float) -> np.ndarray:
    """(3, 3) grasp-frame rotation pointing straight down (z = -z_base), x at `yaw` rad about z.

    The fingers close along the frame's y axis = (sin yaw, -cos yaw, 0).
    """
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def rotation_angle(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Angle (rad) of the rotation between two (3, 3) rotations."""
    c = (np.trace(R_a.T @ R_b) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


class PandaKinematics:
    """FK/IK of the Panda grasp frame on its own PyBullet DIRECT client (no physics stepped)."""

    def __init__(self) -> None:
        self._client = p.connect(p.DIRECT)
        self._robot = p.loadURDF(PANDA_URDF, useFixedBase=True, physicsClientId=self._client,
                                 basePosition=[0, 0, 0])
        lo, hi, vmax = [], [], []
        for j in ARM_JOINT_INDICES:
            info = p.getJointInfo(self._robot, j, physicsClientId=self._client)
            lo.append(info[8])
            hi.append(info[9])
            vmax.append(info[11])
        self.lower = np.array(lo)
        self.upper = np.array(hi)
        self.max_velocity = np.array(vmax)
        for j in FINGER_JOINT_INDICES:
            p.resetJointState(self._robot, j, 0.04, physicsClientId=self._client)

    def close(self) -> None:
        if self._client >= 0:
            p.disconnect(physicsClientId=self._client)
            self._client = -1

    def __del__(self) -> None:  # a best effort; close() is the contract
        try:
            if p is not None and self._client >= 0 and p.isConnected(physicsClientId=self._client):
                p.disconnect(physicsClientId=self._client)
        except (AttributeError, TypeError):
            pass

    def _set(self, q: np.ndarray) -> None:
        for j, v in zip(ARM_JOINT_INDICES, q, strict=True):
            p.resetJointState(self._robot, j, float(v), physicsClientId=self._client)

    def in_limits(self, q: np.ndarray, margin: float = 0.0) -> bool:
        return bool(np.all(q >= self.lower + margin) and np.all(q <= self.upper - margin))

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(7,) arm joint angles, rad -> (4, 4) T_base_grasp."""
        self._set(np.asarray(q, dtype=float))
        st = p.getLinkState(self._robot, GRASP_LINK, computeForwardKinematics=True, physicsClientId=self._client)
        T = np.eye(4)
        T[:3, :3] = matrix_from_quaternion(st[5])
        T[:3, 3] = st[4]
        return T

    def ik(self, position, rotation: np.ndarray, *, seed_q=None, rng: np.random.Generator | None = None,
           restarts: int = 30, refine: int = 5, pos_tol: float = 1e-3, rot_tol: float = np.deg2rad(1.0),
           margin: float = 0.0) -> np.ndarray | None:
        """Arm joints (7,) rad placing the grasp frame at `position` (3,) m with `rotation` (3, 3).

        Starts from `seed_q` (one (7,) seed or a sequence of them; continuity along a path),
        then from `restarts` random configurations drawn from `rng` (uniform within the
        limits). Each start is refined up to `refine` times by re-solving from its own
        result (PyBullet's solver often stops a few mm short near the workspace edge).
        Returns the first in-limit solution within pos_tol (m) / rot_tol (rad), else None.
        """
        target = np.asarray(position, dtype=float)
        R = np.asarray(rotation, dtype=float)
        quat = quaternion_from_matrix(R).tolist()
        rng = rng if rng is not None else np.random.default_rng(0)
        seeds: list[np.ndarray] = []
        if seed_q is not None:
            arr = np.asarray(seed_q, dtype=float)
            seeds = [arr] if arr.ndim == 1 else list(arr)
        for k in range(len(seeds) + restarts):
            q = seeds[k] if k < len(seeds) else rng.uniform(self.lower, self.upper)
            for _ in range(1 + refine):
                self._set(q)
                sol = p.calculateInverseKinematics(
                    self._robot, GRASP_LINK, target.tolist(), quat,
                    maxNumIterations=100, residualThreshold=1e-5, physicsClientId=self._client)
                q = np.asarray(sol[:7])
                if not self.in_limits(q, margin):
                    break
                T = self.fk(q)
                if np.linalg.norm(T[:3, 3] - target) <= pos_tol and rotation_angle(T[:3, :3], R) <= rot_tol:
                    return q
        return None
