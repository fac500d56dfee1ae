"""perception: RGB-D images to objects on the table (pose, size, colour, shape, stable ids).

Subscribes (relative names; qos_profile_sensor_data):
  camera/color/image_raw     sensor_msgs/Image rgb8 (bgr8, rgba8, bgra8 accepted)
  camera/depth/image_raw     sensor_msgs/Image 32FC1 metres (16UC1 millimetres accepted),
                             registered to the colour image (same size and frame)
  camera/camera_info         sensor_msgs/CameraInfo (K)
Publishes:
  perception/objects         brain_interfaces/DetectedObjectArray, reliable depth 10: one per
                             processed image pair, stamped with the pair's stamp, poses in
                             base_frame; an empty table gives an empty array
  perception/markers         visualization_msgs/MarkerArray, reliable depth 10
  perception/debug_image     sensor_msgs/Image rgb8 (masks, ids, labels), only while someone
                             subscribes

Colour and depth images are paired by exact stamp (perception.sync). A pair is skipped,
with a warning naming the cause (at most one per cause every 5 s), when an encoding is
not supported, the sizes or frames of colour, depth and camera_info disagree, no
camera_info has arrived, the depth has (almost) no valid pixel, or its stamp is not newer
than the last processed one; nothing is published for it. Parameters are declared once
below and handed to the core as a frozen PerceptionConfig; defaults in
config/perception.yaml. Stamps come from the images, so use_sim_time only affects logs.
"""

from __future__ import annotations

import math
import re
import time
import traceback

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from brain_common.cell import cell_for
from brain_common.runtime import run_node
from brain_interfaces.msg import DetectedObjectArray
from perception.conversions import (
    debug_image,
    depth_from_msg,
    image_msg_from_rgb,
    intrinsics_from_msg,
    markers_from_result,
    nanoseconds_from_stamp,
    objects_msg_from_result,
    rgb_from_msg,
)
from perception.core import Perception, PerceptionConfig, config_from_cell
from perception.sync import StampSync, SyncedFrame

RELIABLE_10 = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
WARN_PERIOD = 5.0  # s (steady clock) between two warnings of the same cause
_NUMBER = re.compile(r"[-+]?\d[\d.]*")


def _range(lo: float, hi: float) -> list[FloatingPointRange]:
    return [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("perception")
        config, self.base_frame, self.rate, queue = self._declare_parameters()
        self.perception = Perception(config)
        self._sync = StampSync(queue)
        self._last_stamp_ns: int | None = None
        self._last_warned: dict[str, float] = {}
        self.frames_processed = 0
        self.frames_skipped = 0
        self._objects_pub = self.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
        self._markers_pub = self.create_publisher(MarkerArray, "perception/markers", RELIABLE_10)
        self._debug_pub = self.create_publisher(Image, "perception/debug_image", qos_profile_sensor_data)
        self.create_subscription(Image, "camera/color/image_raw", lambda m: self._on_message("color", m),
                                 qos_profile_sensor_data)
        self.create_subscription(Image, "camera/depth/image_raw", lambda m: self._on_message("depth", m),
                                 qos_profile_sensor_data)
        self.create_subscription(CameraInfo, "camera/camera_info", lambda m: self._on_message("info", m),
                                 qos_profile_sensor_data)
        c = config
        self.get_logger().info(
            f"camera at {[round(v, 3) for v in c.camera_position]} m (quaternion xyzw "
            f"{[round(v, 4) for v in c.camera_quaternion]}) in {self.base_frame}; "
            f"correct_camera_bump {c.correct_camera_bump}; palette {', '.join(n for n, _ in c.palette)}; "
            f"rate {'every pair' if self.rate <= 0 else f'{self.rate:g} Hz'}")

    # -- parameters --------------------------------------------------------------
    def _declare_parameters(self) -> tuple[PerceptionConfig, str, float, int]:
        d = PerceptionConfig()

        def p(name: str, default, description: str, lo: float | None = None, hi: float | None = None,
              read_only: bool = False):
            desc = ParameterDescriptor(description=description, read_only=read_only)
            if lo is not None and isinstance(default, float):
                desc.floating_point_range = _range(lo, hi)
            elif lo is not None and isinstance(default, int) and not isinstance(default, bool):
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            return self.declare_parameter(name, default, desc).value

        cell_file = p("cell_file", "", "robot configuration whose `cell` describes the work cell (camera mount, "
                      "table, bin, robot base: the priors perception refines); empty = the default cell",
                      read_only=True)
        cell = cell_for(cell_file)
        rate = p("rate", 0.0, "most image pairs processed per second of stamp time; 0 = every pair", 0.0, 100.0)
        queue = p("sync_queue", 10, "image stamps kept waiting for their partner", 1, 100)
        config = config_from_cell(
            cell,
            correct_camera_bump=p("correct_camera_bump", d.correct_camera_bump,
                                  "correct the camera pose from the table plane (height, roll, pitch) and the "
                                  "bin's walls (x, y, yaw) before computing object poses"),
            register_bin=p("register_bin", d.register_bin,
                           "with correct_camera_bump: also use the bin's walls for x, y and yaw"),
            plane_tolerance=p("plane_tolerance", d.plane_tolerance, "table-plane RANSAC inlier distance, m",
                              0.0005, 0.05),
            min_object_height=p("min_object_height", d.min_object_height,
                                "points higher than this above the table may be objects, m", 0.002, 0.05),
            max_height=p("max_height", d.max_height, "points higher than this are not objects (the arm), m",
                         0.05, 1.0),
            min_object_size=p("min_object_size", d.min_object_size, "smallest accepted footprint side, m",
                              0.005, 0.2),
            max_object_size=p("max_object_size", d.max_object_size, "largest accepted footprint side, m", 0.02, 0.5),
            track_gate=p("track_gate", d.track_gate, "largest move of a tracked object between frames, m", 0.005, 1.0),
            track_memory=p("track_memory", d.track_memory, "seconds a lost object's id is kept for re-identification",
                           0.1, 3600.0),
        )
        base_frame = cell.base_frame
        return config, str(base_frame), float(rate), int(queue)

    # -- input -------------------------------------------------------------------
    def _warn(self, cause: str, message: str) -> None:
        """A warning, at most one per cause every WARN_PERIOD seconds (steady clock)."""
        now = time.monotonic()
        if now - self._last_warned.get(cause, -math.inf) >= WARN_PERIOD:
            self._last_warned[cause] = now
            self.get_logger().warning(message)

    def _on_message(self, kind: str, msg) -> None:
        for frame in self._sync.add(kind, nanoseconds_from_stamp(msg.header.stamp), msg):
            self._handle(frame)

    def _skip(self, cause: str, message: str) -> None:
        """Count a skipped frame and warn; causes differing only in numbers are throttled together."""
        self.frames_skipped += 1
        self._warn(cause + ":" + _NUMBER.sub("#", message), f"frame skipped: {message}")

    def _handle(self, frame: SyncedFrame) -> None:
        stamp_s = frame.stamp_ns * 1e-9
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            self._skip("order", f"stamp {stamp_s:.3f} s is not newer than the last processed "
                                f"{self._last_stamp_ns * 1e-9:.3f} s (out-of-order or repeated images)")
            return
        if self.rate > 0 and self._last_stamp_ns is not None and \
                frame.stamp_ns - self._last_stamp_ns < 1e9 / self.rate - 1e5:
            return  # rate limit: not an error
        if frame.info is None:
            self._skip("info", "no camera_info received on camera/camera_info yet; intrinsics are unknown")
            return
        c, d, i = frame.color, frame.depth, frame.info
        if c.header.frame_id != d.header.frame_id:
            self._skip("frames", f"colour image frame '{c.header.frame_id}' differs from depth image frame "
                                 f"'{d.header.frame_id}'; depth must be registered to the colour image")
            return
        try:
            rgb = rgb_from_msg(c)
            depth = depth_from_msg(d)
            K = intrinsics_from_msg(i)
            if rgb.shape[:2] != depth.shape:
                raise ValueError(f"colour image is {rgb.shape[1]}x{rgb.shape[0]} but depth image is "
                                 f"{depth.shape[1]}x{depth.shape[0]}")
            if (i.width, i.height) != (depth.shape[1], depth.shape[0]):
                raise ValueError(f"camera_info is for {i.width}x{i.height} images but the images are "
                                 f"{depth.shape[1]}x{depth.shape[0]}")
            want_debug = self._debug_pub.get_subscription_count() > 0
            result = self.perception.process(rgb, depth, K, self.perception.config.T_base_optical(), stamp_s,
                                             with_labels=want_debug)
        except ValueError as exc:
            self._skip("input", str(exc))
            return
        except Exception as exc:  # a bug must not take the node down: log it loudly, skip the frame
            self.frames_skipped += 1
            self.get_logger().error(f"internal error on the frame at {stamp_s:.3f} s, frame skipped: "
                                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            return
        self._last_stamp_ns = frame.stamp_ns
        self.frames_processed += 1
        header = Header(stamp=c.header.stamp, frame_id=self.base_frame)
        self._objects_pub.publish(objects_msg_from_result(result, header))
        self._markers_pub.publish(markers_from_result(result, header))
        if want_debug:
            self._debug_pub.publish(image_msg_from_rgb(debug_image(rgb, result), Header(
                stamp=c.header.stamp, frame_id=c.header.frame_id)))
        for w in result.warnings:
            self._warn("result:" + _NUMBER.sub("#", w), w)
        if self.frames_processed == 1:
            self.get_logger().info(f"first frame processed: {len(result.objects)} objects "
                                   f"({', '.join(o.label for o in result.objects) or 'empty table'})")


def main(args=None):
    return run_node(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
