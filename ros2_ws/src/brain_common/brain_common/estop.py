"""The protective stop (e-stop): one latched topic that every node honours.

Topic `estop` (brain_interfaces/EStop, reliable, transient local, depth 1). A message is a
command and a state at once. `armbrain estop` publishes one; every node that honours the
stop (`EStopListener`) publishes again the newest one it has seen, so a node that starts
later, such as a respawned planner, learns the state from any live node even after the
commander has gone.

Which message wins (`EStopState`, pure): the newest `stamp` (the commander's wall clock);
at an equal stamp an engage beats a release. A release without a stamp is ignored (a
broken release must not free the arm); an engage without a stamp is honoured, stamped on
arrival.

Learning the state after a (re)start: every listener announces itself when it starts, with
a release without a stamp that names it as `publisher` (it has seen no command yet); it is
ignored like any unstamped release, but it means that every node on the topic has
something latched to say. So a node knows the state once every publisher on the topic
(from the graph) has been heard from (`EStopListener.wait_learned`): the planner waits for
that before it takes its first goal after a restart.

This is a software stop of the brain and of the controller it commands; it does not
replace the robot's hardware emergency stop (docs/safety.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TOPIC = "estop"
MAX_TEXT = 200  # characters of source / reason kept from a message
LEARN_POLL_S = 0.05  # how often wait_learned looks at the graph again (new publishers raise no event)


@dataclass(frozen=True, slots=True)
class EStopCommand:
    engaged: bool
    stamp_ns: int  # wall clock of the commander, ns since the epoch
    source: str = ""
    reason: str = ""

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.stamp_ns / 1e9))
        what = "engaged" if self.engaged else "released"
        by = f" by {self.source}" if self.source else ""
        why = f": {self.reason}" if self.reason else ""
        return f"e-stop {what}{by} at {when}{why}"


class EStopState:
    """The newest e-stop command seen (pure; see the module docstring for the rules)."""

    def __init__(self) -> None:
        self.current: EStopCommand | None = None

    @property
    def engaged(self) -> bool:
        return self.current is not None and self.current.engaged

    def update(self, cmd: EStopCommand, now_ns: int | None = None) -> tuple[bool, str]:
        """Take `cmd` if it wins; returns (taken, why not when it was not)."""
        if cmd.stamp_ns <= 0:
            if not cmd.engaged:
                return False, "a release without a stamp is ignored (the stop stays as it is)"
            cmd = EStopCommand(True, now_ns if now_ns is not None else time.time_ns(), cmd.source, cmd.reason)
        cur = self.current
        if cur is not None:
            if cmd.stamp_ns < cur.stamp_ns:
                return False, "older than the command in force"
            if cmd.stamp_ns == cur.stamp_ns and (cur.engaged or cmd == cur):
                return False, "the same command, or a release at the stamp of an engage"
        self.current = cmd
        return True, ""


def command_from_msg(msg) -> EStopCommand:
    return EStopCommand(bool(msg.engaged), int(msg.stamp.sec) * 1_000_000_000 + int(msg.stamp.nanosec),
                        str(msg.source)[:MAX_TEXT], str(msg.reason)[:MAX_TEXT])


def msg_from_command(msg_type, cmd: EStopCommand, publisher: str = ""):
    """A brain_interfaces/EStop (`msg_type`: brain_common stands below the interfaces) of `cmd`."""
    msg = msg_type(engaged=cmd.engaged, source=cmd.source, reason=cmd.reason, publisher=publisher)
    msg.stamp.sec, msg.stamp.nanosec = divmod(cmd.stamp_ns, 1_000_000_000)
    return msg


def is_announcement(msg) -> bool:
    """A node's word that it is there and has seen no command yet: a release without a
    stamp, named by its `publisher` (ignored as a command, like every unstamped release)."""
    return not msg.engaged and msg.stamp.sec == 0 and msg.stamp.nanosec == 0 and bool(msg.publisher)


def announcement(msg_type, publisher: str):
    return msg_type(engaged=False, publisher=publisher)


def _gid(raw) -> bytes:
    """A DDS writer's id, from the graph (a list of ints) or a MessageInfo (a dict with bytes)."""
    if isinstance(raw, dict):
        raw = raw.get("data", b"")
    return bytes(raw or b"")


def unheard(publishers, heard_gids: set[bytes], heard_names: set[str], me: tuple[str, str]) -> list[str]:
    """Names of the nodes among `publishers` (graph TopicEndpointInfo) not heard from yet, but
    for this node (`me`: name, namespace). A writer counts as heard when a message with its
    id arrived, or, where the middleware gives no id, one that names its node as publisher."""
    out = []
    for info in publishers:
        if (info.node_name, info.node_namespace) == me:
            continue
        gid = _gid(info.endpoint_gid)
        if gid in heard_gids or (not gid and info.node_name in heard_names):
            continue
        out.append(info.node_name)
    return sorted(out)


def new_command(engaged: bool, reason: str = "", source: str | None = None) -> EStopCommand:
    """A command given now, by this process unless `source` says who."""
    return EStopCommand(engaged, time.time_ns(), source or f"pid {os.getpid()}", reason[:MAX_TEXT])


class EStopListener:
    """Honour the e-stop in a node: keep the state, pass it on, call `on_change(cmd)` (in the
    executor's thread) when it changes. `engaged` may be read from any thread. msg_type:
    brain_interfaces.msg.EStop (given by the node: brain_common stands below the interfaces)."""

    def __init__(self, node, msg_type, on_change: Callable[[EStopCommand], None] | None = None) -> None:
        from brain_common.qos import LATCHED, LATCHED_ALL

        self._node, self._on_change, self._type = node, on_change, msg_type
        self.state = EStopState()
        self._heard = threading.Condition()  # guards the two sets below
        self._heard_gids: set[bytes] = set()
        self._heard_names: set[str] = set()
        self._learned = False
        self._pub = node.create_publisher(msg_type, TOPIC, LATCHED)
        node.create_subscription(msg_type, TOPIC, self._on_msg, LATCHED_ALL)  # every node's copy
        self._pub.publish(announcement(msg_type, node.get_name()))  # replaced by the first command taken

    @property
    def engaged(self) -> bool:
        return self.state.engaged

    def describe(self) -> str:
        cur = self.state.current
        return "e-stop released (never engaged)" if cur is None else cur.describe()

    def wait_learned(self, timeout: float) -> list[str]:
        """Block (not in the executor's thread) until every other publisher on the topic has
        been heard from and there is at least one, so `engaged` is the cell's state and not
        only this node's; at most `timeout` s. Returns the nodes not heard from ([] when
        learned). Waits once: from then on it returns [] at once (a node that never speaks
        must not cost every goal the timeout; what it sends later is honoured as it comes)."""
        me = (self._node.get_name(), self._node.get_namespace())
        deadline = time.monotonic() + timeout
        with self._heard:
            while not self._learned:
                pubs = self._node.get_publishers_info_by_topic(self._pub.topic_name)
                missing = unheard(pubs, self._heard_gids, self._heard_names, me)
                if not missing and any((p.node_name, p.node_namespace) != me for p in pubs):
                    self._learned = True
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self._learned = True
                    return missing or ["any other node (none publishes on the topic)"]
                self._heard.wait(min(left, LEARN_POLL_S))
        return []

    def _on_msg(self, msg, info) -> None:  # info: rclpy MessageInfo (the writer's id)
        try:
            self._take(msg)
        finally:  # heard only once taken: wait_learned must not return before `engaged` says it
            with self._heard:
                gid = _gid((info or {}).get("publisher_gid"))
                if gid:
                    self._heard_gids.add(gid)
                if msg.publisher:
                    self._heard_names.add(str(msg.publisher))
                self._heard.notify_all()

    def _take(self, msg) -> None:
        if is_announcement(msg):
            return
        try:
            cmd = command_from_msg(msg)
        except (TypeError, ValueError) as exc:  # a field of the wrong kind: nothing to honour
            self._node.get_logger().warning(f"ignoring a broken estop message: {exc}")
            return
        taken, why = self.state.update(cmd)
        if not taken:
            if cmd.stamp_ns <= 0 and not cmd.engaged:
                self._node.get_logger().warning(f"estop: {why}")
            return
        cur = self.state.current
        assert cur is not None
        log = self._node.get_logger()
        if cur.engaged:
            log.error(f"{cur.describe()}: holding")
        else:
            log.warning(f"{cur.describe()}")
        self._pub.publish(msg_from_command(self._type, cur, self._node.get_name()))
        if self._on_change is not None:
            self._on_change(cur)
