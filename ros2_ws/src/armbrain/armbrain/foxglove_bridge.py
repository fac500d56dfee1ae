"""foxglove_bridge: the brain's world, live, for Foxglove (a WebSocket server from foxglove-sdk).

Connect Foxglove to ws://<host>:<port> (default ws://127.0.0.1:8765; docs/foxglove.md).
Started with the graph by ``armbrain launch foxglove:=true`` (launch/graph.yaml), or alone
with ``armbrain launch foxglove_bridge``.

Subscribes (relative names):
  perception/objects               brain_interfaces/DetectedObjectArray (reliable depth 10)
  arm_controller/joint_trajectory  trajectory_msgs/JointTrajectory (reliable depth 10)
  joint_states                     sensor_msgs/JointState (reliable depth 10)
  camera/color/image_raw           sensor_msgs/Image (sensor data), only while a viewer watches it
  /tf_static                       tf2_msgs/TFMessage (latched): the camera's calibrated pose
Serves (Foxglove channels, protobuf; the conversion is armbrain.scene, shared with the
recordings of ``armbrain run --record``):
  /foxglove/scene                  foxglove.SceneUpdate: table, bin, objects with labels
  /foxglove/trajectory             foxglove.SceneUpdate: the planned end-effector path
  /foxglove/tf                     foxglove.FrameTransforms: base -> camera (/tf_static, or the
                                   cell's camera mount until a transform arrives)
  /foxglove/joint_states           foxglove.JointStates
  /foxglove/camera/compressed      foxglove.CompressedImage (JPEG, at most image_rate per s)
  /diagnostics                     diagnostic_msgs/DiagnosticArray once a second

Nothing is converted for a channel no viewer subscribes to. The static things (the camera
transform, the cell before perception reports, the last path) are sent again every
republish_period seconds, so a viewer that connects later sees them. Parameters:
config/foxglove_bridge.params.yaml. The bridge commands nothing: it only watches.
"""

from __future__ import annotations

import math
import time

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import JointTrajectory

from armbrain import scene
from brain_common.cell import cell_for
from brain_common.health import Health
from brain_common.params import declare_parameters, node_param_specs
from brain_common.qos import RELIABLE_10, SENSOR_DATA, TF_STATIC
from brain_common.runtime import run_node
from brain_interfaces.msg import DetectedObjectArray

WARN_PERIOD_S = 5.0  # wall seconds between two warnings of the same kind


def jpeg_from_image(msg, max_width: int, quality: int) -> bytes | None:
    """A colour sensor_msgs/Image as JPEG bytes, at most max_width px wide; None for an
    encoding that is not colour (armbrain.recording.rgb_from_image)."""
    import cv2

    from armbrain.recording import rgb_from_image

    rgb = rgb_from_image(msg, max_width)
    if rgb is None:
        return None
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} image as JPEG")
    return data.tobytes()


class FoxgloveBridgeNode(Node):
    def __init__(self) -> None:
        super().__init__("foxglove_bridge")
        import foxglove
        from foxglove.channels import (
            CompressedImageChannel,
            FrameTransformsChannel,
            JointStatesChannel,
            SceneUpdateChannel,
        )

        p = declare_parameters(self, node_param_specs("armbrain", "foxglove_bridge"))
        self.params = p
        self.cell = cell_for(p["cell_file"])
        self._fk_batch = _kinematics().fk_batch
        self._last_warned: dict[str, float] = {}
        self._last_image_wall = -math.inf
        self._last_trajectory = None  # the last path's SceneUpdate, repeated for late viewers
        self._scene_seen = False  # perception has reported: its scenes replace the cell's
        self._tf_from_static = None  # FrameTransforms from /tf_static, once one arrived
        self.sent = {"scene": 0, "trajectory": 0, "joint_states": 0, "images": 0}

        self.fox_context = foxglove.Context()  # its own: only this server sees these channels
        self.ch_scene = SceneUpdateChannel(scene.SCENE_TOPIC, context=self.fox_context)
        self.ch_trajectory = SceneUpdateChannel(scene.TRAJECTORY_TOPIC, context=self.fox_context)
        self.ch_tf = FrameTransformsChannel(scene.TF_TOPIC, context=self.fox_context)
        self.ch_joints = JointStatesChannel(scene.JOINT_STATES_TOPIC, context=self.fox_context)
        self.ch_image = CompressedImageChannel(scene.IMAGE_TOPIC, context=self.fox_context)
        try:
            self.server = foxglove.start_server(name="armbrain", host=p["host"], port=p["port"],
                                                context=self.fox_context)
        except Exception as exc:  # the SDK raises its own error type for a bind failure
            raise ValueError(f"cannot start the Foxglove WebSocket server on {p['host']}:{p['port']} ({exc}); "
                             "is another bridge running? set the parameter port (launch argument "
                             "foxglove_port) to a free port") from None
        self.port = self.server.port

        self.create_subscription(DetectedObjectArray, "perception/objects", self._on_objects, RELIABLE_10)
        self.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self._on_trajectory,
                                 RELIABLE_10)
        self.create_subscription(JointState, "joint_states", self._on_joints, RELIABLE_10)
        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC)
        if p["image_rate"] > 0.0:
            self.create_subscription(Image, "camera/color/image_raw", self._on_image, SENSOR_DATA)
        self.health = Health(self, "", None, lambda: {"port": self.port, **{f"{k} sent": v
                                                                          for k, v in self.sent.items()}})
        self.health.watch("perception/objects", None)
        # Wall time: with use_sim_time a ROS timer would stand still until /clock comes.
        self.create_timer(float(p["republish_period"]), self._republish, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._republish()
        where = "this machine only" if p["host"] in ("127.0.0.1", "localhost", "::1") else "the network"
        self.get_logger().info(f"Foxglove WebSocket server on ws://{p['host']}:{self.port} ({where}); channels "
                               f"{scene.SCENE_TOPIC}, {scene.TRAJECTORY_TOPIC}, {scene.TF_TOPIC}, "
                               f"{scene.JOINT_STATES_TOPIC}, {scene.IMAGE_TOPIC}; cell {self.cell.name}")

    # -- helpers -----------------------------------------------------------------------------
    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warned.get(kind, -math.inf) >= WARN_PERIOD_S:
            self._last_warned[kind] = now
            self.get_logger().warning(message)

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # -- callbacks ---------------------------------------------------------------------------
    def _on_objects(self, msg) -> None:
        self.health.tick("perception/objects")
        self._scene_seen = True
        if self.ch_scene.has_sinks():
            self.ch_scene.log(scene.scene_update_from_msg(msg, self.cell))
            self.sent["scene"] += 1

    def _on_trajectory(self, msg) -> None:
        try:
            update = scene.trajectory_update_from_msg(msg, self._fk_batch, self.cell.base_frame, self._now_ns(),
                                                      float(self.params["trajectory_step"]))
        except ValueError as exc:
            self._warn("trajectory", f"not drawing a joint trajectory: {exc}")
            return
        self._last_trajectory = update
        self.ch_trajectory.log(update)
        self.sent["trajectory"] += 1

    def _on_joints(self, msg) -> None:
        if self.ch_joints.has_sinks():
            self.ch_joints.log(scene.joint_states_from_msg(msg))
            self.sent["joint_states"] += 1

    def _on_tf_static(self, msg) -> None:
        self._tf_from_static = scene.frame_transforms_from_msg(msg)
        self.ch_tf.log(self._tf_from_static)

    def _on_image(self, msg) -> None:
        now = time.monotonic()
        if not self.ch_image.has_sinks() or now - self._last_image_wall < 1.0 / float(self.params["image_rate"]):
            return
        self._last_image_wall = now
        try:
            data = jpeg_from_image(msg, int(self.params["image_max_width"]), int(self.params["jpeg_quality"]))
        except ValueError as exc:
            self._warn("image", f"camera image not sent: {exc}")
            return
        if data is None:
            self._warn("encoding", f"camera image not sent: encoding {msg.encoding!r} is not a colour image")
            return
        from foxglove.messages import CompressedImage

        self.ch_image.log(CompressedImage(timestamp=scene.timestamp_from_ns(scene.stamp_ns_from_msg(msg.header.stamp)),
                                          frame_id=msg.header.frame_id, data=data, format="jpeg"))
        self.sent["images"] += 1

    def _republish(self) -> None:
        now = self._now_ns()
        self.ch_tf.log(self._tf_from_static or scene.cell_frame_transforms(self.cell, now))
        if not self._scene_seen:
            self.ch_scene.log(scene.cell_scene_update(self.cell, now))
        if self._last_trajectory is not None:
            self.ch_trajectory.log(self._last_trajectory)

    def destroy_node(self) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            server.stop()
            self.server = None
        super().destroy_node()


def _kinematics():
    from brain_common.kinematics import Kinematics
    from brain_common.robot_model import load_robot_model

    return Kinematics(load_robot_model())


def main(args=None) -> int:
    return run_node(FoxgloveBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
