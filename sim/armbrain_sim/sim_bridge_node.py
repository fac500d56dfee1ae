"""sim_bridge: the PyBullet arm behind the same topics a real arm's drivers offer.

Publishes (relative names, wired by remapping in launch):
  /clock                         rosgraph_msgs/Clock, every physics step (sim time)
  joint_states                   sensor_msgs/JointState, 7 arm + 2 finger joints
  camera/color/image_raw         sensor_msgs/Image rgb8
  camera/depth/image_raw         sensor_msgs/Image 32FC1, metres, NaN = no return
  camera/camera_info             sensor_msgs/CameraInfo (same stamp as the image pair)
  sim/ground_truth/objects       brain_interfaces/DetectedObjectArray: true object
                                 poses, for scoring only; no brain node may use it
Subscribes:
  arm_controller/joint_trajectory   trajectory_msgs/JointTrajectory
  gripper_controller/commands       std_msgs/Float64MultiArray [opening in metres]
Services:
  sim/reset           brain_interfaces/ResetSim: new seed (and scenario), same process
  sim/check_success   std_srvs/Trigger: the scenario's success rules on ground truth

The node drives its own loop: step physics, publish, process incoming messages.
With real_time_factor 0 it runs as fast as the CPU allows; /clock always advances
and never jumps back, even across resets. Bad commands are logged and refused; the
arm then holds its position and the node stays up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from armbrain.node_runtime import run_node
from armbrain_sim.scenario import ScenarioError, load_scenario
from armbrain_sim.scene import ARM_JOINTS, MAX_GRIPPER_OPENING
from armbrain_sim.trajectory import (
    JointLimits,
    JointPath,
    TrajectoryError,
    check_gripper_command,
    check_trajectory,
)
from armbrain_sim.world import SimWorld
from brain_interfaces.msg import DetectedObject, DetectedObjectArray
from brain_interfaces.srv import ResetSim

RELIABLE_10 = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)


@dataclass(frozen=True, slots=True)
class BridgeParams:
    scenario: str
    seed: int
    real_time_factor: float
    camera_rate: float
    joint_state_rate: float
    ground_truth_rate: float
    gripper_force: float
    base_frame: str
    camera_frame: str


def scenario_dir() -> Path:
    """The shipped scenarios: share/armbrain_sim/scenarios (the source tree's sim/scenarios
    in an editable install)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory("armbrain_sim")) / "scenarios"
    except (PackageNotFoundError, OSError):
        return Path(__file__).resolve().parent.parent / "scenarios"


def resolve_scenario_path(name: str) -> Path:
    """A scenario path as given, or a file name (or relative path) inside the shipped scenarios."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = scenario_dir() / name
    if shipped.is_file():
        return shipped
    raise ScenarioError(f"scenario {name!r} not found (neither a file nor in {scenario_dir()})")


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
            "joints": max(1, round(hz / self.params.joint_state_rate)),
            "camera": max(1, round(hz / self.params.camera_rate)),
            "truth": max(1, round(hz / self.params.ground_truth_rate)),
        }
        self._steps = 0  # physics steps since the node started (not reset by sim/reset)

        self._clock_pub = self.create_publisher(Clock, "/clock", 10)
        self._joint_pub = self.create_publisher(JointState, "joint_states", RELIABLE_10)
        self._color_pub = self.create_publisher(Image, "camera/color/image_raw", qos_profile_sensor_data)
        self._depth_pub = self.create_publisher(Image, "camera/depth/image_raw", qos_profile_sensor_data)
        self._info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
        self._truth_pub = self.create_publisher(DetectedObjectArray, "sim/ground_truth/objects", RELIABLE_10)
        self.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self._on_trajectory,
                                 RELIABLE_10)
        self.create_subscription(Float64MultiArray, "gripper_controller/commands", self._on_gripper, RELIABLE_10)
        self.create_service(ResetSim, "sim/reset", self._on_reset)
        self.create_service(Trigger, "sim/check_success", self._on_check_success)
        self.get_logger().info(
            f"scenario {self._scenario.name} seed {self.params.seed}: {len(scene.objects)} objects, "
            f"goal {scene.goal!r}; renderer {self.world.renderer_name}, "
            f"camera {scene.camera.width}x{scene.camera.height} at {self.params.camera_rate:g} Hz, "
            f"real_time_factor {self.params.real_time_factor:g}")

    # -- parameters --------------------------------------------------------------
    def _declare_parameters(self) -> BridgeParams:
        def rng(lo: float, hi: float) -> list[FloatingPointRange]:
            return [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]

        def d(name: str, default, descriptor: ParameterDescriptor) -> None:
            if not isinstance(default, float):
                self.declare_parameter(name, default, descriptor)
                return
            # A number parameter also takes an integer (`real_time_factor:=1` arrives as 1, as
            # with ros2 launch): declared dynamically typed, range-checked here.
            lo, hi = descriptor.floating_point_range[0].from_value, descriptor.floating_point_range[0].to_value
            descriptor.dynamic_typing = True
            descriptor.floating_point_range = []
            value = self.declare_parameter(name, default, descriptor).value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"parameter {name} = {value!r} is not valid; give a number in {lo:g}..{hi:g}")

        d("scenario", "one_cube.yaml", ParameterDescriptor(
            description="scenario YAML: a path, or a file name in sim/scenarios/", read_only=True))
        d("seed", 0, ParameterDescriptor(description="episode seed (every random draw)", read_only=True))
        d("real_time_factor", 0.0, ParameterDescriptor(
            description="sim seconds per wall second; 0 = as fast as the CPU allows",
            floating_point_range=rng(0.0, 100.0)))
        d("camera_rate", 10.0, ParameterDescriptor(
            description="camera frames per second of sim time", floating_point_range=rng(0.1, 60.0)))
        d("joint_state_rate", 120.0, ParameterDescriptor(
            description="joint_states messages per second of sim time", floating_point_range=rng(100.0, 240.0)))
        d("ground_truth_rate", 10.0, ParameterDescriptor(
            description="sim/ground_truth/objects per second of sim time", floating_point_range=rng(0.1, 240.0)))
        d("gripper_force", 15.0, ParameterDescriptor(
            description="finger force, newtons", floating_point_range=rng(1.0, 70.0)))
        d("base_frame", "panda_link0", ParameterDescriptor(description="robot base frame id", read_only=True))
        d("camera_frame", "camera_color_optical_frame", ParameterDescriptor(
            description="camera optical frame id (z forward, x right, y down)", read_only=True))
        g = self.get_parameter
        return BridgeParams(
            scenario=g("scenario").value, seed=int(g("seed").value),
            real_time_factor=float(g("real_time_factor").value), camera_rate=float(g("camera_rate").value),
            joint_state_rate=float(g("joint_state_rate").value),
            ground_truth_rate=float(g("ground_truth_rate").value),
            gripper_force=float(g("gripper_force").value),
            base_frame=g("base_frame").value, camera_frame=g("camera_frame").value)

    # -- commands ----------------------------------------------------------------
    @property
    def sim_time(self) -> float:
        return self._time_offset + self.world.time

    def _hold(self) -> None:
        self._path = None
        self.world.hold()

    def _on_trajectory(self, msg: JointTrajectory) -> None:
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
        if start == 0.0:
            start = self.sim_time
        elif start + path.duration < self.sim_time:
            self.get_logger().error(f"trajectory rejected, holding position: it ended at "
                                    f"{start + path.duration:.3f} s, before now ({self.sim_time:.3f} s)")
            self._hold()
            return
        self._path = path
        self._path_start = start
        self.get_logger().info(f"following a trajectory of {len(path.times)} points, {path.duration:.2f} s")

    def _on_gripper(self, msg: Float64MultiArray) -> None:
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
        self._time_offset = self.sim_time
        self._scenario, self._scene = scenario, scene
        self.world.reset(scene)
        self._path = None
        self._steps = 0  # publish joints, camera and ground truth of the new scene at once
        response.success, response.goal = True, scene.goal
        response.message = f"scenario {scenario.name} seed {request.seed}: {len(scene.objects)} objects"
        self.get_logger().info(f"reset: {response.message}")
        return response

    def _on_check_success(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        results = self.world.check_success()
        response.success = bool(results) and all(ok for _, ok, _ in results)
        response.message = "; ".join(reason for _, _, reason in results) or "no success rule"
        return response

    # -- the loop ----------------------------------------------------------------
    def step_once(self) -> None:
        """Advance physics one step and publish what is due (all in sim time)."""
        if self._path is not None:
            t = self.sim_time - self._path_start
            if t >= 0.0:
                self.world.set_arm_targets(self._path.sample(t))
                if t > self._path.duration:
                    self._path = None  # the final targets stay commanded
        self.world.step()
        stamp = stamp_from_seconds(self.sim_time)
        self._clock_pub.publish(Clock(clock=stamp))
        if self._steps % self._every["joints"] == 0:
            self._publish_joints(stamp)
        if self._steps % self._every["truth"] == 0:
            self._publish_truth(stamp)
        if self._steps % self._every["camera"] == 0:
            self._publish_camera(stamp)
        self._steps += 1

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
        while rclpy.ok():
            self.step_once()
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
