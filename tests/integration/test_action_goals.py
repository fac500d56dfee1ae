"""brain_common.actions.send_goal against a real rclpy ActionServer over real DDS.

rclpy 9.1.2's ActionClient.send_goal_async loses the goal response when the executor's
thread takes it while the caller is between the two registrations of the goal's future
(brain_common/actions.py). Under load that happens when the caller is preempted there; here
the caller is held there on purpose: the goal's id is a UUID message whose `uuid`, read a
second time (send_goal_async reads it after sending, to key the feedback callback), makes
the reading thread wait until the client has taken the response. That is the preemption,
made certain.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from conftest import Spinner, wait_for

pytestmark = [pytest.mark.integration]


def held_goal_id(client, guard: float = 3.0):
    """A goal id whose second read of `uuid` waits until `client` has taken the goal's
    response (its pending goal requests emptied), at most `guard` seconds: on the executor's
    thread the response cannot be taken meanwhile, and the guard ends the wait."""
    from unique_identifier_msgs.msg import UUID

    from conftest import wait_for as _wait_for

    class HeldUUID(UUID):
        __slots__ = ("_reads",)

        @property
        def uuid(self):
            self._reads = getattr(self, "_reads", 0) + 1
            if self._reads == 2:
                # on the executor's thread the response is taken only once this read returns
                with contextlib.suppress(AssertionError):
                    _wait_for(lambda: not client._pending_goal_requests, guard, "the goal response")
            return UUID.uuid.fget(self)

        @uuid.setter
        def uuid(self, value):
            UUID.uuid.fset(self, value)

    HeldUUID.__name__ = HeldUUID.__qualname__ = "UUID"
    HeldUUID.__module__ = UUID.__module__
    goal_id = HeldUUID()
    goal_id.uuid = list(range(16))
    return goal_id


@pytest.fixture
def gripper_pair(ros_context):
    from rclpy.action import ActionClient, ActionServer
    from rclpy.node import Node

    from brain_interfaces.action import GripperCommand

    def execute(handle):
        handle.succeed()
        return GripperCommand.Result(final_width=handle.request.target_width, reached=True)

    server_node = Node("gripper_server", context=ros_context)
    client_node = Node("gripper_client", context=ros_context)
    ActionServer(server_node, GripperCommand, "gripper", execute_callback=execute)
    client = ActionClient(client_node, GripperCommand, "gripper")
    server_spin, client_spin = Spinner(server_node, ros_context), Spinner(client_node, ros_context)
    assert client.wait_for_server(timeout_sec=30), "the action server did not appear"
    yield client_node, client
    client_spin.close()
    server_spin.close()
    client_node.destroy_node()
    server_node.destroy_node()


def test_a_goal_response_taken_mid_send_still_reaches_the_caller(gripper_pair):
    from brain_common.actions import send_goal
    from brain_interfaces.action import GripperCommand

    node, client = gripper_pair
    goal = GripperCommand.Goal(target_width=0.04)
    sent: list = []

    def caller():  # a worker thread, as the planner's task runner and the operator's main thread are
        sent.append(send_goal(node, client, goal, feedback_callback=lambda _f: None,
                              goal_uuid=held_goal_id(client)))

    threading.Thread(target=caller, daemon=True).start()
    wait_for(lambda: sent, 30, "send_goal to return")
    handle = wait_for(lambda: sent[0].done() and sent[0].result(), 30, "the goal response")
    assert handle.accepted
    result = handle.get_result_async()
    wait_for(result.done, 30, "the gripper result")
    assert result.result().result.final_width == pytest.approx(0.04)
