"""The grasping core: grasp synthesis, gripper motion and the grasp check. No ROS imports."""

from grasping.core.grasp_check import GraspCheckConfig, GraspEvent, GraspMonitor, GraspState
from grasping.core.gripper_model import PANDA_HAND, GripperModel
from grasping.core.gripper_motion import (
    FingerMotion,
    GripperConfig,
    MotionResult,
    Outcome,
    check_gripper_goal,
)
from grasping.core.panda_fk import grasp_pose_from_joints
from grasping.core.scene import ObjectModel, Obstacle, bin_obstacles, check_object, make_object
from grasping.core.synthesis import (
    TYPE_SIDE,
    TYPE_TOP,
    GraspCandidate,
    GraspPlan,
    Rejection,
    SynthesisConfig,
    plan_grasps,
    side_rotation,
)

__all__ = [
    "PANDA_HAND",
    "TYPE_SIDE",
    "TYPE_TOP",
    "FingerMotion",
    "GraspCandidate",
    "GraspCheckConfig",
    "GraspEvent",
    "GraspMonitor",
    "GraspPlan",
    "GraspState",
    "GripperConfig",
    "GripperModel",
    "MotionResult",
    "ObjectModel",
    "Obstacle",
    "Outcome",
    "Rejection",
    "SynthesisConfig",
    "bin_obstacles",
    "check_gripper_goal",
    "check_object",
    "grasp_pose_from_joints",
    "make_object",
    "plan_grasps",
    "side_rotation",
]
