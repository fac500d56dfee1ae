"""Messages <-> numpy and the perception core's types, at the node's edge.

Images are converted with numpy (cv_bridge is not installable from PyPI). Every
``*_from_msg`` raises ValueError naming what is wrong with the message.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Quaternion, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from brain_interfaces.msg import DetectedBin, DetectedObject, DetectedObjectArray
from perception.core import PALETTE, BinEstimate, ObjectEstimate, PerceptionResult
from perception.extrinsics import StaticTransform, transform_from_parts

COLOR_ENCODINGS = {"rgb8": (3, (0, 1, 2)), "bgr8": (3, (2, 1, 0)), "rgba8": (4, (0, 1, 2)), "bgra8": (4, (2, 1, 0))}
DEPTH_ENCODINGS = ("32FC1", "16UC1", "mono16")


def seconds_from_stamp(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def nanoseconds_from_stamp(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _check_layout(msg: Image, bytes_per_pixel: int, what: str) -> None:
    if msg.width == 0 or msg.height == 0:
        raise ValueError(f"{what} image is empty ({msg.width}x{msg.height})")
    if msg.step < msg.width * bytes_per_pixel:
        raise ValueError(f"{what} image step {msg.step} is less than width {msg.width} x {bytes_per_pixel} bytes")
    if len(msg.data) < msg.step * msg.height:
        raise ValueError(f"{what} image has {len(msg.data)} bytes of data, expected step {msg.step} x height "
                         f"{msg.height} = {msg.step * msg.height}")


def rgb_from_msg(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8, bgr8, rgba8 or bgra8 Image."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ValueError(f"colour image encoding {msg.encoding!r} is not supported; use one of "
                         f"{', '.join(COLOR_ENCODINGS)}")
    channels, order = COLOR_ENCODINGS[msg.encoding]
    _check_layout(msg, channels, "colour")
    # A view of the message's buffer (no copy), then one copy into the image returned.
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    img = buf[:, :msg.width * channels].reshape(msg.height, msg.width, channels)
    if order == (0, 1, 2):
        return np.array(img[:, :, :3], order="C")
    return np.ascontiguousarray(img[:, :, list(order)])


def depth_from_msg(msg: Image) -> np.ndarray:
    """(H, W) float32 metres from a 32FC1 (metres) or 16UC1/mono16 (millimetres) Image;
    no return (NaN, inf, <= 0, or 0 mm) becomes NaN."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth image encoding {msg.encoding!r} is not supported; use one of "
                         f"{', '.join(DEPTH_ENCODINGS)}")
    size = 4 if msg.encoding == "32FC1" else 2
    _check_layout(msg, size, "depth")
    endian = ">" if msg.is_bigendian else "<"
    dtype = np.dtype(f"{endian}f4") if size == 4 else np.dtype(f"{endian}u2")
    rows = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    raw = rows[:, :msg.width * size].view(dtype).reshape(msg.height, msg.width)  # a view, any step
    if size == 4:
        depth = raw.astype(np.float32)  # the one copy (native byte order)
        with np.errstate(invalid="ignore"):
            depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
        return depth
    depth = raw.astype(np.float32) * np.float32(0.001)
    depth[raw == 0] = np.nan
    return depth


def intrinsics_from_msg(msg: CameraInfo) -> np.ndarray:
    """(3, 3) K of a CameraInfo (fx, fy > 0 and finite, else ValueError)."""
    K = np.asarray(msg.k, dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"camera_info K is not a valid intrinsic matrix: {np.round(K, 3).tolist()}")
    return K


def quaternion_from_yaw(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def detected_object_from_estimate(o: ObjectEstimate) -> DetectedObject:
    msg = DetectedObject(id=o.id, label=o.label, color_name=o.colour_name, shape=o.shape,
                         confidence=float(o.confidence))
    msg.pose.position = Point(x=float(o.position[0]), y=float(o.position[1]), z=float(o.position[2]))
    msg.pose.orientation = quaternion_from_yaw(float(o.yaw))
    msg.size = Vector3(x=float(o.size[0]), y=float(o.size[1]), z=float(o.size[2]))
    r, g, b = (float(np.clip(v, 0.0, 1.0)) for v in o.mean_rgb)
    msg.mean_rgb = ColorRGBA(r=r, g=g, b=b, a=1.0)
    return msg


def detected_bin_from_estimate(b: BinEstimate, contents: list[ObjectEstimate]) -> DetectedBin:
    """DetectedBin of the frame's bin (perceived, or the prior when not seen) and what is
    seen inside it."""
    seen = b.source == "perceived"
    msg = DetectedBin(seen=seen, source=DetectedBin.SOURCE_PERCEIVED if seen else DetectedBin.SOURCE_PRIOR,
                      wall_thickness=float(b.wall_thickness), confidence=float(b.confidence) if seen else 0.0)
    msg.pose.position = Point(x=float(b.center[0]), y=float(b.center[1]), z=0.0)
    msg.pose.orientation = quaternion_from_yaw(float(b.yaw))
    msg.inner_size = Vector3(x=float(b.inner_size[0]), y=float(b.inner_size[1]), z=float(b.wall_height))
    msg.contents = [detected_object_from_estimate(o) for o in contents]
    return msg


def objects_msg_from_result(result: PerceptionResult, header: Header) -> DetectedObjectArray:
    """DetectedObjectArray of a result; header: the image pair's stamp and the base frame."""
    msg = DetectedObjectArray(header=header)
    msg.objects = [detected_object_from_estimate(o) for o in result.objects]
    msg.table_detected = result.table_plane is not None
    if result.table_plane is not None:
        msg.table_plane = [float(v) for v in result.table_plane]
    if result.bin is not None:
        msg.bin = detected_bin_from_estimate(result.bin, result.bin_contents)
    if result.table_rgb is not None:
        r, g, b = (float(np.clip(v, 0.0, 1.0)) for v in result.table_rgb)
        msg.table_paint = ColorRGBA(r=r, g=g, b=b, a=1.0)
    corr = result.camera_correction
    if corr is not None:
        msg.camera_height_error = float(corr.height_error)
        msg.camera_roll_error = float(corr.roll_error)
        msg.camera_pitch_error = float(corr.pitch_error)
    return msg


def _display_rgb(o: ObjectEstimate) -> tuple[float, float, float]:
    palette = dict(PALETTE)
    return palette.get(o.colour_name, tuple(float(v) for v in o.mean_rgb))


def markers_from_result(result: PerceptionResult, header: Header) -> MarkerArray:
    """A DELETEALL, then per object a box or cylinder in its palette colour and a text label above it."""
    out = MarkerArray()
    clear = Marker(header=header, action=Marker.DELETEALL)
    out.markers.append(clear)
    for k, o in enumerate(result.objects):
        r, g, b = _display_rgb(o)
        body = Marker(header=header, ns="objects", id=k, action=Marker.ADD,
                      type=Marker.CYLINDER if o.shape == "cylinder" else Marker.CUBE)
        body.pose.position = Point(x=float(o.position[0]), y=float(o.position[1]), z=float(o.position[2]))
        body.pose.orientation = quaternion_from_yaw(float(o.yaw))
        body.scale = Vector3(x=float(o.size[0]), y=float(o.size[1]), z=float(o.size[2]))
        body.color = ColorRGBA(r=r, g=g, b=b, a=0.8)
        text = Marker(header=header, ns="labels", id=k, action=Marker.ADD, type=Marker.TEXT_VIEW_FACING,
                      text=f"{o.id}: {o.label} ({o.confidence:.2f})")
        text.pose.position = Point(x=float(o.position[0]), y=float(o.position[1]),
                                   z=float(o.position[2] + o.size[2] / 2.0 + 0.03))
        text.pose.orientation.w = 1.0
        text.scale.z = 0.02
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        out.markers.extend([body, text])
    return out


def debug_image(rgb: np.ndarray, result: PerceptionResult) -> np.ndarray:
    """(H, W, 3) uint8: the image with each object's pixels tinted in its palette colour,
    outlined, and labelled "<id> <label>"; warnings in the top-left corner."""
    img = rgb.copy()
    labels = result.label_image
    if labels is not None:
        for k, o in enumerate(result.objects, start=1):
            mask = labels == k
            if not mask.any():
                continue
            colour = np.array(_display_rgb(o)) * 255.0
            img[mask] = (0.45 * img[mask] + 0.55 * colour).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, contours, -1, (255, 255, 255), 1)
            vs, us = np.nonzero(mask)
            at = (int(us.min()), max(int(vs.min()) - 4, 10))
            cv2.putText(img, f"{o.id} {o.label}", at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, f"{o.id} {o.label}", at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    for i, w in enumerate(result.warnings[:3]):
        cv2.putText(img, w[:90], (5, 15 + 15 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 60, 60), 1, cv2.LINE_AA)
    return img


def image_msg_from_rgb(rgb: np.ndarray, header: Header) -> Image:
    msg = Image(header=header, height=int(rgb.shape[0]), width=int(rgb.shape[1]), encoding="rgb8", is_bigendian=0,
                step=int(rgb.shape[1] * 3))
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


def static_transform_from_msg(msg: TransformStamped) -> StaticTransform:
    """T_parent_child of a TransformStamped (header.frame_id -> child_frame_id); ValueError
    naming the bad value for an empty or identical frame id, a NaN, or a non-unit quaternion."""
    t, q = msg.transform.translation, msg.transform.rotation
    return transform_from_parts(msg.header.frame_id, msg.child_frame_id, (t.x, t.y, t.z), (q.x, q.y, q.z, q.w))
