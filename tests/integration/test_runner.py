"""`armbrain run`: a real campaign (sim + brain graph over real DDS) on tiny scenarios, its
JSON, report and MCAP recordings (read back with rosbags, a library we did not write), a
forced failure reported with its stage, bad scenario files refused before anything
starts, and Ctrl-C leaving a partial result."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, TESTS, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
CAMPAIGN = TESTS / "scenarios" / "campaign"
ARMBRAIN = [sys.executable, "-m", "armbrain.cli"]
TOP_KEYS = {"scenario", "n_episodes", "successes", "success_rate", "sim_s_median", "wall_s_median",
            "failures_by_stage", "failures_by_error", "episodes", "scenarios", "ci95", "interrupted", "workers",
            "episodes_per_minute", "sim_max_lead"}
EPISODE_KEYS = {"scenario", "index", "seed", "goal", "success", "cause", "error_code", "error_name", "failed_stage",
                "message", "attempts", "sim_s", "wall_s", "stage_durations", "worker", "artifacts"}


def run_cli(*args, timeout=600):
    return subprocess.run([*ARMBRAIN, "run", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST"))


def read_bag(bag_dir):
    """{topic: [deserialized message]} with rosbags; brain_interfaces types are registered
    from the definitions stored in the bag."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    out: dict[str, list] = {}
    with Reader(bag_dir) as reader:
        extra = {}
        for conn in reader.connections:
            if conn.msgtype not in store.types:
                extra.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        store.register(extra)
        for conn, _t, raw in reader.messages():
            out.setdefault(conn.topic, []).append(store.deserialize_cdr(raw, conn.msgtype))
    return out


def test_a_campaign_writes_json_report_and_recordings(tmp_path):
    report, result_json = tmp_path / "report", tmp_path / "result.json"
    done = run_cli("--scenario", str(CAMPAIGN), "--episodes", "1", "--seed", "3", "--report", str(report),
                   "--json", str(result_json), "--record")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: below target; judged below
    result = json.loads(result_json.read_text())
    assert set(result) >= TOP_KEYS
    assert result["scenario"] == str(CAMPAIGN) and result["n_episodes"] == 2 and not result["interrupted"]
    assert set(result["scenarios"]) == {"tiny", "unreachable"}
    episodes = {e["scenario"]: e for e in result["episodes"]}
    for e in episodes.values():
        assert set(e) >= EPISODE_KEYS and e["seed"] == 3

    # the tiny pick-and-place succeeds, judged by ground truth, with per-stage durations
    tiny = episodes["tiny"]
    assert tiny["success"] and tiny["cause"] == "ok", (
        f"cause {tiny['cause']}, error {tiny['error_name']}, stage {tiny['failed_stage']}: {tiny['message']}\n"
        + done.stdout[-3000:] + done.stderr[-3000:])
    assert done.returncode == 0, done.stdout + done.stderr
    assert tiny["sim_s"] > 0 and tiny["wall_s"] > 0 and tiny["attempts"] >= 1
    assert 0 < tiny["first_motion_wall_s"] < tiny["wall_s"]  # goal accepted -> first arm/gripper command
    assert result["first_motion_wall_s_median"] > 0 and result["scenarios"]["tiny"]["first_motion_wall_s_median"] > 0
    assert {"approach", "close", "transfer", "release"} <= set(tiny["stage_durations"])
    assert result["scenarios"]["tiny"]["success_rate"] == 1.0

    # the unreachable goal is a failure with its stage, code and message, rejected before moving
    bad = episodes["unreachable"]
    assert not bad["success"] and bad["cause"] == "task_failed"
    assert bad["error_name"] == "INVALID_GOAL" and bad["failed_stage"]
    assert "out of reach" in bad["message"]
    assert result["failures_by_stage"] == {bad["failed_stage"]: 1}
    assert result["failures_by_error"] == {"INVALID_GOAL": 1}

    # the report: a page naming both scenarios, with the failed episode's frames
    page = (report / "index.html").read_text()
    assert "tiny" in page and "unreachable" in page and "INVALID_GOAL" in page
    assert json.loads((report / "result.json").read_text())["n_episodes"] == 2
    for kind in ("gif", "keyframe"):
        assert (report / bad["artifacts"][kind]).stat().st_size > 0
    assert "stdout" not in page

    # the recording reads back with rosbags
    bag = read_bag(report / tiny["artifacts"]["recording"])
    assert len(bag["/joint_states"]) > 10
    assert len(bag["/camera/color/image_raw"]) > 2
    seen = [o.label for m in bag["/perception/objects"] for o in m.objects]
    assert "red cube" in seen
    assert bag["/arm_controller/joint_trajectory"], "the planner's trajectories are recorded"


def test_an_invalid_scenario_is_refused_before_anything_starts(tmp_path):
    bad = tmp_path / "suite" / "broken.yaml"
    bad.parent.mkdir()
    (tmp_path / "suite" / "ok.yaml").write_text((CAMPAIGN / "tiny.yaml").read_text())
    bad.write_text((CAMPAIGN / "tiny.yaml").read_text().replace("colour: red", "colour: mauve"))
    done = run_cli("--scenario", str(bad.parent), "--report", str(tmp_path / "report"), timeout=60)
    assert done.returncode == 2
    assert str(bad) in done.stderr and "objects[0].colour: 'mauve'" in done.stderr and "red" in done.stderr
    assert not (tmp_path / "report").exists()
    missing = run_cli("--scenario", str(tmp_path / "nope.yaml"), timeout=60)
    assert missing.returncode == 2 and "no such scenario file or directory" in missing.stderr
    zero = run_cli("--scenario", str(CAMPAIGN / "tiny.yaml"), "--episodes", "0", timeout=60)
    assert zero.returncode == 2 and "--episodes" in zero.stderr
    lead = run_cli("--scenario", str(CAMPAIGN / "tiny.yaml"), "--sim-max-lead", "-1", timeout=60)
    assert lead.returncode == 2 and "--sim-max-lead must be 0 (no bound) .. 10 sim seconds; got -1.0" in lead.stderr


def test_ctrl_c_stops_the_workers_and_writes_a_partial_result(tmp_path):
    result_json = tmp_path / "result.json"
    proc = subprocess.Popen([*ARMBRAIN, "run", "--scenario", str(CAMPAIGN / "tiny.yaml"), "--episodes", "20",
                             "--report", str(tmp_path / "report"), "--json", str(result_json)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST"))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(" 1/20 " in line for line in lines), 300, "the first episode to end")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)  # it reads stderr too, alongside the reader thread
    finally:
        if proc.poll() is None:  # SIGTERM: the runner still stops its graphs
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    reader.join(timeout=10)
    said = "".join(lines) + (err or "")
    assert proc.returncode == 130, out + said
    assert "interrupted" in said
    result = json.loads(result_json.read_text())
    assert result["interrupted"] and 1 <= result["n_episodes"] < 20
    assert len(result["episodes"]) < 20
    assert "Interrupted" in (tmp_path / "report" / "index.html").read_text()
