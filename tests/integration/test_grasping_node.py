"""The grasping node against the simulated arm, started through the launcher, over real DDS.

The graph (tests/graphs/grasping.yaml) runs sim_bridge on a scene with one 5 cm cube at a
fixed pose (tests/scenarios/grasping_cube.yaml) and the grasping node on sim time. The
test plays perception (it publishes perception/objects) and the motion layer (it sends a
joint trajectory, IK from the arm's one kinematics in brain_common, that puts the open
hand around the cube).
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from brain_common.robot import ARM_JOINTS, FINGER_JOINTS
from conftest import ROOT, Spinner, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
GRAPH = ROOT / "tests" / "graphs" / "grasping.yaml"
SCENARIO = ROOT / "tests" / "scenarios" / "grasping_cube.yaml"
ARM = list(ARM_JOINTS)
FINGERS = list(FINGER_JOINTS)
CUBE_XY = (0.45, 0.0)
CUBE = 0.05


class Client:
    """Plays perception and the motion layer; keeps the grasping node's grasp states."""

    def __init__(self, context):
        from rclpy.action import ActionClient
        from rclpy.node import Node
        from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from brain_interfaces.action import GripperCommand
        from brain_interfaces.msg import DetectedObjectArray
        from brain_interfaces.srv import PlanGrasps

        self.node = n = Node("grasping_test_client", context=context)
        reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                             durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        self.lock = threading.Lock()
        self.joints = None
        self.states: list[dict] = []
        n.create_subscription(JointState, "joint_states", self._on_joints, reliable)
        n.create_subscription(String, "grasping/grasp_state", self._on_state, latched)
        self.objects_pub = n.create_publisher(DetectedObjectArray, "perception/objects", reliable)
        self.traj_pub = n.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", reliable)
        self.plan_client = n.create_client(PlanGrasps, "grasping/plan_grasps")
        self.gripper = ActionClient(n, GripperCommand, "grasping/gripper")
        self.spinner = Spinner(n, context)


    def _on_joints(self, msg):
        with self.lock:
            self.joints = msg

    def _on_state(self, msg):
        with self.lock:
            self.states.append(json.loads(msg.data))

    def close(self):
        self.gripper.destroy()
        self.spinner.close()
        self.node.destroy_node()

    # -- helpers -----------------------------------------------------------------
    def sim_time(self) -> float:
        with self.lock:
            js = self.joints
        return js.header.stamp.sec + js.header.stamp.nanosec * 1e-9 if js else 0.0

    def arm(self) -> np.ndarray:
        with self.lock:
            js = self.joints
        return np.array([js.position[list(js.name).index(j)] for j in ARM])

    def width(self) -> float:
        with self.lock:
            js = self.joints
        return sum(js.position[list(js.name).index(j)] for j in FINGERS)

    def latest_state(self) -> dict | None:
        with self.lock:
            return self.states[-1] if self.states else None

    def publish_objects(self, objects, stamp_s: float = 0.0):
        from builtin_interfaces.msg import Time

        from brain_interfaces.msg import DetectedObjectArray

        msg = DetectedObjectArray(objects=objects, table_detected=True)
        msg.header.frame_id = "panda_link0"
        msg.header.stamp = Time(sec=int(stamp_s), nanosec=round(stamp_s % 1 * 1e9))
        wait_for(lambda: self.objects_pub.get_subscription_count() > 0, 30,
                 "grasping's perception/objects subscription")
        self.objects_pub.publish(msg)

    def plan(self, object_id="", obj=None, max_candidates=0, min_stamp_s: float = 0.0):
        from builtin_interfaces.msg import Time

        from brain_interfaces.srv import PlanGrasps

        assert self.plan_client.wait_for_service(timeout_sec=30), "grasping/plan_grasps not offered"
        req = PlanGrasps.Request(object_id=object_id, max_candidates=max_candidates,
                                 min_stamp=Time(sec=int(min_stamp_s), nanosec=round(min_stamp_s % 1 * 1e9)))
        if obj is not None:
            req.object = obj
        fut = self.plan_client.call_async(req)
        wait_for(fut.done, 30, f"plan_grasps({object_id!r})")
        return fut.result()

    def grip(self, target_width, max_effort=0.0, timeout=60.0):
        """Send a gripper goal; returns (accepted, status, result, feedback widths)."""
        from brain_interfaces.action import GripperCommand

        assert self.gripper.wait_for_server(timeout_sec=30), "grasping/gripper not offered"
        feedback = []
        fut = self.gripper.send_goal_async(GripperCommand.Goal(target_width=target_width, max_effort=max_effort),
                                           feedback_callback=lambda m: feedback.append(m.feedback.current_width))
        wait_for(fut.done, 30, "the gripper goal to be answered")
        handle = fut.result()
        if not handle.accepted:
            return False, None, None, feedback
        res = handle.get_result_async()
        wait_for(res.done, timeout, f"the gripper goal {target_width} m to finish")
        return True, res.result().status, res.result().result, feedback

    def move_arm(self, waypoints, seconds_per_point=1.0, tolerance=2e-3):
        """Follow joint waypoints (k, 7) and wait (in sim time) until the arm is at the last."""
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        msg = JointTrajectory(joint_names=ARM)
        for k, q in enumerate(waypoints, 1):
            t = k * seconds_per_point
            msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q], time_from_start=Duration(
                sec=int(t), nanosec=round((t % 1) * 1e9))))
        wait_for(lambda: self.traj_pub.get_subscription_count() > 0, 30, "the bridge's trajectory subscription")
        self.traj_pub.publish(msg)
        goal = np.asarray(waypoints[-1])
        wait_for(lambda: np.abs(self.arm() - goal).max() < tolerance, 120, "the arm to reach the grasp pose")


def detected(obj_id, label, shape, xyz, size, yaw=0.0):
    from brain_interfaces.msg import DetectedObject

    o = DetectedObject(id=obj_id, label=label, shape=shape, color_name=label.split()[0], confidence=0.9)
    o.pose.position.x, o.pose.position.y, o.pose.position.z = (float(v) for v in xyz)
    o.pose.orientation.z, o.pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
    o.size.x, o.size.y, o.size.z = (float(v) for v in size)
    return o


RED_CUBE = ("obj_1", "red cube", "box", (CUBE_XY[0], CUBE_XY[1], CUBE / 2.0), (CUBE, CUBE, CUBE))
BLUE_BOX = ("obj_2", "blue box", "box", (0.5, -0.25, 0.02), (0.03, 0.06, 0.04))


@pytest.fixture
def graph(launch, ros_context):
    run = launch(GRAPH, f"scenario:={SCENARIO}", "seed:=0")
    client = Client(ros_context)
    wait_for(lambda: client.joints is not None, 90, "joint_states from the bridge")
    run.wait_for_output(r"\[grasping\].*ready: plan_grasps", timeout=60)
    yield run, client
    client.close()
    assert run.stop() == 0, run.output


def hand_around_cube_path(client) -> list[np.ndarray]:
    """Joint waypoints: above the cube, then straight down until the grasp frame is 2.5 cm
    into it (pads around its upper half), fingers closing along the base y axis."""
    from brain_common.kinematics import Kinematics, top_down_rotation, transform_from_position_rotation
    from brain_common.robot_model import load_robot_model

    kin = Kinematics(load_robot_model())
    R = top_down_rotation(0.0)
    q = client.arm()
    path = []
    for z in np.linspace(0.15, CUBE - 0.025, 6):
        q = kin.ik(transform_from_position_rotation([CUBE_XY[0], CUBE_XY[1], z], R), q, restarts=0).q
        assert q is not None, f"no IK for the grasp frame at z {z:.3f}"
        path.append(q)
    return path


def test_plan_grasps_answers_and_refuses_with_reasons(graph):
    _run, client = graph
    client.publish_objects([detected(*RED_CUBE), detected(*BLUE_BOX)])
    # The node may take a moment to receive the array: ask until the cube is known.
    res = wait_for(lambda: (r := client.plan("obj_1")).success and r, 30, "a plan for obj_1")
    best = res.candidates[0]
    assert best.grasp_type == "top" and best.object_width == pytest.approx(CUBE)
    assert best.gripper_width == pytest.approx(0.07) and best.pre_grasp_distance == pytest.approx(0.10)
    assert [best.approach_direction.x, best.approach_direction.y, best.approach_direction.z] == pytest.approx(
        [0.0, 0.0, -1.0])
    p = best.grasp_pose.position
    assert (p.x, p.y, p.z) == pytest.approx((CUBE_XY[0], CUBE_XY[1], CUBE - 0.025), abs=1e-6)
    scores = [c.score for c in res.candidates]
    assert scores == sorted(scores, reverse=True) and 0.0 < scores[-1] <= scores[0] <= 1.0
    assert len(client.plan("obj_1", max_candidates=3).candidates) == 3

    unknown = client.plan("obj_9")
    assert not unknown.success and not unknown.candidates
    assert unknown.message == "no object with id 'obj_9'; known: obj_1 (red cube), obj_2 (blue box)"

    wide = client.plan(obj=detected("obj_7", "blue box", "box", (0.5, 0.2, 0.03), (0.095, 0.12, 0.06)))
    assert not wide.success and wide.message == "blue box is 9.5 cm wide; the gripper opens 8 cm"
    bad = client.plan(obj=detected("obj_8", "green box", "box", (0.5, 0.2, float("nan")), (0.03, 0.03, 0.03)))
    assert not bad.success and "position" in bad.message and "finite" in bad.message
    empty = client.plan()
    assert not empty.success and "give object_id" in empty.message


def test_plan_grasps_answers_from_the_frame_asked_about_never_an_older_one(graph):
    """The planner resolved obj_1 in the frame of 12.5 s; the grasping node still holds an older
    frame (the end of the last episode: nothing on the table). It says the frame is pending
    rather than 'no object obj_1', and answers once that frame has arrived."""
    _run, client = graph
    client.publish_objects([], stamp_s=10.0)
    wait_for(lambda: client.plan("obj_1").message.endswith("perception sees no objects"), 30,
             "grasping to hold the frame of 10 s")
    pending = client.plan("obj_1", min_stamp_s=12.5)
    assert not pending.success and pending.frame_pending and not pending.candidates
    assert "12.500 s has not arrived yet (newest: 10.000 s)" in pending.message
    client.publish_objects([detected(*RED_CUBE)], stamp_s=12.5)
    res = wait_for(lambda: (r := client.plan("obj_1", min_stamp_s=12.5)).success and r, 30, "the frame of 12.5 s")
    assert not res.frame_pending and res.candidates


def test_gripper_closes_on_the_cube_stalls_at_its_width_and_the_check_says_held(graph):
    from action_msgs.msg import GoalStatus

    run, client = graph
    assert client.width() == pytest.approx(0.08, abs=1e-3)
    # Out-of-range goals are refused, not clamped: nothing reaches the gripper.
    for target, effort, why in ((0.12, 0.0, "target_width 0.12 m is out of range; valid: 0 .. 0.08 m"),
                                (-0.01, 0.0, "target_width -0.01 m is out of range"),
                                (0.04, 100.0, "max_effort 100 N is out of range")):
        accepted, status, result, _ = client.grip(target, effort)
        assert accepted and status == GoalStatus.STATUS_ABORTED
        assert why in result.message and not result.reached and not result.stalled
    run.wait_for_output(r"goal refused: max_effort 100 N")
    t0 = client.sim_time()
    wait_for(lambda: client.sim_time() > t0 + 0.3, 60, "0.3 s of sim time")
    assert client.width() == pytest.approx(0.08, abs=1e-3), "a refused goal must not move the fingers"

    client.move_arm(hand_around_cube_path(client))
    client.publish_objects([detected(*RED_CUBE), detected(*BLUE_BOX)])
    wait_for(lambda: client.plan("obj_1").success, 30, "a plan for obj_1 (arms the grasp check with 5 cm)")

    accepted, status, result, feedback = client.grip(0.0)
    assert accepted and status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.stalled and not result.reached
    assert result.final_width == pytest.approx(CUBE, abs=0.002)
    assert feedback and feedback[0] > result.final_width - 1e-3 and min(feedback) >= CUBE - 0.003
    held = wait_for(lambda: (s := client.latest_state()) and s["state"] == "held" and s, 30, "grasp state held")
    assert held["object_id"] == "obj_1" and held["expected_width"] == pytest.approx(CUBE)
    assert held["width"] == pytest.approx(CUBE, abs=0.002)

    accepted, status, result, _ = client.grip(0.08)
    assert accepted and status == GoalStatus.STATUS_SUCCEEDED and result.reached and not result.stalled
    assert result.final_width == pytest.approx(0.08, abs=0.002)
    released = client.latest_state()
    assert released["state"] == "released"
    assert [s["state"] for s in client.states] == ["idle", "closing", "held", "released"]
    assert run.proc.poll() is None
