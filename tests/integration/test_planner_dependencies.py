"""The real planner node when a node it depends on goes away during a goal: the goal ends
with a result naming the lost dependency, and the arm is held, even with sim time standing
still (the sim waits for a perception that no longer answers; sim/armbrain_sim/lead.py)."""

from __future__ import annotations

import pytest

from conftest import TESTS, Spinner, send_task, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "planner.yaml"
Q0 = [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785]


class World:
    """Stand-ins the test keeps (a frozen /clock, the arm's joint_states) and a record of
    what the arm's controller is told; `stamp` is the sim time that stands still. A context
    manager: spun in a background thread while inside `with`."""

    def __init__(self, ros_context, stamp) -> None:
        from rclpy.node import Node
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        from brain_common.robot import ARM_JOINTS

        self.node = Node("world", context=ros_context)
        clock = self.node.create_publisher(Clock, "/clock", 10)
        joints = self.node.create_publisher(JointState, "joint_states", 10)

        def tick():
            clock.publish(Clock(clock=stamp))
            state = JointState(name=list(ARM_JOINTS), position=Q0)
            state.header.stamp = stamp
            joints.publish(state)

        self.node.create_timer(0.05, tick)
        self.commands: list = []
        self.node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self.commands.append, 10)
        self.context = ros_context

    def __enter__(self) -> World:
        self.spinner = Spinner(self.node, self.context)
        return self

    def __exit__(self, *_exc) -> None:
        self.spinner.close()
        self.node.destroy_node()

    def assert_aborted_and_held(self, wrapped, error_code: int, stage: str):
        """The goal's result: aborted in `stage` with `error_code`, and the arm held where it is."""
        from action_msgs.msg import GoalStatus

        res = wrapped.result
        assert wrapped.status == GoalStatus.STATUS_ABORTED, res.message
        assert (res.error_code, res.failed_stage) == (error_code, stage), res.message
        holds = wait_for(lambda: [list(m.points[0].positions) for m in self.commands if len(m.points) == 1],
                         30, "a hold after the abort")
        assert holds[-1] == pytest.approx(Q0)  # where the arm is measured
        return res


def objects_msg(stamp):
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3

    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    cube = DetectedObject(id="obj_1", label="red cube", color_name="red", shape="box", confidence=1.0,
                          pose=Pose(position=Point(x=0.5, y=-0.1, z=0.025), orientation=Quaternion(w=1.0)),
                          size=Vector3(x=0.05, y=0.05, z=0.05))
    msg = DetectedObjectArray(objects=[cube], table_detected=True)
    msg.header.stamp, msg.header.frame_id = stamp, "panda_link0"
    return msg


def run_goal_until(ros_context, run, stage: str, on_stage):
    """Send 'put the red cube in the bin'; once feedback says `stage`, call on_stage(); return
    the goal's result (it must come: the test fails if it does not within 120 s)."""
    from rclpy.action import ActionClient
    from rclpy.node import Node

    from brain_interfaces.action import ExecuteTask

    operator = Node("operator", context=ros_context)
    client = ActionClient(operator, ExecuteTask, "planner/execute_task")
    spinner = Spinner(operator, ros_context)
    try:
        handle, stages = send_task(operator, client, "put the red cube in the bin", run)
        wait_for(lambda: stage in stages, 90, f"stage {stage}; stages {stages}; output:\n{run.output[-3000:]}")
        on_stage()
        result = handle.get_result_async()
        wait_for(result.done, 120, f"the goal's result; output:\n{run.output[-3000:]}")
        return result.result()
    finally:
        spinner.close()
        operator.destroy_node()


def test_perception_gone_during_perceive_ends_the_goal_naming_it(launch, ros_context):
    from builtin_interfaces.msg import Time
    from rclpy.node import Node

    from brain_common.qos import RELIABLE_10
    from brain_interfaces.action import ExecuteTask
    from brain_interfaces.msg import DetectedObjectArray

    run = launch(GRAPH)
    perception = Node("perception", context=ros_context)  # seen, but only stale frames: the goal waits
    pub = perception.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
    perception.create_timer(0.05, lambda: pub.publish(objects_msg(Time(sec=1))))
    spin_perception = Spinner(perception, ros_context)

    def kill_perception():
        spin_perception.close()
        perception.destroy_node()

    with World(ros_context, Time(sec=5)) as world:
        wrapped = run_goal_until(ros_context, run, "perceive", kill_perception)
        res = world.assert_aborted_and_held(wrapped, ExecuteTask.Result.STALE_PERCEPTION, "perceive")
        assert res.message.endswith("perception/objects stopped arriving: no node has published it for 10 s; is the "
                                    "perception node running? (the launcher restarts it; see its output)")
    assert run.stop() == 0, run.output[-3000:]


def test_grasping_gone_during_plan_grasps_ends_the_goal_naming_it(launch, ros_context):
    from builtin_interfaces.msg import Time
    from rclpy.node import Node

    from brain_common.qos import RELIABLE_10
    from brain_interfaces.action import ExecuteTask
    from brain_interfaces.msg import DetectedObjectArray
    from brain_interfaces.srv import PlanGrasps

    run = launch(GRAPH)
    stamp = Time(sec=5)
    world = World(ros_context, stamp)
    pub = world.node.create_publisher(DetectedObjectArray, "perception/objects", RELIABLE_10)
    world.node.create_timer(0.05, lambda: pub.publish(objects_msg(stamp)))
    # A grasping node that is in the graph but never answers (nothing spins it) ... until it dies.
    grasping = Node("grasping", context=ros_context)
    grasping.create_service(PlanGrasps, "grasping/plan_grasps", lambda _req, res: res)
    with world:
        wrapped = run_goal_until(ros_context, run, "plan_grasps", grasping.destroy_node)
        res = world.assert_aborted_and_held(wrapped, ExecuteTask.Result.NO_GRASP, "plan_grasps")
        assert "grasping/plan_grasps" in res.message
        messages = [s.message for s in res.stages if s.stage == "plan_grasps"]
        assert messages[0] == ("grasping/plan_grasps went away: no service server has answered on it for 10 s; is "
                               "the grasping node running? (the launcher restarts it; see its output)"), messages
    assert run.stop() == 0, run.output[-3000:]
