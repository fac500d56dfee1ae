"""Operator commands that talk to a running brain: `armbrain task` and `armbrain objects`.

    armbrain task "put the red cube in the bin" [--json] [--timeout S]
    armbrain objects [--json] [--timeout S]

Both join the graph's ROS domain (--domain-id, default $ROS_DOMAIN_ID or 0) with
LOCALHOST discovery unless told otherwise. `task` shows live progress, exits 0 on
success and 1 with the planner's message otherwise; Ctrl-C cancels the goal.
Exit codes: 0 success, 1 task failed, 2 bad usage, 3 brain not reachable, 130 canceled.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

TASK_ACTION = "planner/execute_task"
ACTIVE_GOAL_TOPIC = "planner/active_goal"
OBJECTS_TOPIC = "perception/objects"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_CANCELED = 0, 1, 2, 3, 130
GOAL_ANSWER_TIMEOUT = 15.0  # s (wall: a person waits) for the planner to accept or refuse a goal
_SESSIONS = 0


@dataclass
class RosSession:
    """A context + node + single-threaded executor spinning in a background thread."""

    context: object
    node: object
    executor: object
    thread: threading.Thread
    stop: threading.Event

    @classmethod
    def open(cls, name: str, domain_id: int, start: bool = True) -> RosSession:
        """A node on `domain_id`, spun in a background thread. With start=False, create the
        node's subscriptions, clients and action clients first and then call start(): the
        executor must not meet an entity still being built (rclpy's ActionClient registers
        itself before its constructor ends)."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        global _SESSIONS
        _SESSIONS += 1
        name = f"{name}_{os.getpid()}_{_SESSIONS}"  # unique: several sessions may live in one process
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain_id, signal_handler_options=rclpy.SignalHandlerOptions.NO)
        node = Node(name, context=context)
        executor = SingleThreadedExecutor(context=context)
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                executor.spin_once(timeout_sec=0.05)

        session = cls(context, node, executor, threading.Thread(target=spin, daemon=True), stop)
        if start:
            session.start()
        return session

    def start(self) -> None:
        """Begin spinning (once every entity of the node is created)."""
        self.executor.add_node(self.node)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def wait_until(predicate, timeout: float, poll: float = 0.02) -> bool:
    """Wait (wall clock: this is a person's command line) until predicate() or timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def running_goal(messages: list[str]) -> str | None:
    """The goal the planner runs, from its latest planner/active_goal JSON; None when idle or unknown."""
    for data in reversed(messages):
        try:
            goal = json.loads(data).get("goal")
        except (ValueError, AttributeError):
            continue
        return str(goal) if goal else None
    return None


def error_name(code: int) -> str:
    from brain_interfaces.action import ExecuteTask

    for name in dir(ExecuteTask.Result):
        if name.isupper() and getattr(ExecuteTask.Result, name) == code:
            return name
    return f"ERROR_{code}"


def result_to_dict(result, status: str) -> dict:
    return {
        "status": status,
        "success": bool(result.success),
        "error_code": int(result.error_code),
        "error": error_name(result.error_code),
        "message": result.message,
        "failed_stage": result.failed_stage,
        "duration": result.duration,
        "objects": [{"object_id": o.object_id, "label": o.label, "success": o.success,
                     "error": error_name(o.error_code), "failed_stage": o.failed_stage,
                     "message": o.message, "attempts": o.attempts} for o in result.objects],
        "stages": [{"stage": s.stage, "object_id": s.object_id, "attempt": s.attempt,
                    "duration": s.duration, "success": s.success, "message": s.message} for s in result.stages],
    }


def _bar(progress: float, width: int = 24) -> str:
    p = 0.0 if not math.isfinite(progress) else min(max(progress, 0.0), 1.0)
    n = round(p * width)
    return "[" + "#" * n + "-" * (width - n) + f"] {p * 100:3.0f}%"


def run_task(goal_text: str, domain_id: int, as_json: bool, timeout: float, out: TextIO = sys.stdout,
             err: TextIO = sys.stderr) -> int:
    from action_msgs.msg import GoalStatus
    from rclpy.action import ActionClient
    from std_msgs.msg import String

    from brain_common.actions import send_goal
    from brain_common.qos import LATCHED
    from brain_interfaces.action import ExecuteTask

    if not goal_text.strip():
        print("armbrain task: error: the goal is empty; e.g. armbrain task \"put the red cube in the bin\"",
              file=err)
        return EXIT_USAGE
    session = RosSession.open("armbrain_task", domain_id, start=False)
    client = ActionClient(session.node, ExecuteTask, TASK_ACTION)
    running: list[str] = []  # the planner's running goal, from its latched planner/active_goal
    session.node.create_subscription(String, ACTIVE_GOAL_TOPIC, lambda m: running.append(m.data), LATCHED)
    session.start()
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        if not client.wait_for_server(timeout_sec=min(timeout, 15.0)):
            print(f"armbrain task: error: no planner answers on '{TASK_ACTION}' (ROS_DOMAIN_ID {domain_id}); "
                  "is the brain running? start it with 'armbrain launch'", file=err)
            return EXIT_UNREACHABLE
        feedback: list = []  # appended by the spin thread, printed by this one, in order
        printed = [0, ""]

        def show_feedback() -> None:
            while printed[0] < len(feedback):
                f = feedback[printed[0]]
                printed[0] += 1
                line = f"{_bar(f.progress)} {f.stage:<14} attempt {f.attempt}  {f.message}"
                if line != printed[1] and not as_json:
                    print(line, file=out, flush=True)
                    printed[1] = line

        send = send_goal(session.node, client, ExecuteTask.Goal(command=goal_text),
                         feedback_callback=lambda m: feedback.append(m.feedback))
        if not wait_until(lambda: send.done() or interrupted.is_set(), GOAL_ANSWER_TIMEOUT) or not send.done():
            print(f"armbrain task: error: the planner did not answer the goal request within "
                  f"{GOAL_ANSWER_TIMEOUT:g} s; is it overloaded or hung? (its output is in the launcher's)", file=err)
            return EXIT_UNREACHABLE
        handle = send.result()
        if not handle.accepted:
            wait_until(lambda: running_goal(running) is not None, 2.0)
            busy = running_goal(running)
            why = (f"it is running the goal '{busy}' (one task at a time; wait for it to end, or cancel it)"
                   if busy else "is another task running? it accepts one task at a time")
            print(f"armbrain task: error: the planner refused the goal: {why}", file=err)
            return EXIT_FAILED
        if not as_json:
            print(f"goal accepted: {goal_text}", file=out, flush=True)
        result_future = handle.get_result_async()
        deadline = time.monotonic() + timeout
        canceled = False
        while not result_future.done():
            show_feedback()
            if interrupted.is_set() and not canceled:
                canceled = True
                print("\ncanceling the goal (the arm stops and holds) ...", file=err, flush=True)
                handle.cancel_goal_async()
            if time.monotonic() > deadline and not canceled:
                canceled = True
                print(f"armbrain task: no result after {timeout:g} s; canceling the goal", file=err, flush=True)
                handle.cancel_goal_async()
            time.sleep(0.02)
        show_feedback()
        wrapped = result_future.result()
        status = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_ABORTED: "aborted",
                  GoalStatus.STATUS_CANCELED: "canceled"}.get(wrapped.status, f"status {wrapped.status}")
        res = wrapped.result
        if as_json:
            print(json.dumps(result_to_dict(res, status), indent=2), file=out)
        else:
            verdict = "SUCCESS" if res.success else f"FAILED ({error_name(res.error_code)})"
            print(f"{verdict}: {res.message}", file=out)
            for o in res.objects:
                mark = "ok " if o.success else "FAIL"
                print(f"  {mark} {o.label or o.object_id}: {o.message}", file=out)
        if wrapped.status == GoalStatus.STATUS_CANCELED:
            return EXIT_CANCELED
        return EXIT_OK if res.success else EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
        session.close()


def run_objects(domain_id: int, as_json: bool, timeout: float, out: TextIO = sys.stdout,
                err: TextIO = sys.stderr) -> int:
    from brain_common.qos import RELIABLE_10
    from brain_interfaces.msg import DetectedObjectArray

    session = RosSession.open("armbrain_objects", domain_id, start=False)
    got: list = []
    session.node.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, got.append,
                                     RELIABLE_10)
    session.start()
    try:
        if not wait_until(lambda: bool(got), timeout):
            print(f"armbrain objects: error: nothing on '{OBJECTS_TOPIC}' within {timeout:g} s "
                  f"(ROS_DOMAIN_ID {domain_id}); is perception running?", file=err)
            return EXIT_UNREACHABLE
        msg = got[-1]
        rows = [{"id": o.id, "label": o.label, "x": o.pose.position.x, "y": o.pose.position.y,
                 "z": o.pose.position.z, "size": [o.size.x, o.size.y, o.size.z], "confidence": o.confidence}
                for o in msg.objects]
        if as_json:
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            print(json.dumps({"stamp": stamp, "frame_id": msg.header.frame_id, "objects": rows}, indent=2),
                  file=out)
            return EXIT_OK
        if not rows:
            print("perception sees no object on the table", file=out)
            return EXIT_OK
        print(f"{'id':<8} {'label':<18} {'x (m)':>7} {'y (m)':>7} {'z (m)':>7}  size (cm)", file=out)
        for r in rows:
            size = " x ".join(f"{v * 100:.1f}" for v in r["size"])
            print(f"{r['id']:<8} {r['label']:<18} {r['x']:7.3f} {r['y']:7.3f} {r['z']:7.3f}  {size}", file=out)
        return EXIT_OK
    finally:
        session.close()


def domain_from(value: int | None) -> int:
    from armbrain.launcher import check_domain_id

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return check_domain_id(value if value is not None else int(os.environ.get("ROS_DOMAIN_ID", "0") or 0))
