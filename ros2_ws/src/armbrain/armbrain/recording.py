"""Per-episode recordings: rosbag2 MCAP bags and the last camera frames before a failure.

EpisodeRecorder subscribes once to a list of topics (raw CDR, so nothing is decoded on
the way to disk) and writes what arrives between ``start(bag_dir)`` and ``stop()`` into a
rosbag2 bag directory: ``<bag_dir>/<name>_0.mcap`` (profile "ros2", channels with
message encoding "cdr", schemas in "ros2msg" with every dependent definition after an
80-'=' separator and ``MSG: pkg/msg/Type``) plus ``metadata.yaml`` (rosbag2 version 9,
storage "mcap"). ``ros2 bag play``, Foxglove and the ``rosbags`` library read it.

Camera images may be thinned and downsampled to keep bags small: of every ``image_every``
distinct image stamps one is kept, and colour, depth and debug images that share a stamp
share the decision, so the recorded colour/depth pairs still match. Kept images are scaled
by ``image_scale`` (cv2.INTER_AREA for colour, INTER_NEAREST for depth, the encoding kept,
width/height/step updated), and CameraInfo is scaled the same way (K, P, size, ROI) so
that the bag stays self-consistent. Messages of latched topics (TRANSIENT_LOCAL) that
arrive while no bag is open are kept and written at the start of the next bag, so every
bag carries the current grasp state and goal status.

With ``scene=<Cell>`` the bag also carries the Foxglove scene channels of the live view
(armbrain.scene, the one conversion both use), so a failed episode replays in 3D in
Foxglove: ``/foxglove/scene`` (foxglove.SceneUpdate: table, bin, objects with labels) for
every perception/objects message, ``/foxglove/trajectory`` (the planned end-effector path)
for every arm_controller/joint_trajectory, and ``/foxglove/tf`` (the cell's camera mount) plus
the cell's scene at the start of each bag. They go to a second MCAP file in the bag
directory, ``<name>_scene.mcap`` (message encoding "protobuf", the SDK's protobuf schemas):
not into the rosbag2 file, whose readers expect text schemas (rosbags fails on a binary
protobuf schema), and not into metadata.yaml, so ``ros2 bag play`` and ``rosbags`` see the
bag as before. Foxglove opens the two files together (select both) and lines them up by
their log times, which both take from the same wall clock.

FailureFrames keeps the last N frames of perception/debug_image (or of
camera/color/image_raw while no debug image arrives), about 320 px wide, one per
``period_s`` of image stamp time, for a GIF or a key frame of a failed episode.

Neither class raises from a subscription callback: an error there is logged (at most
once every 5 s) and counted in ``dropped``.
"""

from __future__ import annotations

import importlib
import re
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brain_common.share import share_dir as _share_dir

# Topics recorded by default (relative names, resolved in the recording node's namespace).
# /clock is left out: the bag's log times are wall clock, and the sim's time is in every
# message's header.
DEFAULT_TOPICS: tuple[tuple[str, str], ...] = (
    ("joint_states", "sensor_msgs/msg/JointState"),
    ("camera/color/image_raw", "sensor_msgs/msg/Image"),
    ("camera/depth/image_raw", "sensor_msgs/msg/Image"),
    ("camera/camera_info", "sensor_msgs/msg/CameraInfo"),
    ("perception/objects", "brain_interfaces/msg/DetectedObjectArray"),
    ("perception/debug_image", "sensor_msgs/msg/Image"),
    ("grasping/grasp_state", "std_msgs/msg/String"),
    ("arm_controller/joint_trajectory", "trajectory_msgs/msg/JointTrajectory"),
    ("gripper_controller/commands", "std_msgs/msg/Float64MultiArray"),
    ("sim/ground_truth/objects", "brain_interfaces/msg/DetectedObjectArray"),
    ("planner/execute_task/_action/feedback", "brain_interfaces/action/ExecuteTask_FeedbackMessage"),
    ("planner/execute_task/_action/status", "action_msgs/msg/GoalStatusArray"),
)

# Topics whose publishers are TRANSIENT_LOCAL (latched): grasping's state and an action
# server's goal status. A durable subscription would not match a volatile publisher, so
# durability is chosen by name, not for every topic.
LATCHED_TOPIC_SUFFIXES = ("grasping/grasp_state", "/_action/status")
SENSOR_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/CompressedImage",
                "sensor_msgs/msg/PointCloud2")

IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_ENCODINGS = ("16UC1", "32FC1", "64FC1")
# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4),
    "mono8": ("u1", 1), "8UC1": ("u1", 1), "8UC3": ("u1", 3), "8UC4": ("u1", 4),
    "mono16": ("u2", 1), "16UC1": ("u2", 1), "32FC1": ("f4", 1), "64FC1": ("f8", 1),
}
MSGDEF_SEPARATOR = "=" * 80
PRIMITIVE_TYPES = frozenset((
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "string", "wstring", "time", "duration"))
ROS_DISTRO = "kilted"
LOG_THROTTLE_S = 5.0


# --------------------------------------------------------------------------------------
# Message definitions (rosbag2 "ros2msg" text) from the ament index





def _split_type(type_name: str) -> tuple[str, str, str]:
    """'sensor_msgs/msg/Image' -> ('sensor_msgs', 'msg', 'Image'); 'pkg/Type' -> ('pkg', 'msg', 'Type')."""
    parts = type_name.split("/")
    if len(parts) == 2:
        return parts[0], "msg", parts[1]
    if len(parts) == 3 and parts[1] in ("msg", "action", "srv"):
        return parts[0], parts[1], parts[2]
    raise ValueError(f"not an interface type name: {type_name!r} (expected e.g. 'sensor_msgs/msg/Image')")


_ACTION_PARTS = ("_FeedbackMessage", "_Goal", "_Result", "_Feedback")


def _action_part(name: str) -> tuple[str, str]:
    """'ExecuteTask_FeedbackMessage' -> ('ExecuteTask', '_FeedbackMessage')."""
    for suffix in _ACTION_PARTS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    raise ValueError(f"unsupported action message {name!r}: expected <Action>{'|'.join(_ACTION_PARTS)}")


def _field_type(line: str) -> str | None:
    """The (base) type of a .msg field or constant line, or None for a blank/comment line."""
    code = line.split("#", 1)[0].strip()
    if not code:
        return None
    base = code.split()[0]
    base = re.sub(r"\[.*\]$", "", base)  # arrays: T[], T[3], T[<=3]
    return re.sub(r"<=\d+$", "", base)  # bounded strings: string<=10


def _qualify(type_ref: str, package: str) -> str:
    """A field's type as 'pkg/msg/Type' (relative names are in `package`)."""
    if "/" not in type_ref:
        return f"{package}/msg/{type_ref}"
    pkg, kind, name = _split_type(type_ref)
    return f"{pkg}/{kind}/{name}"


def _qualify_fields(text: str, package: str) -> str:
    """Rewrite relative field types ('ObjectSelector x') as 'pkg/ObjectSelector x'.

    Used for the parts of a .action file: readers would otherwise resolve a relative name
    in 'pkg/action/X_Goal' to 'pkg/action/ObjectSelector'."""
    out = []
    for line in text.splitlines():
        base = _field_type(line)
        if base and base not in PRIMITIVE_TYPES and "/" not in base:
            stripped = line.lstrip()
            line = line[: len(line) - len(stripped)] + f"{package}/{stripped}"
        out.append(line)
    return "\n".join(out)


def _own_definition(type_name: str) -> str:
    """The .msg text of one type (no dependencies)."""
    package, kind, name = _split_type(type_name)
    share = _share_dir(package)
    if kind == "msg":
        path = share / "msg" / f"{name}.msg"
        if not path.is_file():
            raise LookupError(f"no message definition {path} for {type_name}")
        return path.read_text()
    if kind == "action":
        action, part = _action_part(name)
        path = share / "action" / f"{action}.action"
        if not path.is_file():
            raise LookupError(f"no action definition {path} for {type_name}")
        if part == "_FeedbackMessage":
            return f"unique_identifier_msgs/UUID goal_id\n{package}/action/{action}_Feedback feedback\n"
        sections = re.split(r"^---[ \t]*$", path.read_text(), flags=re.MULTILINE)
        if len(sections) != 3:
            raise LookupError(f"{path} does not have the three sections goal --- result --- feedback")
        goal, result, feedback = sections
        text = {"_Goal": goal, "_Result": result, "_Feedback": feedback}[part]
        return _qualify_fields(text.strip("\n"), package) + "\n"
    raise ValueError(f"cannot record service type {type_name}")


def _dependencies(text: str, type_name: str) -> list[str]:
    package = _split_type(type_name)[0]
    deps = []
    for line in text.splitlines():
        base = _field_type(line)
        if base is None or base in PRIMITIVE_TYPES:
            continue
        code = line.split("#", 1)[0]
        if re.match(r"^\s*\S+\s+[A-Za-z_][A-Za-z0-9_]*\s*=", code):  # a constant: always primitive
            continue
        dep = _qualify(base, package)
        if dep not in deps:
            deps.append(dep)
    return deps


def message_definition(type_name: str) -> str:
    """The complete "ros2msg" definition of a type, as rosbag2 stores it in a bag.

    The type's own .msg text first, then each type it uses (recursively, each once),
    preceded by a line of 80 '=' and ``MSG: pkg/msg/Type``. Action messages
    (``pkg/action/X_Goal``, ``_Result``, ``_Feedback``, ``_FeedbackMessage``) are built
    from the .action file. Raises LookupError when a definition is not installed.
    """
    root = _own_definition(type_name)
    parts = [root.rstrip("\n")]
    seen = {type_name}
    queue = _dependencies(root, type_name)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = _own_definition(dep)
        parts.append(f"{MSGDEF_SEPARATOR}\nMSG: {dep}\n{text.rstrip(chr(10))}")
        queue.extend(d for d in _dependencies(text, dep) if d not in seen)
    return "\n".join(parts) + "\n"


def type_description_hash(type_name: str) -> str:
    """The type's RIHS01 hash from its installed .json type description ('' when unknown)."""
    import json

    try:
        package, kind, name = _split_type(type_name)
        stem = _action_part(name)[0] if kind == "action" else name
        data = json.loads((_share_dir(package) / kind / f"{stem}.json").read_text())
        return next((h["hash_string"] for h in data.get("type_hashes", []) if h.get("type_name") == type_name), "")
    except (OSError, ValueError, LookupError, KeyError, TypeError):
        return ""


def message_class(type_name: str) -> type:
    """The Python class of an interface type ('pkg/msg/T', or 'pkg/action/A_FeedbackMessage' ...)."""
    package, kind, name = _split_type(type_name)
    module = importlib.import_module(f"{package}.{kind}")
    if kind == "msg":
        return getattr(module, name)
    if kind == "action":
        action, part = _action_part(name)
        cls = getattr(module, action)
        return {"_Goal": cls.Goal, "_Result": cls.Result, "_Feedback": cls.Feedback,
                "_FeedbackMessage": cls.Impl.FeedbackMessage}[part]
    raise ValueError(f"cannot record service type {type_name}")


# --------------------------------------------------------------------------------------
# QoS


def qos_for_topic(topic: str, type_name: str):
    """The subscription QoS matching the project's publishers (CONVENTIONS.md, section 2).

    Camera streams: sensor data (best effort, depth 5); grasping/grasp_state and action
    status: reliable, TRANSIENT_LOCAL, depth 1; everything else reliable depth 10."""
    from brain_common.qos import LATCHED, RELIABLE_10, SENSOR_DATA

    if type_name in SENSOR_TYPES or topic.startswith(("camera/", "/camera/")) or topic.endswith("debug_image"):
        return SENSOR_DATA
    if topic.endswith(LATCHED_TOPIC_SUFFIXES):
        return LATCHED
    return RELIABLE_10


def _qos_dict(qos) -> dict:
    """A QoS profile in rosbag2 metadata version 9 form."""

    def dur(d) -> dict:
        ns = int(d.nanoseconds)
        return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}

    return {
        "history": qos.history.name.lower(),
        "depth": int(qos.depth),
        "reliability": qos.reliability.name.lower(),
        "durability": qos.durability.name.lower(),
        "deadline": dur(qos.deadline),
        "lifespan": dur(qos.lifespan),
        "liveliness": qos.liveliness.name.lower(),
        "liveliness_lease_duration": dur(qos.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


# --------------------------------------------------------------------------------------
# Images (pure numpy/OpenCV; no rclpy)


def _cdr_header_stamp_ns(data: bytes) -> int:
    """The header stamp (ns) of a CDR-serialized message whose first field is a std_msgs/Header."""
    if len(data) < 12:
        return 0
    fmt = "<iI" if data[1] == 1 else ">iI"  # encapsulation kind: 0x0001 CDR_LE, 0x0000 CDR_BE
    sec, nanosec = struct.unpack_from(fmt, data, 4)
    return sec * 1_000_000_000 + nanosec


def array_from_image(msg) -> np.ndarray | None:
    """A sensor_msgs/Image as an (H, W) or (H, W, C) array in native byte order, or None
    for an encoding this module does not know."""
    spec = IMAGE_ENCODINGS.get(msg.encoding)
    if spec is None:
        return None
    dtype = np.dtype(spec[0]).newbyteorder(">" if msg.is_bigendian else "<")
    channels = spec[1]
    h, w = int(msg.height), int(msg.width)
    row = w * channels * dtype.itemsize
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if h == 0 or w == 0 or msg.step < row or buf.size < msg.step * (h - 1) + row:
        raise ValueError(f"image {w}x{h} {msg.encoding} step {msg.step} has {buf.size} bytes")
    if buf.size < msg.step * h:  # the last row without its padding
        buf = np.concatenate([buf, np.zeros(msg.step * h - buf.size, np.uint8)])
    rows = buf[: msg.step * h].reshape(h, msg.step)[:, :row]
    arr = np.ascontiguousarray(rows).view(dtype).reshape((h, w, channels) if channels > 1 else (h, w))
    return arr.astype(dtype.newbyteorder("="), copy=False)


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def downsample_image(msg, scale: float):
    """Scale a sensor_msgs/Image in place (INTER_AREA for colour, INTER_NEAREST for depth).

    Encoding kept; width, height and step updated; data in native (little-endian) order.
    Returns False when the encoding is unknown (the message is left as it is)."""
    import cv2

    arr = array_from_image(msg)
    if arr is None:
        return False
    new_w, new_h = scaled_size(int(msg.width), int(msg.height), scale)
    interp = cv2.INTER_NEAREST if msg.encoding in DEPTH_ENCODINGS else cv2.INTER_AREA
    out = np.ascontiguousarray(cv2.resize(arr, (new_w, new_h), interpolation=interp))
    msg.width, msg.height = new_w, new_h
    msg.step = new_w * (out.shape[2] if out.ndim == 3 else 1) * out.dtype.itemsize
    msg.is_bigendian = 0
    msg.data = out.tobytes()
    return True


def scale_camera_info(msg, scale: float) -> None:
    """Scale a sensor_msgs/CameraInfo in place to match images scaled by `scale`.

    fx, fy scale with the size; the principal point keeps its pixel-centre convention
    (cx' = (cx + 0.5) * s - 0.5). The ROI is scaled; distortion is unchanged."""
    w, h = int(msg.width), int(msg.height)
    if w == 0 or h == 0:
        return
    new_w, new_h = scaled_size(w, h, scale)
    sx, sy = new_w / w, new_h / h
    k = list(msg.k)
    k[0], k[2] = k[0] * sx, (k[2] + 0.5) * sx - 0.5
    k[4], k[5] = k[4] * sy, (k[5] + 0.5) * sy - 0.5
    msg.k = k
    p = list(msg.p)
    p[0], p[2], p[3] = p[0] * sx, (p[2] + 0.5) * sx - 0.5, p[3] * sx
    p[5], p[6], p[7] = p[5] * sy, (p[6] + 0.5) * sy - 0.5, p[7] * sy
    msg.p = p
    msg.width, msg.height = new_w, new_h
    roi = msg.roi
    roi.x_offset, roi.width = round(roi.x_offset * sx), round(roi.width * sx)
    roi.y_offset, roi.height = round(roi.y_offset * sy), round(roi.height * sy)


def rgb_from_image(msg, width: int) -> np.ndarray | None:
    """An (H, W, 3) uint8 RGB copy of a colour Image, at most `width` px wide (aspect kept);
    None for an encoding that is not colour or grey 8-bit."""
    import cv2

    if msg.encoding not in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3"):
        return None
    arr = array_from_image(msg)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif msg.encoding in ("bgr8", "bgra8"):
        arr = arr[:, :, 2::-1]
    else:
        arr = arr[:, :, :3]
    h, w = arr.shape[:2]
    if w > width:
        arr = cv2.resize(np.ascontiguousarray(arr), (width, max(1, round(h * width / w))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------------------
# EpisodeRecorder


@dataclass(slots=True)
class _Topic:
    name: str  # as given (relative)
    type_name: str
    msg_class: type
    qos: object
    definition: str
    type_hash: str
    resolved: str = ""  # fully qualified, set once subscribed
    channel_id: int = 0  # of the open bag
    count: int = 0  # messages written into the open bag
    received: int = 0  # messages received since the recorder was made, recording or not
    latched: object = None  # (raw, publish_ns) of the last message, for TRANSIENT_LOCAL topics


@dataclass(slots=True)
class _SceneChannel:
    """A Foxglove channel of the bag (armbrain.scene): protobuf, not a ROS topic."""

    topic: str
    schema: object  # foxglove Schema: name, encoding, data
    channel_id: int = 0  # of the open bag
    count: int = 0  # messages written into the open bag


SCENE_FILE_SUFFIX = "_scene.mcap"  # next to the bag's <name>_0.mcap; not listed in metadata.yaml
# ROS topic (as given) -> the scene channel its messages become
SCENE_SOURCES = {"perception/objects": "scene", "arm_controller/joint_trajectory": "trajectory"}


@dataclass(slots=True)
class _Bag:
    dir: Path
    file: Path
    stream: object
    writer: object
    generation: int
    start_ns: int = 0
    end_ns: int = 0
    count: int = 0
    scene_stream: object = None  # the scene file (<name>_scene.mcap) and its writer, with scene=
    scene_writer: object = None


class EpisodeRecorder:
    """Records a node's view of the ROS graph into one rosbag2 MCAP bag per episode.

    Subscriptions are created once here; messages are written only between start() and
    stop(). Thread-safe: callbacks may run in any executor thread while the runner calls
    start()/stop() from its own thread.

    node: the rclpy node to subscribe on (topic names resolve in its namespace).
    topics: (name, type) pairs, type like "sensor_msgs/msg/Image"; DEFAULT_TOPICS if None.
      A topic whose type or definition is not installed is skipped with a warning.
    image_every: keep one of every N distinct image stamps (>= 1).
    image_scale: scale factor for kept images and CameraInfo, 0 < s <= 1.
    scene: the work cell; when given, every bag also carries the Foxglove scene channels
      (module docstring; armbrain.scene), built from the recorded topics.
    trajectory_step: seconds of trajectory time between two points of the drawn path.
    """

    def __init__(self, node, topics: Sequence[tuple[str, str]] | None = None, image_every: int = 2,
                 image_scale: float = 0.5, scene=None, trajectory_step: float = 0.05) -> None:
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

        if int(image_every) < 1:
            raise ValueError(f"image_every must be >= 1, got {image_every}")
        if not 0.0 < float(image_scale) <= 1.0:
            raise ValueError(f"image_scale must be in (0, 1], got {image_scale}")
        self._node = node
        self._log = node.get_logger()
        self.image_every = int(image_every)
        self.image_scale = float(image_scale)
        self.dropped = 0  # messages lost to an error in a callback
        self._lock = threading.Lock()
        self._bag: _Bag | None = None
        self._generation = 0
        self._stamp_decisions: OrderedDict[int, bool] = OrderedDict()
        self._stamps_seen = 0
        self._topics: list[_Topic] = []
        self._subscriptions = []
        # Its own group: in a MultiThreadedExecutor, writing a bag never waits for (nor
        # delays) the callbacks in the node's default group, such as an action client's.
        group = MutuallyExclusiveCallbackGroup()
        for name, type_name in (DEFAULT_TOPICS if topics is None else topics):
            try:
                topic = _Topic(name, type_name, message_class(type_name), qos_for_topic(name, type_name),
                               message_definition(type_name), type_description_hash(type_name))
            except (ImportError, AttributeError, LookupError, ValueError, OSError) as exc:
                self._log.warning(f"not recording {name}: {exc}")
                continue
            sub = node.create_subscription(topic.msg_class, name, self._callback(topic), topic.qos, raw=True,
                                           callback_group=group)
            topic.resolved = sub.topic_name
            self._topics.append(topic)
            self._subscriptions.append(sub)
        self._cell = scene
        self._scene: dict[str, _SceneChannel] = {}
        if scene is not None:
            self._init_scene(float(trajectory_step))

    # -- public API -------------------------------------------------------------------

    @property
    def topics(self) -> list[tuple[str, str]]:
        """The (resolved name, type) of every recorded topic."""
        return [(t.resolved, t.type_name) for t in self._topics]

    @property
    def recording(self) -> bool:
        return self._bag is not None

    def start(self, bag_dir: Path) -> None:
        """Begin a new bag in `bag_dir` (created; an existing bag there is replaced).

        A bag still open is stopped first."""
        from mcap.writer import CompressionType, Writer

        bag_dir = Path(bag_dir)
        if self._bag is not None:
            self._log.warning(f"start({bag_dir}) while recording {self._bag.dir}: stopping that bag first")
            self.stop()
        bag_dir.mkdir(parents=True, exist_ok=True)
        (bag_dir / "metadata.yaml").unlink(missing_ok=True)
        file = bag_dir / f"{bag_dir.name}_0.mcap"
        stream = open(file, "wb")  # noqa: SIM115 (closed in stop())
        scene_stream = None
        try:
            writer = Writer(stream, chunk_size=4 * 1024 * 1024, compression=CompressionType.ZSTD)
            writer.start(profile="ros2", library="armbrain.recording")
            schemas: dict[str, int] = {}
            with self._lock:
                self._generation += 1
                bag = _Bag(bag_dir, file, stream, writer, self._generation)
                for t in self._topics:
                    if t.type_name not in schemas:
                        schemas[t.type_name] = writer.register_schema(t.type_name, "ros2msg", t.definition.encode())
                    t.channel_id = writer.register_channel(t.resolved, "cdr", schemas[t.type_name], {
                        "offered_qos_profiles": _yaml([_qos_dict(t.qos)]).strip(),
                        "topic_type_hash": t.type_hash,
                    })
                    t.count = 0
                if self._scene:
                    scene_stream = open(bag_dir / f"{bag_dir.name}{SCENE_FILE_SUFFIX}", "wb")  # noqa: SIM115
                    bag.scene_stream, bag.scene_writer = scene_stream, self._scene_writer(scene_stream)
                self._stamp_decisions.clear()
                self._stamps_seen = 0
                self._bag = bag
                for t in self._topics:  # the current state of latched topics opens the bag
                    if t.latched is not None:
                        raw, publish_ns = t.latched
                        self._write(bag, t, raw, publish_ns)
                if self._scene:  # the cell and the camera mount open the bag's 3D scene
                    self._write_scene_start(bag)
        except BaseException:
            stream.close()
            if scene_stream is not None:
                scene_stream.close()
            raise

    def stop(self) -> Path | None:
        """Finish the bag (MCAP summary, metadata.yaml) and return its directory; None when
        no bag was open."""
        with self._lock:
            bag, self._bag = self._bag, None
            if bag is None:
                return None
            counts = {t.resolved: t.count for t in self._topics}
            try:
                bag.writer.add_metadata("rosbag2", {"serialized_metadata": _yaml(self._metadata(bag, counts)),
                                                    "ROS_DISTRO": ROS_DISTRO})
                bag.writer.finish()
                if bag.scene_writer is not None:
                    bag.scene_writer.finish()
            finally:
                bag.stream.close()
                if bag.scene_stream is not None:
                    bag.scene_stream.close()
        (bag.dir / "metadata.yaml").write_text(_yaml(self._metadata(bag, counts)))
        return bag.dir

    def close(self) -> None:
        """Stop any open bag and destroy the subscriptions."""
        self.stop()
        for sub in self._subscriptions:
            self._node.destroy_subscription(sub)
        self._subscriptions.clear()

    def message_counts(self) -> dict[str, int]:
        """Messages written per topic (resolved name) into the open or last bag."""
        with self._lock:
            return {t.resolved: t.count for t in self._topics}

    def scene_counts(self) -> dict[str, int]:
        """Messages written per Foxglove scene channel into the open or last bag ({} without a scene)."""
        with self._lock:
            return {s.topic: s.count for s in self._scene.values()}

    def received_counts(self) -> dict[str, int]:
        """Messages received per topic (resolved name) since construction, recording or not
        (the difference to message_counts() is image thinning and time outside bags)."""
        with self._lock:
            return {t.resolved: t.received for t in self._topics}

    # -- internals --------------------------------------------------------------------

    def _callback(self, topic: _Topic):
        def on_message(raw: bytes, info) -> None:
            try:
                self._on_message(topic, raw, info)
            except Exception as exc:  # never raise into the executor
                self.dropped += 1
                self._log.error(f"recording {topic.resolved}: dropped a message ({type(exc).__name__}: {exc})",
                                throttle_duration_sec=LOG_THROTTLE_S)

        return on_message

    def _on_message(self, topic: _Topic, raw: bytes, info) -> None:
        publish_ns = int(info.get("source_timestamp", 0) or 0) if info else 0
        with self._lock:
            topic.received += 1
            if topic.qos.durability.name == "TRANSIENT_LOCAL":  # the state the next bag starts with
                topic.latched = (raw, publish_ns)
        bag = self._bag
        if bag is None:
            return
        generation = bag.generation
        if topic.type_name == IMAGE_TYPE:
            if not self._keep_image(raw):
                return
            if self.image_scale < 1.0:
                raw = self._scaled(topic, raw, downsample_image)
        elif topic.type_name == CAMERA_INFO_TYPE and self.image_scale < 1.0:
            raw = self._scaled(topic, raw, scale_camera_info)
        with self._lock:
            if self._bag is not None and self._bag.generation == generation:
                self._write(self._bag, topic, raw, publish_ns)
        kind = SCENE_SOURCES.get(topic.name) if self._scene else None
        if kind is not None:
            self._write_scene_from(kind, topic, raw, generation)

    def _keep_image(self, raw: bytes) -> bool:
        """One of every `image_every` distinct stamps; images sharing a stamp share the decision."""
        if self.image_every == 1:
            return True
        stamp = _cdr_header_stamp_ns(raw)
        with self._lock:
            if stamp == 0:  # unstamped images: thin each topic's stream on its own count
                self._stamps_seen += 1
                return self._stamps_seen % self.image_every == 1 % self.image_every
            decision = self._stamp_decisions.get(stamp)
            if decision is None:
                decision = self._stamps_seen % self.image_every == 0
                self._stamps_seen += 1
                self._stamp_decisions[stamp] = decision
                while len(self._stamp_decisions) > 256:
                    self._stamp_decisions.popitem(last=False)
            return decision

    def _scaled(self, topic: _Topic, raw: bytes, scale_fn) -> bytes:
        """`raw` deserialized, scaled in place by scale_fn(msg, image_scale), serialized."""
        from rclpy.serialization import deserialize_message, serialize_message

        msg = deserialize_message(raw, topic.msg_class)
        return raw if scale_fn(msg, self.image_scale) is False else serialize_message(msg)

    def _write(self, bag: _Bag, topic: _Topic, raw: bytes, publish_ns: int) -> None:
        """Append one message (caller holds the lock). Log times are wall clock (ns since
        the epoch), taken under the lock, so they never go back within a bag."""
        now = max(time.time_ns(), bag.end_ns)
        bag.writer.add_message(topic.channel_id, log_time=now, data=bytes(raw), publish_time=publish_ns or now,
                               sequence=topic.count)
        if bag.start_ns == 0:
            bag.start_ns = now
        bag.end_ns = now
        bag.count += 1
        topic.count += 1

    # -- the Foxglove scene (armbrain.scene) -----------------------------------------------

    def _init_scene(self, trajectory_step: float) -> None:
        from foxglove.messages import FrameTransforms, SceneUpdate

        from armbrain import scene
        from brain_common.kinematics import Kinematics
        from brain_common.robot_model import load_robot_model

        self._fk_batch = Kinematics(load_robot_model()).fk_batch
        self._trajectory_step = trajectory_step
        self._scene = {
            "scene": _SceneChannel(scene.SCENE_TOPIC, SceneUpdate.get_schema()),
            "trajectory": _SceneChannel(scene.TRAJECTORY_TOPIC, SceneUpdate.get_schema()),
            "tf": _SceneChannel(scene.TF_TOPIC, FrameTransforms.get_schema()),
        }

    def _scene_writer(self, stream):
        """An MCAP writer on `stream` with the scene channels registered (caller holds the lock)."""
        from mcap.writer import CompressionType, Writer

        writer = Writer(stream, chunk_size=1024 * 1024, compression=CompressionType.ZSTD)
        writer.start(profile="", library="armbrain.recording")
        schemas: dict[str, int] = {}
        for s in self._scene.values():
            if s.schema.name not in schemas:
                schemas[s.schema.name] = writer.register_schema(s.schema.name, s.schema.encoding,
                                                                bytes(s.schema.data))
            s.channel_id = writer.register_channel(s.topic, "protobuf", schemas[s.schema.name])
            s.count = 0
        return writer

    def _write_scene_start(self, bag: _Bag) -> None:
        """The cell's scene and camera mount (caller holds the lock)."""
        from armbrain import scene

        now = self._node.get_clock().now().nanoseconds
        self._write_foxglove(bag, self._scene["tf"], scene.cell_frame_transforms(self._cell, now).encode())
        self._write_foxglove(bag, self._scene["scene"], scene.cell_scene_update(self._cell, now).encode())

    def _write_scene_from(self, kind: str, topic: _Topic, raw: bytes, generation: int) -> None:
        """Convert a recorded message to its scene channel's message (armbrain.scene) and write it."""
        from rclpy.serialization import deserialize_message

        from armbrain import scene

        msg = deserialize_message(raw, topic.msg_class)
        if kind == "scene":
            data = scene.scene_update_from_msg(msg, self._cell).encode()
        else:
            try:
                data = scene.trajectory_update_from_msg(msg, self._fk_batch, self._cell.base_frame,
                                                        self._node.get_clock().now().nanoseconds,
                                                        self._trajectory_step).encode()
            except ValueError as exc:  # recorded all the same; only its path cannot be drawn
                self._log.warning(f"recording {topic.resolved}: no path drawn on {scene.TRAJECTORY_TOPIC}: {exc}",
                                  throttle_duration_sec=LOG_THROTTLE_S)
                return
        with self._lock:
            if self._bag is not None and self._bag.generation == generation:
                self._write_foxglove(self._bag, self._scene[kind], data)

    def _write_foxglove(self, bag: _Bag, channel: _SceneChannel, data: bytes) -> None:
        """Append one scene message to the scene file (caller holds the lock); log times as
        _write's, so Foxglove lines the two files up. Not counted in bag.count."""
        now = max(time.time_ns(), bag.end_ns)
        bag.scene_writer.add_message(channel.channel_id, log_time=now, data=data, publish_time=now,
                                     sequence=channel.count)
        if bag.start_ns == 0:
            bag.start_ns = now
        bag.end_ns = now
        channel.count += 1

    def _metadata(self, bag: _Bag, counts: dict[str, int]) -> dict:
        duration = bag.end_ns - bag.start_ns if bag.count else 0
        return {"rosbag2_bagfile_information": {
            "version": 9,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": bag.start_ns},
            "message_count": bag.count,
            "topics_with_message_count": [{
                "topic_metadata": {
                    "name": t.resolved,
                    "type": t.type_name,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": [_qos_dict(t.qos)],
                    "type_description_hash": t.type_hash,
                },
                "message_count": counts.get(t.resolved, 0),
            } for t in self._topics],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [bag.file.name],
            "files": [{
                "path": bag.file.name,
                "starting_time": {"nanoseconds_since_epoch": bag.start_ns},
                "duration": {"nanoseconds": duration},
                "message_count": bag.count,
            }],
            "custom_data": None,
            "ros_distro": ROS_DISTRO,
        }}


def _yaml(data) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# --------------------------------------------------------------------------------------
# FailureFrames


class FailureFrames:
    """The last `max_frames` camera frames, for a GIF or key frame of a failed episode.

    Frames come from perception/debug_image (masks, ids, labels) or, while no debug image
    has arrived since clear(), from camera/color/image_raw; the first debug image
    replaces the colour frames. Frames are RGB uint8, at most `width` px wide, at most
    one per `period_s` of image stamp time (sim seconds; 0 keeps every frame).
    """

    def __init__(self, node, max_frames: int = 30, width: int = 320, period_s: float = 0.2,
                 debug_topic: str = "perception/debug_image", color_topic: str = "camera/color/image_raw") -> None:
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        if int(max_frames) < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if int(width) < 8:
            raise ValueError(f"width must be >= 8 px, got {width}")
        self._node = node
        self._log = node.get_logger()
        self.width = int(width)
        self.period_ns = int(float(period_s) * 1e9)
        self.dropped = 0
        self._lock = threading.Lock()
        self._frames: deque[np.ndarray] = deque(maxlen=int(max_frames))
        self._have_debug = False
        self._last_stamp: int | None = None
        self._image_class = Image
        group = MutuallyExclusiveCallbackGroup()
        self._subscriptions = [
            node.create_subscription(Image, debug_topic, self._callback(debug=True), qos_profile_sensor_data,
                                     raw=True, callback_group=group),
            node.create_subscription(Image, color_topic, self._callback(debug=False), qos_profile_sensor_data,
                                     raw=True, callback_group=group),
        ]

    def clear(self) -> None:
        """Forget every frame (call at the start of an episode)."""
        with self._lock:
            self._frames.clear()
            self._have_debug = False
            self._last_stamp = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def frames(self) -> list[np.ndarray]:
        """A copy of the buffered frames, oldest first."""
        with self._lock:
            return list(self._frames)

    def save_gif(self, path: Path, fps: float = 5) -> Path | None:
        """Write the buffered frames as a looping GIF; None (nothing written) when empty."""
        from PIL import Image

        frames = self.frames()
        if not frames:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, round(1000.0 / max(float(fps), 0.1))), loop=0, optimize=False)
        return path

    def save_keyframe(self, path: Path) -> Path | None:
        """Write the latest frame as a PNG; None (nothing written) when empty."""
        from PIL import Image

        frames = self.frames()
        if not frames:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frames[-1]).save(path, format="PNG")
        return path

    def close(self) -> None:
        for sub in self._subscriptions:
            self._node.destroy_subscription(sub)
        self._subscriptions.clear()

    def _callback(self, debug: bool):
        def on_image(raw: bytes) -> None:
            try:
                self._on_image(raw, debug)
            except Exception as exc:  # never raise into the executor
                self.dropped += 1
                self._log.error(f"failure frames: dropped an image ({type(exc).__name__}: {exc})",
                                throttle_duration_sec=LOG_THROTTLE_S)

        return on_image

    def _on_image(self, raw: bytes, debug: bool) -> None:
        if not debug and self._have_debug:
            return
        stamp = _cdr_header_stamp_ns(raw)
        with self._lock:
            if debug and not self._have_debug:
                self._frames.clear()
                self._last_stamp = None
            elif self._last_stamp is not None and stamp and 0 <= stamp - self._last_stamp < self.period_ns:
                return
        from rclpy.serialization import deserialize_message

        frame = rgb_from_image(deserialize_message(raw, self._image_class), self.width)
        if frame is None:
            raise ValueError("image encoding is not colour (rgb8, bgr8, rgba8, bgra8, mono8)")
        with self._lock:
            if debug:
                if not self._have_debug:
                    self._frames.clear()
                self._have_debug = True
            elif self._have_debug:
                return
            self._frames.append(frame)
            self._last_stamp = stamp
