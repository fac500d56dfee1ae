"""The campaign report: statistics, and the HTML page with its plots and links."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from armbrain.report import (
    MAX_FAILURE_IMAGES,
    failure_error,
    failure_stage,
    picks_of,
    stage_summary,
    summarize,
    wilson_interval,
    write_report,
)

XSS = "gripper closed on nothing <script>alert('x')</script> & more"


@pytest.mark.parametrize(("successes", "n", "expected"), [
    (9, 10, (0.5958, 0.9821)),
    (0, 10, (0.0, 0.2775)),
    (5, 5, (0.5655, 1.0)),
    (50, 100, (0.4038, 0.5962)),
    (1, 1, (0.2065, 1.0)),
])
def test_wilson_interval_known_values(successes, n, expected):
    lo, hi = wilson_interval(successes, n)
    assert (lo, hi) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(7, 7)[1] == 1.0 and wilson_interval(0, 7)[0] == 0.0
    lo90, hi90 = wilson_interval(9, 10, z=1.645)
    lo95, hi95 = wilson_interval(9, 10)
    assert lo95 < lo90 < 0.9 < hi90 < hi95
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def _episode(scenario, index, success, cause="ok", stage="", error="SUCCESS", sim=9.0, wall=4.0, **kw):
    e = {"scenario": scenario, "index": index, "seed": index, "goal": f"goal of {scenario}", "success": success,
         "cause": cause, "error_code": 0 if error == "SUCCESS" else 7, "error_name": error, "failed_stage": stage,
         "message": "" if success else "it failed", "attempts": 1, "sim_s": sim, "wall_s": wall,
         "stage_durations": {"perceive": 0.25, "approach": 1.0 + index / 10}, "worker": index % 2, "artifacts": {}}
    e.update(kw)
    return e


EPISODES = [
    _episode("one_cube", 0, True, sim=9.0, wall=4.0),
    _episode("one_cube", 1, True, sim=10.0, wall=5.0),
    _episode("one_cube", 2, False, "task_failed", "grasp", "GRASP_LOST", sim=12.0, wall=6.0),
    _episode("stack", 0, False, "timeout", "", "", sim=60.0, wall=20.0),
    _episode("stack", 1, False, "wrong_result", "", "SUCCESS", sim=11.0, wall=5.5),
    _episode("stack", 2, False, "interrupted", "", "", sim=3.0, wall=1.0),
]


def test_failure_keys_fall_back_to_the_cause():
    assert failure_stage(EPISODES[2]) == "grasp" and failure_error(EPISODES[2]) == "GRASP_LOST"
    assert failure_stage(EPISODES[3]) == "timeout" and failure_error(EPISODES[3]) == "timeout"
    assert failure_stage(EPISODES[4]) == "wrong_result" and failure_error(EPISODES[4]) == "wrong_result"


def test_summarize_counts_rates_medians_and_failures():
    s = summarize(EPISODES, {"stack": {"file": "sim/scenarios/stack.yaml", "goal": "stack"},
                             "unused": {"file": "sim/scenarios/unused.yaml"}})
    assert (s["n_episodes"], s["successes"], s["n_interrupted"]) == (5, 2, 1)
    assert s["success_rate"] == pytest.approx(0.4)
    assert s["ci95"] == pytest.approx(list(wilson_interval(2, 5)))
    assert s["sim_s_median"] == 11.0 and s["wall_s_median"] == 5.5  # the interrupted episode is left out
    assert s["failures_by_stage"] == {"grasp": 1, "timeout": 1, "wrong_result": 1}
    assert s["failures_by_error"] == {"GRASP_LOST": 1, "timeout": 1, "wrong_result": 1}
    assert s["false_success"] == 1  # the wrong_result episode: reported success, ground truth disagreed
    assert s["scenarios"]["stack"]["false_success"] == 1 and s["scenarios"]["one_cube"]["false_success"] == 0
    assert list(s["scenarios"]) == ["stack", "unused", "one_cube"]  # given order, then first appearance
    one = s["scenarios"]["one_cube"]
    assert (one["n_episodes"], one["successes"], one["success_rate"]) == (3, 2, pytest.approx(2 / 3))
    assert (one["sim_s_median"], one["wall_s_median"]) == (10.0, 5.0)
    assert one["failures_by_stage"] == {"grasp": 1} and one["failures_by_error"] == {"GRASP_LOST": 1}
    stack = s["scenarios"]["stack"]
    assert stack["file"] == "sim/scenarios/stack.yaml" and stack["goal"] == "stack"
    assert (stack["n_episodes"], stack["successes"], stack["n_interrupted"]) == (2, 0, 1)
    assert stack["success_rate"] == 0.0 and stack["ci95"] == pytest.approx([0.0, 0.6576], abs=1e-4)
    unused = s["scenarios"]["unused"]
    assert unused["n_episodes"] == 0 and unused["success_rate"] is None and unused["ci95"] == [0.0, 1.0]
    json.dumps(s, allow_nan=False)  # JSON-ready


def test_picks_per_hour_counts_the_objects_each_success_put_away():
    eps = [_episode("one_cube", 0, True, sim=4.0, message="ground truth: red_cube is in the bin"),
           _episode("one_cube", 1, True, sim=6.0, message="ground truth: red_cube is in the bin"),
           _episode("clear", 0, True, sim=18.0,
                    message="ground truth: a is in the bin; b is in the bin; c is in the bin"),
           _episode("clear", 1, False, "task_failed", "place", "NO_PATH", sim=30.0,
                    message="'clear the table': ...; ground truth: a is in the bin; b is not over the bin"),
           _episode("clear", 2, True, sim=12.0, message="")]  # no verdicts listed: one pick
    assert [picks_of(e) for e in eps] == [1, 1, 3, 0, 1]
    s = summarize(eps)
    assert s["picks"] == 6
    assert s["picks_per_hour"] == pytest.approx(3600 * 6 / (4 + 6 + 18 + 12))  # failures' time is not in it
    assert s["sim_s_per_pick_median"] == pytest.approx(6.0)  # of 4, 6, 6, 12
    one = s["scenarios"]["one_cube"]
    assert one["picks_per_hour"] == pytest.approx(720.0) and one["sim_s_per_pick_median"] == pytest.approx(5.0)
    assert summarize([eps[3]])["picks_per_hour"] is None


def test_summarize_nothing():
    s = summarize([])
    assert (s["n_episodes"], s["successes"], s["success_rate"], s["ci95"]) == (0, 0, None, [0.0, 1.0])
    assert s["sim_s_median"] is None and s["failures_by_stage"] == {} and s["scenarios"] == {}


def test_stage_summary_in_execution_order():
    rows = stage_summary([{"stage_durations": {"retreat": 1.0, "perceive": 0.5, "zzz_custom": 2.0}},
                          {"stage_durations": {"perceive": 1.5, "retreat": float("nan")}}])
    assert [r["stage"] for r in rows] == ["perceive", "retreat", "zzz_custom"]
    assert rows[0] == {"stage": "perceive", "n": 2, "median": 1.0, "p90": 1.5, "max": 1.5}
    assert rows[1]["n"] == 1  # NaN is not a duration


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.imgs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.imgs.append(a["src"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def _parse(index: Path) -> _Links:
    p = _Links()
    p.feed(index.read_text())
    return p


def _write_images(report_dir: Path) -> tuple[str, str]:
    from PIL import Image

    (report_dir / "episodes").mkdir(parents=True)
    frames = [Image.new("RGB", (32, 24), (40 * k, 0, 200)) for k in range(3)]
    frames[0].save(report_dir / "episodes" / "one_cube_0002.gif", save_all=True, append_images=frames[1:],
                   duration=200, loop=0)
    frames[-1].save(report_dir / "episodes" / "stack_0000.png")
    return "episodes/one_cube_0002.gif", "episodes/stack_0000.png"


def _result(episodes, **extra):
    s = summarize(episodes)
    return {"scenario": "sim/scenarios/", "seed": 0, "workers": 2, "interrupted": False,
            "started": "2026-11-24T10:00:00Z", "wall_s_total": 812.3, "episodes_per_minute": 14.8,
            **s, "episodes": episodes, **extra}


def test_write_report_page_plots_and_links(tmp_path):
    report_dir = tmp_path / "report"
    gif, png = _write_images(report_dir)
    (report_dir / "recordings" / "one_cube_0002").mkdir(parents=True)
    episodes = [dict(e) for e in EPISODES]
    episodes[2] = {**episodes[2], "message": XSS,
                   "artifacts": {"gif": gif, "recording": "recordings/one_cube_0002"}}
    episodes[3] = {**episodes[3], "artifacts": {"keyframe": png, "gif": "episodes/missing.gif"}}
    episodes[4] = {**episodes[4], "artifacts": {"keyframe": "episodes/gone.png", "recording": "/etc"}}
    result = _result(episodes, interrupted=True, targets={"one_cube": 0.5, "stack": 0.9})

    index = write_report(result, report_dir)

    assert index == report_dir / "index.html"
    assert json.loads((report_dir / "result.json").read_text()) == result
    page = index.read_text()
    assert "40.0%" in page and "2 of 5 episodes succeeded" in page  # overall rate
    assert "66.7%" in page and "0.0%" in page  # per scenario
    lo, hi = wilson_interval(2, 5)
    assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in page
    assert "Interrupted: partial report" in page and "1 cut short" in page
    assert "below target" in page and "class='below'" in page  # stack: 0% < 90%
    assert page.count("<span class='tag'>below target</span>") == 1
    assert "sim/scenarios/" in page and "13 min 32 s" in page and "14.8 episodes/min" in page
    assert "GRASP_LOST" in page and "wrong_result" in page and "timeout" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<script>" not in page and "alert('x')" not in page
    links = _parse(index)
    assert links.scripts == 0
    for link in links.links:  # every link and image is relative and exists
        assert not link.startswith(("/", "http:", "https:", "file:")), link
        assert (report_dir / unquote(link)).exists(), link
    assert gif in links.imgs and png in links.imgs  # failures shown inline (GIF, else key frame)
    assert "recordings/one_cube_0002" in links.links
    assert "image file missing: episodes/gone.png" in page
    for name in ("cycle_sim", "cycle_wall", "stages"):
        plot = report_dir / "plots" / f"{name}.png"
        assert f"plots/{name}.png" in links.imgs
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Failed episodes (3)" in page  # the interrupted one is not a failure


def test_write_report_with_no_episodes(tmp_path):
    result = _result([], interrupted=True, wall_s_total=1.5, episodes_per_minute=0.0)
    index = write_report(result, tmp_path / "r")
    page = index.read_text()
    assert "0 episodes" in page and "No episode finished" in page and "Interrupted" in page
    assert list((tmp_path / "r" / "plots").iterdir()) == []
    assert _parse(index).imgs == []
    assert json.loads((tmp_path / "r" / "result.json").read_text())["n_episodes"] == 0


def test_write_report_all_success_and_a_rewrite(tmp_path):
    episodes = [_episode("one_cube", i, True, sim=9.0 + i) for i in range(4)]
    index = write_report(_result(episodes), tmp_path)
    page = index.read_text()
    assert "100.0%" in page and "No failures" in page and "Failed episodes (0)" in page
    assert "Interrupted" not in page
    # Rewritten with no data, the old plots do not linger.
    write_report(_result([]), tmp_path)
    assert not (tmp_path / "plots" / "cycle_sim.png").exists()


def test_many_failures_cap_the_images(tmp_path):
    gif, _png = _write_images(tmp_path)
    n = MAX_FAILURE_IMAGES + 12
    episodes = [_episode(f"s{i % 11}", i, False, "task_failed", "place", "PLACE_FAILED", sim=5.0 + i % 7,
                         artifacts={"gif": gif}) for i in range(n)]
    index = write_report(_result(episodes), tmp_path)
    page = index.read_text()
    card_imgs = [src for src in _parse(index).imgs if src == gif]
    assert len(card_imgs) == MAX_FAILURE_IMAGES
    assert f"first {MAX_FAILURE_IMAGES} of {n} failed episodes" in page
    assert "Further failed episodes (12)" in page
    assert (tmp_path / "plots" / "cycle_sim.png").exists()  # 11 scenarios: 7 drawn, the rest together
