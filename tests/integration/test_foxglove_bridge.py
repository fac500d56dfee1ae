"""foxglove_bridge over real DDS and a real WebSocket, as Foxglove connects to it.

The node comes from the real graph (launch/graph.yaml, selected by name: `armbrain launch
foxglove_bridge foxglove_port:=0`, any free port, read from its log). Stand-in publishers
on the test's ROS_DOMAIN_ID play perception and the planner. The client speaks the Foxglove
WebSocket protocol (subprotocol foxglove.sdk.v1): it reads the server's `advertise`,
subscribes to the scene and trajectory channels, and decodes the binary messages with
protobuf from the schemas the server advertised. Every wait is on a condition.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time

import numpy as np
import pytest
from foxglove_proto import decode

from brain_common.cell import default_cell
from brain_common.robot import ARM_JOINTS
from conftest import ROOT, wait_for

pytestmark = pytest.mark.integration

GRAPH = ROOT / "launch" / "graph.yaml"
# foxglove-sdk 0.30 serves the Foxglove SDK WebSocket protocol under this name (the successor
# of "foxglove.websocket.v1", same ops: serverInfo, advertise, subscribe, binary message data).
SUBPROTOCOL = "foxglove.sdk.v1"
MESSAGE_DATA = 0x01  # binary opcode of a message on a subscription


def _objects():
    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    msg = DetectedObjectArray(table_detected=True)
    msg.header.frame_id = "panda_link0"
    msg.header.stamp.sec = 42
    for i, (label, shape, x) in enumerate((("red cube", "box", 0.5), ("blue cylinder", "cylinder", 0.4))):
        o = DetectedObject(id=f"obj_{i + 1}", label=label, shape=shape, confidence=0.9)
        o.pose.position.x, o.pose.position.y, o.pose.position.z = x, 0.1 * i, 0.025
        o.pose.orientation.w = 1.0
        o.size.x, o.size.y, o.size.z = 0.05, 0.05, 0.05 + 0.02 * i
        msg.objects.append(o)
    return msg


def _trajectory(q0, q1):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    msg = JointTrajectory(joint_names=list(ARM_JOINTS))
    for q, sec in ((q0, 0), (q1, 2)):
        p = JointTrajectoryPoint(positions=[float(v) for v in q])
        p.time_from_start.sec = sec
        msg.points.append(p)
    return msg


class FoxgloveClient:
    """The few ops of the Foxglove WebSocket protocol a viewer uses to watch channels."""

    def __init__(self, ws) -> None:
        self.ws = ws  # a websockets connection
        assert self.ws.subprotocol == SUBPROTOCOL
        self.channels: dict[str, dict] = {}  # topic -> advertised channel
        self.server_info: dict | None = None
        self._subscriptions: dict[int, dict] = {}  # subscription id -> channel

    def read_advertisements(self, topics: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not topics <= set(self.channels):
            msg = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(msg, str):
                op = json.loads(msg)
                if op["op"] == "serverInfo":
                    self.server_info = op
                elif op["op"] == "advertise":
                    self.channels.update({c["topic"]: c for c in op["channels"]})

    def subscribe(self, topics: dict[int, str]) -> None:
        subs = [{"id": sid, "channelId": self.channels[t]["id"]} for sid, t in topics.items()]
        self._subscriptions.update({sid: self.channels[t] for sid, t in topics.items()})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def next_message(self, timeout: float):
        """(topic, decoded protobuf message) of the next message on a subscription."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(msg, str) or msg[0] != MESSAGE_DATA:
                continue
            sid, _log_time_ns = struct.unpack_from("<IQ", msg, 1)
            channel = self._subscriptions[sid]
            assert (channel["encoding"], channel["schemaEncoding"]) == ("protobuf", "protobuf")
            return channel["topic"], decode(channel["schemaName"], base64.b64decode(channel["schema"]), msg[13:])



def test_a_foxglove_client_sees_the_objects_and_the_planned_path(launch, ros_context):
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from trajectory_msgs.msg import JointTrajectory
    from websockets.sync.client import connect

    from brain_common.kinematics import Kinematics
    from brain_common.robot_model import load_robot_model
    from brain_interfaces.msg import DetectedObjectArray

    run = launch(GRAPH, "foxglove_bridge", "foxglove_port:=0")
    port = int(run.wait_for_output(r"Foxglove WebSocket server on ws://127\.0\.0\.1:(\d+) \(this machine only\)",
                                   60).group(1))
    node = Node("stand_in_brain", context=ros_context)
    with connect(f"ws://127.0.0.1:{port}", subprotocols=[SUBPROTOCOL], open_timeout=10, max_size=None) as ws:
        client = FoxgloveClient(ws)
        scene_topics = {"/foxglove/scene", "/foxglove/trajectory", "/foxglove/tf", "/foxglove/joint_states",
                        "/foxglove/camera/compressed"}
        client.read_advertisements(scene_topics, 30)
        assert client.server_info is not None and client.server_info["name"] == "armbrain"
        assert client.channels["/foxglove/scene"]["schemaName"] == "foxglove.SceneUpdate"
        assert client.channels["/foxglove/tf"]["schemaName"] == "foxglove.FrameTransforms"
        client.subscribe({1: "/foxglove/scene", 2: "/foxglove/trajectory", 3: "/foxglove/tf"})

        # Before perception reports, the cell: table and the bin's prior, and the camera's mount.
        cell = default_cell()
        seen: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while not {"/foxglove/scene", "/foxglove/tf"} <= set(seen):
            topic, msg = client.next_message(max(0.1, deadline - time.monotonic()))
            seen[topic] = msg
        assert {e.id for e in seen["/foxglove/scene"].entities} == {"table", "bin"}
        (tf,) = seen["/foxglove/tf"].transforms
        assert (tf.parent_frame_id, tf.child_frame_id) == (cell.base_frame, cell.camera.frame)

        reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
        objects_pub = node.create_publisher(DetectedObjectArray, "perception/objects", reliable)
        trajectory_pub = node.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", reliable)
        wait_for(lambda: objects_pub.get_subscription_count() >= 1 and trajectory_pub.get_subscription_count() >= 1,
                 30, "the bridge to subscribe perception/objects and arm_controller/joint_trajectory")

        objects_pub.publish(_objects())
        deadline = time.monotonic() + 30
        while True:
            topic, msg = client.next_message(max(0.1, deadline - time.monotonic()))
            if topic == "/foxglove/scene" and any(e.id.startswith("object/") for e in msg.entities):
                break
        ents = {e.id: e for e in msg.entities}
        assert set(ents) == {"table", "bin", "object/obj_1", "object/obj_2"}  # an entity for each object
        cube, cyl = ents["object/obj_1"], ents["object/obj_2"]
        assert (cube.frame_id, cube.timestamp.seconds) == ("panda_link0", 42)
        assert cube.cubes[0].pose.position.x == pytest.approx(0.5) and cube.texts[0].text == "red cube (obj_1)"
        assert (cyl.cylinders[0].size.z, cyl.cylinders[0].pose.position.y) == pytest.approx((0.07, 0.1))
        assert cyl.texts[0].text == "blue cylinder (obj_2)"

        kin = Kinematics(load_robot_model())
        q0 = np.array(cell.home)
        q1 = q0 + np.array([0.3, 0.2, 0.0, -0.2, 0.0, 0.2, 0.0])
        trajectory_pub.publish(_trajectory(q0, q1))
        deadline = time.monotonic() + 30
        while True:
            topic, msg = client.next_message(max(0.1, deadline - time.monotonic()))
            if topic == "/foxglove/trajectory":
                break
        (ent,) = msg.entities
        (line,) = ent.lines
        pts = np.array([(p.x, p.y, p.z) for p in line.points])
        assert len(pts) == math.ceil(2.0 / 0.05) + 1  # trajectory_step 0.05 s over 2 s
        assert pts[0] == pytest.approx(kin.fk(q0)[:3, 3], abs=1e-9)
        assert pts[-1] == pytest.approx(kin.fk(q1)[:3, 3], abs=1e-9)
    node.destroy_node()
    assert run.stop() == 0
    assert "Traceback" not in run.output
