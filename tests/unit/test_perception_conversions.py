"""perception.conversions: ROS messages <-> arrays and core results (no DDS involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from perception.conversions import (
    debug_image,
    depth_from_msg,
    intrinsics_from_msg,
    markers_from_result,
    objects_msg_from_result,
    rgb_from_msg,
)
from perception.core import CameraCorrection, ObjectEstimate, PerceptionResult


def image(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    rows = array.reshape(array.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    return Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=int(bigendian),
                 step=rows.shape[1], data=rows.tobytes())


def test_colour_images_of_every_supported_layout_become_rgb():
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    np.testing.assert_array_equal(rgb_from_msg(image(rgb, "rgb8", pad=3)), rgb)
    np.testing.assert_array_equal(rgb_from_msg(image(rgb[:, :, ::-1].copy(), "bgr8")), rgb)
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(rgb_from_msg(image(rgba, "rgba8")), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((4, 5, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(rgb_from_msg(image(bgra, "bgra8")), rgb)


def test_depth_images_become_metres_with_nan_for_no_return():
    mm = np.array([[0, 500], [1234, 65535]], np.uint16)
    np.testing.assert_allclose(depth_from_msg(image(mm, "16UC1")), [[np.nan, 0.5], [1.234, 65.535]], rtol=1e-6)
    m = np.array([[0.5, np.nan], [np.inf, -1.0]], np.float32)
    np.testing.assert_allclose(depth_from_msg(image(m, "32FC1", pad=4)), [[0.5, np.nan], [np.nan, np.nan]])
    big = image(m.astype(">f4"), "32FC1", bigendian=True)
    assert depth_from_msg(big)[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(("msg", "convert", "message"), [
    (image(np.zeros((2, 2), np.uint8), "mono8"), rgb_from_msg,
     "colour image encoding 'mono8' is not supported; use one of rgb8, bgr8, rgba8, bgra8"),
    (image(np.zeros((2, 2), np.uint8), "8UC1"), depth_from_msg,
     "depth image encoding '8UC1' is not supported; use one of 32FC1, 16UC1, mono16"),
    (Image(height=2, width=2, encoding="rgb8", step=6, data=b"\0" * 5), rgb_from_msg,
     "colour image has 5 bytes of data, expected step 6 x height 2 = 12"),
    (Image(height=2, width=2, encoding="32FC1", step=4, data=b"\0" * 16), depth_from_msg,
     "depth image step 4 is less than width 2 x 4 bytes"),
    (Image(height=0, width=0, encoding="rgb8"), rgb_from_msg, "colour image is empty (0x0)"),
])
def test_bad_images_are_refused_with_the_reason(msg, convert, message):
    with pytest.raises(ValueError) as exc:
        convert(msg)
    assert str(exc.value) == message


def test_intrinsics_must_be_usable():
    info = CameraInfo(k=[500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(intrinsics_from_msg(info)[0], [500.0, 0.0, 320.0])
    with pytest.raises(ValueError, match="camera_info K is not a valid intrinsic matrix"):
        intrinsics_from_msg(CameraInfo())


def result_with_two_objects() -> PerceptionResult:
    box = ObjectEstimate("obj_1", "red box", "red", "box", np.array([0.5, -0.1, 0.02]), math.radians(30),
                         np.array([0.06, 0.04, 0.04]), np.array([0.8, 0.1, 0.1]), 0.97)
    can = ObjectEstimate("obj_2", "unknown cylinder", "unknown", "cylinder", np.array([0.4, 0.2, 0.035]), 0.0,
                         np.array([0.05, 0.05, 0.07]), np.array([0.5, 0.5, 0.5]), 0.4)
    corr = CameraCorrection(height_error=-0.02, roll_error=0.001, pitch_error=0.03, tilt=0.03, bumped=True,
                            applied=True, T_corrected=np.eye(4))
    labels = np.zeros((48, 64), np.int32)
    labels[10:20, 10:20] = 1
    labels[30:40, 40:50] = 2
    return PerceptionResult(objects=[box, can], table_plane=np.array([0.0, 0.0, 1.0, 0.0]), camera_correction=corr,
                            warnings=["camera appears bumped"], stamp=12.5, label_image=labels)


def test_objects_message_carries_every_field():
    header = Header(frame_id="panda_link0")
    header.stamp.sec, header.stamp.nanosec = 12, 500_000_000
    msg = objects_msg_from_result(result_with_two_objects(), header)
    assert msg.header.frame_id == "panda_link0" and msg.header.stamp.sec == 12
    box, can = msg.objects
    assert (box.id, box.label, box.color_name, box.shape) == ("obj_1", "red box", "red", "box")
    assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == pytest.approx((0.5, -0.1, 0.02))
    q = box.pose.orientation
    assert 2 * math.atan2(q.z, q.w) == pytest.approx(math.radians(30)) and q.x == q.y == 0.0
    assert (box.size.x, box.size.y, box.size.z) == pytest.approx((0.06, 0.04, 0.04))
    assert (box.mean_rgb.r, box.mean_rgb.a) == pytest.approx((0.8, 1.0)) and box.confidence == pytest.approx(0.97)
    assert can.color_name == "unknown" and can.shape == "cylinder"
    assert msg.table_detected and list(msg.table_plane) == [0.0, 0.0, 1.0, 0.0]
    assert (msg.camera_height_error, msg.camera_pitch_error) == pytest.approx((-0.02, 0.03))


def test_markers_clear_then_draw_each_object_and_its_label():
    markers = markers_from_result(result_with_two_objects(), Header(frame_id="panda_link0")).markers
    assert markers[0].action == Marker.DELETEALL
    assert [(m.ns, m.id, m.type) for m in markers[1:]] == [
        ("objects", 0, Marker.CUBE), ("labels", 0, Marker.TEXT_VIEW_FACING),
        ("objects", 1, Marker.CYLINDER), ("labels", 1, Marker.TEXT_VIEW_FACING)]
    assert (markers[1].color.r, markers[1].color.g) == pytest.approx((0.85, 0.10))  # the palette's red
    assert markers[2].text == "obj_1: red box (0.97)"
    assert markers[2].pose.position.z == pytest.approx(0.02 + 0.02 + 0.03)


def test_debug_image_tints_the_objects_pixels():
    rgb = np.full((48, 64, 3), 100, np.uint8)
    out = debug_image(rgb, result_with_two_objects())
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out[15, 15, 0] > out[15, 15, 2] + 50  # red tint on object 1
    assert (out[44:48, 0:8] == 100).all()  # background untouched


def test_the_scene_message_carries_the_perceived_bin_its_contents_and_the_table_paint():
    import dataclasses
    import math

    import numpy as np
    from std_msgs.msg import Header

    from brain_interfaces.msg import DetectedBin
    from perception.conversions import objects_msg_from_result
    from perception.core import BinEstimate, ObjectEstimate, PerceptionResult

    inside = ObjectEstimate(id="bin_0", label="red cube", colour_name="red", shape="box",
                            position=np.array([0.40, -0.40, 0.03]), yaw=0.0, size=np.array([0.05, 0.05, 0.05]),
                            mean_rgb=np.array([0.8, 0.1, 0.1]), confidence=0.9, pixels=200)
    b = BinEstimate((0.40, -0.42), math.radians(30), (0.36, 0.20), 0.06, 0.009, "perceived", 0.8)
    r = PerceptionResult(objects=[], table_plane=None, camera_correction=None, warnings=[], stamp=1.0,
                         bin=b, bin_contents=[inside], table_rgb=np.array([0.1, 0.1, 0.12]))
    msg = objects_msg_from_result(r, Header(frame_id="panda_link0"))
    m = msg.bin
    assert m.seen and m.source == DetectedBin.SOURCE_PERCEIVED and m.confidence == pytest.approx(0.8)
    assert (m.pose.position.x, m.pose.position.y) == (0.40, -0.42)
    assert 2 * math.degrees(math.atan2(m.pose.orientation.z, m.pose.orientation.w)) == pytest.approx(30.0)
    assert (m.inner_size.x, m.inner_size.y, m.inner_size.z, m.wall_thickness) == (0.36, 0.20, 0.06, 0.009)
    assert [c.label for c in m.contents] == ["red cube"] and msg.objects == []
    assert (msg.table_paint.r, msg.table_paint.b, msg.table_paint.a) == pytest.approx((0.1, 0.12, 1.0))
    unseen = PerceptionResult(objects=[], table_plane=None, camera_correction=None, warnings=[], stamp=1.0,
                              bin=dataclasses.replace(b, source="prior", confidence=1.0))
    prior = objects_msg_from_result(unseen, Header(frame_id="panda_link0"))
    assert not prior.bin.seen and prior.bin.source == "prior" and prior.bin.confidence == 0.0
