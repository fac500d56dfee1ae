"""The main job (`make demo`): the whole brain on the simulated arm, headless.

Starts the graph of launch/graph.yaml (sim bridge as fast as the CPU allows, perception,
grasping, planner) on a private ROS domain with LOCALHOST discovery, sends a short
sequence of goals through the ExecuteTask action (as `armbrain task` does), records the
camera into a GIF, checks the outcome against the simulator's ground truth, writes
out/demo/{demo.gif, summary.json, summary.md}, stops the graph and exits 0 only if every
goal succeeded.

With --console (`make demo CONSOLE=1`), `armbrain console` runs beside the graph on the same
domain (docs/console.md); the demo prints its address, gives a browser --console-wait seconds
to open it before the first goal and, on a terminal, keeps the graph and the console up after
the last goal until Enter (or Ctrl-C), so the newcomer can look around and try goals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

CONSOLE_PORT = 8080
GOALS = ("stack the blue cube on the green cube", "put the red cube in the bin")  # as sim/scenarios/demo.yaml


class Recorder:
    """Keeps every k-th camera frame (downsampled) for the GIF."""

    def __init__(self, session, every: int = 3, scale: int = 2) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        self.frames: list = []
        self.count = 0
        self.every, self.scale = every, scale
        self.lock = threading.Lock()
        session.node.create_subscription(Image, "camera/color/image_raw", self._on_image, qos_profile_sensor_data)

    def _on_image(self, msg) -> None:
        import numpy as np

        self.count += 1
        if self.count % self.every or msg.encoding != "rgb8":
            return
        img = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
        img = img.reshape(msg.height, msg.width, 3)[:: self.scale, :: self.scale].copy()
        with self.lock:
            self.frames.append(img)

    def write_gif(self, path: Path) -> int:
        from PIL import Image

        with self.lock:
            frames = list(self.frames)
        if not frames:
            return 0
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0, optimize=True)
        return len(images)


def check_success(session) -> tuple[bool, str]:
    from std_srvs.srv import Trigger

    from armbrain.operator import wait_until

    client = session.node.create_client(Trigger, "sim/check_success")
    if not client.wait_for_service(timeout_sec=10):
        return False, "sim/check_success is not available"
    fut = client.call_async(Trigger.Request())
    if not wait_until(fut.done, 20):
        return False, "sim/check_success did not answer"
    return fut.result().success, fut.result().message


def start_console(armbrain: str, domain: int, port: int, out: Path) -> subprocess.Popen | None:
    """`armbrain console` on the demo's domain; prints its address (from its first line). None
    when it did not start (the demo goes on without it)."""
    log = open(out / "console.log", "w")  # noqa: SIM115 (the child writes to it until it stops)
    proc = subprocess.Popen([armbrain, "console", "--domain-id", str(domain), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()  # "armbrain console: http://127.0.0.1:8080/ (...)", or EOF
    if not first:
        proc.wait()
        log.close()
        why = (out / "console.log").read_text().strip().splitlines()[-1:] or ["no output"]
        print(f"demo: warning: the console did not start ({why[0]}); the demo goes on without it",
              file=sys.stderr, flush=True)
        return None
    url = first.removeprefix("armbrain console: ").split(" ", 1)[0]
    print(f"demo: the operator console is at {url} : open it in a browser (its output: {out / 'console.log'})",
          flush=True)

    def copy() -> None:  # the rest of its output, to the log
        for line in proc.stdout:
            log.write(line)
            log.flush()
        log.close()

    threading.Thread(target=copy, daemon=True).start()
    return proc


def main(argv: list[str] | None = None) -> int:
    from armbrain.domains import free_domain
    from armbrain.graph import default_graph_path
    from armbrain.launcher import interrupt_and_wait
    from armbrain.operator import EXIT_OK, RosSession, run_task, wait_until

    parser = argparse.ArgumentParser(prog="armbrain-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="demo.yaml", help="sim scenario (default demo.yaml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--console", action="store_true", help="serve the operator console beside the demo")
    parser.add_argument("--console-port", type=int, default=CONSOLE_PORT, help="its port (default %(default)s)")
    parser.add_argument("--console-wait", type=float, default=15.0,
                        help="seconds to wait for a browser before the first goal (default %(default)g)")
    opts = parser.parse_args(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    domain, lock = free_domain()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    log_path = opts.out / "graph.log"
    print(f"demo: starting the brain and the simulated arm (ROS_DOMAIN_ID {domain}, scenario {opts.scenario}, "
          f"seed {opts.seed}); node output in {log_path}", flush=True)
    armbrain = str(Path(sys.prefix) / "bin" / "armbrain")
    with open(log_path, "w") as log:
        graph = subprocess.Popen([armbrain, "launch", "--graph", str(default_graph_path()), "--domain-id",
                                  str(domain), f"scenario:={opts.scenario}", f"seed:={opts.seed}"],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    from rclpy.action import ActionClient

    from brain_interfaces.action import ExecuteTask

    console = start_console(armbrain, domain, opts.console_port, opts.out) if opts.console else None
    session = RosSession.open("demo_observer", domain, start=False)
    recorder = Recorder(session)
    client = ActionClient(session.node, ExecuteTask, "planner/execute_task")
    session.start()
    results = []
    t0 = time.monotonic()
    try:
        if not client.wait_for_server(timeout_sec=120) or graph.poll() is not None:
            print(f"demo: error: the brain did not come up; see {log_path}", file=sys.stderr)
            return 1
        wait_until(lambda: recorder.count > 0, 60)
        if console is not None and opts.console_wait > 0:
            print(f"demo: the first goal in {opts.console_wait:g} s: open the console now", flush=True)
            time.sleep(opts.console_wait)  # a person opens a browser (wall clock)
        for goal in GOALS:
            print(f"\ndemo: goal: {goal}", flush=True)
            g0 = time.monotonic()
            code = run_task(goal, domain, as_json=False, timeout=300)
            results.append({"goal": goal, "success": code == EXIT_OK, "exit_code": code,
                            "wall_s": round(time.monotonic() - g0, 1)})
        ok_truth, truth = check_success(session)
        n = recorder.write_gif(opts.out / "demo.gif")
        all_ok = all(r["success"] for r in results) and ok_truth
        summary = {"scenario": opts.scenario, "seed": opts.seed, "ros_domain_id": domain, "goals": results,
                   "ground_truth_success": ok_truth, "ground_truth": truth, "gif_frames": n,
                   "wall_s": round(time.monotonic() - t0, 1), "success": all_ok}
        (opts.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        lines = [f"# armbrain demo: {'SUCCESS' if all_ok else 'FAILED'}", "",
                 f"Scenario `{opts.scenario}`, seed {opts.seed}, {summary['wall_s']} s wall.", ""]
        lines += [f"- {'ok ' if r['success'] else 'FAILED'} `{r['goal']}` ({r['wall_s']} s wall)" for r in results]
        lines += ["", f"Ground truth: {truth}", "", f"![episode](demo.gif) ({n} frames)", ""]
        (opts.out / "summary.md").write_text("\n".join(lines))
        print(f"\ndemo: ground truth: {truth}")
        print(f"demo: {'SUCCESS' if all_ok else 'FAILED'}: {sum(r['success'] for r in results)}/{len(results)} "
              f"goals; wrote {opts.out}/demo.gif ({n} frames), summary.json, summary.md", flush=True)
        if console is not None and sys.stdin.isatty():
            input("demo: the graph and the console stay up; try goals in the browser, Enter stops them ")
        return 0 if all_ok else 1
    finally:
        session.close()
        if console is not None:
            interrupt_and_wait(console)
        interrupt_and_wait(graph)
        print(f"demo: the graph stopped (exit code {graph.returncode})", flush=True)
        lock.close()


if __name__ == "__main__":
    raise SystemExit(main())
