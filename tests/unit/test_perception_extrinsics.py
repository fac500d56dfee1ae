"""perception.extrinsics (chaining static transforms) and its message conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped

from perception.conversions import static_transform_from_msg
from perception.extrinsics import StaticTransforms, describe, transform_from_parts

S = math.sqrt(0.5)
YAW_90 = (0.0, 0.0, S, S)  # x y z w: +90 deg about z
# camera_link (x forward, y left, z up) -> optical (z forward, x right, y down), as realsense2_camera
# publishes it: quaternion xyzw [-0.5, 0.5, -0.5, 0.5].
BODY_TO_OPTICAL = (-0.5, 0.5, -0.5, 0.5)


def realsense_like() -> StaticTransforms:
    """panda_link0 -> camera_link (calibration) -> camera_color_optical_frame (driver)."""
    tf = StaticTransforms()
    tf.add(transform_from_parts("panda_link0", "camera_link", (1.0, -0.5, 0.6), YAW_90))
    tf.add(transform_from_parts("camera_link", "camera_color_optical_frame", (0.0, 0.015, 0.0), BODY_TO_OPTICAL))
    return tf


def test_a_chain_of_two_static_transforms_gives_the_optical_pose_in_the_base_frame():
    T = realsense_like().lookup("panda_link0", "camera_color_optical_frame")
    # Origin: the body origin + the 15 mm offset along body y, which the 90 deg yaw turns to -x.
    np.testing.assert_allclose(T[:3, 3], [0.985, -0.5, 0.6], atol=1e-12)
    # Optical z (forward) = body x = base +y after the yaw; optical x (right) = -body y = base +x;
    # optical y (down) = -body z = base -z.
    np.testing.assert_allclose(T[:3, :3], [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-12)
    # A point 0.5 m in front of the camera is 0.5 m along base +y from it.
    np.testing.assert_allclose(T @ [0, 0, 0.5, 1], [0.985, 0.0, 0.6, 1.0], atol=1e-12)


def test_the_reverse_and_sibling_lookups_walk_through_the_common_ancestor():
    tf = realsense_like()
    tf.add(transform_from_parts("panda_link0", "table", (0.4, 0.0, -0.01), (0.0, 0.0, 0.0, 1.0)))
    T_base_opt = tf.lookup("panda_link0", "camera_color_optical_frame")
    np.testing.assert_allclose(tf.lookup("camera_color_optical_frame", "panda_link0") @ T_base_opt, np.eye(4),
                               atol=1e-12)
    T_table_opt = tf.lookup("table", "camera_color_optical_frame")
    np.testing.assert_allclose(T_table_opt[:3, 3], [0.585, -0.5, 0.61], atol=1e-12)
    np.testing.assert_allclose(tf.lookup("table", "table"), np.eye(4))


def test_unconnected_frames_give_none_and_a_newer_transform_replaces_the_older():
    tf = realsense_like()
    assert tf.lookup("panda_link0", "wrist_camera_optical_frame") is None
    assert tf.lookup("world", "camera_link") is None
    assert tf.frames() == ["camera_color_optical_frame", "camera_link", "panda_link0"]
    assert not tf.add(transform_from_parts("panda_link0", "camera_link", (1.0, -0.5, 0.6), YAW_90))  # same
    assert tf.add(transform_from_parts("panda_link0", "camera_link", (1.2, -0.5, 0.6), YAW_90))  # re-calibrated
    assert len(tf) == 2
    np.testing.assert_allclose(tf.lookup("panda_link0", "camera_color_optical_frame")[:3, 3], [1.185, -0.5, 0.6],
                               atol=1e-12)


def test_a_transform_closing_a_loop_is_refused_and_the_tree_kept():
    tf = realsense_like()
    with pytest.raises(ValueError, match="would close a loop: camera_color_optical_frame already descends from "
                                         "panda_link0"):
        tf.add(transform_from_parts("camera_color_optical_frame", "panda_link0", (0, 0, 0), (0, 0, 0, 1)))
    assert tf.lookup("panda_link0", "camera_color_optical_frame") is not None and len(tf) == 2


@pytest.mark.parametrize(("parent", "child", "t", "q", "message"), [
    ("panda_link0", "cam", (float("nan"), 0, 0), (0, 0, 0, 1),
     r"transform panda_link0 -> cam: translation \[nan, 0.0, 0.0\] is not 3 finite numbers"),
    ("panda_link0", "cam", (0, 0, 0), (0, 0, float("inf"), 1),
     r"transform panda_link0 -> cam: rotation \[0.0, 0.0, inf, 1.0\] \(x y z w\) is not 4 finite numbers"),
    ("panda_link0", "cam", (0, 0, 0), (0, 0, 0, 2),
     r"rotation \[0.0, 0.0, 0.0, 2.0\] \(x y z w\) is not a unit quaternion \(norm 2\)"),
    ("panda_link0", "cam", (0, 0, 0), (0, 0, 0, 0), r"is not a unit quaternion \(norm 0\)"),
    ("", "cam", (0, 0, 0), (0, 0, 0, 1), r"transform has an empty frame id \(parent '', child 'cam'\)"),
    ("cam", "/cam", (0, 0, 0), (0, 0, 0, 1), r"transform from frame 'cam' to itself"),
])
def test_bad_values_are_refused_naming_them(parent, child, t, q, message):
    with pytest.raises(ValueError, match=message):
        transform_from_parts(parent, child, t, q)


def test_a_nearly_unit_quaternion_is_normalised():
    T = transform_from_parts("a", "b", (0, 0, 0), (0.0, 0.0, 0.0, 1.005)).matrix
    np.testing.assert_allclose(T, np.eye(4), atol=1e-12)


def test_a_transform_stamped_converts_with_its_frames_and_values():
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = "/panda_link0", "camera_link"
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = 1.0, -0.5, 0.6
    (msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z,
     msg.transform.rotation.w) = YAW_90
    t = static_transform_from_msg(msg)
    assert (t.parent, t.child) == ("panda_link0", "camera_link")
    np.testing.assert_allclose(t.matrix, [[0, -1, 0, 1.0], [1, 0, 0, -0.5], [0, 0, 1, 0.6], [0, 0, 0, 1]], atol=1e-12)
    assert describe(t.matrix) == "[1.0, -0.5, 0.6] m (quaternion xyzw [0.0, 0.0, 0.7071, 0.7071])"
    msg.transform.rotation.w = float("nan")
    with pytest.raises(ValueError, match=r"transform panda_link0 -> camera_link: rotation .*nan"):
        static_transform_from_msg(msg)
