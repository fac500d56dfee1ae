"""`armbrain compare`: two campaign results, their success rates tested, cycle times and
changed seeds. The campaigns are built here from records made by the runner's own
`_record_of`, so they keep its layout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from armbrain.compare import compare, fisher_p, format_comparison, main, mcnemar_p
from armbrain.runner import Item, ScenarioEntry, Worker
from conftest import ARMBRAIN

GOAL = "put the red cube in the bin"


def record(scenario: str, seed: int, success: bool, cause: str = "", stage: str = "", message: str = "",
           sim_s: float = 20.0, stages: dict | None = None) -> dict:
    """An episode record as a worker writes it: _record_of, then the verdict and timings."""
    entry = ScenarioEntry(scenario, Path(f"/scenarios/{scenario}.yaml"), (GOAL,), "", None, 1)
    rec = Worker._record_of(SimpleNamespace(index=0), Item(entry, seed, seed, 150.0), "", "")
    if success:
        rec.update(success=True, cause="ok", error_code=1, error_name="SUCCESS", message="ground truth: in the bin")
    else:
        rec.update(cause=cause or "task_failed", failed_stage=stage, message=message or f"'{GOAL}': it failed")
    rec.update(sim_s=sim_s, wall_s=sim_s / 2,
               stage_durations=stages if stages is not None else {"perceive": 0.5, "approach": 2.0, "lift": 1.0})
    return rec


def campaign(episodes: list[dict], **fields) -> dict:
    """The top of a result as run_campaign writes it (the summary fields are not read)."""
    return {"scenario": "sim/scenarios/", "seed": 0, "workers": 1, "real_time_factor": 0.0, "sim_max_lead": 0.8,
            "episodes_per_scenario": 20, "interrupted": False, "started": "2025-01-01T00:00:00Z",
            "wall_s_total": 600.0, "episodes_per_minute": 4.0, **fields, "episodes": episodes}


def outcomes(scenario: str, successes: list[bool], **kw) -> list[dict]:
    return [record(scenario, seed, ok, stage="" if ok else "close", **kw) for seed, ok in enumerate(successes)]


def write(tmp_path: Path, name: str, doc) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def run_main(tmp_path: Path, a, b, *options: str, capsys) -> tuple[int, str, str]:
    code = main([str(write(tmp_path, "A.json", a)), str(write(tmp_path, "B.json", b)), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the tests' p-values, against values computed by hand -------------------------------------
@pytest.mark.parametrize(("failing", "passing", "expected"), [
    (8, 1, 20 / 512),  # n = 9: 2 * (C(9,0) + C(9,1)) / 2^9
    (5, 0, 2 / 32),  # 2 * (1/2)^5
    (0, 5, 2 / 32),  # two-sided: the same either way
    (3, 3, 1.0),  # capped at 1
    (10, 2, 2 * (1 + 12 + 66) / 4096),  # 2 * P(X <= 2), X ~ Bin(12, 1/2)
    (0, 0, 1.0),  # no discordant pair: nothing to test
])
def test_mcnemar_exact_p(failing, passing, expected):
    assert mcnemar_p(failing, passing) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("sa", "na", "sb", "nb", "expected"), [
    (10, 10, 4, 10, 420 / 38760),  # tables at least as unlikely: a = 10 and a = 4, each C(10,4) / C(20,14)
    (3, 4, 1, 4, 34 / 70),  # Fisher's tea tasting: (1 + 16 + 16 + 1) / C(8,4)
    (5, 5, 5, 5, 1.0),
    (0, 0, 3, 5, 1.0),  # an empty side
])
def test_fisher_exact_p(sa, na, sb, nb, expected):
    assert fisher_p(sa, na, sb, nb) == pytest.approx(expected, rel=1e-9)


# -- comparisons --------------------------------------------------------------------------------
def test_identical_campaigns_exit_0_without_changes(tmp_path, capsys):
    eps = outcomes("one_cube", [True] * 18 + [False] * 2) + outcomes("stack", [True] * 15 + [False] * 5)
    code, out, err = run_main(tmp_path, campaign(eps), campaign(eps), capsys=capsys)
    assert (code, err) == (0, "")
    cmp = compare(campaign(eps), campaign(eps))
    s = cmp["scenarios"]["one_cube"]
    assert (s["test"], s["n_pairs"], s["p"], s["difference"]) == ("mcnemar", 20, 1.0, 0.0)
    assert cmp["newly_failing"] == [] and cmp["newly_passing"] == [] and cmp["regression"] == []
    assert cmp["overall"]["a"]["n_episodes"] == 40 and cmp["overall"]["n_pairs"] == 40
    assert "newly failing (success in A, failure in B): 0" in out
    assert "no significant regression" in out and "REGRESSION" not in out


def test_clear_regression_exits_1_and_names_the_seeds(tmp_path, capsys):
    a = campaign(outcomes("one_cube", [True] * 20) + outcomes("stack", [True] * 10))
    b_eps = outcomes("one_cube", [True] * 12 + [False] * 8) + outcomes("stack", [True] * 10)
    for e in b_eps[12:20]:
        e.update(cause="task_failed", failed_stage="close",
                 message=f"'{GOAL}': gripper closed on nothing " + "x" * 300)
    b_eps[19].update(cause="timeout", failed_stage="transfer", message="took longer than the episode's deadline")
    code, out, err = run_main(tmp_path, a, campaign(b_eps), "--json", str(tmp_path / "out" / "cmp.json"),
                              capsys=capsys)
    assert code == 1 and err == ""
    cmp = json.loads((tmp_path / "out" / "cmp.json").read_text())
    s = cmp["scenarios"]["one_cube"]
    assert (s["test"], s["newly_failing"], s["newly_passing"]) == ("mcnemar", 8, 0)
    assert s["p"] == pytest.approx(2 / 256) and s["regression"] and s["difference"] == pytest.approx(-0.4)
    assert not cmp["scenarios"]["stack"]["regression"] and cmp["scenarios"]["stack"]["p"] == 1.0
    assert cmp["regression"] == ["one_cube", "overall"]
    assert [(f["scenario"], f["seed"]) for f in cmp["newly_failing"]] == [("one_cube", s) for s in range(12, 20)]
    assert cmp["newly_failing"][-1]["cause"] == "timeout" and cmp["newly_failing"][-1]["failed_stage"] == "transfer"
    assert len(cmp["newly_failing"][0]["message"]) == 120 and cmp["newly_failing"][0]["message"].endswith("…")
    assert {c["name"]: (c["a"], c["b"], c["new"]) for c in cmp["failures_by_cause"]} == {
        "task_failed": (0, 7, True), "timeout": (0, 1, True)}
    assert "one_cube seed 12: task_failed in close: 'put the red cube in the bin': gripper closed" in out
    assert "one_cube seed 19: timeout in transfer: took longer" in out
    assert "SIGNIFICANT REGRESSION: one_cube (p 0.0078), overall (p 0.0078)" in out
    row = next(line for line in out.splitlines() if line.startswith("one_cube "))
    assert row.split()[1:7] == ["20", "20", "100.0%", "60.0%", "-40.0%", "McNemar"] and row.endswith("REGRESSION")


def test_alpha_sets_what_is_significant(tmp_path, capsys):
    a = campaign(outcomes("one_cube", [True] * 20))
    b = campaign(outcomes("one_cube", [True] * 15 + [False] * 5))  # McNemar p = 2/32 = 0.0625
    assert run_main(tmp_path, a, b, capsys=capsys)[0] == 0
    assert run_main(tmp_path, a, b, "--alpha", "0.1", capsys=capsys)[0] == 1


def test_improvement_exits_0_and_lists_newly_passing(tmp_path, capsys):
    a = campaign(outcomes("one_cube", [False] * 8 + [True] * 12))
    b = campaign(outcomes("one_cube", [True] * 20))
    code, out, _ = run_main(tmp_path, a, b, capsys=capsys)
    assert code == 0
    s = compare(a, b)["scenarios"]["one_cube"]
    assert s["significant"] and not s["regression"] and s["newly_passing"] == 8 and s["p"] == pytest.approx(2 / 256)
    assert "newly passing (failure in A, success in B): 8" in out and "one_cube seed 0: was task_failed in close" in out
    assert next(line for line in out.splitlines() if line.startswith("one_cube ")).endswith("better")
    assert "no significant regression" in out
    gone = {c["name"]: c for c in compare(a, b)["failures_by_stage"]}
    assert gone["close"]["gone"] and (gone["close"]["a"], gone["close"]["b"]) == (8, 0)


def test_unpaired_seeds_use_fisher(tmp_path, capsys):
    a = campaign(outcomes("one_cube", [True] * 10))
    b_eps = outcomes("one_cube", [True] * 4 + [False] * 6)
    for e in b_eps:
        e["seed"] += 100  # another seed range: no pairs
    code, out, _ = run_main(tmp_path, a, campaign(b_eps, seed=100), capsys=capsys)
    cmp = compare(a, campaign(b_eps, seed=100))
    s = cmp["scenarios"]["one_cube"]
    assert (s["test"], s["n_pairs"]) == ("fisher", 0) and s["p"] == pytest.approx(420 / 38760)
    assert code == 1 and cmp["regression"] == ["one_cube", "overall"]
    assert cmp["newly_failing"] == []  # no seed in both: nothing is "newly" failing
    assert cmp["settings_differ"] == {"seed": [0, 100]} and "note: seed differs: A 0, B 100" in out
    assert next(line for line in out.splitlines() if line.startswith("one_cube ")).split()[6] == "Fisher"


def test_a_scenario_only_in_one_file(tmp_path, capsys):
    shared = outcomes("one_cube", [True] * 10)
    a = campaign(shared + outcomes("stack", [False] * 10))
    b = campaign(shared + outcomes("clutter", [True] * 5))
    code, out, _ = run_main(tmp_path, a, b, capsys=capsys)
    cmp = compare(a, b)
    assert code == 0  # stack's failures are not compared with anything
    assert cmp["scenarios"]["stack"]["only_in"] == "a" and cmp["scenarios"]["clutter"]["only_in"] == "b"
    assert cmp["scenarios"]["stack"]["test"] is None and cmp["scenarios"]["stack"]["difference"] is None
    assert cmp["overall"]["a"]["n_episodes"] == 10 and cmp["overall"]["b"]["n_episodes"] == 10
    assert cmp["failures_by_cause"] == []  # stack's failures have nothing to be compared with
    assert next(line for line in out.splitlines() if line.startswith("stack ")).endswith("only in A")
    assert next(line for line in out.splitlines() if line.startswith("clutter ")).endswith("only in B")


def test_cycle_times_and_stages(tmp_path, capsys):
    a = campaign(outcomes("one_cube", [True] * 5, sim_s=20.0,
                          stages={"perceive": 0.5, "approach": 2.0, "lift": 1.0, "transfer": 3.0}))
    b = campaign(outcomes("one_cube", [True] * 5, sim_s=18.0,
                          stages={"perceive": 0.52, "approach": 3.0, "lift": 0.5, "transfer": 3.1}),
                 episodes_per_minute=5.0)
    c = compare(a, b)["scenarios"]["one_cube"]["cycle_times"]
    assert c["sim_s"] == pytest.approx({"a": 20.0, "b": 18.0, "change": -2.0, "fraction": -0.1})
    assert c["paired_sim_s_change"] == pytest.approx(-2.0)
    assert {k: r["trend"] for k, r in c["stages"].items()} == {
        "perceive": "", "approach": "slower", "lift": "faster", "transfer": ""}  # 0.02 s, 3%: no trend
    assert list(c["stages"]) == ["perceive", "approach", "lift", "transfer"]  # execution order
    _, out, _ = run_main(tmp_path, a, b, capsys=capsys)
    assert "one_cube: slower stages: approach 2.00 -> 3.00 (+50.0%)" in out
    assert "one_cube: faster stages: lift 1.00 -> 0.50 (-50.0%)" in out
    assert "episodes/min: A 4.00, B 5.00" in out


def test_failed_and_interrupted_episodes_and_odd_fields(tmp_path, capsys):
    a_eps = outcomes("one_cube", [True] * 4)
    a_eps[0]["sim_s"] = "n/a"  # a field of the wrong type is no data
    del a_eps[1]["stage_durations"]
    a_eps.append({**record("one_cube", 4, False), "cause": "interrupted"})
    b_eps = outcomes("one_cube", [True] * 4)
    b_eps[2]["new_field"] = {"from": "a later runner"}
    del b_eps[3]["seed"]  # unpaired, but counted
    code, out, _ = run_main(tmp_path, campaign(a_eps), campaign(b_eps), capsys=capsys)
    cmp = compare(campaign(a_eps), campaign(b_eps))
    s = cmp["scenarios"]["one_cube"]
    assert code == 0 and (s["a"]["n_episodes"], s["b"]["n_episodes"], s["n_pairs"]) == (4, 4, 3)
    assert s["cycle_times"]["sim_s"]["a"] == 20.0 and cmp["campaign"]["n_interrupted"] == [1, 0]
    assert "note: 1 interrupted episode(s) of A left out" in out


@pytest.mark.parametrize(("content", "expected"), [
    (None, "A.json: no such file"),
    ("{not json", "A.json: not JSON"),
    ("[1, 2]", "A.json: not a campaign result: the JSON is a list"),
    ({"scenarios": {}}, "A.json: not a campaign result: no 'episodes' list"),
    ({"episodes": [{"scenario": "one_cube", "seed": 0}]}, "A.json: episodes[0] (one_cube): 'success' is missing"),
    ({"episodes": ["x"]}, "A.json: episodes[0] is a str, not an episode record"),
    ({"episodes": [{"scenario": 3, "success": True}]}, "A.json: episodes[0]: 'scenario' is 3, not a name"),
])
def test_bad_files_exit_2_naming_the_file(tmp_path, capsys, content, expected):
    b = write(tmp_path, "B.json", campaign(outcomes("one_cube", [True])))
    a = tmp_path / "A.json"
    if content is not None:
        write(tmp_path, "A.json", content)
    assert main([str(a), str(b)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"armbrain compare: error: {tmp_path}/{expected}" in captured.err


def test_bad_alpha_exits_2(tmp_path, capsys):
    doc = campaign(outcomes("one_cube", [True]))
    code, out, err = run_main(tmp_path, doc, doc, "--alpha", "1.5", capsys=capsys)
    assert (code, out) == (2, "") and "--alpha must be between 0 and 1; got 1.5" in err


def test_format_aligns_columns():
    a = campaign(outcomes("a_much_longer_scenario_name", [True] * 3) + outcomes("s", [True] * 12))
    lines = format_comparison(compare(a, a), "A.json", "B.json").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("scenario"))
    end = lines[header].index("rate A") + len("rate A")
    rows = lines[header + 1: header + 4]
    assert [r.split()[0] for r in rows] == ["a_much_longer_scenario_name", "s", "overall"]
    assert all(r[end - 6: end] == "100.0%" and r[end] == " " for r in rows), rows


def test_armbrain_compare_command(tmp_path):
    """The installed entry point: `armbrain compare A.json B.json` (no ROS involved)."""
    a = write(tmp_path, "A.json", campaign(outcomes("one_cube", [True] * 20)))
    b = write(tmp_path, "B.json", campaign(outcomes("one_cube", [True] * 10 + [False] * 10)))
    done = subprocess.run([str(ARMBRAIN), "compare", str(a), str(b)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "one_cube seed 19: task_failed in close" in done.stdout and "SIGNIFICANT REGRESSION" in done.stdout
    same = subprocess.run([str(ARMBRAIN), "compare", str(a), str(a)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "no significant regression" in same.stdout
    missing = subprocess.run([str(ARMBRAIN), "compare", str(a), str(tmp_path / "nope.json")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and f"{tmp_path / 'nope.json'}: no such file" in missing.stderr
