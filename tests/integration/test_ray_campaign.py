"""`armbrain run --ray ADDRESS` on a real Ray instance this module starts on loopback (one for
the module: Ray takes seconds to start), with real sim + brain graphs in its actors: the
result has the local run's layout and its recordings come back into the report; an actor
killed with SIGKILL mid-episode is recorded, its episode runs again, its graph does not
outlive it and the campaign completes; Ctrl-C writes the partial result and stops every graph."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from test_runner import EPISODE_KEYS, TOP_KEYS, read_bag

from armbrain.ray_campaign import LOOPBACK_ENV, NAMESPACE, RAY_ENV
from conftest import ROOT, TESTS, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
TINY = TESTS / "scenarios" / "campaign" / "tiny.yaml"
ARMBRAIN = [sys.executable, "-m", "armbrain.cli"]
# This module's Ray instance takes a token (~/.ray/auth_token, made on first use) from every
# driver; the campaign's driver joins it on loopback with the same token.
TEST_RAY_ENV = {**RAY_ENV, **LOOPBACK_ENV, "RAY_AUTH_MODE": "token"}
ENV = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", **TEST_RAY_ENV)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The address of a Ray instance listening on 127.0.0.1 only, with 2 CPUs (room for 2 actors)."""
    os.environ.update(TEST_RAY_ENV)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


class Campaign:
    """`armbrain run --ray ...` in a child process; stderr (the progress) is collected."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*ARMBRAIN, "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT, env=ENV)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()
        self.out = ""

    def actors(self) -> list[dict]:
        """status() of this campaign's actors that are alive now (named after the driver's pid)."""
        import ray

        found = []
        for slot in range(2):
            try:
                actor = ray.get_actor(f"armbrain-run-{self.proc.pid}-worker{slot}", namespace=NAMESPACE)
                found.append(ray.get(actor.status.options(concurrency_group="control").remote(), timeout=30))
            except (ValueError, ray.exceptions.RayError):  # not there yet, or lost just now
                continue
        return found

    def wait_for_episodes(self, n: int, total: int) -> None:
        wait_for(lambda: any(f" {n}/{total} " in line for line in self.lines) or self.proc.poll() is not None,
                 600, f"episode {n} of the campaign to end")
        assert self.proc.poll() is None, self.said()

    def finish(self, timeout: float = 900) -> int:
        try:
            self.out, rest = self.proc.communicate(timeout=timeout)  # alongside the reader thread
            self.lines.append(rest or "")
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return self.proc.returncode

    def said(self) -> str:
        return self.out + "".join(self.lines)


def graph_processes(launcher_pid: int) -> set[int]:
    """The launcher and every node under it."""
    import psutil

    try:
        return {launcher_pid, *(c.pid for c in psutil.Process(launcher_pid).children(recursive=True))}
    except psutil.NoSuchProcess:
        return {launcher_pid}


def gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_ray_campaign_has_the_local_layout_and_survives_a_killed_actor(tmp_path, ray_address):
    report, result_json = tmp_path / "report", tmp_path / "result.json"
    run = Campaign("--ray", ray_address, "--scenario", str(TINY), "--episodes", "3", "--seed", "3",
                   "--workers", "2", "--report", str(report), "--json", str(result_json), "--record")
    try:
        run.wait_for_episodes(1, 3)
        victim = wait_for(lambda: next((a for a in run.actors() if a["running"] and a["graph_pid"]), None),
                          300, "an actor running an episode")
        graph = graph_processes(victim["graph_pid"])
        os.kill(victim["pid"], signal.SIGKILL)
        wait_for(lambda: all(gone(pid) for pid in graph), 60, "the killed actor's graph (launcher and nodes) to stop")
    finally:
        code = run.finish()
    result = json.loads(result_json.read_text())

    # the lost actor: recorded with the episode it ran, which ran again and counts once
    lost = result["ray"]["lost"]
    scenario, index = victim["running"]
    assert [(x["scenario"], x["index"], x["pid"], x["requeued"]) for x in lost] == [
        (scenario, index, victim["pid"], True)], lost
    assert "lost: worker" in run.out and f"seed {3 + index} (run again)" in run.out
    episodes = result["episodes"]
    assert [(e["scenario"], e["index"], e["seed"]) for e in episodes] == [("tiny", i, 3 + i) for i in range(3)]
    again = episodes[index]
    assert [x["pid"] for x in again["actor_losses"]] == [victim["pid"]]
    assert all("actor_losses" not in e for e in episodes if e is not again)

    # the local run's layout, with the campaign complete and judged
    assert set(result) >= TOP_KEYS | {"ray"} and not result["interrupted"]
    assert result["workers"] == 2 and result["n_episodes"] == 3
    for e in episodes:
        assert set(e) >= EPISODE_KEYS
        assert e["success"] and e["cause"] == "ok", (e["cause"], e["failed_stage"], e["message"], run.said()[-3000:])
    assert code == 0, run.said()
    assert result["ray"]["address"] == ray_address and result["ray"]["nodes"] == 1
    assert len({a["pid"] for a in result["ray"]["actors"]}) >= 2

    # recordings made in the actors came back into the report, at the paths the records name
    for e in episodes:
        bag_dir = report / e["artifacts"]["recording"]
        assert bag_dir.is_dir() and any(bag_dir.glob("*.mcap")), e["artifacts"]
    bag = read_bag(report / episodes[0]["artifacts"]["recording"])
    assert len(bag["/joint_states"]) > 10 and bag["/arm_controller/joint_trajectory"]
    assert "tiny" in (report / "index.html").read_text()
    assert json.loads((report / "result.json").read_text())["ray"]["lost"] == lost
    assert "=== start 1" in (report / "logs" / f"worker{1 - lost[0]['worker']}.log").read_text()
    for a in result["ray"]["actors"]:  # the killed actor's scratch directory stays behind (docs/ray.md)
        if a["pid"] == victim["pid"]:
            shutil.rmtree(a["scratch"], ignore_errors=True)


def test_ctrl_c_on_a_ray_campaign_writes_the_partial_result_and_stops_the_graphs(tmp_path, ray_address):
    result_json = tmp_path / "result.json"
    run = Campaign("--ray", ray_address, "--scenario", str(TINY), "--episodes", "10", "--workers", "2",
                   "--report", str(tmp_path / "report"), "--json", str(result_json))
    graphs: set[int] = set()
    try:
        run.wait_for_episodes(1, 10)
        graphs = {pid for a in run.actors() if a["graph_pid"] for pid in graph_processes(a["graph_pid"])}
        run.proc.send_signal(signal.SIGINT)
    finally:
        code = run.finish(timeout=300)
    assert code == 130, run.said()
    assert "interrupted" in run.said()
    result = json.loads(result_json.read_text())
    assert result["interrupted"] and 1 <= result["n_episodes"] < 10
    assert "Interrupted" in (tmp_path / "report" / "index.html").read_text()
    assert len(graphs) > 2, "the actors' graphs (launchers and nodes) were seen"
    # stopped by SIGINT, not left behind: Ray's workers block SIGINT, their children must not
    wait_for(lambda: all(gone(pid) for pid in graphs), 60, "every graph of the campaign (launchers, nodes) to stop")
    logs = "".join(f.read_text() for f in (tmp_path / "report" / "logs").glob("worker*.log"))
    assert "received SIGINT; stopping" in logs
    assert result["ray"]["lost"] == []
