"""Campaign throughput: episodes per minute and CPU seconds per episode, by node, against a baseline.

Run from the repository root:

    .venv/bin/python bench/throughput.py --episodes 10 --seed 2000 --workers 1 --rounds 2 \
        --baseline /path/to/other/checkout

Each round runs `armbrain run` of this checkout (A) and, with --baseline, of the other
checkout's own venv (B) on the same scenario, seeds and workers, one after the other (A B A
B ...): pairing keeps the comparison fair when the machine's load drifts. While a campaign
runs, the CPU time (user + system, from /proc) of every process it started is read every
0.5 s; a process's last reading is its total. Printed per checkout: episodes/min (wall),
CPU seconds per episode in all and per node (sim_bridge, perception, planner, grasping, the
campaign runner itself), median sim seconds per episode and the success count; and the ratio
A/B of each. Under heavy load episodes/min follows the machine's other jobs, CPU seconds per
episode much less: read both. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODES = ("sim_bridge", "perception", "planner", "grasping", "foxglove_bridge")
TICK = os.sysconf("SC_CLK_TCK")
VENV_ENV = ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "LD_LIBRARY_PATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE",
            "VIRTUAL_ENV", "PYTHONPATH")


def _children(pid: int) -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def _descendants(root: int) -> set[int]:
    parents = _children(root)
    found, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in found]
        found.update(kids)
        frontier += kids
    return found


def _cpu_and_name(pid: int) -> tuple[float, str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    words = [Path(w.decode(errors="replace")).name for w in cmd if w]
    name = next((n for n in NODES if n in words), "runner" if "run" in words and "armbrain" in words else "other")
    return cpu, name


def campaign(tree: Path, args, out: Path) -> dict:
    """Run one campaign of `tree`'s venv; its figures."""
    cmd = [str(tree / ".venv/bin/armbrain"), "run", "--scenario", args.scenario, "--episodes", str(args.episodes),
           "--seed", str(args.seed), "--workers", str(args.workers), "--json", str(out)]
    # Not this interpreter's ROS set-up (its venv's sitecustomize exports them): the other
    # checkout's venv must find its own packages, parameters and libraries.
    env = {k: v for k, v in os.environ.items() if k not in VENV_ENV} | {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[int, tuple[float, str]] = {}
    while proc.poll() is None:
        for pid in _descendants(proc.pid):
            got = _cpu_and_name(pid)
            if got is not None:  # an exiting process has no cmdline any more: keep its name
                name = got[1] if got[1] != "other" or pid not in cpu else cpu[pid][1]
                cpu[pid] = (max(got[0], cpu[pid][0]) if pid in cpu else got[0], name)
        time.sleep(0.5)
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    result = json.loads(out.read_text())
    n = result["n_episodes"]
    by_node: dict[str, float] = {}
    for seconds, name in cpu.values():
        by_node[name] = by_node.get(name, 0.0) + seconds
    return {"episodes": n, "successes": result["successes"], "wall_s": wall,
            "episodes_per_min": 60.0 * n / wall, "cpu_s_per_episode": sum(by_node.values()) / n,
            "cpu_s_per_episode_by_node": {k: v / n for k, v in sorted(by_node.items())},
            "sim_s_median": result["sim_s_median"]}


def summary(runs: list[dict]) -> dict:
    keys = ("episodes_per_min", "cpu_s_per_episode", "sim_s_median")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    nodes = sorted({n for r in runs for n in r["cpu_s_per_episode_by_node"]})
    out["cpu_s_per_episode_by_node"] = {n: statistics.median(r["cpu_s_per_episode_by_node"].get(n, 0.0) for r in runs)
                                        for n in nodes}
    out["successes"] = sum(r["successes"] for r in runs)
    out["episodes"] = sum(r["episodes"] for r in runs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="sim/scenarios/one_cube.yaml")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="another checkout with its own .venv (B)")
    args = ap.parse_args(argv)
    trees = {"A": ROOT} | ({"B": args.baseline.resolve()} if args.baseline else {})
    for tree in trees.values():
        if not (tree / ".venv/bin/armbrain").exists():
            raise SystemExit(f"{tree}: no .venv/bin/armbrain (run make setup there)")
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in trees.items():
                fig = campaign(tree, args, Path(tmp) / f"{name}{r}.json")
                runs[name].append(fig)
                print(f"round {r + 1} {name}: {fig['episodes_per_min']:.2f} episodes/min, "
                      f"{fig['cpu_s_per_episode']:.2f} CPU s/episode, sim s median {fig['sim_s_median']:.2f}, "
                      f"{fig['successes']}/{fig['episodes']} ok; load {os.getloadavg()[0]:.1f}", flush=True)
    sums = {k: summary(v) for k, v in runs.items()}
    for name, s in sums.items():
        nodes = ", ".join(f"{n} {v:.2f}" for n, v in s["cpu_s_per_episode_by_node"].items())
        print(f"{name} ({trees[name]}): {s['episodes_per_min']:.2f} episodes/min, {s['cpu_s_per_episode']:.2f} CPU s "
              f"per episode ({nodes}), sim s median {s['sim_s_median']:.2f}, {s['successes']}/{s['episodes']} ok")
    if "B" in sums:
        a, b = sums["A"], sums["B"]
        print(f"A/B: episodes/min x{a['episodes_per_min'] / b['episodes_per_min']:.2f}, CPU s per episode "
              f"x{a['cpu_s_per_episode'] / b['cpu_s_per_episode']:.2f}, sim s per episode "
              f"x{a['sim_s_median'] / b['sim_s_median']:.2f}")
    print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "summary": sums}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
