"""Benchmark of the PyBullet world: physics rate, camera render cost, scripted-oracle success.

Run from the repository root:  .venv/bin/python bench/sim.py [--episodes N] [--quick]

Figures: physics steps/s (arm + table + bin + 5 objects; baseline: arm + table + bin
alone, same run), render ms/frame per renderer (EGL, TinyRenderer) and resolution,
and the ground-truth oracle's pick-and-place success rate and sim seconds per episode
over a fixed seed list (seeds 0..N-1) of sim/scenarios/one_cube.yaml and
multi_color.yaml. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sim"))  # run from a checkout without installing

from armbrain_sim.oracle import run_oracle  # noqa: E402
from armbrain_sim.scenario import load_scenario  # noqa: E402
from armbrain_sim.scene import ObjectInstance, SceneInstance  # noqa: E402
from armbrain_sim.world import SimWorld  # noqa: E402

SCENARIOS = ("one_cube", "multi_color")
RESOLUTIONS = ((320, 240), (640, 480))
RENDERERS = ("egl", "tiny")


def flush_c_stdio() -> None:
    """The EGL plugin prints through C stdio; flush it so it never lands after our JSON line."""
    ctypes.CDLL(None).fflush(None)


def five_object_scene(base: SceneInstance) -> SceneInstance:
    cubes = tuple(
        ObjectInstance(name=f"cube_{k}", shape="box", size=(0.05, 0.05, 0.05), rgb=(0.8, 0.2, 0.2),
                       colour_name="red", mass=0.0625, position=(0.35 + 0.08 * k, -0.15 + 0.07 * k), yaw=0.3 * k)
        for k in range(5))
    return dataclasses.replace(base, objects=cubes, success=())


def bench_physics(scene: SceneInstance, seconds: float) -> dict[str, float]:
    """Steps/s of plain stepping and of stepping with a joint command every step."""
    out = {}
    for label, s in (("baseline_empty", dataclasses.replace(scene, objects=(), success=())), ("five_objects", scene)):
        with SimWorld(s, renderer="tiny") as world:
            n = round(seconds / world.dt)
            world.step(round(0.5 / world.dt))  # objects settle
            t0 = time.perf_counter()
            world.step(n)
            out[label] = n / (time.perf_counter() - t0)
            if label == "five_objects":
                q = np.asarray(s.home_arm)
                t0 = time.perf_counter()
                for _ in range(n):
                    world.set_arm_targets(q)
                    world.step()
                out["five_objects_commanded"] = n / (time.perf_counter() - t0)
    return out


def bench_render(scene: SceneInstance, frames: int) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Median ms/frame by renderer and resolution (first two frames discarded)."""
    ms: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    for renderer in RENDERERS:
        try:
            world = SimWorld(scene, renderer=renderer)
        except RuntimeError as exc:
            notes[renderer] = str(exc)
            continue
        with world:
            ms[renderer] = {}
            for w, h in RESOLUTIONS:
                world.reset(dataclasses.replace(scene, camera=dataclasses.replace(scene.camera, width=w, height=h)))
                times = []
                for k in range(frames + 2):
                    t0 = time.perf_counter()
                    world.render()
                    if k >= 2:
                        times.append((time.perf_counter() - t0) * 1e3)
                ms[renderer][f"{w}x{h}"] = statistics.median(times)
        flush_c_stdio()
    return ms, notes


def bench_oracle(name: str, seeds: list[int]) -> tuple[dict, list[float]]:
    """Oracle success and sim seconds per episode on one scenario (one world, reset per seed)."""
    scenario = load_scenario(ROOT / "sim" / "scenarios" / f"{name}.yaml")
    world = None
    ok, sim_s, failures = 0, [], []
    t0 = time.perf_counter()
    try:
        for i, seed in enumerate(seeds):
            scene = scenario.sample(seed)
            if world is None:
                world = SimWorld(scene, renderer="tiny")
            else:
                world.reset(scene)
            result = run_oracle(world)
            ok += result.success
            sim_s.append(result.sim_seconds)
            if not result.success:
                failures.append({"seed": seed, "reason": result.reason})
                print(f"  {name} seed {seed}: FAILED: {result.reason}", flush=True)
            if (i + 1) % 25 == 0 or i + 1 == len(seeds):
                print(f"  {name}: {ok}/{i + 1} succeeded", flush=True)
    finally:
        if world is not None:
            world.close()
    wall = time.perf_counter() - t0
    return {"episodes": len(seeds), "successes": ok, "success_rate": ok / len(seeds),
            "sim_s_median": round(statistics.median(sim_s), 3), "sim_s_max": round(max(sim_s), 3),
            "wall_s_per_episode": round(wall / len(seeds), 3), "failures": failures}, sim_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="oracle episodes per scenario (default 100)")
    parser.add_argument("--quick", action="store_true", help="5 episodes per scenario, short timings (a smoke run)")
    args = parser.parse_args(argv)
    episodes = 5 if args.quick else args.episodes
    if episodes < 1:
        parser.error("--episodes must be >= 1")
    physics_s, frames = (2.0, 3) if args.quick else (20.0, 15)
    command = " ".join([".venv/bin/python", "bench/sim.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    print(f"command: {command}", flush=True)

    base = load_scenario(ROOT / "sim" / "scenarios" / "one_cube.yaml").sample(0)
    phys = bench_physics(five_object_scene(base), physics_s)
    print(f"physics (240 Hz, {SimWorld.__name__} defaults): arm + table + bin {phys['baseline_empty']:,.0f} steps/s "
          f"(baseline); + 5 cubes {phys['five_objects']:,.0f} steps/s "
          f"({phys['five_objects'] * (1 / 240):.1f}x real time); with a joint command per step "
          f"{phys['five_objects_commanded']:,.0f} steps/s", flush=True)

    render_ms, notes = bench_render(base, frames)
    for renderer, by_res in render_ms.items():
        figures = ", ".join(f"{res} {v:.1f} ms" for res, v in by_res.items())
        print(f"render {renderer} (RGB + depth, no segmentation, one_cube seed 0): {figures}", flush=True)
    for renderer, note in notes.items():
        print(f"render {renderer}: not available: {note}", flush=True)
    if "egl" in render_ms and "tiny" in render_ms:
        for res in render_ms["egl"]:
            print(f"  egl vs tiny (baseline) at {res}: {render_ms['tiny'][res] / render_ms['egl'][res]:.2f}x faster",
                  flush=True)

    seeds = list(range(episodes))
    oracle, all_sim = {}, []
    for name in SCENARIOS:
        print(f"oracle on {name}.yaml, seeds {seeds[0]}..{seeds[-1]}:", flush=True)
        oracle[name], sim_s = bench_oracle(name, seeds)
        all_sim.extend(sim_s)
        r = oracle[name]
        print(f"oracle {name}: {r['successes']}/{r['episodes']} = {100 * r['success_rate']:.1f}%, "
              f"sim s median {r['sim_s_median']:.2f} (max {r['sim_s_max']:.2f}), "
              f"wall {r['wall_s_per_episode']:.2f} s/episode", flush=True)
    total = sum(r["episodes"] for r in oracle.values())
    successes = sum(r["successes"] for r in oracle.values())
    summary = {
        "command": command,
        "steps_per_s": round(phys["five_objects"]),
        "steps_per_s_baseline_empty": round(phys["baseline_empty"]),
        "steps_per_s_commanded": round(phys["five_objects_commanded"]),
        "render_ms": {r: {res: round(v, 1) for res, v in by.items()} for r, by in render_ms.items()},
        "oracle_episodes": total,
        "oracle_successes": successes,
        "oracle_success_rate": successes / total,
        "oracle_sim_s_median": round(statistics.median(all_sim), 3),
        "oracle_by_scenario": oracle,
    }
    print(f"oracle overall: {successes}/{total} = {100 * successes / total:.1f}% (target >= 99% over >= 200), "
          f"sim s per pick-place median {summary['oracle_sim_s_median']:.2f}", flush=True)
    flush_c_stdio()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
