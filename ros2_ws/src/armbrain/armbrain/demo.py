"""The main job (`make demo`): the whole brain on the simulated arm, headless.

Starts the graph of launch/graph.yaml (sim bridge as fast as the CPU allows, perception,
grasping, planner) on a private ROS domain with LOCALHOST discovery, sends a short
sequence of goals through the ExecuteTask action (as `armbrain task` does), records the
camera into a GIF, checks the outcome against the simulator's ground truth, writes
out/demo/{demo.gif, summary.json, summary.md}, stops the graph and exits 0 only if every
goal succeeded.
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


def main(argv: list[str] | None = None) -> int:
    from armbrain.domains import free_domain
    from armbrain.graph import default_graph_path
    from armbrain.launcher import interrupt_and_wait
    from armbrain.operator import EXIT_OK, RosSession, run_task, wait_until

    parser = argparse.ArgumentParser(prog="armbrain-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="demo.yaml", help="sim scenario (default demo.yaml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
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
        return 0 if all_ok else 1
    finally:
        session.close()
        interrupt_and_wait(graph)
        print(f"demo: the graph stopped (exit code {graph.returncode})", flush=True)
        lock.close()


if __name__ == "__main__":
    raise SystemExit(main())
