"""The brain's world as Foxglove messages: one conversion, for the live view and the recordings.

The Foxglove bridge (armbrain.foxglove_bridge, a WebSocket server) and the episode
recorder (armbrain.recording, ``armbrain run --record``) both call the functions here, so
what an engineer sees live and what a recording replays are the same scene:

- ``/foxglove/scene`` (foxglove.SceneUpdate): the table (the cell's), the bin (as perception
  reports it: perceived or the cell's prior, walls and floor as boxes) and every detected
  object (a cube or a cylinder of its size, pose and mean colour, with a text label "<label>
  (<id>)"); each update first deletes every entity, so an object perception no longer sees
  disappears;
- ``/foxglove/trajectory`` (foxglove.SceneUpdate): the planned end-effector path, the
  commanded joint trajectory sampled in time as the controller follows it
  (brain_common.trajectory) and put through the arm's forward kinematics
  (brain_common.kinematics) to the grasp frame, as a line strip;
- ``/foxglove/tf`` (foxglove.FrameTransforms): base frame -> camera optical frame;
- ``/foxglove/joint_states`` (foxglove.JointStates) and ``/foxglove/camera/compressed``
  (foxglove.CompressedImage) in the live view.

Messages are the foxglove-sdk's schema classes (protobuf; ``encode()`` and
``get_schema()``). The functions reading ROS messages only read attributes (duck-typed),
so this module imports no rclpy and no message package. Frames: poses in the base frame
(the DetectedObjectArray's header.frame_id, or the cell's base_frame); metres, radians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from foxglove.messages import (
    Color,
    CubePrimitive,
    CylinderPrimitive,
    FrameTransform,
    FrameTransforms,
    JointState,
    JointStates,
    KeyValuePair,
    LinePrimitive,
    LinePrimitiveLineType,
    Point3,
    Pose,
    Quaternion,
    SceneEntity,
    SceneEntityDeletion,
    SceneEntityDeletionType,
    SceneUpdate,
    TextPrimitive,
    Timestamp,
    Vector3,
)

from brain_common.cell import Bin, Cell, Table, bin_from_detected
from brain_common.robot import ARM_JOINTS
from brain_common.trajectory import sample_joint_trajectory

SCENE_TOPIC = "/foxglove/scene"
TRAJECTORY_TOPIC = "/foxglove/trajectory"
TF_TOPIC = "/foxglove/tf"
JOINT_STATES_TOPIC = "/foxglove/joint_states"
IMAGE_TOPIC = "/foxglove/camera/compressed"

TABLE_ID, BIN_ID, TRAJECTORY_ID = "table", "bin", "trajectory"
OBJECT_PREFIX = "object/"  # entity id of a detected object: object/<perception id>
BIN_RGBA = (0.45, 0.45, 0.5, 0.6)  # the bin seen through: objects inside stay visible
BIN_PRIOR_RGBA = (0.45, 0.45, 0.5, 0.25)  # fainter when perception did not see it this frame
TRAJECTORY_RGBA = (1.0, 0.55, 0.0, 1.0)
TRAJECTORY_WIDTH = 0.006  # m
LABEL_ABOVE = 0.03  # m between an object's top and its label
LABEL_FONT_PX = 14.0
MAX_TRAJECTORY_POINTS = 400


@dataclass(frozen=True, slots=True)
class SceneObject:
    """One detected object: position (3,) m and orientation (x, y, z, w) of its centre in
    the base frame; size (3,) m along its own axes (a cylinder: diameter, diameter,
    height); rgb 0..1; shape "box", "cylinder" or "unknown"."""

    id: str
    label: str
    shape: str
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    size: tuple[float, float, float]
    rgb: tuple[float, float, float]
    confidence: float = 1.0


# -- small builders -----------------------------------------------------------------------

def timestamp_from_ns(stamp_ns: int) -> Timestamp:
    return Timestamp(int(stamp_ns) // 1_000_000_000, int(stamp_ns) % 1_000_000_000)


def _color(rgba: Sequence[float]) -> Color:
    r, g, b, a = (float(v) for v in rgba)
    return Color(r=r, g=g, b=b, a=a)


def _pose(position: Sequence[float], xyzw: Sequence[float] = (0.0, 0.0, 0.0, 1.0)) -> Pose:
    x, y, z = (float(v) for v in position)
    qx, qy, qz, qw = (float(v) for v in xyzw)
    return Pose(position=Vector3(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def _vector(v: Sequence[float]) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by `yaw` rad about z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


# -- the cell and the objects ---------------------------------------------------------------

def table_entity(table: Table, frame_id: str, stamp_ns: int) -> SceneEntity:
    """The table top as one box: its surface at z = 0."""
    return SceneEntity(
        timestamp=timestamp_from_ns(stamp_ns), frame_id=frame_id, id=TABLE_ID,
        cubes=[CubePrimitive(pose=_pose((table.x, table.y, -table.thickness / 2.0)),
                             size=_vector((*table.size, table.thickness)), color=_color((*table.paint, 1.0)))])


def bin_entity(b: Bin, frame_id: str, stamp_ns: int, seen: bool = True) -> SceneEntity:
    """The bin's floor and walls as five boxes in the base frame."""
    q = yaw_quaternion(b.yaw)
    rgba = BIN_RGBA if seen else BIN_PRIOR_RGBA
    cubes = []
    for _name, size, (u, v, z) in b.parts():
        x, y = b.to_base(u, v)
        cubes.append(CubePrimitive(pose=_pose((x, y, z), q), size=_vector(size), color=_color(rgba)))
    return SceneEntity(timestamp=timestamp_from_ns(stamp_ns), frame_id=frame_id, id=BIN_ID, cubes=cubes,
                       metadata=[KeyValuePair(key="source", value="perceived" if seen else "prior")])


def object_entity(o: SceneObject, frame_id: str, stamp_ns: int) -> SceneEntity:
    """An object as a cube (boxes and unknown shapes) or a cylinder, with its label above it."""
    pose = _pose(o.position, o.orientation)
    color = _color((*o.rgb, 1.0 if o.shape != "unknown" else 0.5))
    cubes, cylinders = [], []
    if o.shape == "cylinder":
        cylinders.append(CylinderPrimitive(pose=pose, size=_vector(o.size), bottom_scale=1.0, top_scale=1.0,
                                           color=color))
    else:
        cubes.append(CubePrimitive(pose=pose, size=_vector(o.size), color=color))
    label_at = (o.position[0], o.position[1], o.position[2] + o.size[2] / 2.0 + LABEL_ABOVE)
    text = TextPrimitive(pose=_pose(label_at), billboard=True, font_size=LABEL_FONT_PX, scale_invariant=True,
                         color=_color((1.0, 1.0, 1.0, 1.0)), text=f"{o.label} ({o.id})")
    metadata = [KeyValuePair(key=k, value=v) for k, v in (
        ("id", o.id), ("label", o.label), ("shape", o.shape), ("confidence", f"{o.confidence:.2f}"))]
    return SceneEntity(timestamp=timestamp_from_ns(stamp_ns), frame_id=frame_id, id=OBJECT_PREFIX + o.id,
                       cubes=cubes, cylinders=cylinders, texts=[text], metadata=metadata)


def scene_update(objects: Sequence[SceneObject], table: Table | None, bin_: Bin | None, frame_id: str,
                 stamp_ns: int, bin_seen: bool = True) -> SceneUpdate:
    """Everything on the table: delete every entity, then the table, the bin and each object."""
    entities = []
    if table is not None:
        entities.append(table_entity(table, frame_id, stamp_ns))
    if bin_ is not None:
        entities.append(bin_entity(bin_, frame_id, stamp_ns, bin_seen))
    entities += [object_entity(o, frame_id, stamp_ns) for o in objects]
    return SceneUpdate(deletions=[SceneEntityDeletion(timestamp=timestamp_from_ns(stamp_ns),
                                                      type=SceneEntityDeletionType.All)],
                       entities=entities)


# -- ROS messages (read by attribute; no message package imported) --------------------------

def stamp_ns_from_msg(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def scene_object_from_msg(o) -> SceneObject:
    """A brain_interfaces/DetectedObject as a SceneObject."""
    p, q, s, c = o.pose.position, o.pose.orientation, o.size, o.mean_rgb
    return SceneObject(id=o.id, label=o.label, shape=o.shape, position=(p.x, p.y, p.z),
                       orientation=(q.x, q.y, q.z, q.w), size=(s.x, s.y, s.z), rgb=(c.r, c.g, c.b),
                       confidence=float(o.confidence))


def scene_update_from_msg(msg, cell: Cell) -> SceneUpdate:
    """A brain_interfaces/DetectedObjectArray as the scene: the cell's table, the bin as
    perception reports it (the cell's prior when the message carries none) and every
    object, on the table and in the bin, stamped with the message's stamp."""
    frame_id = msg.header.frame_id or cell.base_frame
    stamp_ns = stamp_ns_from_msg(msg.header.stamp)
    reported = msg.bin.inner_size.x > 0.0 and msg.bin.inner_size.y > 0.0
    bin_ = bin_from_detected(msg.bin, cell.bin) if reported else cell.bin
    objects = [scene_object_from_msg(o) for o in [*msg.objects, *msg.bin.contents]]
    return scene_update(objects, cell.table, bin_, frame_id, stamp_ns, bin_seen=reported and bool(msg.bin.seen))


def cell_scene_update(cell: Cell, stamp_ns: int) -> SceneUpdate:
    """The cell alone (table and the bin's prior), before perception has reported anything."""
    return scene_update([], cell.table, cell.bin, cell.base_frame, stamp_ns, bin_seen=False)


# -- the planned trajectory -----------------------------------------------------------------

def path_from_joint_trajectory(times: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None,
                               fk_batch, step_s: float, max_points: int = MAX_TRAJECTORY_POINTS) -> np.ndarray:
    """(m, 3) grasp-frame positions, m, along a timed joint trajectory.

    times (k,) s from its start, positions (k, n) rad, velocities (k, n) rad/s or None;
    sampled every step_s seconds (at most max_points samples, the last point always
    included) as the controller interpolates (brain_common.trajectory), then
    fk_batch((m, n)) -> (m, 4, 4) base-frame poses. Without usable times (not strictly
    increasing from 0) the waypoints themselves are used.
    """
    positions = np.asarray(positions, dtype=float)
    times = np.asarray(times, dtype=float)
    if positions.ndim != 2 or len(positions) == 0:
        raise ValueError(f"path_from_joint_trajectory: positions must be (k, n), got shape {positions.shape}")
    if len(times) == len(positions) > 1 and times[0] >= 0.0 and np.all(np.diff(times) > 0.0) and step_s > 0.0:
        t0 = times - times[0]
        n = min(max_points - 1, max(1, math.ceil(t0[-1] / step_s)))
        ts = np.linspace(0.0, t0[-1], n + 1)
        q = np.array([sample_joint_trajectory(t0, positions, velocities, float(t)) for t in ts])
    else:
        q = positions
    return np.asarray(fk_batch(q))[:, :3, 3]


def joint_trajectory_arrays(msg, joint_names: Sequence[str] = ARM_JOINTS
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(times (k,) s, positions (k, n) rad, velocities (k, n) or None) of a
    trajectory_msgs/JointTrajectory, columns in `joint_names` order. ValueError naming
    the joint a message lacks or a point without positions."""
    index = {name: i for i, name in enumerate(msg.joint_names)}
    missing = [j for j in joint_names if j not in index]
    if missing:
        raise ValueError(f"joint trajectory lacks {', '.join(missing)} (has {', '.join(msg.joint_names) or 'none'})")
    cols = [index[j] for j in joint_names]
    if not msg.points:
        raise ValueError("joint trajectory has no points")
    rows, vels = [], []
    for k, p in enumerate(msg.points):
        if len(p.positions) != len(msg.joint_names):
            raise ValueError(f"joint trajectory point {k} has {len(p.positions)} positions for "
                             f"{len(msg.joint_names)} joints")
        rows.append([p.positions[c] for c in cols])
        vels.append([p.velocities[c] for c in cols] if len(p.velocities) == len(msg.joint_names) else None)
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
    velocities = None if any(v is None for v in vels) else np.array(vels, dtype=float)
    return times, np.array(rows, dtype=float), velocities


def trajectory_update(points: np.ndarray, frame_id: str, stamp_ns: int) -> SceneUpdate:
    """The end-effector path (m, 3) m as one line strip, replacing the previous one."""
    return SceneUpdate(entities=[SceneEntity(
        timestamp=timestamp_from_ns(stamp_ns), frame_id=frame_id, id=TRAJECTORY_ID,
        lines=[LinePrimitive(type=LinePrimitiveLineType.LineStrip, pose=_pose((0.0, 0.0, 0.0)),
                             thickness=TRAJECTORY_WIDTH, scale_invariant=False,
                             points=[Point3(x=float(x), y=float(y), z=float(z)) for x, y, z in points],
                             color=_color(TRAJECTORY_RGBA))],
        metadata=[KeyValuePair(key="points", value=str(len(points)))])])


def trajectory_update_from_msg(msg, fk_batch, frame_id: str, stamp_ns: int, step_s: float) -> SceneUpdate:
    """A trajectory_msgs/JointTrajectory as the end-effector path (see
    path_from_joint_trajectory); stamped with the message's stamp, or `stamp_ns` when it
    has none (a zero stamp means "start now"). ValueError as joint_trajectory_arrays."""
    times, positions, velocities = joint_trajectory_arrays(msg)
    own = stamp_ns_from_msg(msg.header.stamp)
    return trajectory_update(path_from_joint_trajectory(times, positions, velocities, fk_batch, step_s),
                             frame_id, own or stamp_ns)


# -- frames and joints ------------------------------------------------------------------------

def frame_transform(parent: str, child: str, position: Sequence[float], xyzw: Sequence[float],
                    stamp_ns: int) -> FrameTransform:
    """`child`'s pose in `parent`: position (3,) m, quaternion (x, y, z, w)."""
    x, y, z, w = (float(v) for v in xyzw)
    return FrameTransform(timestamp=timestamp_from_ns(stamp_ns), parent_frame_id=parent, child_frame_id=child,
                          translation=_vector(position), rotation=Quaternion(x=x, y=y, z=z, w=w))


def cell_frame_transforms(cell: Cell, stamp_ns: int) -> FrameTransforms:
    """base frame -> camera optical frame from the cell's camera mount (the nominal pose;
    a robot's calibration on /tf_static wins where there is one)."""
    m = cell.camera
    return FrameTransforms(transforms=[frame_transform(cell.base_frame, m.frame, m.position, m.orientation,
                                                       stamp_ns)])


def frame_transforms_from_msg(msg) -> FrameTransforms:
    """A tf2_msgs/TFMessage as FrameTransforms (every transform, as stamped)."""
    out = []
    for t in msg.transforms:
        tr, r = t.transform.translation, t.transform.rotation
        out.append(frame_transform(t.header.frame_id, t.child_frame_id, (tr.x, tr.y, tr.z), (r.x, r.y, r.z, r.w),
                                   stamp_ns_from_msg(t.header.stamp)))
    return FrameTransforms(transforms=out)


def joint_states_from_msg(msg) -> JointStates:
    """A sensor_msgs/JointState as foxglove JointStates (position rad or m, velocity,
    effort where given)."""
    n = len(msg.name)

    def at(values, i):
        return float(values[i]) if len(values) == n else None

    joints = [JointState(name=msg.name[i], position=at(msg.position, i), velocity=at(msg.velocity, i),
                         effort=at(msg.effort, i)) for i in range(n)]
    return JointStates(timestamp=timestamp_from_ns(stamp_ns_from_msg(msg.header.stamp)), joints=joints)
