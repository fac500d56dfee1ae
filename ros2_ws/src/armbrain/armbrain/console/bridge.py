"""The console's ROS side: one node, spun by a SingleThreadedExecutor in a background thread
(operator.RosSession), writing into a `ConsoleState`.

It listens to perception/objects, perception/debug_image (only while a page watches: perception
draws the overlay only while someone subscribes), /diagnostics, estop and planner/active_goal;
it sends goals to planner/execute_task (brain_common.actions.send_goal), cancels them, and
publishes the e-stop through ONE latched publisher made at start-up, so that a stop pressed in
the page reaches every node already matched with this process, without discovery delay.

Calls from the web thread (`send_goal`, `cancel`, `set_viewers`) are handed to the executor's
thread (executor.create_task); `estop` publishes at once from the caller's thread.
"""

from __future__ import annotations

import json
import os
import time

from armbrain.console.core import BinView, ConsoleState, GoalRecord, NodeHealth, ObjectRow
from armbrain.operator import (
    ACTIVE_GOAL_TOPIC,
    GOAL_ANSWER_TIMEOUT,
    OBJECTS_TOPIC,
    TASK_ACTION,
    RosSession,
    action_server_endpoints,
    result_to_dict,
)
from brain_common.cell import yaw_from_quaternion
from brain_common.estop import TOPIC as ESTOP_TOPIC
from brain_common.estop import (
    EStopState,
    announcement,
    command_from_msg,
    is_announcement,
    msg_from_command,
    new_command,
)

DEBUG_IMAGE_TOPIC = "perception/debug_image"
FRAME_RATE_HZ = 4.0  # JPEG frames per second at most: a person watches, perception's overlay costs CPU
JPEG_QUALITY = 75
UNKNOWN_NODE = "_NODE_NAME_UNKNOWN_"


def rows_from_objects_msg(msg) -> tuple[list[ObjectRow], BinView | None, dict]:
    """perception/objects -> (objects, bin, table) of the console's core."""
    rows = []
    for o in msg.objects:
        p, q = o.pose.position, o.pose.orientation
        rows.append(ObjectRow(o.id, o.label, p.x, p.y, p.z, (o.size.x, o.size.y, o.size.z),
                              yaw_from_quaternion(q.x, q.y, q.z, q.w), float(o.confidence)))
    b = msg.bin
    bin_view = None
    if b.seen or b.source:
        p, q = b.pose.position, b.pose.orientation
        bin_view = BinView(bool(b.seen), str(b.source), p.x, p.y, yaw_from_quaternion(q.x, q.y, q.z, q.w),
                           (b.inner_size.x, b.inner_size.y, b.inner_size.z))
    table = {"detected": bool(msg.table_detected), "plane": [float(v) for v in msg.table_plane]}
    return rows, bin_view, table


def jpeg_from_image_msg(msg, quality: int = JPEG_QUALITY) -> bytes:
    """A sensor_msgs/Image rgb8 or bgr8 as JPEG bytes; ValueError for another encoding."""
    import cv2
    import numpy as np

    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} is not shown (rgb8 or bgr8 expected)")
    img = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
    img = img.reshape(msg.height, msg.width, 3)
    if msg.encoding == "rgb8":
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()


class ConsoleBridge:
    """The console's node (see the module docstring)."""

    def __init__(self, state: ConsoleState, domain_id: int) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.action import ActionClient
        from rclpy.clock import Clock, ClockType
        from std_msgs.msg import String

        from brain_common.qos import LATCHED, LATCHED_ALL, RELIABLE_10
        from brain_interfaces.action import ExecuteTask
        from brain_interfaces.msg import DetectedObjectArray, EStop

        self.state = state
        self.session = RosSession.open("armbrain_console", domain_id, start=False)
        node = self.node = self.session.node
        self._estop_type = EStop
        self._estop_state = EStopState()
        self._estop_copies: dict[str, object] = {}  # publishing node -> its newest command
        self._estop_pub = node.create_publisher(EStop, ESTOP_TOPIC, LATCHED)  # the one, made at start-up
        node.create_subscription(EStop, ESTOP_TOPIC, self._on_estop, LATCHED_ALL)
        self._estop_pub.publish(announcement(EStop, node.get_name()))  # a publisher that has spoken (estop.py)
        node.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, self._on_objects, RELIABLE_10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        node.create_subscription(String, ACTIVE_GOAL_TOPIC, self._on_active_goal, LATCHED)
        self._client = ActionClient(node, ExecuteTask, TASK_ACTION)
        self._goal_type = ExecuteTask.Goal
        self._image_sub = None
        self._last_frame = 0.0
        self._handle = None  # the accepted goal's ClientGoalHandle
        self._servers: set[bytes] = set()  # the action server endpoints that hold our goal
        node.create_timer(1.0, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.session.start()

    def close(self) -> None:
        self.session.close()

    # -- subscriptions --------------------------------------------------------------------
    def _on_objects(self, msg) -> None:
        rows, bin_view, table = rows_from_objects_msg(msg)
        self.state.set_objects(rows, bin_view, table, time.monotonic())

    def _on_diagnostics(self, msg) -> None:
        now = time.monotonic()
        for s in msg.status:
            level = s.level[0] if isinstance(s.level, bytes) else int(s.level)
            self.state.set_health(NodeHealth(s.name, level, s.message, {kv.key: kv.value for kv in s.values}, now))

    def _on_active_goal(self, msg) -> None:
        try:
            goal = json.loads(msg.data).get("goal")
        except (ValueError, AttributeError):
            goal = None
        with self.state.lock:
            self.state.running_goal = str(goal) if goal else None
            self.state.changed()

    def _on_estop(self, msg) -> None:
        if is_announcement(msg):
            return
        try:
            cmd = command_from_msg(msg)
        except (TypeError, ValueError) as exc:
            self.node.get_logger().warning(f"ignoring a broken estop message: {exc}")
            return
        if msg.publisher:
            self._estop_copies[str(msg.publisher)] = cmd
        self._estop_state.update(cmd)
        self._publish_estop_state()

    def _publish_estop_state(self) -> None:
        cur = self._estop_state.current
        acks = sorted(n for n, c in self._estop_copies.items() if c == cur)
        with self.state.lock:
            self.state.estop.update({
                "engaged": self._estop_state.engaged, "known": cur is not None,
                "text": cur.describe() if cur is not None else "e-stop released (never engaged since the "
                                                               "console started)",
                "reason": cur.reason if cur is not None else "", "acks": acks})
            self.state.changed()

    def _on_image(self, msg) -> None:
        now = time.monotonic()
        if now - self._last_frame < 1.0 / FRAME_RATE_HZ:
            return
        self._last_frame = now
        try:
            jpeg = jpeg_from_image_msg(msg)
        except ValueError as exc:
            self.state.set_notice(f"camera image not shown: {exc}")
            return
        self.state.set_frame(jpeg, int(msg.width), int(msg.height), now)

    def _tick(self) -> None:
        """Once a second: who honours the e-stop, is the planner there, did our goal's planner go."""
        me = self.node.get_name()
        honoured = sorted({i.node_name for i in self.node.get_subscriptions_info_by_topic(f"/{ESTOP_TOPIC}")
                           if i.node_name not in (me, UNKNOWN_NODE)})
        ready = self._client.server_is_ready()
        with self.state.lock:
            self.state.estop["honoured_by"] = honoured
            self.state.planner_ready = ready
            rec = self.state.current
            self.state.changed()
        if rec is None or not rec.running:
            return
        if self._handle is None and rec.status in ("sending", "canceling") \
                and time.time() - rec.sent_at > GOAL_ANSWER_TIMEOUT:
            self._lost(rec, f"the planner did not answer the goal within {GOAL_ANSWER_TIMEOUT:g} s; is it "
                            "running? (armbrain health)")
        elif rec.status in ("running", "canceling") and self._servers \
                and not (action_server_endpoints(self.node) & self._servers):
            self._lost(rec, "the planner went away during the goal (it died or was stopped; a restarted planner "
                            "does not know the goal): check the arm and the launcher's output, then try again")

    def _lost(self, rec: GoalRecord, why: str) -> None:
        def fn(r: GoalRecord) -> None:
            r.status, r.message = "lost", why
        self.state.update_goal(rec, fn)
        self._handle = None

    # -- viewers -------------------------------------------------------------------------
    def set_viewers(self, count: int) -> None:
        """Subscribe to the overlay image while `count` > 0 authorised pages watch, not otherwise."""
        self.session.executor.create_task(lambda: self._set_viewers(count))

    def _set_viewers(self, count: int) -> None:
        from sensor_msgs.msg import Image

        from brain_common.qos import SENSOR_DATA

        if count > 0 and self._image_sub is None:
            self._image_sub = self.node.create_subscription(Image, DEBUG_IMAGE_TOPIC, self._on_image, SENSOR_DATA)
        elif count <= 0 and self._image_sub is not None:
            self.node.destroy_subscription(self._image_sub)
            self._image_sub = None

    # -- commands ------------------------------------------------------------------------
    def engage(self, engaged: bool, reason: str, source: str) -> None:
        """Publish an e-stop command now (any thread)."""
        cmd = new_command(engaged, reason, source)
        self._estop_pub.publish(msg_from_command(self._estop_type, cmd))
        self.session.executor.create_task(lambda: (self._estop_state.update(cmd), self._publish_estop_state()))

    def send_goal(self, text: str) -> tuple[bool, str]:
        """(sent, why not). The goal's progress and result arrive in the state."""
        text = text.strip()
        if not text:
            return False, 'the goal is empty; e.g. "put the red cube in the bin" (docs/goals.md)'
        if not self._client.server_is_ready():
            return False, f"no planner answers on '{TASK_ACTION}'; is the brain running? (armbrain launch)"
        rec = self.state.start_goal(text)
        if rec is None:
            return False, "this console already runs a goal; wait for it to end, or cancel it"
        self.session.executor.create_task(lambda: self._send(rec))
        return True, ""

    def _send(self, rec: GoalRecord) -> None:
        from brain_common.actions import send_goal

        def on_feedback(m) -> None:
            f = m.feedback
            now = time.monotonic()
            self.state.update_goal(rec, lambda r: r.on_feedback(f.stage, f.object_id, int(f.attempt),
                                                                float(f.progress), f.message, now))

        self._servers = action_server_endpoints(self.node)
        sent = send_goal(self.node, self._client, self._goal_type(command=rec.goal), feedback_callback=on_feedback)
        sent.add_done_callback(lambda fut: self._on_answer(rec, fut))

    def _on_answer(self, rec: GoalRecord, fut) -> None:
        if rec.status not in ("sending", "canceling"):  # given up on (no answer in time)
            return
        exc = fut.exception()
        handle = None if exc is not None else fut.result()
        if handle is None or not handle.accepted:
            busy = self.state.running_goal
            why = (f"the planner refused the goal: it is running the goal '{busy}' (one task at a time; wait for "
                   "it to end, or cancel it)" if busy else
                   f"the planner refused the goal{f' ({exc})' if exc else ''}; is another task running? "
                   "it accepts one task at a time")

            def refused(r: GoalRecord) -> None:
                r.status, r.message, r.error = "refused", why, "REFUSED"
            self.state.update_goal(rec, refused)
            return
        self._handle = handle
        if rec.status == "canceling":  # the operator canceled before the planner accepted
            handle.cancel_goal_async()

        def accepted(r: GoalRecord) -> None:
            r.status = "running" if r.status == "sending" else r.status
        self.state.update_goal(rec, accepted)
        handle.get_result_async().add_done_callback(lambda f: self._on_result(rec, f))

    def _on_result(self, rec: GoalRecord, fut) -> None:
        from action_msgs.msg import GoalStatus

        if not rec.running:  # given up on already
            return
        wrapped = fut.result()
        status = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_ABORTED: "aborted",
                  GoalStatus.STATUS_CANCELED: "canceled"}.get(wrapped.status, f"status {wrapped.status}")
        result = result_to_dict(wrapped.result, status)
        self.state.update_goal(rec, lambda r: r.on_result(status, result))
        self._handle = None

    def cancel(self) -> tuple[bool, str]:
        rec = self.state.current
        if rec is None or not rec.running:
            busy = self.state.running_goal
            return False, ("no goal of this console runs" + (f"; the planner runs '{busy}', given elsewhere: cancel "
                                                              "it where it was given (Ctrl-C in armbrain task) or "
                                                              "press the e-stop" if busy else ""))
        self.session.executor.create_task(lambda: self._cancel(rec))
        return True, ""

    def _cancel(self, rec: GoalRecord) -> None:
        def canceling(r: GoalRecord) -> None:
            r.status = "canceling"
        self.state.update_goal(rec, canceling)
        if self._handle is not None:
            self._handle.cancel_goal_async()
        # else: not accepted yet; _on_answer cancels it as soon as it is


def console_source(client: str) -> str:
    """Who gave an e-stop command, for every node's log and /diagnostics."""
    return f"armbrain console (pid {os.getpid()}, browser at {client})"
