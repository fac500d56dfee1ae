"""Latency from a click on the console's Send button to the arm's first command.

Run from the repository root:  .venv/bin/python bench/console_latency.py [--rounds N]

Starts the whole graph (launch/graph.yaml, tests/scenarios/two_cubes.yaml, seed 0) and
`armbrain console` on a private ROS domain (LOCALHOST discovery), opens the console in
Debian's chromium (headless, Playwright), and per round:

- console: types "put the red cube in the bin", clicks Send, and times (wall clock, this
  process) the first message after the click on `planner/active_goal` naming a goal (the planner
  took it: what the console adds ends here), on `gripper_controller/commands` (the planner's
  first command: the fingers open before the approach) and on `arm_controller/joint_trajectory`
  (the first arm motion);
- post: the same request the page sends on a click (fetch POST /api/goal from the page), without
  the browser's click: the click's own cost is the difference;
- baseline (direct), same run: the same goal sent directly through the ExecuteTask action from
  this process (brain_common.actions.send_goal, as `armbrain task` does), timed the same way.

Each goal is canceled at its first arm motion; the sim is reset (seed 0) and the planner's bin
memory cleared before the next, so every round starts from the same world. The console's cost is
the difference between click and direct. Before the rounds, the console process's CPU share is measured
over 10 s with the page open and no goal (camera frames, state pushes). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = "put the red cube in the bin"
SCENARIO = ROOT / "tests" / "scenarios" / "two_cubes.yaml"
PATHS = ("click", "post", "direct")
IDLE_S = 10.0  # s of wall time the console's CPU is measured with a page open, no goal
FIGURES = ("planner took it", "first gripper command", "first arm command")
POST_GOAL = """goal => fetch("/api/goal", {method: "POST", body: JSON.stringify({goal}),
    headers: {"Content-Type": "application/json", "X-Armbrain-Console": "1"}}).then(r => r.status)"""


def wait(predicate, timeout: float, what: str) -> None:
    """armbrain.operator.wait_until, polling every 2 ms, or TimeoutError naming `what`."""
    from armbrain.operator import wait_until

    if not wait_until(predicate, timeout, poll=0.002):
        raise TimeoutError(f"no {what} within {timeout:g} s")


class Observer:
    """This process's node: the commands' arrival times, sim reset, bin memory, the direct goal."""

    def __init__(self, domain: int) -> None:
        from rclpy.action import ActionClient
        from std_msgs.msg import Float64MultiArray, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from armbrain.operator import ACTIVE_GOAL_TOPIC, RosSession
        from brain_common.qos import LATCHED
        from brain_interfaces.action import ExecuteTask
        from brain_interfaces.msg import DetectedObjectArray
        from brain_interfaces.srv import ResetSim

        self.session = RosSession.open("console_latency_bench", domain, start=False)
        node = self.session.node
        self.arm: list[float] = []
        self.gripper: list[float] = []
        self.seen: list[tuple[float, int]] = []  # (arrival, objects) of perception/objects
        self.accepted: list[float] = []  # arrivals of planner/active_goal naming a goal (the planner took it)
        node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory",
                                 lambda m: self.arm.append(time.monotonic()), 10)
        node.create_subscription(Float64MultiArray, "gripper_controller/commands",
                                 lambda m: self.gripper.append(time.monotonic()), 10)
        node.create_subscription(DetectedObjectArray, "perception/objects",
                                 lambda m: self.seen.append((time.monotonic(), len(m.objects))), 10)
        node.create_subscription(String, ACTIVE_GOAL_TOPIC, self._on_active, LATCHED)
        self.reset_client = node.create_client(ResetSim, "sim/reset")
        self.clear_client = node.create_client(Trigger, "planner/clear_bin")
        self.action = ActionClient(node, ExecuteTask, "planner/execute_task")
        self._reset_type, self._trigger, self._goal = ResetSim, Trigger, ExecuteTask.Goal
        self.session.start()

    def _on_active(self, msg) -> None:
        if json.loads(msg.data).get("goal"):
            self.accepted.append(time.monotonic())

    def first_after(self, times: list[float], t0: float, timeout: float = 60.0) -> float:
        """Seconds from t0 to the first of `times` after it."""
        def later() -> list[float]:
            return [t for t in list(times) if t > t0]
        wait(lambda: bool(later()), timeout, "command")
        return later()[0] - t0

    def reset(self) -> None:
        """Seed 0 again, the bin memory cleared; back once perception sees both cubes."""
        fut = self.reset_client.call_async(self._reset_type.Request(seed=0, scenario=""))
        wait(fut.done, 60, "sim reset")
        assert fut.result().success, fut.result().message
        fut = self.clear_client.call_async(self._trigger.Request())
        wait(fut.done, 30, "planner/clear_bin")
        t = time.monotonic()
        wait(lambda: any(a > t + 0.5 and n == 2 for a, n in list(self.seen)), 60, "both cubes seen again")

    def direct_goal(self) -> tuple[tuple[float, float, float], object]:
        """(planner took it, first gripper command, first arm command) in s after sending; the handle."""
        from brain_common.actions import send_goal

        t0 = time.monotonic()
        sent = send_goal(self.session.node, self.action, self._goal(command=GOAL))
        wait(lambda: sent.done() and sent.result(), 30, "goal answer")
        handle = sent.result()
        assert handle.accepted
        return self.times_after(t0), handle

    def times_after(self, t0: float) -> tuple[float, float, float]:
        return self.first_after(self.accepted, t0), self.first_after(self.gripper, t0), self.first_after(self.arm, t0)


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import expect, sync_playwright

    from armbrain.domains import free_domain
    from armbrain.launcher import interrupt_and_wait

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="goals per path (default %(default)s)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Debian's chromium")
    parser.add_argument("--log", type=Path, default=Path("/tmp/console_latency_graph.log"))
    opts = parser.parse_args(argv)
    command = "bench/console_latency.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE",
                          str(ROOT / "ros2_ws" / "src" / "armbrain" / "config" / "fastdds_shm.xml"))
    domain, lock = free_domain()
    armbrain = str(Path(sys.prefix) / "bin" / "armbrain")
    log = open(opts.log, "w")  # noqa: SIM115 (the graph writes to it until it stops)
    graph = subprocess.Popen([armbrain, "launch", "--domain-id", str(domain), f"scenario:={SCENARIO}", "seed:=0"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    console = subprocess.Popen([armbrain, "console", "--port", "0", "--domain-id", str(domain)],
                               stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
    rows: dict[str, list[tuple[float, float, float]]] = {path: [] for path in PATHS}
    try:
        url = re.search(r"(http://\S+) ", console.stdout.readline()).group(1)
        obs = Observer(domain)
        assert obs.action.wait_for_server(timeout_sec=120), f"the planner did not come up; see {opts.log}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=opts.chromium, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url)
            expect(page.locator("#send")).to_be_enabled(timeout=120_000)
            cpu = cpu_share(console.pid, IDLE_S)
            print(f"console process, one page open, no goal: {cpu:.1%} of a core over {IDLE_S:g} s", flush=True)
            for i in range(opts.rounds):
                for path in PATHS:
                    obs.reset()
                    expect(page.locator("#objects")).to_contain_text("red cube", timeout=30_000)
                    if path == "direct":
                        times, handle = obs.direct_goal()
                        cancel = handle.cancel_goal_async()
                        wait(cancel.done, 30, "cancel answer")
                        wait(handle.get_result_async().done, 30, "canceled result")
                    else:
                        page.fill("#goal", GOAL)
                        t0 = time.monotonic()
                        if path == "click":
                            page.click("#send")
                        else:  # the request the page sends on a click, without the browser's click
                            page.evaluate(POST_GOAL, GOAL)
                        times = obs.times_after(t0)
                        page.click("#cancel")
                        expect(page.locator("#cur-status")).to_have_text("canceled", timeout=30_000)
                    rows[path].append(times)
                    print(f"round {i + 1} {path:6s}: " + row(times), flush=True)
            browser.close()
        obs.session.close()
    finally:
        interrupt_and_wait(console)
        interrupt_and_wait(graph)
        log.close()
        lock.close()

    def med(path: str) -> tuple[float, float, float]:
        return tuple(statistics.median(r[k] for r in rows[path]) for k in range(3))

    print(f"\ncommand: .venv/bin/python {command.strip()}")
    print(f"{opts.rounds} rounds per path, goal '{GOAL}', graph and console on ROS_DOMAIN_ID {domain}")
    for path in PATHS:
        print(f"{path:6s} median: " + row(med(path)))
    gap = (med("click")[0] - med("direct")[0]) * 1000
    print(f"the console's own cost (click minus direct, until the planner takes the goal, median): {gap:+.0f} ms")
    print(f"console CPU with one page open and no goal: {cpu:.1%} of a core")
    medians = {f"{path}_median_ms": dict(zip(FIGURES, (round(v * 1000) for v in med(path)), strict=True))
               for path in PATHS}
    print(json.dumps({"rounds": opts.rounds, "console_idle_cpu_share": round(cpu, 3), **medians, "samples_s": rows}))
    return 0


def cpu_share(pid: int, seconds: float) -> float:
    """CPU time of process `pid` (user + system) over the next `seconds` of wall time, per second."""
    import psutil

    proc = psutil.Process(pid)
    before, t0 = proc.cpu_times(), time.monotonic()
    time.sleep(seconds)  # wall clock on purpose: this is the process's load while a person watches
    after = proc.cpu_times()
    return (after.user + after.system - before.user - before.system) / (time.monotonic() - t0)


def row(times: tuple[float, float, float]) -> str:
    return ", ".join(f"{name} {t * 1000:6.0f} ms" for name, t in zip(FIGURES, times, strict=True))


if __name__ == "__main__":
    raise SystemExit(main())
