"""Node memory figures of a campaign (armbrain/nodemem.py), on real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from armbrain.nodemem import node_memory, node_name, sample
from armbrain.report import render_html


def test_node_name_is_the_ros_node_remap():
    assert node_name(["/x/perception", "--ros-args", "-r", "__node:=perception", "-p", "a:=1"]) == "perception"
    assert node_name(["python", "-c", "pass"]) is None


def test_sample_names_the_nodes_under_a_launcher_and_reads_their_memory():
    # A parent (the launcher) with two children, one a "node" holding ~40 MB.
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import subprocess, sys, time
        a = subprocess.Popen([sys.executable, "-c", "b = bytearray(40 * 2**20); import time; time.sleep(60)",
                              "--ros-args", "-r", "__node:=big"])
        b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("up", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        for _ in range(200):  # the child allocates after it starts
            got = sample(parent.pid)
            if got.get("big", {}).get("rss_mb", 0) > 40:
                break
        assert list(got) == ["big"], got  # the child without __node:= is no node
        assert got["big"]["rss_mb"] > 40
        assert got["big"]["pid"] != parent.pid
    finally:
        for p in __import__("psutil").Process(parent.pid).children(recursive=True):
            p.kill()
        parent.kill()
        parent.wait()
    assert sample(parent.pid) == {}  # gone: nothing, no error


def _episodes(rss: list[float], pids: list[int] | None = None, worker: int = 0) -> list[dict]:
    pids = pids or [7] * len(rss)
    return [{"worker": worker, "nodes": {"planner": {"pid": p, "rss_mb": r}}} for r, p in zip(rss, pids, strict=True)]


def test_growth_is_measured_after_warm_up_and_restarts_are_pid_changes():
    rss = [50, 80, 90, 95, 99, 100, 100, 101, 102, 105]  # warm-up: the first 5 samples
    (row,) = node_memory(_episodes(rss))
    assert (row["warmup"], row["rss_mb_start"], row["rss_mb_end"], row["rss_mb_max"]) == (5, 100, 105, 105)
    assert row["growth_pct"] == 5.0 and row["restarts"] == 0
    (row,) = node_memory(_episodes([100.0] * 4 + [60.0] * 4, pids=[1] * 4 + [2] * 4))
    assert row["restarts"] == 1
    assert row["warmup"] == 5  # fewer samples than warm-up + 1 still give a figure
    assert node_memory([{"worker": 0, "nodes": {}}, {"worker": 0}]) == []


def test_workers_are_kept_apart_and_the_report_shows_the_table(tmp_path):
    eps = _episodes([100.0] * 10) + _episodes([200.0] * 9 + [230.0], worker=1)
    rows = node_memory(eps)
    assert [(r["worker"], r["growth_pct"]) for r in rows] == [(0, 0.0), (1, 15.0)]
    html = render_html({"episodes": [], "node_memory": rows}, tmp_path, {})
    assert "Node memory" in html and "+15.0%" in html and "230.0 MB" in html
