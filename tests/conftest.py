"""Shared fixtures: ROS domain isolation and processes started through the launcher.

Every process these tests start that speaks DDS gets
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, and every test that uses DDS gets its own
ROS_DOMAIN_ID, held with a lock file so that concurrent test runs on the same
machine never share one.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Before anything creates a DDS participant in this process.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
# Camera images travel whole through shared memory (ROS_ON_PIP.md), in this process too.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(
    Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "armbrain" / "config" / "fastdds_shm.xml"))

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
ARMBRAIN = Path(sys.prefix) / "bin" / "armbrain"
DOMAIN_RANGE = range(100, 150)  # armbrain.domains hands out 150..199 to demos and evaluation workers


def seconds(t) -> float:
    """A builtin_interfaces/Time (a message's header.stamp, a service's stamp) in seconds."""
    return t.sec + t.nanosec * 1e-9


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.02):
    """Wait until predicate() is truthy (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def send_task(operator, client, command: str, run) -> tuple[object, list]:
    """Send ExecuteTask `command` from `operator` (spun) through `client`; (the accepted goal
    handle, the list its feedback stages are appended to)."""
    from brain_common.actions import send_goal
    from brain_interfaces.action import ExecuteTask

    assert client.wait_for_server(timeout_sec=90), run.output
    stages: list = []
    sent = send_goal(operator, client, ExecuteTask.Goal(command=command),
                     feedback_callback=lambda m: stages.append(m.feedback.stage))
    handle = wait_for(lambda: sent.done() and sent.result(), 60, "the goal's answer")
    assert handle.accepted
    return handle, stages


@pytest.fixture
def domain_id() -> Iterator[int]:
    """A ROS_DOMAIN_ID no other test (of this or another run) is using."""
    yield from held_domain()


@pytest.fixture(scope="module")
def module_domain_id() -> Iterator[int]:
    """The same, held for a whole test module (tests that share one graph)."""
    yield from held_domain()


def held_domain() -> Iterator[int]:
    for d in DOMAIN_RANGE:
        f = open(f"/tmp/armbrain-test-domain-{d}.lock", "w")  # noqa: SIM115 (held until teardown)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        try:
            yield d
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        return
    pytest.fail("no free ROS_DOMAIN_ID in 100..149 (too many concurrent test runs?)")


class Spinner:
    """Spins a test's client node (on the test's context) in a background thread, so
    callbacks run while the test body waits on conditions; close() stops it."""

    def __init__(self, node, context) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()


class Launched:
    """`armbrain launch ...` running as a child process; its output is collected."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for_output(self, pattern: str, timeout: float = 30.0) -> re.Match:
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.output), timeout,
                        f"output matching {pattern!r}; got:\n{self.output}")

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT the launcher (it stops its nodes) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)


@pytest.fixture
def launch(domain_id: int) -> Iterator[Callable[..., Launched]]:
    """launch(graph_path, *words, extra_env=None) starts `armbrain launch` on this test's domain."""
    started: list[Launched] = []

    def _launch(graph: Path | str, *words: str, extra_env: dict[str, str] | None = None,
                options: tuple[str, ...] = ()) -> Launched:
        env = dict(os.environ)
        env.update(extra_env or {})
        argv = [str(ARMBRAIN), "launch", "--graph", str(graph), "--domain-id", str(domain_id),
                "--stop-timeout", "5", *options, *words]
        launched = Launched(argv, env)
        started.append(launched)
        return launched

    yield _launch
    for launched in started:
        if launched.proc.poll() is None:
            launched.stop()


@pytest.fixture
def ros_context(domain_id: int):
    """An rclpy context on this test's domain, shut down afterwards."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        yield context
    finally:
        context.try_shutdown()
