"""The real planner node alone over real DDS: what an operator learns when it refuses a goal,
and the arm held after every goal that ends short of success."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ARMBRAIN, TESTS, Spinner, send_task, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "planner.yaml"


def test_a_second_goal_is_refused_naming_the_running_goal_and_every_failed_goal_holds_the_arm(
        launch, ros_context, domain_id):
    from action_msgs.msg import GoalStatus
    from builtin_interfaces.msg import Time
    from rclpy.action import ActionClient
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from brain_common.actions import send_goal
    from brain_common.robot import ARM_JOINTS
    from brain_interfaces.action import ExecuteTask

    run = launch(GRAPH)
    node = Node("operator", context=ros_context)
    client = ActionClient(node, ExecuteTask, "planner/execute_task")
    # Sim time stands still (where it starts, 0, plus 1 ns, so that it never jumps): the first
    # goal waits in perceive until it is canceled. The arm rests at q0 (joint_states).
    now = {"t": Time(sec=0, nanosec=1)}
    clock = node.create_publisher(Clock, "/clock", 10)
    joints = node.create_publisher(JointState, "joint_states", 10)
    q0 = [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785]

    def tick():
        clock.publish(Clock(clock=now["t"]))
        state = JointState(name=list(ARM_JOINTS), position=q0)
        state.header.stamp = now["t"]
        joints.publish(state)

    node.create_timer(0.05, tick)
    commands: list = []  # what the arm's controller is told
    node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", commands.append, 10)

    def holds():
        return [list(m.points[0].positions) for m in commands if len(m.points) == 1]
    spinner = Spinner(node, ros_context)
    try:
        assert client.wait_for_server(timeout_sec=90), run.output
        stages = []
        first = send_goal(node, client, ExecuteTask.Goal(command="put the red cube in the bin"),
                          feedback_callback=lambda m: stages.append(m.feedback.stage))
        handle = wait_for(lambda: first.done() and first.result(), 60, "the first goal's answer")
        assert handle.accepted
        wait_for(lambda: "perceive" in stages, 60, "the first goal to wait for perception")

        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
        second = subprocess.run([str(ARMBRAIN), "task", "put the blue cube in the bin"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        assert ("armbrain task: error: the planner refused the goal: it is running the goal 'put the red cube in "
                "the bin'") in second.stderr
        run.wait_for_output(r"goal 'put the blue cube in the bin' rejected: the task 'put the red cube in the "
                            r"bin' is running")

        cancel = handle.cancel_goal_async()
        wait_for(cancel.done, 60, "the cancel to be answered")
        result = handle.get_result_async()
        wait_for(result.done, 60, "the canceled goal's result")
        assert result.result().status == GoalStatus.STATUS_CANCELED, run.output
        assert result.result().result.failed_stage == "perceive"
        wait_for(holds, 30, "a hold after the cancel")
        assert all(h == pytest.approx(q0) for h in holds())  # where the arm is measured

        # A goal that aborts (no perception at all once sim time runs on): a hold too.
        before = len(holds())
        again = send_goal(node, client, ExecuteTask.Goal(command="put the red cube in the bin"))
        handle = wait_for(lambda: again.done() and again.result(), 60, "the third goal's answer")
        assert handle.accepted
        now["t"] = Time(sec=60)
        result = handle.get_result_async()
        wait_for(result.done, 60, "the aborted goal's result")
        assert result.result().status == GoalStatus.STATUS_ABORTED
        assert result.result().result.error_code == ExecuteTask.Result.STALE_PERCEPTION
        wait_for(lambda: len(holds()) > before, 30, f"a hold after the abort; output:\n{run.output[-2000:]}")
        assert holds()[-1] == pytest.approx(q0)
    finally:
        spinner.close()
        node.destroy_node()
    assert run.stop() == 0, run.output[-3000:]


def test_a_cancel_while_the_fingers_open_cancels_the_gripper_goal(launch, ros_context):
    """The planner against stand-ins of perception (one red cube), grasping (one top grasp)
    and a gripper that opens slowly: the operator cancels while the gripper goal of `open` runs
    (the fingers open while the arm approaches, so the task is in `open` or `approach`). The
    task ends CANCELED there, the gripper goal is canceled, and the arm is held."""
    import threading

    from action_msgs.msg import GoalStatus
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
    from rclpy.action import ActionClient, ActionServer, CancelResponse
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from brain_common.robot import ARM_JOINTS
    from brain_interfaces.action import ExecuteTask, GripperCommand
    from brain_interfaces.msg import DetectedObject, DetectedObjectArray, GraspCandidate
    from brain_interfaces.srv import PlanGrasps

    run = launch(GRAPH)
    world = Node("stand_ins", context=ros_context)
    stamp = Time(sec=5)  # sim time stands still: everything the stand-ins say is fresh
    q0 = [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785]
    cube = DetectedObject(id="obj_1", label="red cube", color_name="red", shape="box", confidence=1.0,
                          pose=Pose(position=Point(x=0.5, y=-0.1, z=0.025), orientation=Quaternion(w=1.0)),
                          size=Vector3(x=0.05, y=0.05, z=0.05))
    clock = world.create_publisher(Clock, "/clock", 10)
    joints = world.create_publisher(JointState, "joint_states", 10)
    objects = world.create_publisher(DetectedObjectArray, "perception/objects", 10)

    def tick():
        clock.publish(Clock(clock=stamp))
        state = JointState(name=list(ARM_JOINTS), position=q0)
        state.header.stamp = stamp
        joints.publish(state)
        seen = DetectedObjectArray(objects=[cube], table_detected=True)
        seen.header.stamp, seen.header.frame_id = stamp, "panda_link0"
        objects.publish(seen)

    world.create_timer(0.05, tick)

    def plan_grasps(request, response):
        response.success = True
        response.candidates = [GraspCandidate(
            grasp_pose=Pose(position=Point(x=0.5, y=-0.1, z=0.03), orientation=Quaternion(x=1.0, w=0.0)),
            approach_direction=Vector3(z=-1.0), pre_grasp_distance=0.1, gripper_width=0.07, object_width=0.05,
            grasp_type="top", score=1.0, object_id=request.object_id)]
        return response

    world.create_service(PlanGrasps, "grasping/plan_grasps", plan_grasps)
    gripper = {"goals": 0, "canceled": threading.Event()}

    def open_slowly(handle):  # a gripper that has not finished when the operator cancels
        gripper["goals"] += 1
        while not handle.is_cancel_requested:
            if gripper["canceled"].wait(0.01):
                break
        gripper["canceled"].set()
        handle.canceled()
        return GripperCommand.Result(final_width=0.0, reached=False, message="canceled")

    ActionServer(world, GripperCommand, "grasping/gripper", execute_callback=open_slowly,
                 cancel_callback=lambda _h: CancelResponse.ACCEPT)
    commands: list = []
    world.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", commands.append, 10)
    spin = MultiThreadedExecutor(num_threads=3, context=ros_context)  # the gripper blocks one thread
    spin.add_node(world)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [spin.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                               daemon=True)
    spinner.start()

    operator = Node("operator", context=ros_context)
    client = ActionClient(operator, ExecuteTask, "planner/execute_task")
    op_spin = Spinner(operator, ros_context)
    try:
        handle, stages = send_task(operator, client, "put the red cube in the bin", run)
        wait_for(lambda: gripper["goals"] > 0, 120, f"the gripper goal of 'open'; stages {stages}; output:\n"
                 + run.output[-3000:])
        assert stages[-1] in ("open", "approach")
        before = len(commands)
        wait_for(handle.cancel_goal_async().done, 60, "the cancel to be answered")
        result = handle.get_result_async()
        wait_for(result.done, 60, "the canceled goal's result")
        assert result.result().status == GoalStatus.STATUS_CANCELED, result.result().result.message
        assert result.result().result.error_code == ExecuteTask.Result.CANCELED
        assert result.result().result.failed_stage in ("open", "approach")
        assert gripper["canceled"].wait(30), "the gripper goal was not canceled"
        wait_for(lambda: len(commands) > before, 30, "a hold after the cancel")
        assert list(commands[-1].points[0].positions) == pytest.approx(q0)
    finally:
        gripper["canceled"].set()
        op_spin.close()
        operator.destroy_node()
        stop.set()
        spinner.join(timeout=5)
        spin.shutdown()
        world.destroy_node()
    assert run.stop() == 0, run.output[-3000:]
