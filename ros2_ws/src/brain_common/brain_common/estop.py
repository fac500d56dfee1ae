"""The protective stop (e-stop): one latched topic that every node honours.

Topic `estop` (brain_interfaces/EStop, reliable, transient local, depth 1). A message is a
command and a state at once. `armbrain estop` publishes one; every node that honours the
stop (`EStopListener`) publishes again the newest one it has seen, so a node that starts
later, such as a respawned planner, learns the state from any live node even after the
commander has gone.

Which message wins (`EStopState`, pure): the newest `stamp` (the commander's wall clock);
at an equal stamp an engage beats a release. A release without a stamp is ignored (a
broken release must not free the arm); an engage without a stamp is honoured, stamped on
arrival. This is a software stop of the brain and of the controller it commands; it does
not replace the robot's hardware emergency stop (docs/safety.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

TOPIC = "estop"
MAX_TEXT = 200  # characters of source / reason kept from a message


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
        self._pub = node.create_publisher(msg_type, TOPIC, LATCHED)
        node.create_subscription(msg_type, TOPIC, self._on_msg, LATCHED_ALL)  # every node's copy

    @property
    def engaged(self) -> bool:
        return self.state.engaged

    def describe(self) -> str:
        cur = self.state.current
        return "e-stop released (never engaged)" if cur is None else cur.describe()

    def _on_msg(self, msg) -> None:
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
