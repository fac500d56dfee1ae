"""Operator commands that talk to a running brain: `armbrain task` and `armbrain objects`.

    armbrain task "put the red cube in the bin" [--json] [--timeout S] [--cancel-wait S]
    armbrain objects [--json] [--timeout S]

Both join the graph's ROS domain (--domain-id, default $ROS_DOMAIN_ID or 0) with
LOCALHOST discovery unless told otherwise. `task` shows live progress, exits 0 on
success and 1 with the planner's message otherwise; Ctrl-C cancels the goal and waits
up to --cancel-wait s for its result, a second Ctrl-C leaves at once: it never hangs.
Exit codes: 0 success, 1 task failed, 2 bad usage, 3 brain not reachable (no planner, the
planner went away during the goal, or it did not end a goal canceled on --timeout),
130 canceled.
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
CANCEL_WAIT = 10.0  # s (wall) a canceled goal's result is waited for, by default (--cancel-wait)
SERVER_CHECK_PERIOD = 0.25  # s (wall) between looks at the graph for the planner that holds the goal
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


class GoalWatch:
    """Follows an accepted goal until its result, and says when to stop waiting for it
    (wall clock: a person waits at this command line).

    The planner's action server is known by the endpoints that publish the action's status
    (their GIDs, one set per planner process): when none of those that held the goal is
    left in the graph, the planner died or was stopped (a respawned planner has new ones,
    and does not know the goal), and the goal will never have a result. The first Ctrl-C
    (or `timeout` s) cancels the goal and waits up to `cancel_wait` s for its result; a
    second Ctrl-C, or that bound, ends the wait at once."""

    def __init__(self, node, timeout: float, cancel_wait: float, err: TextIO) -> None:
        self.node, self.err = node, err
        self.deadline = time.monotonic() + timeout
        self.timeout, self.cancel_wait = timeout, cancel_wait
        self.servers = action_server_endpoints(node)
        self.canceled_at: float | None = None
        self.by_operator = False
        self._next_check = 0.0

    def step(self, interrupts: list[float], handle) -> tuple[int, str] | None:
        """None: keep waiting; else (exit code, message for stderr)."""
        now = time.monotonic()
        if len(interrupts) >= 2:
            return EXIT_CANCELED, ("armbrain task: second Ctrl-C: leaving without the result; the planner "
                                   "may still be ending the goal (its log says how it ended)")
        if self.canceled_at is None and (interrupts or now > self.deadline):
            self.canceled_at, self.by_operator = now, bool(interrupts)
            why = ("canceling the goal (the arm stops and holds) ..." if interrupts else
                   f"armbrain task: no result after {self.timeout:g} s; canceling the goal")
            handle.cancel_goal_async()
            print(("\n" if interrupts else "") + why + f" (waiting up to {self.cancel_wait:g} s for its result; "
                  "Ctrl-C again to leave at once)", file=self.err, flush=True)
            return None
        if self.canceled_at is not None and now - self.canceled_at > self.cancel_wait:
            return (EXIT_CANCELED if self.by_operator else EXIT_UNREACHABLE), (
                f"armbrain task: error: the planner did not end the canceled goal within {self.cancel_wait:g} s; "
                "leaving without its result (is the planner hung? its output is in the launcher's)")
        if now >= self._next_check:
            self._next_check = now + SERVER_CHECK_PERIOD
            present = action_server_endpoints(self.node)
            if not (present & self.servers if self.servers else present):
                return EXIT_UNREACHABLE, (
                    f"armbrain task: error: the planner went away during the goal: no action server on "
                    f"'{TASK_ACTION}' that knows it (the planner died or was stopped; a restarted planner "
                    "does not know the goal), so it will have no result. Check the arm, the launcher's "
                    "output, then try again")
        return None


def action_server_endpoints(node, action: str = TASK_ACTION) -> set[bytes]:
    """GIDs of the endpoints publishing `action`'s goal status: those of the running
    action server(s) (a new process has new ones)."""
    topic = f"/{action.lstrip('/')}/_action/status"
    return {bytes(i.endpoint_gid) for i in node.get_publishers_info_by_topic(topic)}


def run_task(goal_text: str, domain_id: int, as_json: bool, timeout: float, out: TextIO = sys.stdout,
             err: TextIO = sys.stderr, cancel_wait: float = CANCEL_WAIT) -> int:
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
    interrupts: list[float] = []  # one entry per Ctrl-C
    previous = signal.signal(signal.SIGINT, lambda *_: interrupts.append(time.monotonic()))
    try:
        if not wait_until(lambda: client.server_is_ready() or bool(interrupts), min(timeout, 15.0)):
            print(f"armbrain task: error: no planner answers on '{TASK_ACTION}' (ROS_DOMAIN_ID {domain_id}); "
                  "is the brain running? start it with 'armbrain launch'", file=err)
            return EXIT_UNREACHABLE
        if interrupts:
            print("armbrain task: interrupted before the goal was sent", file=err)
            return EXIT_CANCELED
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
        wait_until(lambda: send.done() or bool(interrupts), GOAL_ANSWER_TIMEOUT)
        if interrupts and not (send.done() and send.result().accepted):
            print("armbrain task: interrupted before the planner accepted the goal; if it does, "
                  f"cancel it (it is named on '{ACTIVE_GOAL_TOPIC}')", file=err)
            return EXIT_CANCELED
        if not send.done():
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
        follow = GoalWatch(session.node, timeout, cancel_wait, err)
        while not result_future.done():
            show_feedback()
            verdict = follow.step(interrupts, handle)
            if verdict is not None:
                code, message = verdict
                print(message, file=err, flush=True)
                return code
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
