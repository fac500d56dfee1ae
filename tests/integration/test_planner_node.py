"""The real planner node alone over real DDS: what an operator learns when it refuses a goal."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ARMBRAIN, TESTS, Spinner, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "planner.yaml"


def test_a_second_goal_is_refused_naming_the_running_goal(launch, ros_context, domain_id):
    from action_msgs.msg import GoalStatus
    from builtin_interfaces.msg import Time
    from rclpy.action import ActionClient
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock

    from brain_common.actions import send_goal
    from brain_interfaces.action import ExecuteTask

    run = launch(GRAPH)
    node = Node("operator", context=ros_context)
    client = ActionClient(node, ExecuteTask, "planner/execute_task")
    # Sim time stands still (where it starts, 0, plus 1 ns, so that it never jumps): the first
    # goal waits in perceive until it is canceled.
    clock = node.create_publisher(Clock, "/clock", 10)
    node.create_timer(0.05, lambda: clock.publish(Clock(clock=Time(sec=0, nanosec=1))))
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
    finally:
        spinner.close()
        node.destroy_node()
    assert run.stop() == 0, run.output[-3000:]
