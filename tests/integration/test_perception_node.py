"""The perception node over real DDS: against the simulated arm, and fed odd input by hand."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from conftest import ROOT, Spinner, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
GRAPH = ROOT / "tests" / "graphs" / "perception.yaml"


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Probe:
    """Keeps what perception and the sim's ground truth publish; publishes camera topics."""

    def __init__(self, context):
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from visualization_msgs.msg import MarkerArray

        from brain_interfaces.msg import DetectedObjectArray

        self.node = Node("perception_probe", context=context)
        self.lock = threading.Lock()
        self.msgs: dict[str, list] = {"objects": [], "truth": [], "markers": [], "debug": []}
        self.counts: dict[str, int] = dict.fromkeys(self.msgs, 0)  # all received (msgs keeps the last 50)

        def keep(key):
            def cb(msg):
                with self.lock:
                    self.counts[key] += 1
                    self.msgs[key].append(msg)
                    del self.msgs[key][:-50]
            return cb

        n = self.node
        n.create_subscription(DetectedObjectArray, "perception/objects", keep("objects"), 10)
        n.create_subscription(DetectedObjectArray, "sim/ground_truth/objects", keep("truth"), 10)
        n.create_subscription(MarkerArray, "perception/markers", keep("markers"), 10)
        self.debug_sub = None
        self.color_pub = n.create_publisher(Image, "camera/color/image_raw", qos_profile_sensor_data)
        self.depth_pub = n.create_publisher(Image, "camera/depth/image_raw", qos_profile_sensor_data)
        self.info_pub = n.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
        self.spinner = Spinner(n, context)

    def subscribe_debug(self):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        def cb(msg):
            with self.lock:
                self.msgs["debug"].append(msg)
                del self.msgs["debug"][:-5]
        self.debug_sub = self.node.create_subscription(Image, "perception/debug_image", cb, qos_profile_sensor_data)


    def get(self, key) -> list:
        with self.lock:
            return list(self.msgs[key])

    def count(self, key) -> int:
        """How many messages arrived on `key` in all (get() keeps only the last 50)."""
        with self.lock:
            return self.counts[key]

    def close(self):
        self.spinner.close()
        self.node.destroy_node()


@pytest.fixture
def probe(ros_context):
    p = Probe(ros_context)
    yield p
    p.close()


def test_objects_of_a_scenario_match_the_ground_truth(launch, probe):
    run = launch(GRAPH, "scenario:=multi_color.yaml", "seed:=3")
    probe.subscribe_debug()
    wait_for(lambda: len(probe.get("objects")) >= 3 and probe.get("truth"), 90,
             f"three perception/objects messages and the ground truth; output:\n{run.output}")
    truth = {o.color_name: o for o in probe.get("truth")[-1].objects}
    assert sorted(truth) == ["blue", "green", "red", "yellow"]
    msgs = probe.get("objects")
    last = msgs[-1]
    assert last.header.frame_id == "panda_link0" and last.table_detected
    np.testing.assert_allclose(last.table_plane, [0.0, 0.0, 1.0, 0.0], atol=1e-3)
    assert abs(last.camera_height_error) < 1e-3 and abs(last.camera_pitch_error) < 1e-3
    assert sorted(o.label for o in last.objects) == ["blue cube", "green cube", "red cube", "yellow cube"]
    for o in last.objects:
        t = truth[o.color_name]
        est = np.array([o.pose.position.x, o.pose.position.y, o.pose.position.z])
        gt = np.array([t.pose.position.x, t.pose.position.y, t.pose.position.z])
        assert np.linalg.norm(est - gt) < 0.004, (o.label, est, gt)
        assert o.shape == "box" and o.size.x == pytest.approx(0.05, abs=0.003) and 0.5 < o.confidence <= 1.0
    # Ids stay while nothing moves; stamps are the camera's (5 Hz of sim time, 0.2 s apart).
    assert len({tuple(sorted((o.color_name, o.id) for o in m.objects)) for m in msgs[-3:]}) == 1
    gaps = np.diff([stamp_s(m) for m in msgs[-3:]]) / 0.2
    np.testing.assert_allclose(gaps, np.round(gaps), atol=1e-6)
    assert (gaps >= 1 - 1e-6).all()
    markers = probe.get("markers")[-1].markers
    assert len(markers) == 1 + 2 * 4 and markers[0].header.frame_id == "panda_link0"
    debug = wait_for(lambda: probe.get("debug"), 60, "a debug image")[-1]
    assert (debug.width, debug.height, debug.encoding) == (640, 480, "rgb8")
    assert run.stop() == 0, run.output


def _frame_msgs(stamp: float, rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, *, color_encoding: str = "rgb8"):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image

    ns = round(stamp * 1e9)
    t = Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
    frame = "camera_color_optical_frame"
    if color_encoding == "mono8":
        rgb = np.ascontiguousarray(rgb[:, :, 0])
    c = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=color_encoding, step=rgb.strides[0],
              data=rgb.tobytes())
    d = Image(height=depth.shape[0], width=depth.shape[1], encoding="32FC1", step=depth.shape[1] * 4,
              data=depth.astype(np.float32).tobytes())
    i = CameraInfo(width=rgb.shape[1], height=rgb.shape[0], k=[float(v) for v in K.ravel()])
    for m in (c, d, i):
        m.header.stamp, m.header.frame_id = t, frame
    return c, d, i


def test_odd_input_is_skipped_and_an_empty_table_gives_an_empty_array(launch, probe):
    from perception.core.synthetic import default_camera, render

    run = launch(GRAPH, "perception")
    run.wait_for_output(r"\[perception\].*camera at \[1.05, 0.0, 0.55\] m")
    K, T = default_camera()
    K = K.copy()
    K[:2] *= 0.5
    K[0, 2], K[1, 2] = 159.5, 119.5
    rgb, depth = render([], K, T, width=320, height=240)
    wait_for(lambda: min(p.get_subscription_count() for p in (probe.color_pub, probe.depth_pub, probe.info_pub)),
             30, "perception's camera subscriptions")
    clock = iter(np.arange(1.0, 1000.0, 0.1))

    def send(*, info: bool = True, **kw):
        """Publish one frame (fresh stamp) per poll until the node's output matches."""
        depth_img = kw.pop("depth", depth)
        rgb_img = kw.pop("rgb", rgb)
        c, d, i = _frame_msgs(float(next(clock)), rgb_img, depth_img, K, **kw)
        probe.color_pub.publish(c)
        probe.depth_pub.publish(d)
        if info:
            probe.info_pub.publish(i)
        return c

    def expect(pattern: str, **kw):
        import re

        rx = re.compile(pattern)
        wait_for(lambda: rx.search(run.output) or (send(**kw) and False), 30, f"{pattern!r} in:\n{run.output}")

    expect(r"frame skipped: no camera_info received on camera/camera_info yet", info=False)
    expect(r"frame skipped: colour image encoding 'mono8' is not supported", color_encoding="mono8")
    expect(r"frame skipped: colour image is 320x240 but depth image is 160x120", depth=depth[::2, ::2].copy())
    expect(r"frame skipped: only 0.0% of the depth pixels have a return", depth=np.full_like(depth, np.nan))
    assert probe.get("objects") == [], "nothing may be published for a skipped frame"
    sent = []
    wait_for(lambda: probe.get("objects") or sent.append(stamp_s(send())), 30, "an objects message")
    first = probe.get("objects")[0]
    assert first.objects == [] and first.table_detected
    assert any(abs(stamp_s(first) - s) < 1e-6 for s in sent)  # stamped with the image pair's stamp
    def publish_at(stamp: float) -> bool:
        c, d, i = _frame_msgs(stamp, rgb, depth, K)
        for m, pub in ((i, probe.info_pub), (c, probe.color_pub), (d, probe.depth_pub)):
            pub.publish(m)
        return False

    def published(stamp: float) -> bool:
        return any(abs(stamp_s(m) - stamp) < 1e-6 for m in probe.get("objects"))

    # An older stamp after the last processed one (late, not a jump back): skipped as out of
    # order, nothing published for it.
    late = round(stamp_s(probe.get("objects")[-1]) - 0.5, 3)
    publish_at(late)
    run.wait_for_output(rf"frame skipped: stamp {late:.3f} s is not newer than the last processed")
    assert all(stamp_s(m) > late for m in probe.get("objects"))
    # One frame stamped 9.6 s ahead (a camera clock glitch), then the camera's next frame in
    # its usual cadence: perception starts over from that frame at once, and says so.
    last = stamp_s(probe.get("objects")[-1])
    ahead = last + 9.6
    wait_for(lambda: published(ahead) or publish_at(ahead), 30, "the frame stamped ahead to be processed")
    following = last + 0.1
    wait_for(lambda: published(following) or publish_at(following), 30,
             f"the frame after the one stamped ahead to be processed; output:\n{run.output[-2000:]}")
    run.wait_for_output(rf"image time jumped back from {ahead:.3f} s to {following:.3f} s")
    assert run.proc.poll() is None
    assert run.stop() == 0, run.output


# -- camera extrinsics: /tf_static first, the parameters as the fallback ---------------------

def _positions_match_truth(probe, run, labels: list[str], atol: float = 0.004, robot_base_radius: float = 0.0):
    """Wait for three objects messages and the ground truth; assert each label's position.

    robot_base_radius: objects reported within this distance (m) of the base origin are
    the robot's own base and are left out (a side camera sees the back of panda_link0,
    which reaches beyond perception's robot_exclusion_radius of 0.12 m)."""
    wait_for(lambda: len(probe.get("objects")) >= 3 and probe.get("truth"), 90,
             f"three perception/objects messages and the ground truth; output:\n{run.output}")
    truth = {o.color_name: o for o in probe.get("truth")[-1].objects}
    last = probe.get("objects")[-1]
    seen = [(o.label, round(o.pose.position.x, 3), round(o.pose.position.y, 3), round(o.pose.position.z, 3))
            for o in last.objects]
    objects = [o for o in last.objects if math.hypot(o.pose.position.x, o.pose.position.y) >= robot_base_radius]
    assert sorted(o.label for o in objects) == labels, (seen, run.output)
    for o in objects:
        t = truth[o.color_name]
        est = np.array([o.pose.position.x, o.pose.position.y, o.pose.position.z])
        gt = np.array([t.pose.position.x, t.pose.position.y, t.pose.position.z])
        assert np.linalg.norm(est - gt) < atol, (o.label, est, gt)


def test_a_camera_on_the_robots_side_is_located_from_tf_static(launch, probe):
    """The configured (fallback) pose is the front camera; the scenario's camera is on the
    right side: only the sim's /tf_static can make these positions right."""
    scenario = ROOT / "tests" / "scenarios" / "camera_side_cubes.yaml"
    run = launch(GRAPH, f"scenario:={scenario}", "seed:=0")
    _positions_match_truth(probe, run, ["blue cube", "green cube", "red cube"], robot_base_radius=0.15)
    out = run.output
    assert "camera mount on /tf_static: panda_link0 -> camera_color_optical_frame at [0.45, -0.8, 0.6] m" in out
    assert ("camera extrinsics from /tf_static (panda_link0 -> camera_color_optical_frame): "
            "[0.45, -0.8, 0.6] m") in out
    assert "camera extrinsics from parameters" not in out
    assert run.stop() == 0, run.output


def test_without_tf_static_the_parameters_are_used_and_said_until_a_transform_arrives(launch, probe):
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    run = launch(ROOT / "tests" / "graphs" / "perception_no_tf_static.yaml")
    # multi_color has the default camera, which is the cell's camera mount (the fallback).
    _positions_match_truth(probe, run, ["blue cube", "green cube", "red cube", "yellow cube"])
    run.wait_for_output(r"camera extrinsics from the cell.s camera mount \(fallback\): no transform "
                        r"panda_link0 -> camera_color_optical_frame received on /tf_static \(waited 2.\d\d s "
                        r"of image time; frames known: none\); camera at \[1.05, 0.0, 0.55\] m")
    assert "waiting up to 2 s of image time for the camera pose on /tf_static" in run.output
    assert "camera extrinsics from /tf_static" not in run.output

    # A late calibration publisher: first a broken transform (ignored, named), then the mount.
    qos = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    pub = probe.node.create_publisher(TFMessage, "/tf_static", qos)
    bad = TransformStamped(child_frame_id="camera_color_optical_frame")
    bad.header.frame_id = "panda_link0"
    bad.transform.rotation.w = float("nan")
    pub.publish(TFMessage(transforms=[bad]))
    run.wait_for_output(r"/tf_static: transform ignored: transform panda_link0 -> camera_color_optical_frame: "
                        r"rotation \[0.0, 0.0, 0.0, nan\] \(x y z w\) is not 4 finite numbers")
    good = TransformStamped(child_frame_id="camera_color_optical_frame")
    good.header.frame_id = "panda_link0"
    t, r = good.transform.translation, good.transform.rotation
    t.x, t.y, t.z = 1.05, 0.0, 0.55
    r.x, r.y, r.z, r.w = -0.6472489143516091, -0.6472489143516091, 0.2847259083235375, 0.2847259083235375
    pub.publish(TFMessage(transforms=[good]))
    run.wait_for_output(r"camera extrinsics from /tf_static \(panda_link0 -> camera_color_optical_frame\): "
                        r"\[1.05, 0.0, 0.55\] m", timeout=60)
    # (counted: the probe keeps only the last 50 messages, and a fast sim sends more than that
    # before the switch, which made this wait time out now and then)
    n = probe.count("objects")
    wait_for(lambda: probe.count("objects") >= n + 2, 60, "objects after the switch to /tf_static")
    _positions_match_truth(probe, run, ["blue cube", "green cube", "red cube", "yellow cube"])
    assert run.proc.poll() is None
    assert run.stop() == 0, run.output
