"""EpisodeRecorder and FailureFrames over real DDS, read back with rosbags (not our code).

A publisher node and the recording node share an rclpy context on the test's own
ROS_DOMAIN_ID (LOCALHOST discovery, set by conftest). Every wait is on a condition.
"""

from __future__ import annotations

import numpy as np
import pytest

from brain_common.robot import ARM_JOINTS
from conftest import Spinner, wait_for

pytestmark = pytest.mark.integration

N_PAIRS = 6  # colour/depth image pairs published during the first bag
W, H = 640, 480
TOPICS = [
    ("joint_states", "sensor_msgs/msg/JointState"),
    ("camera/color/image_raw", "sensor_msgs/msg/Image"),
    ("camera/depth/image_raw", "sensor_msgs/msg/Image"),
    ("camera/camera_info", "sensor_msgs/msg/CameraInfo"),
    ("perception/objects", "brain_interfaces/msg/DetectedObjectArray"),
    ("grasping/grasp_state", "std_msgs/msg/String"),
    ("planner/execute_task/_action/feedback", "brain_interfaces/action/ExecuteTask_FeedbackMessage"),
]


def _colour(k: int) -> tuple[int, int, int]:
    return ((40 * k + 10) % 256, (200 - 30 * k) % 256, 77)


def _stamp(msg, k: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + k // 2, 500_000_000 * (k % 2)
    msg.header.frame_id = "camera_color_optical_frame"


def _colour_image(k: int):
    from sensor_msgs.msg import Image

    msg = Image(height=H, width=W, encoding="rgb8", is_bigendian=0, step=W * 3)
    _stamp(msg, k)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = _colour(k)
    img[:40, :80] = (255, 255, 255)  # a white block in the top-left corner
    msg.data = img.tobytes()
    return msg


def _depth_image(k: int):
    from sensor_msgs.msg import Image

    msg = Image(height=H, width=W, encoding="32FC1", is_bigendian=0, step=W * 4)
    _stamp(msg, k)
    depth = np.full((H, W), 0.75 + 0.01 * k, np.float32)
    depth[H // 2:, :] = np.nan  # no return in the lower half
    msg.data = depth.tobytes()
    return msg


def _camera_info():
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=W, height=H, distortion_model="plumb_bob")
    _stamp(msg, 0)
    msg.k = [600.0, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0]
    msg.p = [600.0, 0.0, 319.5, 0.0, 0.0, 600.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def _objects(k: int):
    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    msg = DetectedObjectArray(table_detected=True)
    msg.header.frame_id = "panda_link0"
    msg.table_plane = [0.0, 0.0, 1.0, -0.0125]
    obj = DetectedObject(id="obj_3", label="red cube", color_name="red", shape="box", confidence=0.875)
    obj.pose.position.x, obj.pose.position.y, obj.pose.position.z = 0.5 + 0.01 * k, -0.125, 0.025
    obj.pose.orientation.w = 1.0
    obj.size.x = obj.size.y = obj.size.z = 0.05
    msg.objects.append(obj)
    return msg


def _joint_state(k: int):
    from sensor_msgs.msg import JointState

    msg = JointState(name=list(ARM_JOINTS), position=[0.125 * k] * 7)
    msg.header.stamp.sec = 100 + k
    return msg


@pytest.fixture
def graph(ros_context):
    """(publisher node, recording node); the recording node spins in a background thread."""
    from rclpy.node import Node

    pub_node = Node("test_publisher", context=ros_context)
    rec_node = Node("test_recorder", context=ros_context)
    spinner = Spinner(rec_node, ros_context)
    yield pub_node, rec_node
    spinner.close()
    rec_node.destroy_node()
    pub_node.destroy_node()


def _read_bag(bag_dir):
    """{topic: [(msgtype, deserialized message)]} read with rosbags, brain_interfaces types
    registered from the definitions stored in the bag itself."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    out: dict[str, list] = {}
    with Reader(bag_dir) as reader:
        extra = {}
        for conn in reader.connections:
            assert conn.msgdef.data, f"{conn.topic} has no message definition"
            if conn.msgtype not in store.types:
                extra.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        store.register(extra)
        for conn in reader.connections:
            out.setdefault(conn.topic, [])
        for conn, _t, raw in reader.messages():
            out[conn.topic].append(store.deserialize_cdr(raw, conn.msgtype))
        meta = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    return out, meta


def test_recorder_writes_a_bag_rosbags_reads(graph, tmp_path):
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import String

    from armbrain.recording import EpisodeRecorder, FailureFrames
    from brain_interfaces.action import ExecuteTask
    from brain_interfaces.msg import DetectedObjectArray

    pub_node, rec_node = graph
    reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                         durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    pubs = {
        "/camera/color/image_raw": pub_node.create_publisher(Image, "camera/color/image_raw",
                                                             qos_profile_sensor_data),
        "/camera/depth/image_raw": pub_node.create_publisher(Image, "camera/depth/image_raw",
                                                             qos_profile_sensor_data),
        "/camera/camera_info": pub_node.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data),
        "/joint_states": pub_node.create_publisher(JointState, "joint_states", reliable),
        "/perception/objects": pub_node.create_publisher(DetectedObjectArray, "perception/objects", reliable),
        "/grasping/grasp_state": pub_node.create_publisher(String, "grasping/grasp_state", latched),
        "/planner/execute_task/_action/feedback": pub_node.create_publisher(
            ExecuteTask.Impl.FeedbackMessage, "planner/execute_task/_action/feedback", reliable),
    }
    # Latched before anyone listens: the recorder must still get it, and open each bag with it.
    pubs["/grasping/grasp_state"].publish(String(data='{"state": "holding", "object_id": "obj_3"}'))

    recorder = EpisodeRecorder(rec_node, TOPICS, image_every=2, image_scale=0.5)
    frames = FailureFrames(rec_node, max_frames=30, width=320, period_s=0.2)
    assert sorted(t for t, _ in recorder.topics) == sorted(pubs)
    wait_for(lambda: all(p.get_subscription_count() >= 1 for p in pubs.values()) and
             pubs["/camera/color/image_raw"].get_subscription_count() >= 2, 30, "the subscriptions to match")
    wait_for(lambda: recorder.received_counts()["/grasping/grasp_state"] >= 1, 30, "the latched grasp state")

    def received(topic):
        return recorder.received_counts()[topic]

    bag_dir = tmp_path / "recordings" / "one_cube_0003"
    recorder.start(bag_dir)
    frames.clear()
    assert recorder.recording
    base = recorder.received_counts()
    pubs["/camera/camera_info"].publish(_camera_info())
    wait_for(lambda: received("/camera/camera_info") > base["/camera/camera_info"], 30, "camera_info")
    for k in range(N_PAIRS):
        pubs["/camera/color/image_raw"].publish(_colour_image(k))
        pubs["/camera/depth/image_raw"].publish(_depth_image(k))
        pubs["/joint_states"].publish(_joint_state(k))
        pubs["/perception/objects"].publish(_objects(k))
        for topic in ("/camera/color/image_raw", "/camera/depth/image_raw", "/joint_states", "/perception/objects"):
            wait_for(lambda topic=topic, k=k: received(topic) >= base[topic] + k + 1, 30, f"{topic} message {k}")
        wait_for(lambda k=k: len(frames) >= k + 1, 30, f"failure frame {k}")
    feedback = ExecuteTask.Impl.FeedbackMessage()
    feedback.goal_id.uuid = list(range(16))
    feedback.feedback.stage, feedback.feedback.attempt, feedback.feedback.progress = "grasp", 2, 0.5
    pubs["/planner/execute_task/_action/feedback"].publish(feedback)
    wait_for(lambda: received("/planner/execute_task/_action/feedback") >= 1, 30, "the task feedback")

    assert recorder.stop() == bag_dir
    assert not recorder.recording
    assert recorder.dropped == 0 and frames.dropped == 0
    written = recorder.message_counts()

    # A second bag holds only what arrived while it was open, plus the latched state.
    bag2 = tmp_path / "recordings" / "one_cube_0004"
    recorder.start(bag2)
    pubs["/joint_states"].publish(_joint_state(9))
    wait_for(lambda: recorder.message_counts()["/joint_states"] >= 1, 30, "a joint state in the second bag")
    # A malformed image (too few bytes) is dropped and counted by both, never raised.
    broken = _colour_image(20)
    broken.data = bytes(10)
    pubs["/camera/color/image_raw"].publish(broken)
    wait_for(lambda: recorder.dropped == 1 and frames.dropped == 1, 30, "the broken image to be dropped")
    recorder.stop()

    # --- read back with rosbags -------------------------------------------------------
    assert (bag_dir / "metadata.yaml").is_file() and (bag_dir / "one_cube_0003_0.mcap").is_file()
    msgs, meta = _read_bag(bag_dir)
    assert set(meta) == set(pubs)
    assert meta["/perception/objects"][0] == "brain_interfaces/msg/DetectedObjectArray"
    counts = {t: len(m) for t, m in msgs.items()}
    assert counts == {t: meta[t][1] for t in meta} == written
    # One of every 2 distinct image stamps, the same stamps for colour and depth.
    assert counts["/camera/color/image_raw"] == counts["/camera/depth/image_raw"] == N_PAIRS // 2
    colour_stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs["/camera/color/image_raw"]]
    assert colour_stamps == [(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs["/camera/depth/image_raw"]]
    assert colour_stamps == [(100, 0), (101, 0), (102, 0)]  # k = 0, 2, 4
    assert counts["/joint_states"] == counts["/perception/objects"] == N_PAIRS
    assert counts["/grasping/grasp_state"] == 1 and counts["/camera/camera_info"] == 1
    assert counts["/planner/execute_task/_action/feedback"] == 1

    img = msgs["/camera/color/image_raw"][1]  # k = 2
    assert (img.width, img.height, img.encoding, img.step) == (320, 240, "rgb8", 960)
    pixels = img.data.reshape(240, 320, 3)
    assert tuple(pixels[200, 200]) == _colour(2)
    assert tuple(pixels[5, 5]) == (255, 255, 255) and tuple(pixels[25, 45]) == _colour(2)
    depth = msgs["/camera/depth/image_raw"][2]  # k = 4
    assert (depth.width, depth.height, depth.encoding, depth.step) == (320, 240, "32FC1", 1280)
    values = depth.data.view(np.float32).reshape(240, 320)
    assert values[10, 10] == pytest.approx(0.79) and np.isnan(values[200, 10])
    info = msgs["/camera/camera_info"][0]
    assert (info.width, info.height) == (320, 240)
    assert info.k[0] == pytest.approx(300.0) and info.k[2] == pytest.approx(159.5)

    objects = msgs["/perception/objects"][4]
    assert [o.label for o in objects.objects] == ["red cube"]
    assert objects.objects[0].pose.position.x == pytest.approx(0.54)
    assert objects.objects[0].confidence == pytest.approx(0.875) and objects.table_detected
    assert list(msgs["/joint_states"][5].position) == [0.625] * 7
    assert msgs["/grasping/grasp_state"][0].data.startswith('{"state": "holding"')
    fb = msgs["/planner/execute_task/_action/feedback"][0]
    assert (fb.feedback.stage, fb.feedback.attempt, list(fb.goal_id.uuid)) == ("grasp", 2, list(range(16)))

    msgs2, _ = _read_bag(bag2)
    assert {t: len(m) for t, m in msgs2.items() if m} == {"/joint_states": 1, "/grasping/grasp_state": 1}
    assert list(msgs2["/joint_states"][0].position) == [1.125] * 7

    # --- failure frames -----------------------------------------------------------------
    from PIL import Image as PILImage

    gif = frames.save_gif(tmp_path / "episodes" / "one_cube_0003.gif", fps=5)
    assert gif is not None
    with PILImage.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == N_PAIRS and im.size == (320, 240)
    key = frames.save_keyframe(tmp_path / "episodes" / "one_cube_0003.png")
    with PILImage.open(key) as im:
        assert im.size == (320, 240)
        assert im.convert("RGB").getpixel((200, 200)) == _colour(N_PAIRS - 1)
    frames.clear()
    assert frames.save_gif(tmp_path / "empty.gif") is None and frames.save_keyframe(tmp_path / "e.png") is None
    assert not (tmp_path / "empty.gif").exists()

    # perception/debug_image, once one arrives, replaces the colour frames; a depth image
    # there is not a picture: dropped and counted.
    debug = pub_node.create_publisher(Image, "perception/debug_image", qos_profile_sensor_data)
    wait_for(lambda: debug.get_subscription_count() >= 1, 30, "FailureFrames to subscribe the debug image")
    pubs["/camera/color/image_raw"].publish(_colour_image(30))
    wait_for(lambda: len(frames) == 1, 30, "a colour frame")
    debug.publish(_depth_image(31))
    wait_for(lambda: frames.dropped == 2, 30, "the depth image on the debug topic to be dropped")
    debug.publish(_colour_image(32))
    wait_for(lambda: frames.frames() and tuple(frames.frames()[-1][100, 100]) == _colour(32), 30, "a debug frame")
    before = received("/camera/color/image_raw")  # the recorder, still subscribed, tells when it arrived
    pubs["/camera/color/image_raw"].publish(_colour_image(33))
    wait_for(lambda: received("/camera/color/image_raw") > before, 30, "the last colour image")
    assert len(frames) == 1  # colour frames are ignored while debug images come
    assert recorder.message_counts()["/camera/color/image_raw"] == 0  # no bag open: nothing written
    frames.close()
    recorder.close()


def test_bag_is_readable_by_mcap_ros2_decoder(graph, tmp_path):
    """The schemas also decode with mcap-ros2-support (the parser Foxglove's tools share)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy

    from armbrain.recording import EpisodeRecorder
    from brain_interfaces.msg import DetectedObjectArray

    pub_node, rec_node = graph
    pub = pub_node.create_publisher(DetectedObjectArray, "perception/objects",
                                    QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE))
    recorder = EpisodeRecorder(rec_node, image_scale=1.0)  # the default topic list
    wait_for(lambda: pub.get_subscription_count() >= 1, 30, "the recorder to subscribe")
    recorder.start(tmp_path / "bag")
    pub.publish(_objects(3))
    wait_for(lambda: recorder.message_counts()["/perception/objects"] >= 1, 30, "the objects in the bag")
    bag = recorder.stop()
    recorder.close()
    with open(bag / "bag_0.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert {c.topic for c in summary.channels.values()} >= {"/perception/objects", "/camera/color/image_raw",
                                                                 "/planner/execute_task/_action/status"}
        decoded = [(c.topic, m) for _s, c, _r, m in reader.iter_decoded_messages()]
    assert [t for t, _ in decoded] == ["/perception/objects"]
    assert decoded[0][1].objects[0].label == "red cube"
    assert decoded[0][1].objects[0].pose.position.x == pytest.approx(0.53)


def test_downsampling_keeps_valid_images():
    """Pure helpers: image and CameraInfo scaling, row padding, 16-bit depth."""
    from sensor_msgs.msg import CameraInfo, Image

    from armbrain.recording import array_from_image, downsample_image, scale_camera_info

    # bgr8 with 4 bytes of padding per row
    arr = np.zeros((4, 6, 3), np.uint8)
    arr[:, :3] = (1, 2, 3)
    arr[:, 3:] = (9, 8, 7)
    padded = np.zeros((4, 6 * 3 + 4), np.uint8)
    padded[:, :18] = arr.reshape(4, 18)
    msg = Image(height=4, width=6, encoding="bgr8", step=22, data=padded.tobytes())
    assert (array_from_image(msg) == arr).all()
    assert downsample_image(msg, 0.5)
    assert (msg.width, msg.height, msg.step, len(msg.data)) == (3, 2, 9, 18)
    out = np.frombuffer(bytes(msg.data), np.uint8).reshape(2, 3, 3)
    assert tuple(out[0, 0]) == (1, 2, 3) and tuple(out[1, 2]) == (9, 8, 7)

    depth = np.arange(16, dtype=np.uint16).reshape(4, 4) * 1000
    msg = Image(height=4, width=4, encoding="16UC1", step=8, data=depth.tobytes())
    assert downsample_image(msg, 0.5)
    got = np.frombuffer(bytes(msg.data), np.uint16).reshape(2, 2)
    assert set(got.ravel()) <= set(depth.ravel())  # nearest: no invented depths
    assert (msg.width, msg.height, msg.step, msg.encoding) == (2, 2, 4, "16UC1")

    msg = Image(height=2, width=2, encoding="bayer_rggb8", step=2, data=bytes(4))
    assert downsample_image(msg, 0.5) is False and msg.width == 2

    info = CameraInfo(width=640, height=480)
    info.k = [600.0, 0.0, 319.5, 0.0, 610.0, 239.5, 0.0, 0.0, 1.0]
    info.p = [600.0, 0.0, 319.5, -30.0, 0.0, 610.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    scale_camera_info(info, 0.5)
    assert (info.width, info.height) == (320, 240)
    assert list(info.k) == pytest.approx([300.0, 0.0, 159.5, 0.0, 305.0, 119.5, 0.0, 0.0, 1.0])
    assert list(info.p) == pytest.approx([300.0, 0.0, 159.5, -15.0, 0.0, 305.0, 119.5, 0.0, 0.0, 0.0, 1.0, 0.0])


def test_message_definitions_match_rosbags_typestore():
    """Every default topic's stored definition parses to the same fields as rosbags' own
    Kilted type store (where it knows the type)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from armbrain.recording import DEFAULT_TOPICS, message_definition

    store = get_typestore(Stores.ROS2_KILTED)
    for _topic, type_name in DEFAULT_TOPICS:
        text = message_definition(type_name)
        types = get_types_from_msg(text, type_name)
        assert type_name in types
        for name, fields in types.items():
            if name in store.fielddefs:
                assert fields == store.fielddefs[name], name
    text = message_definition("brain_interfaces/msg/DetectedObjectArray")
    assert text.startswith("# Everything perception sees")
    assert "\n" + "=" * 80 + "\nMSG: brain_interfaces/msg/DetectedObject\n" in text
    assert text.count("MSG: std_msgs/msg/Header") == 1
    with pytest.raises(LookupError):
        message_definition("brain_interfaces/msg/NoSuchType")


def test_bag_carries_the_foxglove_scene_of_the_live_view(graph, tmp_path):
    """With scene=<cell>, the bag directory also holds the Foxglove channels of armbrain.scene
    (the live view's conversion), in <name>_scene.mcap; rosbags reads the bag as before."""
    from foxglove_proto import decode
    from mcap.reader import make_reader
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from armbrain.recording import EpisodeRecorder
    from brain_common.cell import default_cell
    from brain_common.kinematics import Kinematics
    from brain_common.robot_model import load_robot_model
    from brain_interfaces.msg import DetectedObjectArray

    pub_node, rec_node = graph
    reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    objects_pub = pub_node.create_publisher(DetectedObjectArray, "perception/objects", reliable)
    trajectory_pub = pub_node.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", reliable)
    cell = default_cell()
    recorder = EpisodeRecorder(rec_node, [("perception/objects", "brain_interfaces/msg/DetectedObjectArray"),
                                          ("arm_controller/joint_trajectory", "trajectory_msgs/msg/JointTrajectory")],
                               scene=cell, trajectory_step=0.25)
    wait_for(lambda: objects_pub.get_subscription_count() >= 1 and trajectory_pub.get_subscription_count() >= 1,
             30, "the recorder to subscribe")
    bag_dir = tmp_path / "recordings" / "one_cube_0005"
    recorder.start(bag_dir)
    objects_pub.publish(_objects(2))
    q0 = np.array(cell.home)
    q1 = q0 + 0.2
    trajectory = JointTrajectory(joint_names=list(ARM_JOINTS))
    for q, sec in ((q0, 0), (q1, 1)):
        point = JointTrajectoryPoint(positions=[float(v) for v in q])
        point.time_from_start.sec = sec
        trajectory.points.append(point)
    trajectory_pub.publish(trajectory)
    wait_for(lambda: recorder.scene_counts().get("/foxglove/trajectory") == 1
             and recorder.scene_counts().get("/foxglove/scene") == 2, 30, "the scene and the path in the bag")
    assert recorder.stop() == bag_dir
    assert recorder.dropped == 0
    recorder.close()

    with open(bag_dir / "one_cube_0005_0.mcap", "rb") as f:  # the rosbag2 file: ROS topics only
        assert {c.topic for c in make_reader(f).get_summary().channels.values()} == {
            "/perception/objects", "/arm_controller/joint_trajectory"}
    with open(bag_dir / "one_cube_0005_scene.mcap", "rb") as f:
        reader = make_reader(f)
        channels = {c.topic: c for c in reader.get_summary().channels.values()}
        schemas = reader.get_summary().schemas
        messages: dict[str, list] = {}
        for schema, channel, message in reader.iter_messages(topics=["/foxglove/scene", "/foxglove/trajectory",
                                                                     "/foxglove/tf"]):
            messages.setdefault(channel.topic, []).append(decode(schema.name, schema.data, message.data))
    assert channels["/foxglove/scene"].message_encoding == "protobuf"
    assert schemas[channels["/foxglove/scene"].schema_id].name == "foxglove.SceneUpdate"
    assert schemas[channels["/foxglove/scene"].schema_id].encoding == "protobuf"
    # The bag opens with the cell (table, the bin's prior) and the camera mount ...
    first, last = messages["/foxglove/scene"]
    assert {e.id for e in first.entities} == {"table", "bin"}
    (tf,) = messages["/foxglove/tf"][0].transforms
    assert (tf.parent_frame_id, tf.child_frame_id) == (cell.base_frame, cell.camera.frame)
    # ... then what perception reported, and the planned path through the arm's kinematics.
    ents = {e.id: e for e in last.entities}
    assert set(ents) == {"table", "bin", "object/obj_3"}
    assert ents["object/obj_3"].cubes[0].pose.position.x == pytest.approx(0.52)
    assert ents["object/obj_3"].texts[0].text == "red cube (obj_3)"
    (path,) = messages["/foxglove/trajectory"]
    points = path.entities[0].lines[0].points
    kin = Kinematics(load_robot_model())
    assert len(points) == 5  # 1 s every 0.25 s
    assert (points[-1].x, points[-1].y, points[-1].z) == pytest.approx(tuple(kin.fk(q1)[:3, 3]), abs=1e-9)

    # rosbag2 readers see the ROS topics only (metadata.yaml), and read them as before.
    msgs, meta = _read_bag(bag_dir)
    assert set(meta) == {"/perception/objects", "/arm_controller/joint_trajectory"}
    assert {t: len(m) for t, m in msgs.items()} == {"/perception/objects": 1, "/arm_controller/joint_trajectory": 1}
    assert msgs["/perception/objects"][0].objects[0].label == "red cube"
