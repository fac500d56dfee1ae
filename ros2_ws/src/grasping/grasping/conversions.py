"""Messages <-> grasping core types, at the edge of the node."""

from __future__ import annotations

import math

import numpy as np
from geometry_msgs.msg import Pose
from transforms3d.quaternions import mat2quat

from brain_common.cell import Bin, bin_from_detected, yaw_from_quaternion
from brain_interfaces.msg import DetectedBin, DetectedObject, GraspCandidate
from grasping.core import GraspCandidate as CoreCandidate
from grasping.core import ObjectModel, make_object


def quaternion_from_matrix(R: np.ndarray) -> tuple[float, float, float, float]:
    """(3, 3) rotation -> quaternion (x, y, z, w) with w >= 0."""
    w, x, y, z = mat2quat(np.asarray(R, dtype=float))
    if w < 0.0:
        w, x, y, z = -w, -x, -y, -z
    return float(x), float(y), float(z), float(w)


def object_from_msg(msg: DetectedObject) -> ObjectModel:
    """DetectedObject -> ObjectModel; ValueError naming the bad field (NaN, size <= 0, shape)."""
    p, q, s = msg.pose.position, msg.pose.orientation, msg.size
    norm = math.sqrt(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w)
    if not math.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"{msg.label or msg.id or 'object'}: orientation is not a valid quaternion")
    yaw = yaw_from_quaternion(q.x / norm, q.y / norm, q.z / norm, q.w / norm)
    return make_object(msg.id, msg.shape or "unknown", (p.x, p.y, p.z), (s.x, s.y, s.z), yaw, msg.label)


def bin_from_msg(msg: DetectedBin, prior: Bin) -> Bin:
    """The bin perception sees (DetectedBin), or `prior` when it is not seen or its values
    are broken (brain_common.cell.bin_from_detected)."""
    return (bin_from_detected(msg, prior) if msg.seen else None) or prior


def pose_msg(position: np.ndarray, rotation: np.ndarray) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    (pose.orientation.x, pose.orientation.y, pose.orientation.z,
     pose.orientation.w) = quaternion_from_matrix(rotation)
    return pose


def msg_from_candidate(c: CoreCandidate) -> GraspCandidate:
    msg = GraspCandidate()
    msg.grasp_pose = pose_msg(c.position, c.rotation)
    msg.approach_direction.x, msg.approach_direction.y, msg.approach_direction.z = (float(v) for v in c.approach)
    msg.pre_grasp_distance = float(c.pre_grasp_distance)
    msg.gripper_width = float(c.gripper_width)
    msg.object_width = float(c.object_width)
    msg.grasp_type = c.grasp_type
    msg.score = float(c.score)
    return msg
