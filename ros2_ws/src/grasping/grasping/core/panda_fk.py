"""The grasp frame's pose from the 7 arm joint angles, with the arm's one kinematics.

Used only to know the current wrist orientation (the "little wrist rotation" score term);
the chain is brain_common's (panda.urdf read once, shared with the planner and the sim).
Pure numpy; metres, radians.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from brain_common.kinematics import Kinematics
from brain_common.robot import ARM_JOINTS
from brain_common.robot_model import load_robot_model


@lru_cache(maxsize=1)
def _kinematics() -> Kinematics:
    return Kinematics(load_robot_model())


def grasp_pose_from_joints(q) -> np.ndarray:
    """(7,) arm joint angles, rad -> (4, 4) T_base_grasp (panda_grasptarget in panda_link0)."""
    q = np.asarray(q, dtype=float)
    if q.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(q)):
        raise ValueError(f"grasp_pose_from_joints: q must be {len(ARM_JOINTS)} finite angles, got {q!r}")
    return _kinematics().fk(q)
