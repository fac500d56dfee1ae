"""armbrain.scene: the brain's world as Foxglove messages (the live view's and the recordings').

Every message is encoded by the SDK and decoded again with protobuf from the SDK's own
schema (tests/foxglove_proto.py), so the tests read what Foxglove reads.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from foxglove_proto import decode_sdk

from armbrain import scene
from brain_common.cell import default_cell
from brain_common.kinematics import Kinematics
from brain_common.robot import ARM_JOINTS
from brain_common.robot_model import load_robot_model


@pytest.fixture(scope="module")
def kin() -> Kinematics:
    return Kinematics(load_robot_model())


def _objects_msg(bin_seen: bool = True):
    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    msg = DetectedObjectArray(table_detected=True)
    msg.header.frame_id = "panda_link0"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 250_000_000
    cube = DetectedObject(id="obj_1", label="red cube", color_name="red", shape="box", confidence=0.9)
    cube.pose.position.x, cube.pose.position.y, cube.pose.position.z = 0.5, -0.1, 0.025
    cube.pose.orientation.z, cube.pose.orientation.w = math.sin(0.2), math.cos(0.2)  # yaw 0.4 rad
    cube.size.x, cube.size.y, cube.size.z = 0.05, 0.04, 0.05
    cube.mean_rgb.r, cube.mean_rgb.g, cube.mean_rgb.b, cube.mean_rgb.a = 0.8, 0.1, 0.1, 1.0
    cyl = DetectedObject(id="obj_2", label="blue cylinder", color_name="blue", shape="cylinder", confidence=0.7)
    cyl.pose.position.x, cyl.pose.position.y, cyl.pose.position.z = 0.45, 0.15, 0.04
    cyl.pose.orientation.w = 1.0
    cyl.size.x, cyl.size.y, cyl.size.z = 0.06, 0.06, 0.08
    cyl.mean_rgb.b = 0.9
    msg.objects = [cube, cyl]
    if bin_seen:
        b = msg.bin
        b.seen, b.source = True, "perceived"
        b.pose.position.x, b.pose.position.y = 0.3, 0.4
        b.pose.orientation.z, b.pose.orientation.w = math.sin(math.pi / 4), math.cos(math.pi / 4)  # yaw 90 deg
        b.inner_size.x, b.inner_size.y, b.inner_size.z = 0.2, 0.1, 0.06
        b.wall_thickness = 0.01
        inside = DetectedObject(id="obj_7", label="green cube", shape="box")
        inside.pose.position.x, inside.pose.position.y, inside.pose.position.z = 0.3, 0.4, 0.03
        inside.pose.orientation.w = 1.0
        inside.size.x = inside.size.y = inside.size.z = 0.03
        b.contents = [inside]
    return msg


def _entities(update) -> dict:
    return {e.id: e for e in update.entities}


def test_objects_become_boxes_and_cylinders_with_their_pose_size_colour_and_label():
    cell = default_cell()
    update = decode_sdk(scene.scene_update_from_msg(_objects_msg(), cell))
    # Everything is replaced: an object perception no longer sees disappears.
    assert [d.type for d in update.deletions] == [1]  # SceneEntityDeletion.ALL
    ents = _entities(update)
    assert set(ents) == {"table", "bin", "object/obj_1", "object/obj_2", "object/obj_7"}
    cube = ents["object/obj_1"]
    assert (cube.frame_id, cube.timestamp.seconds, cube.timestamp.nanos) == ("panda_link0", 12, 250_000_000)
    (box,) = cube.cubes
    assert not cube.cylinders
    assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == pytest.approx((0.5, -0.1, 0.025))
    assert (box.pose.orientation.z, box.pose.orientation.w) == pytest.approx((math.sin(0.2), math.cos(0.2)))
    assert (box.size.x, box.size.y, box.size.z) == pytest.approx((0.05, 0.04, 0.05))
    assert (box.color.r, box.color.g, box.color.b, box.color.a) == pytest.approx((0.8, 0.1, 0.1, 1.0))
    (label,) = cube.texts
    assert label.text == "red cube (obj_1)" and label.billboard
    assert (label.pose.position.x, label.pose.position.z) == pytest.approx((0.5, 0.025 + 0.025 + scene.LABEL_ABOVE))
    assert {kv.key: kv.value for kv in cube.metadata} == {"id": "obj_1", "label": "red cube", "shape": "box",
                                                           "confidence": "0.90"}
    cyl = ents["object/obj_2"]
    (c,) = cyl.cylinders
    assert not cyl.cubes
    assert (c.size.x, c.size.y, c.size.z) == pytest.approx((0.06, 0.06, 0.08))  # diameter, diameter, height
    assert (c.bottom_scale, c.top_scale) == (1.0, 1.0)
    assert cyl.texts[0].text == "blue cylinder (obj_2)"
    assert ents["object/obj_7"].texts[0].text == "green cube (obj_7)"  # what is seen in the bin


def test_bin_is_a_floor_and_four_walls_where_perception_sees_it():
    cell = default_cell()
    ents = _entities(decode_sdk(scene.scene_update_from_msg(_objects_msg(), cell)))
    b = ents["bin"]
    assert {kv.key: kv.value for kv in b.metadata} == {"source": "perceived"}
    floor, *walls = b.cubes
    assert len(walls) == 4
    ft = cell.bin.floor_thickness  # a camera cannot see it: the cell's
    assert (floor.size.x, floor.size.y, floor.size.z) == pytest.approx((0.2, 0.1, ft))
    assert (floor.pose.position.x, floor.pose.position.y, floor.pose.position.z) == pytest.approx((0.3, 0.4, ft / 2))
    # Yaw 90 deg: the wall at the bin's +x (u = 0.1 + 0.005) stands at base y = 0.4 + 0.105.
    east = walls[0]
    assert (east.pose.position.x, east.pose.position.y, east.pose.position.z) == pytest.approx((0.3, 0.505, 0.03))
    assert (east.size.x, east.size.y, east.size.z) == pytest.approx((0.01, 0.12, 0.06))
    assert (east.pose.orientation.z, east.pose.orientation.w) == pytest.approx((math.sin(math.pi / 4),
                                                                               math.cos(math.pi / 4)))
    north = walls[2]  # the bin's +y (v = 0.05 + 0.005) is base -x after 90 deg
    assert (north.pose.position.x, north.pose.position.y) == pytest.approx((0.3 - 0.055, 0.4))
    assert (north.size.x, north.size.y) == pytest.approx((0.2, 0.01))


def test_table_comes_from_the_cell_and_an_unreported_bin_from_its_prior():
    cell = default_cell()
    ents = _entities(decode_sdk(scene.scene_update_from_msg(_objects_msg(bin_seen=False), cell)))
    (top,) = ents["table"].cubes
    t = cell.table
    assert (top.size.x, top.size.y, top.size.z) == pytest.approx((*t.size, t.thickness))
    centre = (top.pose.position.x, top.pose.position.y, top.pose.position.z)
    assert centre == pytest.approx((t.x, t.y, -t.thickness / 2))
    b = ents["bin"]
    assert {kv.key: kv.value for kv in b.metadata} == {"source": "prior"}
    floor = b.cubes[0]
    assert (floor.pose.position.x, floor.pose.position.y) == pytest.approx((cell.bin.x, cell.bin.y))
    assert (floor.size.x, floor.size.y) == pytest.approx(cell.bin.inner_size)
    # Before perception reports anything: the cell alone, in its base frame.
    alone = _entities(decode_sdk(scene.cell_scene_update(cell, 5_000_000_000)))
    assert set(alone) == {"table", "bin"} and alone["table"].frame_id == cell.base_frame


def _trajectory_msg(q0, q1, duration_s: float = 1.0):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    names = list(reversed(ARM_JOINTS))  # any order: matched by name
    msg = JointTrajectory(joint_names=names)
    for q, t in ((q0, 0.0), (q1, duration_s)):
        p = JointTrajectoryPoint(positions=[float(q[ARM_JOINTS.index(n)]) for n in names])
        p.time_from_start.sec, p.time_from_start.nanosec = int(t), round((t % 1) * 1e9)
        msg.points.append(p)
    return msg


def test_trajectory_is_the_grasp_frame_path_through_forward_kinematics(kin):
    cell = default_cell()
    q0 = np.array(cell.home)
    q1 = q0 + np.array([0.4, -0.2, 0.1, 0.3, 0.0, -0.2, 0.5])
    update = decode_sdk(scene.trajectory_update_from_msg(_trajectory_msg(q0, q1), kin.fk_batch, "panda_link0",
                                                         7_000_000_000, step_s=0.1))
    (ent,) = update.entities
    assert (ent.id, ent.frame_id, ent.timestamp.seconds) == ("trajectory", "panda_link0", 7)  # no stamp: now
    (line,) = ent.lines
    assert line.type == 0  # LINE_STRIP
    pts = np.array([(p.x, p.y, p.z) for p in line.points])
    assert len(pts) == 11  # 1 s every 0.1 s, both ends
    assert pts[0] == pytest.approx(kin.fk(q0)[:3, 3], abs=1e-9)
    assert pts[-1] == pytest.approx(kin.fk(q1)[:3, 3], abs=1e-9)
    # Positions only: the controller interpolates linearly in joint space.
    assert pts[5] == pytest.approx(kin.fk((q0 + q1) / 2)[:3, 3], abs=1e-9)
    assert {kv.key: kv.value for kv in ent.metadata} == {"points": "11"}


def test_trajectory_samples_are_capped_and_untimed_waypoints_are_used_as_they_are(kin):
    q = np.array(default_cell().home)
    times = np.array([0.0, 100.0])
    path = scene.path_from_joint_trajectory(times, np.array([q, q + 0.1]), None, kin.fk_batch, step_s=0.01,
                                            max_points=50)
    assert len(path) == 50
    untimed = scene.path_from_joint_trajectory(np.zeros(3), np.array([q, q + 0.1, q + 0.2]), None, kin.fk_batch,
                                               step_s=0.01)
    assert untimed == pytest.approx(kin.fk_batch(np.array([q, q + 0.1, q + 0.2]))[:, :3, 3])


def test_a_trajectory_without_an_arm_joint_is_refused_naming_it(kin):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    msg = JointTrajectory(joint_names=list(ARM_JOINTS[:6]), points=[JointTrajectoryPoint(positions=[0.0] * 6)])
    with pytest.raises(ValueError, match="joint trajectory lacks panda_joint7"):
        scene.trajectory_update_from_msg(msg, kin.fk_batch, "panda_link0", 0, 0.05)


def test_camera_frame_from_the_cell_and_from_tf_static():
    cell = default_cell()
    (t,) = decode_sdk(scene.cell_frame_transforms(cell, 3_000_000_000)).transforms
    assert (t.parent_frame_id, t.child_frame_id) == (cell.base_frame, cell.camera.frame)
    assert (t.translation.x, t.translation.y, t.translation.z) == pytest.approx(cell.camera.position)
    assert (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w) == pytest.approx(cell.camera.orientation)

    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    ts = TransformStamped(child_frame_id="cam")
    ts.header.frame_id = "panda_link0"
    ts.header.stamp.sec = 4
    ts.transform.translation.x, ts.transform.rotation.w = 0.7, 1.0
    (t,) = decode_sdk(scene.frame_transforms_from_msg(TFMessage(transforms=[ts]))).transforms
    assert (t.parent_frame_id, t.child_frame_id, t.translation.x, t.rotation.w, t.timestamp.seconds) == (
        "panda_link0", "cam", pytest.approx(0.7), pytest.approx(1.0), 4)


def test_joint_states():
    from sensor_msgs.msg import JointState

    msg = JointState(name=["a", "b"], position=[0.5, -1.0], velocity=[0.25, 0.0])
    msg.header.stamp.sec = 9
    out = decode_sdk(scene.joint_states_from_msg(msg))
    assert out.timestamp.seconds == 9
    assert [(j.name, j.position, j.velocity) for j in out.joints] == [("a", 0.5, 0.25), ("b", -1.0, 0.0)]
    assert not out.joints[0].HasField("effort")  # not given: not made up


def test_camera_image_as_jpeg():
    import cv2
    from sensor_msgs.msg import Image

    from armbrain.foxglove_bridge import jpeg_from_image

    rgb = np.zeros((240, 1280, 3), np.uint8)
    rgb[:, :640] = (200, 30, 30)
    msg = Image(height=240, width=1280, encoding="rgb8", step=1280 * 3, data=rgb.tobytes())
    data = jpeg_from_image(msg, max_width=640, quality=90)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert back.shape == (120, 640, 3)
    assert back[60, 100] == pytest.approx((200, 30, 30), abs=8)
    assert back[60, 500] == pytest.approx((0, 0, 0), abs=8)
    depth = Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16))
    assert jpeg_from_image(depth, 640, 90) is None
