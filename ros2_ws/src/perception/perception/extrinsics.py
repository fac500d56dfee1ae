"""The camera's pose in the base frame from static transforms (what /tf_static carries).

Pure (numpy + transforms3d, no rclpy, no messages): the node converts each
``geometry_msgs/TransformStamped`` with ``perception.conversions`` and keeps them in a
``StaticTransforms``, which chains them like tf2 does for static frames (each child frame
has one parent; a newer transform of the same child replaces the older one), e.g.
``panda_link0 -> camera_link -> camera_color_optical_frame`` as a calibration publisher
plus realsense2_camera give. tf2_ros is not installable from PyPI, and static frames
need no time interpolation, so this small tree is all the brain needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

QUATERNION_NORM_TOLERANCE = 0.01  # |‖q‖ - 1| accepted (then normalised), as tf2 accepts


@dataclass(frozen=True, slots=True)
class StaticTransform:
    """T_parent_child: (4, 4), the child frame's pose in the parent frame (metres)."""

    parent: str
    child: str
    matrix: np.ndarray


def transform_from_parts(parent: str, child: str, translation: Sequence[float],
                         quaternion_xyzw: Sequence[float]) -> StaticTransform:
    """A checked StaticTransform from a translation (x, y, z; m) and a quaternion (x, y, z, w).

    Raises ValueError naming the bad value: an empty frame id, a frame that is its own
    parent, a non-finite number, or a quaternion whose norm is not 1 within
    QUATERNION_NORM_TOLERANCE (a near-unit one is normalised)."""
    parent, child = parent.lstrip("/"), child.lstrip("/")  # tf2 frame ids have no leading slash
    if not parent or not child:
        raise ValueError(f"transform has an empty frame id (parent {parent!r}, child {child!r})")
    if parent == child:
        raise ValueError(f"transform from frame {parent!r} to itself")
    t = np.asarray(translation, dtype=float)
    q = np.asarray(quaternion_xyzw, dtype=float)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"transform {parent} -> {child}: translation {t.tolist()} is not 3 finite numbers")
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise ValueError(f"transform {parent} -> {child}: rotation {q.tolist()} (x y z w) is not 4 finite numbers")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ValueError(f"transform {parent} -> {child}: rotation {q.tolist()} (x y z w) is not a unit "
                         f"quaternion (norm {norm:.4g})")
    T = np.eye(4)
    T[:3, :3] = quat2mat(np.array([q[3], q[0], q[1], q[2]]) / norm)  # transforms3d: w x y z
    T[:3, 3] = t
    T.setflags(write=False)
    return StaticTransform(parent=parent, child=child, matrix=T)


def _inverse(T: np.ndarray) -> np.ndarray:
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


class StaticTransforms:
    """A tree of static transforms, keyed by child frame; lookups chain them."""

    def __init__(self) -> None:
        self._by_child: dict[str, StaticTransform] = {}

    def __len__(self) -> int:
        return len(self._by_child)

    def frames(self) -> list[str]:
        """Every frame named by a kept transform, sorted."""
        return sorted({f for t in self._by_child.values() for f in (t.parent, t.child)})

    def add(self, transform: StaticTransform) -> bool:
        """Keep a transform (replacing the one of the same child); True if anything changed.

        Raises ValueError, keeping the tree as it was, if the transform would close a loop
        (its parent already descends from its child)."""
        old = self._by_child.get(transform.child)
        if old is not None and old.parent == transform.parent and np.array_equal(old.matrix, transform.matrix):
            return False
        frame, seen = transform.parent, set()
        while frame in self._by_child and frame not in seen:
            seen.add(frame)
            frame = self._by_child[frame].parent
            if frame == transform.child:
                raise ValueError(f"transform {transform.parent} -> {transform.child} would close a loop: "
                                 f"{transform.parent} already descends from {transform.child}")
        self._by_child[transform.child] = transform
        return True

    def _to_root(self, frame: str) -> tuple[str, dict[str, np.ndarray]]:
        """(root, {ancestor or frame itself: T_ancestor_frame}) walking up from frame."""
        chain = {frame: np.eye(4)}
        T = np.eye(4)
        while frame in self._by_child:
            t = self._by_child[frame]
            T = t.matrix @ T
            frame = t.parent
            chain[frame] = T
        return frame, chain

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """(4, 4) T_target_source, the source frame's pose in the target frame (tf2's
        lookupTransform(target, source) for static frames), or None if the two frames are
        not connected by the kept transforms."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        _, up_from_source = self._to_root(source)  # {ancestor: T_ancestor_source}
        frame, T_frame_target = target, np.eye(4)
        while True:
            if frame in up_from_source:
                # T_target_source = inv(T_common_target) @ T_common_source
                return _inverse(T_frame_target) @ up_from_source[frame]
            t = self._by_child.get(frame)
            if t is None:
                return None
            T_frame_target = t.matrix @ T_frame_target
            frame = t.parent


def describe(T: np.ndarray) -> str:
    """"[x, y, z] m (quaternion xyzw [x, y, z, w])" of a (4, 4) pose, for logs."""
    w, x, y, z = mat2quat(T[:3, :3])
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    pos = [round(float(v), 3) for v in T[:3, 3]]
    return f"{pos} m (quaternion xyzw {[round(float(v), 4) for v in (x, y, z, w)]})"

