"""Messages -> motion-layer types (the edge of the pure core; the task layer calls these).

``obstacle_from_detected_object`` turns perception's brain_interfaces/DetectedObject (pose
in the base frame, size along the object's axes) into a collision Obstacle. An object of
unknown shape becomes its bounding box (conservative); an invalid one raises ValueError
naming the object and the field.
"""

from __future__ import annotations

import numpy as np

from planner.motion.collision import Obstacle


def matrix_from_pose_msg(pose) -> np.ndarray:
    """(4, 4) transform of a geometry_msgs/Pose (the quaternion is normalised)."""
    o, p = pose.orientation, pose.position
    q = np.array([o.w, o.x, o.y, o.z], dtype=float)
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"pose orientation ({o.x}, {o.y}, {o.z}, {o.w}) is not a rotation")
    w, x, y, z = q / n
    T = np.eye(4)
    T[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    T[:3, 3] = [p.x, p.y, p.z]
    return T


def obstacle_from_detected_object(obj, inflate: float = 0.0) -> Obstacle:
    """A brain_interfaces/DetectedObject as an Obstacle named by its id; `inflate` (m) is
    added to every extent (e.g. for perception's size uncertainty)."""
    shape = obj.shape if obj.shape in ("box", "cylinder") else "box"
    size = (obj.size.x + inflate, obj.size.y + inflate, obj.size.z + inflate)
    try:
        return Obstacle(obj.id or obj.label, shape, size, matrix_from_pose_msg(obj.pose))
    except ValueError as exc:
        raise ValueError(f"detected object {obj.id!r} ({obj.label}): {exc}") from exc
