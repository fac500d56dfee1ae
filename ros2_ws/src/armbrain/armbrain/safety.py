"""`armbrain estop` and `armbrain health`: the protective stop and the graph's health.

    armbrain estop [--reason TEXT]      engage: the arm holds, the running task ends ESTOPPED,
                                        goals are refused until release
    armbrain estop --release            release (nothing moves by itself afterwards)
    armbrain estop --status             print the state without changing it
    armbrain health [--json]            the latest /diagnostics of every node

`estop` publishes on the latched topic `estop` (brain_common/estop.py) and waits until every
node that subscribes to it has passed the command on (each honouring node publishes the
newest command again), then names them. It is a software stop; it does not replace the
robot's hardware emergency stop (docs/safety.md).

Exit codes: 0 done (every honouring node acknowledged; health: every node OK); 1 some node
did not acknowledge within --timeout (health: some node is not OK); 3 no node honours the
e-stop (health: no /diagnostics), e.g. no graph on this ROS_DOMAIN_ID.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TextIO

from armbrain.operator import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, RosSession, wait_until
from brain_common.estop import TOPIC, EStopState, command_from_msg, msg_from_command, new_command

UNKNOWN_NODE = "_NODE_NAME_UNKNOWN_"  # rmw's name for an endpoint whose node is not discovered yet
DISCOVERY_SETTLE_S = 3.0  # s without a new subscriber before the acknowledgements are judged complete: DDS
# discovers a new process's peers one by one (here up to 2.5 s apart on a loaded machine); the stop itself is
# published at once and reaches each node as soon as that node has discovered this process
LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}


def _subscribers(node) -> set[str]:
    """Names of the other nodes subscribed to the e-stop topic."""
    me = node.get_name()
    return {i.node_name for i in node.get_subscriptions_info_by_topic(f"/{TOPIC}")
            if i.node_name not in (me, UNKNOWN_NODE)}  # a name not discovered yet counts once it is


def run_estop(action: str, reason: str, domain_id: int, timeout: float, out: TextIO = sys.stdout,
              err: TextIO = sys.stderr) -> int:
    """action: "engage", "release" or "status"."""
    from brain_common.qos import LATCHED, LATCHED_ALL
    from brain_interfaces.msg import EStop

    session = RosSession.open("armbrain_estop", domain_id, start=False)
    seen: list = []  # (monotonic arrival, message)
    session.node.create_subscription(EStop, TOPIC, lambda m: seen.append((time.monotonic(), m)),
                                     LATCHED_ALL)  # every node's copy, not only the last to come
    pub = session.node.create_publisher(EStop, TOPIC, LATCHED)
    session.start()
    try:
        if action == "status":
            if not wait_until(lambda: bool(seen) or bool(_subscribers(session.node)), timeout):
                print(f"armbrain estop: error: no node honours '{TOPIC}' on ROS_DOMAIN_ID {domain_id} within "
                      f"{timeout:g} s; is the graph running?", file=err)
                return EXIT_UNREACHABLE
            # Latched copies arrive as discovery matches: wait for every honouring node's word
            # (each announces itself when it starts, brain_common/estop.py), not the first to come.
            wait_until(lambda: bool(seen) and _subscribers(session.node) <= {str(m.publisher) for _, m in seen},
                       min(timeout, 2.0))
            state = EStopState()
            for _, m in list(seen):
                state.update(command_from_msg(m))
            cur = state.current
            print(cur.describe() if cur is not None else "e-stop released (never engaged since the graph started)",
                  file=out)
            return EXIT_OK
        cmd = new_command(action == "engage", reason, f"armbrain estop (pid {os.getpid()})")
        pub.publish(msg_from_command(EStop, cmd))  # at once: latched, a node matched later still gets it
        t0 = time.monotonic()

        def acks() -> dict[str, float]:
            """node -> when its copy of our command arrived."""
            first: dict[str, float] = {}
            for t, m in list(seen):
                if m.publisher and command_from_msg(m) == cmd:
                    first.setdefault(m.publisher, t)
            return first

        def acked() -> set[str]:
            return set(acks())

        # Discovery goes on while we wait: done when every node known to subscribe has passed the
        # command on and no new subscriber turned up for DISCOVERY_SETTLE_S.
        known: set[str] = set()
        changed = t0
        while time.monotonic() - t0 < timeout:
            subs = _subscribers(session.node)
            if subs - known:
                known |= subs
                changed = time.monotonic()
            if known and known <= acked() and time.monotonic() - changed >= DISCOVERY_SETTLE_S:
                break
            time.sleep(0.01)
        if not known:
            print(f"armbrain estop: error: no node honours '{TOPIC}' on ROS_DOMAIN_ID {domain_id} within "
                  f"{timeout:g} s; nothing was stopped. Is the graph running? Use the robot's hardware "
                  "emergency stop if the arm must stop now.", file=err)
            return EXIT_UNREACHABLE
        times = acks()
        got, missing = set(times), known - set(times)
        ms = (max(times.values(), default=t0) - t0) * 1000.0  # until the last acknowledgement
        what = "ENGAGED" if cmd.engaged else "RELEASED"
        print(f"e-stop {what}: acknowledged by {', '.join(sorted(got)) or 'no node'} in {ms:.0f} ms"
              + (f"; reason: {reason}" if reason else ""), file=out)
        if cmd.engaged:
            print("the arm holds; the running task ends ESTOPPED; goals are refused until "
                  "`armbrain estop --release`", file=out)
        else:
            print("goals are accepted again; nothing moves until a goal is given", file=out)
        if missing:
            print(f"armbrain estop: warning: no acknowledgement from {', '.join(sorted(missing))} seen within "
                  f"{timeout:g} s (DDS may not have matched this process with it yet); check with "
                  "`armbrain estop --status` or `armbrain health`", file=err)
            return EXIT_FAILED
        return EXIT_OK
    finally:
        session.close()


def run_health(domain_id: int, as_json: bool, timeout: float, out: TextIO = sys.stdout,
               err: TextIO = sys.stderr) -> int:
    from diagnostic_msgs.msg import DiagnosticArray

    session = RosSession.open("armbrain_health", domain_id, start=False)
    latest: dict[str, object] = {}

    def on_msg(msg) -> None:
        for s in msg.status:
            latest[s.name] = s

    session.node.create_subscription(DiagnosticArray, "/diagnostics", on_msg, 50)
    session.start()
    try:
        time.sleep(timeout)  # a person's command: every node publishes once a second
        if not latest:
            print(f"armbrain health: error: nothing on /diagnostics within {timeout:g} s (ROS_DOMAIN_ID "
                  f"{domain_id}); is the graph running?", file=err)
            return EXIT_UNREACHABLE
        rows = [{"name": n, "level": LEVELS.get(s.level[0] if isinstance(s.level, bytes) else int(s.level), "?"),
                 "message": s.message, "values": {kv.key: kv.value for kv in s.values}}
                for n, s in sorted(latest.items())]
        if as_json:
            print(json.dumps(rows, indent=2), file=out)
        else:
            for r in rows:
                print(f"{r['name']:<28} {r['level']:<5} {r['message']}", file=out)
        return EXIT_OK if all(r["level"] == "OK" for r in rows) else EXIT_FAILED
    finally:
        session.close()
