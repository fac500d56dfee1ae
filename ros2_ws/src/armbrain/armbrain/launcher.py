"""Process launcher for pip installs: one process per node of a graph description.

`ros2 launch` is not installable from PyPI, so `armbrain launch` starts the same
graph (armbrain.graph) itself: it prefixes every line a node prints with the
node's name, forwards SIGINT/SIGTERM to the nodes, stops everything and exits
non-zero when a required node dies, and respawns nodes that ask for it, with
exponential backoff and a limit (armbrain.respawn): a respawned node that dies once
more after its last allowed restart is given up on, said so in the log, and then
treated as any node that died (a required one stops the graph, exit 1; an optional
one leaves the others running, and the exit code is 1).

The supervision loop runs on wall-clock time on purpose: it watches operating
system processes, not the simulation.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from armbrain.graph import GraphError, ResolvedNode

DEFAULT_DISCOVERY_RANGE = "LOCALHOST"
VALID_DISCOVERY_RANGES = ("LOCALHOST", "SUBNET", "SYSTEM_DEFAULT", "OFF")
MAX_DOMAIN_ID = 232


def interrupt_and_wait(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """Stop a process we started (an `armbrain launch` graph) the clean way: SIGINT, then
    SIGKILL after `timeout` seconds. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def check_domain_id(domain_id: int) -> int:
    if not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise GraphError(f"ROS_DOMAIN_ID {domain_id} is out of range; valid: 0..{MAX_DOMAIN_ID}")
    return domain_id


def ros_environment(
    base: dict[str, str],
    domain_id: int,
    discovery_range: str = DEFAULT_DISCOVERY_RANGE,
    fastdds_profile: Path | None = None,
) -> dict[str, str]:
    """The environment every node process gets (a copy of `base`, updated)."""
    if discovery_range not in VALID_DISCOVERY_RANGES:
        raise GraphError(f"discovery range {discovery_range!r} is not valid; "
                         f"choices: {', '.join(VALID_DISCOVERY_RANGES)}")
    env = dict(base)
    env["ROS_DOMAIN_ID"] = str(check_domain_id(domain_id))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = discovery_range
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    if fastdds_profile is not None:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(fastdds_profile))
    env["PYTHONUNBUFFERED"] = "1"  # node output reaches the prefixer line by line
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")
    return env


@dataclass
class _Child:
    spec: ResolvedNode
    proc: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    respawn_at: float | None = None
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)  # monotonic times of its respawns


class Launcher:
    """Start, watch and stop the processes of one graph.

    stop_timeout: seconds a node gets to exit after SIGINT before SIGTERM, and
    again before SIGKILL.
    """

    def __init__(self, nodes: list[ResolvedNode], env: dict[str, str], out: TextIO | None = None,
                 stop_timeout: float = 5.0, poll_interval: float = 0.05) -> None:
        self._children = [_Child(n) for n in nodes]
        self._env = env
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._stop_timeout = stop_timeout
        self._poll = poll_interval
        self._stop_reason: str | None = None
        self._failed = False
        width = max([len(n.name) for n in nodes] + [6])
        self._width = width

    # -- output ------------------------------------------------------------------
    def log(self, message: str, name: str = "launch") -> None:
        with self._lock:
            self._out.write(f"[{name:<{self._width}}] {message}\n")
            self._out.flush()

    def _pump(self, child: _Child, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.log(raw.decode(errors="replace").rstrip("\n"), child.spec.name)
        stream.close()

    # -- lifecycle ---------------------------------------------------------------
    def _start(self, child: _Child) -> None:
        env = dict(self._env)
        env.update(child.spec.env)
        try:
            proc = subprocess.Popen(
                child.spec.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError as exc:
            raise GraphError(f"node {child.spec.name}: cannot start {child.spec.command[0]}: "
                             f"{exc.strerror}") from None
        child.proc = proc
        child.starts += 1
        child.respawn_at = None
        child.reader = threading.Thread(target=self._pump, args=(child, proc.stdout), daemon=True)
        child.reader.start()
        self.log(f"started {child.spec.name} (pid {proc.pid})")

    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    def run(self) -> int:
        """Run until every node has exited or a stop is requested; return the exit code.

        0: all nodes exited cleanly (or stopped cleanly on request);
        1: a required node died, or a node exited non-zero.
        """
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self._children:
                self._start(child)
            self._supervise()
            self._stop_all()
        except GraphError as exc:
            self.log(f"error: {exc}")
            self._failed = True
            self._stop_all()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 1 if self._failed else 0

    def _on_signal(self, signum: int, _frame) -> None:
        self.request_stop(f"received {signal.Signals(signum).name}")

    def _supervise(self) -> None:
        while self._stop_reason is None:
            running = 0
            now = time.monotonic()
            for child in self._children:
                proc = child.proc
                if proc is not None and proc.poll() is None:
                    running += 1
                    continue
                if proc is not None:  # just exited
                    code = proc.returncode
                    child.exit_codes.append(code)
                    child.proc = None
                    if child.reader is not None:
                        child.reader.join(timeout=1.0)
                    how = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
                    policy = child.spec.respawn
                    delay = None if policy is None else policy.next_delay(child.restarts, now)
                    if policy is not None and delay is not None:
                        n = policy.recent(child.restarts, now) + 1
                        self.log(f"{child.spec.name} exited ({how}); respawning in {delay:g} s (restart {n} "
                                 f"of at most {policy.limit} within {policy.window:g} s)")
                        child.respawn_at = now + delay
                        child.restarts.append(child.respawn_at)
                    elif child.spec.required:
                        if policy is not None:
                            self.log(self._give_up(child, how))
                        self.log(f"required node {child.spec.name} exited ({how}); stopping the graph")
                        self._failed = True
                        self.request_stop(f"{child.spec.name} exited")
                        return
                    elif policy is not None:
                        self.log(self._give_up(child, how) + "; the other nodes keep running")
                        self._failed = True
                    else:
                        self.log(f"{child.spec.name} exited ({how})")
                        if code != 0:
                            self._failed = True
                if child.respawn_at is not None:
                    running += 1
                    if now >= child.respawn_at:
                        self._start(child)
            if running == 0:
                return
            time.sleep(self._poll)

    @staticmethod
    def _give_up(child: _Child, how: str) -> str:
        policy = child.spec.respawn
        assert policy is not None
        return (f"giving up on {child.spec.name}: it exited ({how}) after {policy.limit} restart(s) within "
                f"{policy.window:g} s (respawn_max {policy.limit}, respawn_window {policy.window:g} s in the "
                f"graph); it stays down")

    def _stop_all(self) -> None:
        alive = [c for c in self._children if c.proc is not None and c.proc.poll() is None]
        if self._stop_reason is not None and alive:
            self.log(f"{self._stop_reason}; stopping {', '.join(c.spec.name for c in alive)}")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [c for c in alive if c.proc is not None and c.proc.poll() is None]
            if not alive:
                break
            if sig != signal.SIGINT:
                self.log(f"{', '.join(c.spec.name for c in alive)} still running; sending {sig.name}")
            for c in alive:
                assert c.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    c.proc.send_signal(sig)
            deadline = time.monotonic() + self._stop_timeout
            while time.monotonic() < deadline and any(c.proc.poll() is None for c in alive if c.proc):
                time.sleep(self._poll)
        for c in self._children:
            if c.proc is not None:
                code = c.proc.wait()
                if c.reader is not None:
                    c.reader.join(timeout=1.0)
                # A node stopped by our SIGINT/SIGTERM exits 0, or dies of that
                # signal when it came before the node had installed its handlers
                # (still importing); anything else (an error, SIGKILL) is a failure.
                if code not in (0, -signal.SIGINT, -signal.SIGTERM):
                    how = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
                    self.log(f"{c.spec.name} stopped with {how}")
                    self._failed = True
                c.proc = None
            c.respawn_at = None
