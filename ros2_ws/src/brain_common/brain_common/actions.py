"""Sending action goals without losing their response (rclpy 9.1.2).

``ActionClient.send_goal_async`` of rclpy 9.1.2 registers the goal's future twice: once
under the client's lock, then again, after releasing it, with a new future. When the
executor's thread takes the goal response in between (the caller preempted there, under
load: 2 goals of 344 in one run, issue 15), it completes the first future, which nobody
holds; the caller's future never completes while the server runs the goal.

:func:`send_goal` issues the request from the executor's own thread, where no response can
be taken until the call has returned, so the returned future always completes when the
server answers. Callers still wait on it with a deadline (a server can die): the operator's
``armbrain task``, the planner's gripper client and the campaign runner each say so
clearly when it passes.
"""

from __future__ import annotations

from rclpy.task import Future

GOAL_RESPONSE_TIMEOUT = 5.0  # s an action server answers a goal request within (it only accepts or rejects)


def _relay(source: Future, target: Future) -> None:
    exc = source.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def send_goal(node, client, goal, feedback_callback=None, goal_uuid=None) -> Future:
    """``client.send_goal_async(goal, feedback_callback, goal_uuid)`` issued on the thread of the
    executor spinning `node` (the client's node); a Future of the ClientGoalHandle. Safe to
    call from any thread. Without an executor (nothing spins yet) the request goes out
    directly: then nothing can take its response concurrently either."""
    executor = node.executor
    if executor is None:
        return client.send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_uuid)
    out = Future()

    def issue() -> None:
        try:
            sent = client.send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_uuid)
        except Exception as exc:  # handed to the caller through its future
            out.set_exception(exc)
            return
        sent.add_done_callback(lambda f: _relay(f, out))

    executor.create_task(issue)
    return out
