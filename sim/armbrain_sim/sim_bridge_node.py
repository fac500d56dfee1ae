"""sim_bridge: the PyBullet arm behind the same topics a real arm's drivers offer.

Publishes (relative names, wired by remapping in launch):
  /clock                         rosgraph_msgs/Clock, clock_rate per second of sim time (every
                                 4th physics step by default; incoming messages are taken at
                                 the same ticks)
  joint_states                   sensor_msgs/JointState, 7 arm + 2 finger joints
  camera/color/image_raw         sensor_msgs/Image rgb8
  camera/depth/image_raw         sensor_msgs/Image 32FC1, metres, NaN = no return
  camera/camera_info             sensor_msgs/CameraInfo (same stamp as the image pair)
  /tf_static                     tf2_msgs/TFMessage (reliable, TRANSIENT_LOCAL, depth 1, as
                                 tf2_ros' static broadcaster): base_frame -> camera_frame, the
                                 scenario's NOMINAL camera pose (the calibrated mount; a
                                 scenario's camera_jitter is an unknown bump and is not in it),
                                 as a cell's calibration publisher gives it; published again
                                 when sim/reset loads a scenario whose camera differs
  sim/ground_truth/objects       brain_interfaces/DetectedObjectArray: true object
                                 poses, for scoring only; no brain node may use it
Subscribes:
  arm_controller/joint_trajectory   trajectory_msgs/JointTrajectory (one stamped before the last
                                    sim/reset is refused: it was meant for the world before)
  gripper_controller/commands       std_msgs/Float64MultiArray [opening in metres]
  perception/objects                only with max_lead > 0: the newest frame perception has
                                    answered, which bounds how far the sim runs ahead (lead.py)
  lead_ack                          std_msgs/Header, only with max_lead > 0: the sim time a node
                                    (frame_id; the planner) has seen; the sim stays within
                                    ack_lead of it (lead.py)
  estop                             brain_interfaces/EStop (latched; brain_common/estop.py): while
                                    engaged the arm holds where it is and every trajectory and
                                    gripper command is refused, as a real controller's protective
                                    stop does; the fingers keep their last command (a grip holds)
  /diagnostics                      (published) the bridge's health, once a second (brain_common/health.py)
Services:
  sim/reset           brain_interfaces/ResetSim: new seed (and scenario), same process
  sim/check_success   std_srvs/Trigger: the scenario's success rules on ground truth

The node drives its own loop: step physics, publish, process incoming messages.
With real_time_factor 0 it runs as fast as the CPU allows (and, with max_lead, no more
than that far ahead of perception); /clock always advances
and never jumps back, even across resets. Bad commands are logged and refused; the
arm then holds its position and the node stays up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import JointTrajectory
from transforms3d.quaternions import mat2quat

from armbrain_sim.lead import LeadGate
from armbrain_sim.scenario import ScenarioError, load_scenario, resolve_scenario_path
from armbrain_sim.scene import MAX_GRIPPER_OPENING
from armbrain_sim.trajectory import (
    JointLimits,
    JointPath,
    TrajectoryError,
    check_gripper_command,
    check_trajectory,
)
from armbrain_sim.world import SimWorld
from brain_common.cell import cell_for
from brain_common.estop import EStopCommand, EStopListener
from brain_common.health import Health
from brain_common.params import declare_parameters, node_param_specs
from brain_common.qos import LATCHED, RELIABLE_10, SENSOR_DATA
from brain_common.robot import ARM_JOINTS
from brain_common.runtime import run_node
from brain_interfaces.msg import DetectedObject, DetectedObjectArray, EStop
from brain_interfaces.srv import ResetSim

# wall s per executor turn while the lead gate holds the sim: spin_once returns at the first message
# (an acknowledgement opens the gate at once), so this only paces the escape check; at 2 ms the
# waiting sim rebuilt its wait set 500 times a second
GATE_WAIT_S = 0.05



@dataclass(frozen=True, slots=True)
class BridgeParams:
    scenario: str
    seed: int
    real_time_factor: float
    max_lead: float
    ack_lead: float
    clock_rate: float
    camera_rate: float
    joint_state_rate: float
    ground_truth_rate: float
    gripper_force: float
    base_frame: str
    camera_frame: str


def stamp_from_seconds(t: float) -> Time:
    ns = round(t * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def image_msg(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """Image from an (H, W, C) uint8 or (H, W) float32 array."""
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(array.strides[0])
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def transform_msg(T_parent_child: np.ndarray, parent: str, child: str, stamp: Time) -> TransformStamped:
    """TransformStamped parent -> child of a (4, 4) pose of the child in the parent frame (m)."""
    msg = TransformStamped()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = stamp, parent, child
    T = np.asarray(T_parent_child, dtype=float)
    t, r = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in T[:3, 3])
    w, x, y, z = mat2quat(T[:3, :3])
    if w < 0:  # one of the two equal quaternions, for readable logs and echoes
        w, x, y, z = -w, -x, -y, -z
    r.x, r.y, r.z, r.w = float(x), float(y), float(z), float(w)
    return msg


def camera_info_msg(K: np.ndarray, width: int, height: int, stamp: Time, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in np.asarray(K).reshape(-1)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.zeros((3, 4))
    P[:, :3] = K
    msg.p = [float(v) for v in P.reshape(-1)]
    return msg


class SimBridgeNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_bridge")
        self.params = self._declare_parameters()
        path = resolve_scenario_path(self.params.scenario)
        self._scenario = load_scenario(path)
        scene = self._scenario.sample(self.params.seed)
        self.world = SimWorld(scene)
        self._scene = scene
        self._time_offset = 0.0  # sim seconds of earlier episodes: /clock never goes back
        self._scene_start = 0.0  # sim time at which the current scene (the last reset) began
        limits = self.world.joint_limits()
        self._limits = JointLimits(
            names=ARM_JOINTS,
            lower=np.array([limits[n][0] for n in ARM_JOINTS]),
            upper=np.array([limits[n][1] for n in ARM_JOINTS]),
            velocity=np.array([limits[n][2] for n in ARM_JOINTS]),
        )
        self._path: JointPath | None = None
        self._path_start = 0.0
        # Publishing schedules in whole physics steps, so rates are exact in sim time.
        hz = 1.0 / self.world.dt
        self._every = {
            "clock": max(1, round(hz / self.params.clock_rate)),
            "joints": max(1, round(hz / self.params.joint_state_rate)),
            "camera": max(1, round(hz / self.params.camera_rate)),
            "truth": max(1, round(hz / self.params.ground_truth_rate)),
        }
        self._steps = 0  # physics steps since the node started (not reset by sim/reset)
        self._frames = 0  # camera frames published

        self._clock_pub = self.create_publisher(Clock, "/clock", 10)
        self._joint_pub = self.create_publisher(JointState, "joint_states", RELIABLE_10)
        self._color_pub = self.create_publisher(Image, "camera/color/image_raw", SENSOR_DATA)
        self._depth_pub = self.create_publisher(Image, "camera/depth/image_raw", SENSOR_DATA)
        self._info_pub = self.create_publisher(CameraInfo, "camera/camera_info", SENSOR_DATA)
        self._truth_pub = self.create_publisher(DetectedObjectArray, "sim/ground_truth/objects", RELIABLE_10)
        self._tf_static_pub = self.create_publisher(TFMessage, "/tf_static", LATCHED)
        self._camera_mount: np.ndarray | None = None  # the T_base_optical last sent on /tf_static
        self._publish_camera_mount()
        self.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self._on_trajectory,
                                 RELIABLE_10)
        self.create_subscription(Float64MultiArray, "gripper_controller/commands", self._on_gripper, RELIABLE_10)
        self.create_service(ResetSim, "sim/reset", self._on_reset)
        self.create_service(Trigger, "sim/check_success", self._on_check_success)
        self._gate = LeadGate(self.params.max_lead)
        if self.params.max_lead > 0.0:
            self.create_subscription(DetectedObjectArray, "perception/objects", self._on_brain_frame, RELIABLE_10)
            self.create_subscription(Header, "lead_ack", self._on_lead_ack, RELIABLE_10)
        self.estop = EStopListener(self, EStop, self._on_estop)
        self.health = Health(self, "sim", self.estop, lambda: {
            "sim time (s)": f"{self.sim_time:.2f}", "scenario": self._scenario.name,
            "following a trajectory": self._path is not None,
            "camera frames rendered anew / shown again (nothing moved)":
                f"{self._frames - self.world.renders_reused} / {self.world.renders_reused}",
            "lead gate: newest answers (s)": ", ".join(f"{k} {v:.2f}" for k, v in self._gate.acks().items())})
        self.refused = 0  # commands refused under the e-stop
        self.get_logger().info(
            f"scenario {self._scenario.name} seed {self.params.seed}: {len(scene.objects)} objects, "
            f"goal {scene.goal!r}; renderer {self.world.renderer_name}"
            f"{' (' + self.world.renderer_note + ')' if self.world.renderer_note else ''}, "
            f"camera {scene.camera.width}x{scene.camera.height} at {self.params.camera_rate:g} Hz, "
            f"real_time_factor {self.params.real_time_factor:g}, max_lead {self.params.max_lead:g} s")

    # -- parameters --------------------------------------------------------------
    def _declare_parameters(self) -> BridgeParams:
        """Declare the parameters of config/sim_bridge.params.yaml (their one description:
        types, defaults, ranges; a number also takes an integer, `real_time_factor:=1`)."""
        v = declare_parameters(self, node_param_specs("armbrain_sim", "sim_bridge"))
        cell = cell_for(v["cell_file"])
        return BridgeParams(
            scenario=v["scenario"], seed=v["seed"], real_time_factor=v["real_time_factor"], max_lead=v["max_lead"],
            ack_lead=v["ack_lead"], clock_rate=v["clock_rate"],
            camera_rate=v["camera_rate"], joint_state_rate=v["joint_state_rate"],
            ground_truth_rate=v["ground_truth_rate"], gripper_force=v["gripper_force"],
            base_frame=cell.base_frame, camera_frame=cell.camera.frame)

    # -- commands ----------------------------------------------------------------
    @property
    def sim_time(self) -> float:
        return self._time_offset + self.world.time

    def _hold(self) -> None:
        self._path = None
        self.world.hold()

    def _on_estop(self, cmd: EStopCommand) -> None:
        if cmd.engaged:
            self._hold()  # at once, before the next physics step: the arm holds where it is

    def _refused_by_estop(self, what: str) -> bool:
        if not self.estop.engaged:
            return False
        self.refused += 1
        self.health.value("commands refused under the e-stop", self.refused)
        self.get_logger().error(f"{what} refused: {self.estop.describe()}", throttle_duration_sec=1.0)
        return True

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if self._refused_by_estop("trajectory"):
            return
        current = self.world.joint_state().positions[:7]
        if not msg.points:
            self.get_logger().info("empty trajectory: holding position")
            self._hold()
            return
        try:
            path = check_trajectory(
                msg.joint_names,
                [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points],
                [list(p.positions) for p in msg.points],
                [list(p.velocities) for p in msg.points],
                self._limits, current)
        except TrajectoryError as exc:
            self.get_logger().error(f"trajectory rejected, holding position: {exc}")
            self._hold()
            return
        # Like joint_trajectory_controller: a zero stamp starts now; a stamp in the past
        # (the message was late) is honoured, so the arm is where the sender expects it
        # at every moment; a trajectory that ended in the past is refused.
        start = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if 0.0 < start < self._scene_start:
            self.get_logger().warning(f"trajectory refused: stamped {start:.3f} s, before the scene of the last "
                                      f"reset began ({self._scene_start:.3f} s): it was meant for the world before")
            return
        if start == 0.0 or path.duration == 0.0:  # now; a hold (one point) is always "be there now"
            start = self.sim_time
        elif start + path.duration < self.sim_time:
            self.get_logger().error(f"trajectory rejected, holding position: it ended at "
                                    f"{start + path.duration:.3f} s, before now ({self.sim_time:.3f} s)")
            self._hold()
            return
        self._path = path
        self._path_start = start
        self.get_logger().info(f"following a trajectory of {len(path.times)} points, {path.duration:.2f} s")

    def _on_brain_frame(self, msg: DetectedObjectArray) -> None:
        self._gate.ack(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

    def _on_lead_ack(self, msg: Header) -> None:
        # Every acknowledging node has ack_lead; they are told apart by name (frame_id).
        self._gate.ack(msg.stamp.sec + msg.stamp.nanosec * 1e-9, f"lead_ack:{msg.frame_id}", self.params.ack_lead)

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        if self._refused_by_estop("gripper command"):
            return
        try:
            width = check_gripper_command(list(msg.data), MAX_GRIPPER_OPENING)
        except TrajectoryError as exc:
            self.get_logger().error(f"gripper command rejected: {exc}")
            return
        self.world.set_gripper_opening(width, self.params.gripper_force)

    def _on_reset(self, request: ResetSim.Request, response: ResetSim.Response) -> ResetSim.Response:
        try:
            scenario = (load_scenario(resolve_scenario_path(request.scenario)) if request.scenario
                        else self._scenario)
            scene = scenario.sample(int(request.seed))
        except (ScenarioError, ValueError) as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().error(f"reset refused: {exc}")
            return response
        self._time_offset = self.sim_time  # the new world's time starts at 0 on top of this
        self._scene_start = self._time_offset  # commands stamped before this were for the old world
        self._scenario, self._scene = scenario, scene
        self.world.reset(scene)
        self._publish_camera_mount()
        self._path = None
        self._steps = 0  # publish joints, camera and ground truth of the new scene at once
        response.success, response.goal = True, scene.goal
        response.stamp = stamp_from_seconds(self.sim_time)
        response.message = f"scenario {scenario.name} seed {request.seed}: {len(scene.objects)} objects"
        self.get_logger().info(f"reset: {response.message}")
        return response

    def _on_check_success(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        results = self.world.check_success()
        response.success = bool(results) and all(ok for _, ok, _ in results)
        response.message = "; ".join(reason for _, _, reason in results) or "no success rule"
        return response

    def _publish_camera_mount(self) -> None:
        """Send the scene's nominal camera pose on /tf_static if it is not the one last sent."""
        T = self._scene.camera.T_base_optical_nominal
        if self._camera_mount is not None and np.array_equal(self._camera_mount, T):
            return
        self._camera_mount = np.array(T, dtype=float)
        msg = transform_msg(T, self.params.base_frame, self.params.camera_frame, stamp_from_seconds(self.sim_time))
        self._tf_static_pub.publish(TFMessage(transforms=[msg]))
        t, r = msg.transform.translation, msg.transform.rotation
        self.get_logger().info(
            f"camera mount on /tf_static: {self.params.base_frame} -> {self.params.camera_frame} at "
            f"{[round(v, 3) for v in (t.x, t.y, t.z)]} m (quaternion xyzw "
            f"{[round(v, 4) for v in (r.x, r.y, r.z, r.w)]})")

    # -- the loop ----------------------------------------------------------------
    def step_once(self) -> bool:
        """Advance physics one step and publish what is due (all in sim time); True when the
        step was a clock tick (/clock published: time to take incoming messages)."""
        if self._path is not None:
            t = self.sim_time - self._path_start
            if t >= 0.0:
                # position and velocity, as a joint_trajectory_controller commands an arm with
                # position + velocity interfaces (the velocity feeds forward: PyBullet's motor
                # lags a moving position target without it, 0.09 rad at 2 rad/s)
                self.world.set_arm_targets(self._path.sample(t), self._path.sample_velocity(t))
                if t > self._path.duration:
                    self._path = None  # the final targets stay commanded
        self.world.step()
        stamp = stamp_from_seconds(self.sim_time)
        tick = self._steps % self._every["clock"] == 0
        if tick:
            self._clock_pub.publish(Clock(clock=stamp))
        if self._steps % self._every["joints"] == 0:
            self._publish_joints(stamp)
        if self._steps % self._every["truth"] == 0:
            self._publish_truth(stamp)
        if self._steps % self._every["camera"] == 0:
            self._publish_camera(stamp)
        self._steps += 1
        return tick

    def _publish_joints(self, stamp: Time) -> None:
        js = self.world.joint_state()
        msg = JointState()
        msg.header.stamp, msg.header.frame_id = stamp, self.params.base_frame
        msg.name = list(js.names)
        msg.position = [float(v) for v in js.positions]
        msg.velocity = [float(v) for v in js.velocities]
        msg.effort = [float(v) for v in js.efforts]
        self._joint_pub.publish(msg)

    def _publish_camera(self, stamp: Time) -> None:
        frame = self.world.render()
        self._frames += 1
        h, w = frame.depth.shape
        frame_id = self.params.camera_frame
        self._color_pub.publish(image_msg(frame.rgb, "rgb8", stamp, frame_id))
        self._depth_pub.publish(image_msg(frame.depth.astype(np.float32), "32FC1", stamp, frame_id))
        self._info_pub.publish(camera_info_msg(frame.K, w, h, stamp, frame_id))

    def _publish_truth(self, stamp: Time) -> None:
        msg = DetectedObjectArray()
        msg.header.stamp, msg.header.frame_id = stamp, self.params.base_frame
        poses = self.world.object_poses()
        for o in self._scene.objects:
            pos, quat = poses[o.name]
            d = DetectedObject(id=o.name, color_name=o.colour_name, shape=o.shape, confidence=1.0)
            d.label = f"{o.colour_name or 'rgb'} {o.shape}"
            d.pose.position.x, d.pose.position.y, d.pose.position.z = (float(v) for v in pos)
            (d.pose.orientation.x, d.pose.orientation.y, d.pose.orientation.z,
             d.pose.orientation.w) = (float(v) for v in quat)
            d.size.x, d.size.y, d.size.z = (float(v) for v in o.size)
            d.mean_rgb.r, d.mean_rgb.g, d.mean_rgb.b, d.mean_rgb.a = (*(float(v) for v in o.rgb), 1.0)
            msg.objects.append(d)
        self._truth_pub.publish(msg)

    def run(self, executor) -> None:
        """Step, publish and serve until shutdown; paced by real_time_factor."""
        wall0, sim0 = time.monotonic(), self.sim_time
        escapes = 0
        while rclpy.ok():
            if self._gate.holds(self.sim_time, time.monotonic()):
                executor.spin_once(timeout_sec=GATE_WAIT_S)  # waits for perception; services still served
                continue
            if self._gate.escapes != escapes:
                escapes = self._gate.escapes
                who = self._gate.escaped
                self.get_logger().warning(
                    f"{who} has not answered for {self._gate.escape_wall:g} s wall at sim {self.sim_time:.2f} s "
                    f"(its newest answer {self._gate.acks()[who]:.2f} s): running ahead until it answers again")
            if self.step_once():
                # Messages are taken at clock ticks, not every physics step: an rclpy turn costs
                # as much as several steps, and every command is stamped or takes effect at once.
                executor.spin_once(timeout_sec=0.0)
            rtf = self.params.real_time_factor
            if rtf > 0.0:
                ahead = (self.sim_time - sim0) / rtf - (time.monotonic() - wall0)
                if ahead > 0:
                    time.sleep(ahead)  # pacing to wall time on purpose (live use)

    def destroy_node(self) -> None:
        if hasattr(self, "world"):  # not when the constructor failed (e.g. a bad parameter)
            self.world.close()
        super().destroy_node()


def main(args=None):
    return run_node(SimBridgeNode, args, spin=lambda executor, node: node.run(executor))


if __name__ == "__main__":
    raise SystemExit(main())
