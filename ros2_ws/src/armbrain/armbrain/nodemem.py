"""Resident memory and restarts of a graph's nodes, for campaigns and soaks.

`sample(pid)` reads the processes under a launcher (`armbrain launch`, pid) with psutil and
names each by its ROS node name (`-r __node:=NAME` on its command line). `node_memory(episodes)`
turns the samples that `armbrain run` stores in each episode record ("nodes": name ->
{"pid", "rss_mb"}) into per worker and node figures: the first sample after warm-up, the
last, the maximum, the growth in percent and the restarts (a node whose pid changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise

WARMUP_FRACTION = 0.05  # of a worker's episodes; memory grows while caches fill, then should not
WARMUP_MIN = 5  # episodes


def node_name(cmdline: list[str]) -> str | None:
    """The ROS node name in a command line (`__node:=NAME` after -r/--remap), else None."""
    for arg in cmdline:
        if arg.startswith("__node:="):
            return arg.split(":=", 1)[1]
    return None


def sample(launcher_pid: int) -> dict[str, dict]:
    """name -> {"pid", "rss_mb"} of every ROS node under the launcher process; {} when it is gone."""
    import psutil

    try:
        children = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.Error:
        return {}
    out: dict[str, dict] = {}
    for proc in children:
        try:
            name = node_name(proc.cmdline())
            if name is not None:
                out[name] = {"pid": proc.pid, "rss_mb": round(proc.memory_info().rss / 2**20, 1)}
        except psutil.Error:  # it exited between the listing and the reading
            continue
    return out


def node_memory(episodes: Iterable[Mapping]) -> list[dict]:
    """Per (worker, node), in order of first appearance: samples, warmup (episodes skipped),
    rss_mb_start (first after warm-up), rss_mb_end, rss_mb_max, growth_pct (end over start)
    and restarts (pid changes seen between samples)."""
    series: dict[tuple, list[tuple[int, float]]] = {}
    for e in episodes:
        for name, s in (e.get("nodes") or {}).items():
            if isinstance(s, Mapping) and isinstance(s.get("rss_mb"), (int, float)):
                series.setdefault((e.get("worker", 0), name), []).append((s.get("pid"), float(s["rss_mb"])))
    rows = []
    for (worker, name), samples in series.items():
        warm = min(len(samples) - 1, max(WARMUP_MIN, round(WARMUP_FRACTION * len(samples))))
        start, end = samples[warm][1], samples[-1][1]
        restarts = sum(1 for a, b in pairwise(samples) if a[0] != b[0])
        rows.append({"worker": worker, "node": name, "samples": len(samples), "warmup": warm,
                     "rss_mb_start": start, "rss_mb_end": end, "rss_mb_max": max(r for _, r in samples),
                     "growth_pct": round((end - start) / start * 100.0, 1) if start > 0 else None,
                     "restarts": restarts})
    return rows
