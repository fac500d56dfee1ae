"""sim_bridge started through the launcher, driven over real DDS like a real arm's drivers."""

import threading

import numpy as np
import pytest

from brain_common.robot import ARM_JOINTS, FINGER_JOINTS
from conftest import ROOT, Spinner, seconds, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
GRAPH = ROOT / "launch" / "graph.yaml"
ARM = list(ARM_JOINTS)


class Probe:
    """Subscribes to everything the bridge offers and keeps what arrives."""

    def __init__(self, context):
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Float64MultiArray
        from trajectory_msgs.msg import JointTrajectory

        from brain_interfaces.msg import DetectedObjectArray

        self.node = Node("probe", context=context)
        self.lock = threading.Lock()
        self.msgs: dict[str, list] = {k: [] for k in ("clock", "joints", "color", "depth", "info", "truth")}

        def keep(key):
            def cb(msg):
                with self.lock:
                    self.msgs[key].append(msg)
                    if len(self.msgs[key]) > 400:
                        del self.msgs[key][:200]
            return cb

        n = self.node
        n.create_subscription(Clock, "/clock", keep("clock"), 10)
        n.create_subscription(JointState, "joint_states", keep("joints"), 10)
        n.create_subscription(Image, "camera/color/image_raw", keep("color"), qos_profile_sensor_data)
        n.create_subscription(Image, "camera/depth/image_raw", keep("depth"), qos_profile_sensor_data)
        n.create_subscription(CameraInfo, "camera/camera_info", keep("info"), qos_profile_sensor_data)
        n.create_subscription(DetectedObjectArray, "sim/ground_truth/objects", keep("truth"), 10)
        self.traj_pub = n.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", 10)
        self.grip_pub = n.create_publisher(Float64MultiArray, "gripper_controller/commands", 10)
        self.spinner = Spinner(n, context)


    def latest(self, key):
        with self.lock:
            return self.msgs[key][-1] if self.msgs[key] else None

    def count(self, key):
        with self.lock:
            return len(self.msgs[key])

    def clear(self):
        with self.lock:
            for v in self.msgs.values():
                v.clear()

    def sim_now(self) -> float:
        c = self.latest("clock")
        return c.clock.sec + c.clock.nanosec * 1e-9 if c else 0.0

    def arm_positions(self) -> np.ndarray:
        js = self.latest("joints")
        return np.array([js.position[js.name.index(j)] for j in ARM])

    def close(self):
        self.spinner.close()
        self.node.destroy_node()


@pytest.fixture
def bridge(launch, ros_context):
    run = launch(GRAPH, "sim_bridge", "scenario:=one_cube.yaml", "seed:=3")
    probe = Probe(ros_context)
    wait_for(lambda: probe.count("color") and probe.count("joints") and probe.count("truth"), 90,
             "the bridge's first camera frame, joint state and ground truth")
    yield run, probe
    probe.close()
    assert run.stop() == 0, run.output


def stamp(msg) -> float:
    return seconds(msg.header.stamp)


def test_topics_stamps_and_frames(bridge):
    _run, probe = bridge
    wait_for(lambda: probe.count("color") >= 3 and probe.count("depth") >= 3 and probe.count("info") >= 3,
             60, "three camera frames")
    with probe.lock:
        colors = {stamp(m): m for m in probe.msgs["color"]}
        depths = {stamp(m): m for m in probe.msgs["depth"]}
        infos = {stamp(m): m for m in probe.msgs["info"]}
        joints = list(probe.msgs["joints"])
    paired = sorted(set(colors) & set(depths) & set(infos))
    assert len(paired) >= 2, "colour, depth and camera_info of a frame share one stamp"
    c, d, i = colors[paired[-1]], depths[paired[-1]], infos[paired[-1]]
    assert c.encoding == "rgb8" and d.encoding == "32FC1"
    assert c.header.frame_id == d.header.frame_id == i.header.frame_id == "camera_color_optical_frame"
    assert (c.width, c.height) == (d.width, d.height) == (i.width, i.height) == (640, 480)
    assert c.step == 640 * 3 and d.step == 640 * 4
    depth = np.frombuffer(bytes(d.data), dtype=np.float32).reshape(480, 640)
    valid = depth[np.isfinite(depth)]
    assert valid.size > 0.5 * depth.size and valid.min() > 0.05 and valid.max() < 3.0
    k = np.array(i.k).reshape(3, 3)
    assert k[0, 0] == pytest.approx(k[1, 1]) and k[0, 2] == pytest.approx(319.5) and k[1, 2] == pytest.approx(239.5)
    assert np.array(i.p).reshape(3, 4)[:, :3] == pytest.approx(k)
    # joint_states: 7 arm joints + 2 fingers, every 1/120 s of sim time (>= 100 Hz). The
    # probe may miss messages when it falls behind a sim running faster than real time,
    # so gaps are whole multiples of the period, and the shortest is exactly one period.
    assert joints[-1].name == [*ARM, *FINGER_JOINTS]
    assert joints[-1].header.frame_id == "panda_link0"
    periods = np.diff([stamp(m) for m in joints]) * 120
    assert periods.size > 20
    np.testing.assert_allclose(periods, np.round(periods), atol=1e-6)
    assert periods.min() == pytest.approx(1.0)
    # the clock advances, at clock_rate (60 Hz: every 4th physics step), never going back
    t0 = probe.sim_now()
    wait_for(lambda: probe.sim_now() > t0 + 0.5, 60, "/clock to advance 0.5 s")
    with probe.lock:
        ticks = np.diff([m.clock.sec + m.clock.nanosec * 1e-9 for m in probe.msgs["clock"]]) * 60
    assert ticks.size > 20
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert ticks.min() == pytest.approx(1.0)
    truth = probe.latest("truth")
    assert truth.header.frame_id == "panda_link0" and [o.id for o in truth.objects] == ["red_cube"]
    assert truth.objects[0].pose.position.z == pytest.approx(0.025, abs=0.003)


def test_the_sim_runs_no_further_ahead_of_perception_than_max_lead(bridge):
    """Once perception answers (perception/objects, stamped with its frame), the sim steps at
    most max_lead (graph.yaml's sim_max_lead) beyond the newest answered stamp, and goes on when a
    newer one comes: a brain slowed by load sees the world as fresh as on a quiet machine."""
    import time

    from builtin_interfaces.msg import Time

    from armbrain.graph import load_graph
    from brain_common.qos import RELIABLE_10
    from brain_interfaces.msg import DetectedObjectArray

    lead = float(load_graph(GRAPH).arguments["sim_max_lead"].default)
    run, probe = bridge
    pub = probe.node.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
    wait_for(lambda: pub.get_subscription_count() > 0, 30, "the bridge to subscribe to perception/objects")

    def answer(t: float) -> None:
        msg = DetectedObjectArray()
        msg.header.stamp = Time(sec=int(t), nanosec=round(t % 1 * 1e9))
        pub.publish(msg)

    def settled() -> float:
        """The clock once it has stopped (no new /clock for 0.5 s of wall: observing an
        absence needs a wall wait; it is not a timing assertion)."""
        last = None
        while last != probe.sim_now():
            last = probe.sim_now()
            time.sleep(0.5)
        return last

    answer(0.0)  # an old frame: the sim is already further ahead, so it stops where it is
    stop = settled()
    dt = 1.0 / 240.0
    answer(stop + 1.0)
    wait_for(lambda: probe.sim_now() >= stop + 1.0 + lead - dt, 60, "the sim to run max_lead past the answered frame")
    assert settled() <= stop + 1.0 + lead + 2 * dt
    assert run.proc.poll() is None


def test_the_sim_runs_no_further_ahead_of_a_lead_ack_than_ack_lead(bridge):
    """A node that sends lead_ack (the planner, in simulation) holds the sim within ack_lead
    of the sim time it has seen, so the trajectories it stamps start_delay ahead reach the
    sim before their start however slow the node is; perception's own bound is far off here."""
    import time

    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    from brain_common.params import load_param_specs, param_defaults
    from brain_common.qos import RELIABLE_10
    from brain_interfaces.msg import DetectedObjectArray

    ack_lead = param_defaults(load_param_specs(ROOT / "sim" / "config" / "sim_bridge.params.yaml", "sim_bridge"))[
        "ack_lead"]
    run, probe = bridge
    frames = probe.node.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
    acks = probe.node.create_publisher(Header, "lead_ack", RELIABLE_10)
    wait_for(lambda: acks.get_subscription_count() > 0 and frames.get_subscription_count() > 0, 30,
             "the bridge to subscribe to lead_ack")

    def stamp(t: float) -> Time:
        return Time(sec=int(t), nanosec=round(t % 1 * 1e9))

    def settled() -> float:
        last = None
        while last != probe.sim_now():
            last = probe.sim_now()
            time.sleep(0.5)  # observing an absence of /clock needs a wall wait (no timing assertion)
        return last

    frame = DetectedObjectArray()
    frame.header.stamp = stamp(probe.sim_now() + 1000.0)
    frames.publish(frame)  # perception far ahead: it does not bind
    acks.publish(Header(stamp=stamp(0.0), frame_id="test_node"))  # behind: the sim stops where it is
    stop = settled()
    acks.publish(Header(stamp=stamp(stop + 1.0), frame_id="test_node"))
    dt = 1.0 / 240.0
    wait_for(lambda: probe.sim_now() >= stop + 1.0 + ack_lead - dt, 60, "the sim to run ack_lead past the ack")
    assert settled() <= stop + 1.0 + ack_lead + 2 * dt
    acks.publish(Header(stamp=stamp(stop + 1000.0), frame_id="test_node"))  # release it for the next tests
    assert run.proc.poll() is None


def send_trajectory(probe, names, points):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    msg = JointTrajectory(joint_names=list(names))
    for t, q in points:
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=Duration(sec=int(t), nanosec=int(t % 1 * 1e9))))
    wait_for(lambda: probe.traj_pub.get_subscription_count() > 0, 30, "the bridge's trajectory subscription")
    probe.traj_pub.publish(msg)


def test_trajectory_followed_to_1_mrad(bridge):
    run, probe = bridge
    start = probe.arm_positions()
    goal = start + np.array([0.3, 0.2, -0.2, 0.25, 0.3, -0.2, 0.4])
    mid = (start + goal) / 2
    t_sent = probe.sim_now()
    send_trajectory(probe, ARM, [(1.0, mid), (2.0, goal)])
    run.wait_for_output(r"following a trajectory of 3 points, 2.00 s")
    wait_for(lambda: probe.sim_now() > t_sent + 3.0, 120, "3 s of sim time")
    err = np.abs(probe.arm_positions() - goal)
    assert err.max() < 1e-3, f"final error {err} rad"


def test_bad_commands_are_refused_and_the_node_survives(bridge):
    run, probe = bridge
    from std_msgs.msg import Float64MultiArray

    hold = probe.arm_positions()
    q = list(hold)
    send_trajectory(probe, ARM[:6], [(1.0, q[:6])])
    run.wait_for_output(r"trajectory rejected, holding position: trajectory lacks joint\(s\) panda_joint7")
    bad = list(q)
    bad[3] = 1.0  # panda_joint4 must be <= 0
    send_trajectory(probe, ARM, [(1.0, bad)])
    run.wait_for_output(r"point 0: panda_joint4 = 1.0000 rad is outside its limits")
    send_trajectory(probe, ARM, [(1.0, q), (1.0, q)])
    run.wait_for_output(r"point 1: time_from_start 1 s does not increase")
    nan = list(q)
    nan[0] = float("nan")
    send_trajectory(probe, ARM, [(1.0, nan)])
    run.wait_for_output(r"point 0: position of panda_joint1 is nan \(not finite\)")
    probe.grip_pub.publish(Float64MultiArray(data=[0.2]))
    run.wait_for_output(r"gripper command rejected: gripper opening 0.2 m is out of range; valid: 0 .. 0.08 m")
    # Still alive, still publishing, and the arm held its position.
    t0 = probe.sim_now()
    wait_for(lambda: probe.sim_now() > t0 + 1.0, 60, "the clock to keep advancing")
    assert run.proc.poll() is None
    assert np.abs(probe.arm_positions() - hold).max() < 2e-3


def test_reset_gives_the_same_scene_for_the_same_seed(bridge, ros_context):
    from brain_interfaces.srv import ResetSim

    run, probe = bridge
    client = probe.node.create_client(ResetSim, "sim/reset")
    assert client.wait_for_service(timeout_sec=30)

    def reset(seed, scenario=""):
        fut = client.call_async(ResetSim.Request(seed=seed, scenario=scenario))
        wait_for(fut.done, 60, f"reset to seed {seed}")
        return fut.result()

    def truth_after_reset(seed):
        res = reset(seed)
        assert res.success, res.message
        t_reset = seconds(res.stamp)
        msg = wait_for(lambda: (m := probe.latest("truth")) and stamp(m) >= t_reset and m, 60,
                       "ground truth after the reset")
        return res, {f"{o.id}.{axis}": getattr(o.pose.position, axis) for o in msg.objects for axis in "xy"}

    res_a, a = truth_after_reset(11)
    _, b = truth_after_reset(12)
    _, c = truth_after_reset(11)
    assert res_a.goal == "put the red cube in the bin"
    assert a == pytest.approx(c, abs=1e-4)
    assert a != pytest.approx(b, abs=1e-3)
    bad = reset(1, "no_such_scenario.yaml")
    assert not bad.success and "scenario 'no_such_scenario.yaml' not found" in bad.message
    assert run.proc.poll() is None


def test_camera_mount_on_tf_static_is_the_nominal_pose_and_follows_resets(bridge, ros_context):
    """Like a calibration publisher: latched (a late subscriber gets it), the scenario's nominal
    camera pose (never camera_jitter's bump), sent again when a reset changes the camera."""
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
    from tf2_msgs.msg import TFMessage
    from transforms3d.quaternions import mat2quat

    from armbrain_sim.scenario import load_scenario
    from brain_interfaces.srv import ResetSim

    run, probe = bridge
    got: list = []
    lock = threading.Lock()

    def keep(msg):
        with lock:
            got.append(msg)

    def count() -> int:
        with lock:
            return len(got)

    qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    probe.node.create_subscription(TFMessage, "/tf_static", keep, qos)  # subscribed after the bridge published

    def expect_mount(n: int, scenario: str):
        wait_for(lambda: count() >= n, 60, f"/tf_static message {n}; output:\n{run.output}")
        with lock:
            (t,) = got[n - 1].transforms
        assert (t.header.frame_id, t.child_frame_id) == ("panda_link0", "camera_color_optical_frame")
        T = load_scenario(ROOT / "sim" / "scenarios" / scenario).camera.T_base_optical_nominal
        tr, r = t.transform.translation, t.transform.rotation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], T[:3, 3], atol=1e-9)
        q = mat2quat(T[:3, :3])  # w x y z
        assert abs(float(np.dot([r.w, r.x, r.y, r.z], q))) == pytest.approx(1.0, abs=1e-9)
        return tr, r

    tr, r = expect_mount(1, "one_cube.yaml")
    assert [tr.x, tr.y, tr.z] == pytest.approx([1.05, 0.0, 0.55])
    assert [r.x, r.y, r.z, r.w] == pytest.approx([-0.6472489, -0.6472489, 0.2847259, 0.2847259], abs=1e-6)

    client = probe.node.create_client(ResetSim, "sim/reset")
    assert client.wait_for_service(timeout_sec=30)

    def reset(scenario: str):
        fut = client.call_async(ResetSim.Request(seed=1, scenario=scenario))
        wait_for(fut.done, 60, f"reset to {scenario}")
        assert fut.result().success, fut.result().message

    reset("world/camera_side.yaml")
    tr, _ = expect_mount(2, "world/camera_side.yaml")
    assert [tr.x, tr.y, tr.z] == pytest.approx([0.45, -0.80, 0.60])
    # A bumped camera (2 cm, 2 deg) renders from elsewhere, but its calibrated mount is the default one.
    reset("perturbations/camera_bump.yaml")
    tr, _ = expect_mount(3, "perturbations/camera_bump.yaml")
    assert [tr.x, tr.y, tr.z] == pytest.approx([1.05, 0.0, 0.55])
    assert run.proc.poll() is None
