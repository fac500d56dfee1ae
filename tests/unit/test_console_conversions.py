"""The console's message conversions (armbrain/console/bridge.py) and its Host check
(armbrain/console/web.py), on messages built inline: no graph."""

import math

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image

from armbrain.console.bridge import jpeg_from_image_msg, rows_from_objects_msg, yaw_from_quaternion
from armbrain.console.web import LOCAL_HOSTS, host_name
from brain_interfaces.msg import DetectedObject, DetectedObjectArray


def image(rgb: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """An Image of `rgb` (H x W x 3) with `pad` bytes at the end of every row."""
    h, w, _ = rgb.shape
    data = rgb if encoding == "rgb8" else rgb[:, :, ::-1]
    rows = np.concatenate([data.reshape(h, w * 3), np.zeros((h, pad), np.uint8)], axis=1)
    return Image(height=h, width=w, encoding=encoding, step=w * 3 + pad, data=rows.tobytes())


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_jpeg_keeps_the_colours(encoding):
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :24] = (220, 30, 30)  # red left half
    rgb[:, 24:] = (30, 30, 220)  # blue right half
    jpeg = jpeg_from_image_msg(image(rgb, encoding, pad=4))
    assert jpeg[:2] == b"\xff\xd8"
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert back.shape == (32, 48, 3)
    assert np.abs(back[16, 8].astype(int) - (220, 30, 30)).max() < 20
    assert np.abs(back[16, 40].astype(int) - (30, 30, 220)).max() < 20


def test_other_encodings_are_named():
    msg = Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16))
    with pytest.raises(ValueError, match="32FC1"):
        jpeg_from_image_msg(msg)


def test_objects_bin_and_table():
    msg = DetectedObjectArray()
    o = DetectedObject(id="obj_1", label="red cube", confidence=0.9)
    o.pose.position.x, o.pose.position.y, o.pose.position.z = 0.45, -0.15, 0.025
    o.pose.orientation.z, o.pose.orientation.w = math.sin(0.25), math.cos(0.25)  # yaw 0.5 rad
    o.size.x, o.size.y, o.size.z = 0.05, 0.04, 0.03
    msg.objects.append(o)
    msg.bin.seen, msg.bin.source = True, "perceived"
    msg.bin.pose.position.x, msg.bin.pose.position.y = 0.3, 0.35
    msg.bin.pose.orientation.w = 1.0
    msg.bin.inner_size.x, msg.bin.inner_size.y, msg.bin.inner_size.z = 0.2, 0.3, 0.1
    msg.table_detected, msg.table_plane = True, [0.0, 0.0, 1.0, 0.0]
    rows, bin_view, table = rows_from_objects_msg(msg)
    assert [(r.id, r.label, r.x, r.y, r.size) for r in rows] == [("obj_1", "red cube", 0.45, -0.15, (0.05, 0.04, 0.03))]
    assert rows[0].yaw == pytest.approx(0.5) and rows[0].confidence == pytest.approx(0.9)
    assert bin_view is not None and bin_view.seen and (bin_view.x, bin_view.y) == (0.3, 0.35)
    assert bin_view.inner_size == (0.2, 0.3, 0.1) and bin_view.yaw == pytest.approx(0.0)
    assert table == {"detected": True, "plane": [0.0, 0.0, 1.0, 0.0]}
    assert rows_from_objects_msg(DetectedObjectArray())[1] is None  # no bin reported at all


def test_yaw():
    assert yaw_from_quaternion(0, 0, math.sin(-1.0), math.cos(-1.0)) == pytest.approx(-2.0)


@pytest.mark.parametrize(("header", "local"), [("127.0.0.1:8080", True), ("localhost", True), ("[::1]:8080", True),
                                               ("evil.example:8080", False), ("127.0.0.1.evil.example", False),
                                               ("", False)])
def test_host_check(header, local):
    assert (host_name(header) in LOCAL_HOSTS) is local
