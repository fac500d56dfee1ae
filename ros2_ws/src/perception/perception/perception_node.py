"""perception: RGB-D images to objects on the table (pose, size, colour, shape, stable ids).

Subscribes (relative names; SENSOR_DATA):
  camera/color/image_raw     sensor_msgs/Image rgb8 (bgr8, rgba8, bgra8 accepted)
  camera/depth/image_raw     sensor_msgs/Image 32FC1 metres (16UC1 millimetres accepted),
                             registered to the colour image (same size and frame)
  camera/camera_info         sensor_msgs/CameraInfo (K)
  /tf_static                 tf2_msgs/TFMessage (reliable, TRANSIENT_LOCAL): the camera's pose,
                             base_frame -> the images' frame_id, chained through any static
                             frames in between (perception.extrinsics); see "Camera extrinsics"
Publishes:
  perception/objects         brain_interfaces/DetectedObjectArray, reliable depth 10: one per
                             processed image pair, stamped with the pair's stamp, poses in
                             base_frame; an empty table gives an empty array
  perception/markers         visualization_msgs/MarkerArray, reliable depth 10, only while
                             someone subscribes
  perception/debug_image     sensor_msgs/Image rgb8 (masks, ids, labels), only while someone
                             subscribes
  /diagnostics               diagnostic_msgs/DiagnosticArray once a second (brain_common/health.py):
                             the camera streams' rates and ages (stale beyond input_max_age),
                             frames processed and skipped, the e-stop state
E-stop: perception commands no motion; it keeps and passes on the e-stop state (estop,
brain_common/estop.py) like every node, so a node that restarts learns it from any of them.

Colour and depth images are paired by exact stamp (perception.sync). A pair is skipped,
with a warning naming the cause (at most one per cause every 5 s), when an encoding is
not supported, the sizes or frames of colour, depth and camera_info disagree, no
camera_info has arrived, the depth has (almost) no valid pixel, or its stamp is not newer
than the last processed one; nothing is published for it. When the stamps jump back (older
than the last processed pair by more than `time_jump_back` seconds, or between the last
two: the last one was stamped ahead), perception starts over from that pair, as tf's
buffer clears itself on a jump back, and warns: one frame stamped in the future does not
blind it (perception.sync.StampOrder). Parameters are declared once
below and handed to the core as a frozen PerceptionConfig; defaults in
config/perception.yaml. Stamps come from the images, so use_sim_time only affects logs.

Camera extrinsics: the pose of the images' frame in base_frame comes from /tf_static, as on
every ROS robot (a calibration publisher or static_transform_publisher; the sim bridge in
simulation). The cell's camera mount (robot configuration, `cell.camera`) is only the fallback. From
the first image pair on, perception waits up to `extrinsics_wait` seconds of image stamp time
(sim time in simulation, the camera's clock on a robot; never a wall-clock sleep) for the
transform, processing nothing meanwhile: a wrong pose gives objects at wrong places, which is
worse than a short start-up delay. /tf_static is latched, so a running publisher delivers it
as soon as DDS discovery matches, well within that wait. Without it the cell's mount is used;
a transform arriving later replaces them. Which source is in use is logged once per change
("camera extrinsics from /tf_static (panda_link0 -> camera_color_optical_frame) ..." or
"camera extrinsics from the cell's camera mount (fallback): no transform ...").
A bad transform (NaN, non-unit quaternion, empty or looping frames) is ignored with a
warning naming the value.
"""

from __future__ import annotations

import math
import re
import time
import traceback
from dataclasses import fields

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from brain_common.cell import cell_for
from brain_common.estop import EStopListener
from brain_common.health import Health
from brain_common.params import declare_parameters, node_param_specs
from brain_common.qos import RELIABLE_10, SENSOR_DATA, TF_STATIC
from brain_common.runtime import run_node
from brain_interfaces.msg import DetectedObjectArray, EStop
from perception.conversions import (
    debug_image,
    depth_from_msg,
    image_msg_from_rgb,
    intrinsics_from_msg,
    markers_from_result,
    nanoseconds_from_stamp,
    objects_msg_from_result,
    rgb_from_msg,
    static_transform_from_msg,
)
from perception.core import Perception, PerceptionConfig, config_from_cell
from perception.extrinsics import StaticTransforms, describe
from perception.sync import StampOrder, StampSync, SyncedFrame

# tf2_ros' static listener QoS: latched, deep enough for every static publisher's message.
INPUT_TOPICS = {"color": "camera/color/image_raw", "depth": "camera/depth/image_raw", "info": "camera/camera_info"}
WARN_PERIOD = 5.0  # s (steady clock) between two warnings of the same cause
_NUMBER = re.compile(r"[-+]?\d[\d.]*")


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("perception")
        config, self.base_frame, self.rate, queue = self._declare_parameters()
        self.perception = Perception(config)
        self._sync = StampSync(queue)
        self._order = StampOrder(round(float(self._params["time_jump_back"]) * 1e9))
        self._last_warned: dict[str, float] = {}
        self.frames_processed = 0
        self.frames_skipped = 0
        self._objects_pub = self.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
        self._markers_pub = self.create_publisher(MarkerArray, "perception/markers", RELIABLE_10)
        self._debug_pub = self.create_publisher(Image, "perception/debug_image", SENSOR_DATA)
        self.create_subscription(Image, INPUT_TOPICS["color"], lambda m: self._on_message("color", m),
                                 SENSOR_DATA)
        self.create_subscription(Image, INPUT_TOPICS["depth"], lambda m: self._on_message("depth", m),
                                 SENSOR_DATA)
        self.create_subscription(CameraInfo, INPUT_TOPICS["info"], lambda m: self._on_message("info", m),
                                 SENSOR_DATA)
        self._init_extrinsics()
        self.estop = EStopListener(self, EStop)
        self.health = Health(self, "", self.estop, lambda: {
            "frames processed": self.frames_processed, "frames skipped": self.frames_skipped})
        for topic in INPUT_TOPICS.values():
            self.health.watch(topic, float(self._params["input_max_age"]))
        c = config
        self.get_logger().info(
            f"fallback camera at {[round(v, 3) for v in c.camera_position]} m (quaternion xyzw "
            f"{[round(v, 4) for v in c.camera_quaternion]}) in {self.base_frame}; "
            f"correct_camera_bump {c.correct_camera_bump}; palette {', '.join(n for n, _ in c.palette)}; "
            f"rate {'every pair' if self.rate <= 0 else f'{self.rate:g} Hz'}")

    # -- parameters --------------------------------------------------------------
    def _declare_parameters(self) -> tuple[PerceptionConfig, str, float, int]:
        """Declare the parameters of config/perception.params.yaml (the one description of
        their types, defaults and ranges) and build the frozen core config from them and
        the cell's priors."""
        self._params = declare_parameters(self, node_param_specs("perception", "perception"))
        cell = cell_for(self._params["cell_file"])
        core = {f.name for f in fields(PerceptionConfig)}
        config = config_from_cell(cell, **{k: v for k, v in self._params.items() if k in core})
        return config, cell.base_frame, float(self._params["rate"]), int(self._params["sync_queue"])

    # -- input -------------------------------------------------------------------
    def _warn(self, cause: str, message: str) -> None:
        """A warning, at most one per cause every WARN_PERIOD seconds (steady clock)."""
        now = time.monotonic()
        if now - self._last_warned.get(cause, -math.inf) >= WARN_PERIOD:
            self._last_warned[cause] = now
            self.get_logger().warning(message)

    def _on_message(self, kind: str, msg) -> None:
        self.health.tick(INPUT_TOPICS[kind], msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        for frame in self._sync.add(kind, nanoseconds_from_stamp(msg.header.stamp), msg):
            self._handle(frame)

    def _skip(self, cause: str, message: str) -> None:
        """Count a skipped frame and warn; causes differing only in numbers are throttled together."""
        self.frames_skipped += 1
        self._warn(cause + ":" + _NUMBER.sub("#", message), f"frame skipped: {message}")

    def _handle(self, frame: SyncedFrame) -> None:
        stamp_s = frame.stamp_ns * 1e-9
        last = self._order.last
        verdict = self._order.check(frame.stamp_ns)
        if verdict == "old":
            self._skip("order", f"stamp {stamp_s:.3f} s is not newer than the last processed "
                                f"{last * 1e-9:.3f} s (out-of-order or repeated images)")
            return
        if verdict == "jump":
            assert last is not None
            self._order.jumped()
            self.perception.rewind(stamp_s)
            self._warn("jump", f"image time jumped back from {last * 1e-9:.3f} s to {stamp_s:.3f} s "
                               f"({(last - frame.stamp_ns) * 1e-9:.3f} s; a camera or clock restart, or the last "
                               "frame stamped ahead): starting over from this frame, the tracks kept")
            last = None
        if self.rate > 0 and last is not None and frame.stamp_ns - last < 1e9 / self.rate - 1e5:
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
            T_base_optical = self._camera_pose(c.header.frame_id, frame.stamp_ns)
            if T_base_optical is None:
                return  # waiting for /tf_static (logged once)
            result = self.perception.process(rgb, depth, K, T_base_optical, stamp_s, with_labels=want_debug)
        except ValueError as exc:
            self._skip("input", str(exc))
            return
        except Exception as exc:  # a bug must not take the node down: log it loudly, skip the frame
            self.frames_skipped += 1
            self.get_logger().error(f"internal error on the frame at {stamp_s:.3f} s, frame skipped: "
                                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            return
        self._order.processed(frame.stamp_ns)
        self.frames_processed += 1
        header = Header(stamp=c.header.stamp, frame_id=self.base_frame)
        self._objects_pub.publish(objects_msg_from_result(result, header))
        if self._markers_pub.get_subscription_count() > 0:  # built for a viewer only, like debug_image
            self._markers_pub.publish(markers_from_result(result, header))
        if want_debug:
            self._debug_pub.publish(image_msg_from_rgb(debug_image(rgb, result), Header(
                stamp=c.header.stamp, frame_id=c.header.frame_id)))
        for w in result.warnings:
            self._warn("result:" + _NUMBER.sub("#", w), w)
        if self.frames_processed == 1:
            self.get_logger().info(f"first frame processed: {len(result.objects)} objects "
                                   f"({', '.join(o.label for o in result.objects) or 'empty table'})")

    # -- camera extrinsics (/tf_static, the cell's mount as the fallback) --------
    def _init_extrinsics(self) -> None:
        self._extrinsics_wait = float(self._params["extrinsics_wait"])
        self._static_tf = StaticTransforms()
        self._extrinsics: tuple[str, str, np.ndarray] | None = None  # (source, frame, T) in use
        self._extrinsics_first_ns: int | None = None  # stamp of the first pair that needed a pose
        self._extrinsics_waiting_said = False
        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC)

    def _on_tf_static(self, msg: TFMessage) -> None:
        for t in msg.transforms:
            try:
                self._static_tf.add(static_transform_from_msg(t))
            except ValueError as exc:
                self._warn(f"tf_static:{exc}", f"/tf_static: transform ignored: {exc}")

    def _camera_pose(self, frame_id: str, stamp_ns: int) -> np.ndarray | None:
        """(4, 4) T_base_optical for images in frame_id: /tf_static, else (after the wait) the
        cell's camera mount; None while waiting."""
        T = self._static_tf.lookup(self.base_frame, frame_id) if frame_id else None
        if T is not None:
            self._use_extrinsics("tf_static", frame_id, T, f"camera extrinsics from /tf_static "
                                 f"({self.base_frame} -> {frame_id}): {describe(T)}")
            return T
        if self._extrinsics_first_ns is None:
            self._extrinsics_first_ns = stamp_ns
        waited = (stamp_ns - self._extrinsics_first_ns) * 1e-9
        if self._extrinsics is None and waited < self._extrinsics_wait:
            if not self._extrinsics_waiting_said:
                self._extrinsics_waiting_said = True
                self.get_logger().info(f"waiting up to {self._extrinsics_wait:g} s of image time for the camera "
                                       f"pose on /tf_static ({self.base_frame} -> {frame_id or '<no frame_id>'})")
            return None
        T = self.perception.config.T_base_optical()
        known = self._static_tf.frames()
        self._use_extrinsics("cell", frame_id, T, (
            f"camera extrinsics from the cell's camera mount (fallback): no transform "
            f"{self.base_frame} -> {frame_id or '<no frame_id>'} received on /tf_static "
            f"(waited {waited:.2f} s of image time; frames known: {', '.join(known) or 'none'}); "
            f"camera at {describe(T)}"))
        return T

    def _use_extrinsics(self, source: str, frame_id: str, T: np.ndarray, message: str) -> None:
        """Log `message` once per change of the source, the frame or the pose."""
        last = self._extrinsics
        if last is not None and last[0] == source and last[1] == frame_id and np.array_equal(last[2], T):
            return
        self._extrinsics = (source, frame_id, T)
        if source == "cell":
            self.get_logger().warning(message)
        else:
            self.get_logger().info(message)


def main(args=None):
    return run_node(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
