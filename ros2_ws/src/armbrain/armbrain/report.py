"""The campaign report: success statistics of a set of episodes as JSON, PNG plots and one
self-contained HTML page (inline CSS, relative links, no scripts).

    summary = summarize(episodes)           # the single place where the numbers are computed
    write_report(result, Path("out/run"))   # index.html, result.json, plots/*.png

`result` is the runner's dict (campaign facts, the summary fields, "scenarios" and
"episodes"); optional "targets" maps a scenario name to its minimum success rate, and
scenarios below it are highlighted. Episodes whose cause is "interrupted" did not finish:
they are counted in n_interrupted and left out of every rate and median.

This module imports no ROS package; matplotlib (Agg, no pyplot state) is imported only
when plots are drawn.
"""

from __future__ import annotations

import html
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import quote

# The planner's stage names in execution order (planner.task.runner.STAGES); other names
# sort after these, alphabetically.
STAGE_ORDER = ("perceive", "select", "plan_grasps", "plan_approach", "open", "approach", "close", "verify_held",
               "lift", "transfer", "place", "release", "retreat", "home", "verify_placed")
MAX_FAILURE_IMAGES = 50
MAX_PLOTTED_SCENARIOS = 8  # more are drawn together as "other scenarios"


# --------------------------------------------------------------------------------------
# Statistics


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a success rate (z = 1.96: 95%). n == 0 gives (0.0, 1.0)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact at the ends (0 or n successes), where rounding could leave 1e-17 outside.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def _number(x) -> float | None:
    """x as a finite float, or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _median(values: Iterable) -> float | None:
    vals = [v for v in (_number(x) for x in values) if v is not None]
    return statistics.median(vals) if vals else None


def failure_stage(episode: Mapping) -> str:
    """Where a failed episode failed: its failed_stage, else its cause ("timeout", ...)."""
    return str(episode.get("failed_stage") or episode.get("cause") or "unknown")


def failure_error(episode: Mapping) -> str:
    """A failed episode's error name; its cause when the task reported none or SUCCESS
    (a wrong result the task itself believed, a timeout, a crash)."""
    name = episode.get("error_name")
    if name and name != "SUCCESS":
        return str(name)
    return str(episode.get("cause") or "unknown")


def picks_of(episode: Mapping) -> int:
    """Objects a successful episode put where they belong: the success rules its ground truth
    judged (the simulator's check lists one verdict per object, "; "-separated, after
    "ground truth: "); 1 when the message does not say; 0 for a failed episode."""
    if not episode.get("success"):
        return 0
    text = str(episode.get("message") or "")
    _, sep, verdicts = text.rpartition("ground truth: ")
    return max(1, len([v for v in verdicts.split("; ") if v.strip()])) if sep else 1


def _picks_per_hour(episodes: list[Mapping]) -> tuple[float | None, float | None]:
    """(picks per hour of sim time, median sim seconds per pick) over the successful episodes:
    what a cell operator counts, every second of the episode included (perception, planning,
    motion, verification, the settling before the check)."""
    ok = [(picks_of(e), _number(e.get("sim_s"))) for e in episodes if e.get("success")]
    ok = [(n, t) for n, t in ok if t is not None and t > 0 and n > 0]
    if not ok:
        return None, None
    return 3600.0 * sum(n for n, _ in ok) / sum(t for _, t in ok), statistics.median(t / n for n, t in ok)


def _is_done(episode: Mapping) -> bool:
    return episode.get("cause") != "interrupted"


def _stats(episodes: list[Mapping]) -> dict:
    n = len(episodes)
    successes = sum(1 for e in episodes if e.get("success"))
    failed = [e for e in episodes if not e.get("success")]
    lo, hi = wilson_interval(successes, n)
    per_hour, per_pick = _picks_per_hour(episodes)

    def counts(key) -> dict[str, int]:
        return dict(sorted(Counter(key(e) for e in failed).items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "n_episodes": n,
        "successes": successes,
        "success_rate": successes / n if n else None,
        "ci95": [lo, hi],
        "sim_s_median": _median(e.get("sim_s") for e in episodes),
        "wall_s_median": _median(e.get("wall_s") for e in episodes),
        "first_motion_wall_s_median": _median(e.get("first_motion_wall_s") for e in episodes),
        "picks": sum(picks_of(e) for e in episodes),
        "picks_per_hour": per_hour,  # sim time, successful episodes (_picks_per_hour)
        "sim_s_per_pick_median": per_pick,
        "failures_by_stage": counts(failure_stage),
        "failures_by_error": counts(failure_error),
        # The worst outcome: the brain reported success, the simulator's ground truth disagrees.
        "false_success": sum(1 for e in failed if e.get("cause") == "wrong_result"),
    }


def summarize(episodes: list[dict], scenario_info: Mapping[str, Mapping] | None = None) -> dict:
    """The summary fields of a campaign from its episode records.

    Returns n_episodes, successes, success_rate (None when no episode finished), ci95
    (Wilson, [lo, hi]), sim_s_median, wall_s_median, first_motion_wall_s_median (seconds; None without data),
    failures_by_stage and failures_by_error (name -> count, most frequent first; a failed
    episode without failed_stage counts under its cause), false_success (episodes whose
    goals all reported success while ground truth disagrees), n_interrupted, and "scenarios":
    the same fields per scenario (in the order of `scenario_info`, then of first
    appearance), each merged over scenario_info[name] (file, description, goal ...).
    Interrupted episodes count only in n_interrupted.
    """
    done = [e for e in episodes if _is_done(e)]
    out = _stats(done)
    out["n_interrupted"] = len(episodes) - len(done)
    names = list(scenario_info or {})
    names += [n for n in dict.fromkeys(str(e.get("scenario", "")) for e in episodes) if n not in names]
    out["scenarios"] = {}
    for name in names:
        eps = [e for e in episodes if str(e.get("scenario", "")) == name]
        info = dict((scenario_info or {}).get(name, {}))
        info.update(_stats([e for e in eps if _is_done(e)]))
        info["n_interrupted"] = sum(1 for e in eps if not _is_done(e))
        out["scenarios"][name] = info
    return out


def stage_summary(episodes: Iterable[Mapping]) -> list[dict]:
    """Per stage (in execution order): n (episodes that ran it), median, p90 and max of its
    duration in seconds, from each episode's stage_durations."""
    durations: dict[str, list[float]] = {}
    for e in episodes:
        for stage, secs in (e.get("stage_durations") or {}).items():
            v = _number(secs)
            if v is not None:
                durations.setdefault(str(stage), []).append(v)
    rows = []
    for stage in _stage_sorted(durations):
        vals = sorted(durations[stage])
        rows.append({"stage": stage, "n": len(vals), "median": statistics.median(vals),
                     "p90": vals[min(len(vals) - 1, math.ceil(0.9 * len(vals)) - 1)], "max": vals[-1]})
    return rows


def _stage_sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda s: (STAGE_ORDER.index(s), "") if s in STAGE_ORDER else (len(STAGE_ORDER), s))


# --------------------------------------------------------------------------------------
# Plots (matplotlib, Agg canvas; no pyplot global state)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_groups(episodes: list[Mapping], key: str) -> list[tuple[str, list[float]]]:
    groups: dict[str, list[float]] = {}
    for e in episodes:
        v = _number(e.get(key))
        if v is not None:
            groups.setdefault(str(e.get("scenario", "")), []).append(v)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    if len(ordered) > MAX_PLOTTED_SCENARIOS:
        head, tail = ordered[: MAX_PLOTTED_SCENARIOS - 1], ordered[MAX_PLOTTED_SCENARIOS - 1:]
        ordered = [*head, (f"{len(tail)} other scenarios", [v for _, vals in tail for v in vals])]
    return ordered


def _nice_bin_width(lo: float, hi: float, n: int) -> float:
    """A histogram bin width of 1, 2 or 5 x 10^k seconds: about 2*sqrt(n) bins (8..40)
    over the data, never narrower than 0.1 s."""
    bins = min(40, max(8, round(2 * math.sqrt(n))))
    raw = max((hi - lo) / bins, 0.1)
    exp = 10.0 ** math.floor(math.log10(raw))
    return next(m * exp for m in (1, 2, 5, 10) if m * exp >= raw - 1e-12)


def plot_cycle_times(episodes: list[Mapping], key: str, title: str, path: Path) -> Path | None:
    """Histogram of one duration (`key`: "sim_s" or "wall_s") per scenario, overlaid; None
    when no episode has a value."""
    import numpy as np

    groups = _plot_groups(episodes, key)
    if not groups:
        return None
    values = [v for _, vals in groups for v in vals]
    width = _nice_bin_width(min(values), max(values), len(values))
    first = math.floor(min(values) / width) * width
    bins = first + width * np.arange(math.floor((max(values) - first) / width) + 2)
    fig = _figure(6.4, 3.0)
    ax = fig.add_subplot()
    if len(groups) == 1:
        name, vals = groups[0]
        ax.hist(vals, bins=bins, color="#4c72b0", alpha=0.85, edgecolor="white")
        title = f"{title}: {name} (n={len(vals)})"
    else:
        for name, vals in groups:
            ax.hist(vals, bins=bins, histtype="step", linewidth=1.8, label=f"{name} (n={len(vals)})")
        ax.legend(fontsize=8, frameon=False)
    span = max(bins[-1] - bins[0], 8 * width)  # a narrow spread still reads as narrow
    mid = (bins[0] + bins[-1]) / 2
    ax.set_xlim(max(0.0, mid - span / 2 - width), mid + span / 2 + width)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("seconds")
    ax.set_ylabel("episodes")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path)
    return path


def plot_stage_durations(episodes: list[Mapping], path: Path) -> Path | None:
    """Box plot of each stage's duration over episodes (seconds); None without data."""
    rows = stage_summary(episodes)
    if not rows:
        return None
    data = {r["stage"]: [] for r in rows}
    for e in episodes:
        for stage, secs in (e.get("stage_durations") or {}).items():
            v = _number(secs)
            if v is not None and str(stage) in data:
                data[str(stage)].append(v)
    names = list(data)[::-1]  # first stage on top
    fig = _figure(6.4, 0.9 + 0.28 * len(names))
    ax = fig.add_subplot()
    ax.boxplot([data[n] for n in names], orientation="horizontal", tick_labels=names, widths=0.6,
               flierprops={"markersize": 3})
    ax.set_title("Stage durations", fontsize=11)
    ax.set_xlabel("seconds")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path)
    return path


# --------------------------------------------------------------------------------------
# HTML

CSS = """
body { font-family: "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       background: #f4f5f7; color: #1d2330; font-size: 14px; line-height: 1.45; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 4px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #d6d9e0; padding-bottom: 4px; }
.banner { background: #fff4d6; border: 1px solid #e7b400; color: #6b4f00; padding: 10px 14px; border-radius: 6px;
          font-weight: bold; margin-bottom: 14px; }
.hero { display: flex; gap: 20px; align-items: stretch; flex-wrap: wrap; }
.rate { background: #fff; border-radius: 8px; padding: 14px 22px; border-left: 8px solid #6b7a90; min-width: 250px; }
.rate.good { border-left-color: #2e9d57; } .rate.bad { border-left-color: #d0392b; }
.rate .big { font-size: 40px; font-weight: bold; line-height: 1.1; }
.rate .sub { color: #4a5261; }
.facts { background: #fff; border-radius: 8px; padding: 10px 16px; flex: 1; min-width: 340px; }
.facts table td { padding: 2px 12px 2px 0; border: none; }
.facts td:first-child { color: #5b6473; white-space: nowrap; }
table { border-collapse: collapse; background: #fff; }
table.data { width: 100%; border-radius: 6px; overflow: hidden; }
table.data th, table.data td { padding: 5px 10px; border-bottom: 1px solid #e6e8ee; text-align: left;
                               vertical-align: top; }
table.data th { background: #e9ecf2; font-weight: 600; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.below td { background: #fde8e6; }
.tag { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 9px; background: #d0392b;
       color: #fff; margin-left: 6px; white-space: nowrap; }
.ok { color: #2e7d4f; font-weight: 600; } .fail { color: #c0392b; font-weight: 600; }
.muted { color: #6b7380; }
.cols { display: flex; gap: 20px; flex-wrap: wrap; } .cols > div { flex: 1; min-width: 300px; }
.bar { background: #e4e7ee; height: 10px; border-radius: 5px; min-width: 80px; }
.bar > div { background: #d0392b; height: 10px; border-radius: 5px; }
.plots img { max-width: 100%; background: #fff; border-radius: 6px; margin: 0 0 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 14px; }
.card { background: #fff; border-radius: 8px; padding: 10px 12px; border-top: 4px solid #d0392b; }
.card h3 { font-size: 14px; margin: 0 0 6px; }
.card img { width: 100%; border-radius: 4px; background: #222; display: block; margin: 6px 0; }
.card .msg { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; background: #f4f5f7; padding: 4px 6px;
             border-radius: 4px; white-space: pre-wrap; word-break: break-word; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 0; font-size: 13px; }
.card dt { color: #5b6473; } .card dd { margin: 0; word-break: break-word; }
.noimg { background: #eceef2; color: #6b7380; text-align: center; padding: 28px 6px; border-radius: 4px;
         margin: 6px 0; font-size: 12px; }
details summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
a { color: #1f5fbf; }
footer { margin-top: 32px; color: #6b7380; font-size: 12px; }
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _pct(x) -> str:
    v = _number(x)
    return "—" if v is None else f"{100 * v:.1f}%"


def _ci(ci) -> str:
    try:
        lo, hi = (_number(c) for c in ci)
    except (TypeError, ValueError):
        return "—"
    return "—" if lo is None or hi is None else f"{100 * lo:.1f}–{100 * hi:.1f}%"


def _secs(x, digits: int = 2) -> str:
    v = _number(x)
    return "—" if v is None else f"{v:.{digits}f} s"


def _duration(x) -> str:
    v = _number(x)
    if v is None:
        return "—"
    if v < 60:
        return f"{v:.1f} s"
    minutes, seconds = divmod(round(v), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {seconds} s" if hours else f"{minutes} min {seconds} s"


def _artifact(report_dir: Path, rel) -> str | None:
    """A relative artifact path that exists under report_dir, as a URL-quoted href; else None."""
    if not rel or not isinstance(rel, str) or ":" in rel:
        return None
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        return None
    return quote(str(p)) if (report_dir / p).exists() else None


def _below(rate, target) -> bool:
    r, t = _number(rate), _number(target)
    return r is not None and t is not None and r < t


def _count_table(counts: Mapping[str, int], label: str, total: int) -> str:
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td class='num'>{int(v)}</td><td class='num'>{_pct(v / total if total else None)}</td>"
        f"<td style='width:40%'><div class='bar'><div style='width:{100 * v / max(counts.values()):.0f}%'>"
        f"</div></div></td></tr>"
        for k, v in counts.items())
    return (f"<table class='data'><tr><th>{_e(label)}</th><th class='num'>failures</th>"
            f"<th class='num'>share</th><th></th></tr>{rows}</table>")


def _episode_label(e: Mapping) -> str:
    idx = e.get("index")
    return f"{e.get('scenario', '?')} #{idx}" if idx is not None else str(e.get("scenario", "?"))


def _failure_card(e: Mapping, report_dir: Path, with_image: bool) -> str:
    arts = e.get("artifacts") or {}
    gif, key, rec = (_artifact(report_dir, arts.get(k)) for k in ("gif", "keyframe", "recording"))
    if not with_image:
        image = ""
    elif gif or key:
        image = f"<img src='{_e(gif or key)}' alt='last camera frames of {_e(_episode_label(e))}' loading='lazy'>"
    elif arts.get("gif") or arts.get("keyframe"):
        image = f"<div class='noimg'>image file missing: {_e(arts.get('gif') or arts.get('keyframe'))}</div>"
    else:
        image = "<div class='noimg'>no camera frames recorded</div>"
    name = e.get("error_name")
    if name and name != "SUCCESS":
        error = f"{name} ({e.get('error_code', '?')})"
    else:
        error = "none: the task reported success" if name == "SUCCESS" else "—"
    links = [f"<a href='{_e(h)}'>{n}</a>" for h, n in ((gif, "GIF"), (key, "key frame"), (rec, "recording"))
             if h]
    fields = [("seed", e.get("seed")), ("cause", e.get("cause")), ("stage", e.get("failed_stage") or "—"),
              ("error", error),
              ("attempts", e.get("attempts", "—")), ("sim / wall", f"{_secs(e.get('sim_s'), 1)} / "
                                                                   f"{_secs(e.get('wall_s'), 1)}"),
              ("goal", e.get("goal") or "—"), ("worker", e.get("worker", "—"))]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields)
    msg = e.get("message") or ""
    return (f"<div class='card'><h3>{_e(_episode_label(e))}</h3>{image}<dl>{dl}</dl>"
            + (f"<div class='msg'>{_e(msg)}</div>" if msg else "")
            + (f"<div>{' · '.join(links)}</div>" if links else "") + "</div>")


def _episode_rows(episodes: list[Mapping], report_dir: Path) -> str:
    rows = []
    for e in episodes:
        if e.get("success"):
            result = "<span class='ok'>success</span>"
        elif not _is_done(e):
            result = "<span class='muted'>interrupted</span>"
        else:
            result = f"<span class='fail'>{_e(e.get('cause') or 'failed')}</span>"
        arts = e.get("artifacts") or {}
        links = " ".join(f"<a href='{_e(h)}'>{n}</a>" for h, n in (
            (_artifact(report_dir, arts.get("gif")), "gif"), (_artifact(report_dir, arts.get("keyframe")), "png"),
            (_artifact(report_dir, arts.get("recording")), "bag")) if h)
        error = e.get("error_name") or ""
        message = "" if e.get("success") else str(e.get("message") or "")
        short = message if len(message) <= 90 else message[:89] + "…"
        rows.append(
            f"<tr><td>{_e(e.get('scenario', ''))}</td><td class='num'>{_e(e.get('index', ''))}</td>"
            f"<td class='num'>{_e(e.get('seed', ''))}</td><td>{result}</td>"
            f"<td>{_e(e.get('failed_stage') or '')}</td><td>{_e('' if error == 'SUCCESS' else error)}</td>"
            f"<td title='{_e(message)}'>{_e(short)}</td>"
            f"<td class='num'>{_e(e.get('attempts', ''))}</td><td class='num'>{_secs(e.get('sim_s'), 1)}</td>"
            f"<td class='num'>{_secs(e.get('wall_s'), 1)}</td><td>{links}</td></tr>")
    return ("<table class='data'><tr><th>scenario</th><th class='num'>#</th><th class='num'>seed</th>"
            "<th>result</th><th>stage</th><th>error</th><th>message</th><th class='num'>attempts</th>"
            "<th class='num'>sim</th><th class='num'>wall</th><th>files</th></tr>" + "".join(rows) + "</table>")


def _growth(pct) -> str:
    return "—" if _number(pct) is None else f"{pct:+.1f}%"


def render_html(result: Mapping, report_dir: Path, plots: Mapping[str, Path | None]) -> str:
    """The report page (a string); artifact links are checked against report_dir."""
    episodes = list(result.get("episodes") or [])
    summary = summarize(episodes, result.get("scenarios") or {})

    def get(key):
        return result[key] if key in result else summary[key]

    targets = dict(result.get("targets") or {})
    scenarios: dict[str, dict] = {}
    for name, computed in summary["scenarios"].items():
        given = dict((result.get("scenarios") or {}).get(name) or {})
        scenarios[name] = {**computed, **given}
    n, successes, rate = get("n_episodes"), get("successes"), get("success_rate")
    n_interrupted = summary["n_interrupted"]
    below = [s for s, v in scenarios.items() if _below(v.get("success_rate"), targets.get(s))]
    verdict = "" if not targets or not n else (" bad" if below else " good")
    parts: list[str] = []
    add = parts.append
    add("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>armbrain report: {_pct(rate)} success ({_e(result.get('scenario', ''))})</title>"
        f"<style>{CSS}</style></head><body><main>")
    add(f"<h1>armbrain campaign report <span class='muted'>· {_e(result.get('scenario', ''))}</span></h1>")
    if result.get("interrupted"):
        add(f"<div class='banner'>Interrupted: partial report. {int(n or 0)} episode(s) finished"
            + (f", {n_interrupted} cut short and not counted" if n_interrupted else "") + ".</div>")
    if n:
        big = f"<div class='big'>{_pct(rate)}</div><div class='sub'>{int(successes)} of {int(n)} episodes succeeded" \
              f"</div><div class='sub'>95% CI {_ci(get('ci95'))} (Wilson)</div>"
        if targets:
            big += (f"<div class='sub fail'>{len(below)} scenario(s) below target</div>" if below
                    else "<div class='sub ok'>every scenario meets its target</div>")
    else:
        big = "<div class='big muted'>0 episodes</div><div class='sub'>no episode finished, no rate to report</div>"
    facts = [("scenario path", result.get("scenario", "—")), ("seed", result.get("seed", "—")),
             ("workers", result.get("workers", "—")), ("started", result.get("started", "—")),
             ("episodes", f"{n}" + (f" (+{n_interrupted} interrupted)" if n_interrupted else "")),
             ("wall time", _duration(result.get("wall_s_total"))),
             ("throughput", "—" if _number(result.get("episodes_per_minute")) is None
              else f"{result['episodes_per_minute']:.1f} episodes/min"),
             ("median cycle", f"{_secs(get('sim_s_median'))} sim · {_secs(get('wall_s_median'))} wall"),
             ("picks per hour", "—" if _number(get("picks_per_hour")) is None else
              f"{get('picks_per_hour'):.0f} (sim time; median {_secs(get('sim_s_per_pick_median'))} sim per pick, "
              f"{int(get('picks') or 0)} picks in successful episodes)"),
             ("false successes", f"{int(get('false_success') or 0)} (reported success, ground truth disagrees)")]
    add(f"<div class='hero'><div class='rate{verdict}'>{big}</div><div class='facts'><table>"
        + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in facts) + "</table></div></div>")

    # Per scenario
    add("<h2>Scenarios</h2>")
    if scenarios:
        head = ("<tr><th>scenario</th><th class='num'>episodes</th><th class='num'>successes</th>"
                "<th class='num'>rate</th><th class='num'>95% CI</th>"
                + ("<th class='num'>target</th>" if targets else "")
                + "<th class='num'>median sim</th><th class='num'>median wall</th><th class='num'>sim per pick</th>"
                "<th class='num'>picks/h</th><th class='num'>false ok</th><th>top failure</th></tr>")
        rows = []
        for name, s in scenarios.items():
            is_below = name in below
            tag = "<span class='tag'>below target</span>" if is_below else ""
            title = " · ".join(str(s[k]) for k in ("file", "description") if s.get(k))
            goal = f"<div class='muted'>{_e(s['goal'])}</div>" if s.get("goal") else ""
            fails = s.get("failures_by_stage") or {}
            top = next(iter(fails.items()), None)
            per_hour = "—" if _number(s.get("picks_per_hour")) is None else f"{s['picks_per_hour']:.0f}"
            rows.append(
                f"<tr class='{'below' if is_below else ''}'><td title='{_e(title)}'><b>{_e(name)}</b>{tag}{goal}</td>"
                f"<td class='num'>{_e(s.get('n_episodes', 0))}</td><td class='num'>{_e(s.get('successes', 0))}</td>"
                f"<td class='num'>{_pct(s.get('success_rate'))}</td><td class='num'>{_ci(s.get('ci95'))}</td>"
                + (f"<td class='num'>{_pct(targets.get(name))}</td>" if targets else "")
                + f"<td class='num'>{_secs(s.get('sim_s_median'))}</td><td class='num'>{_secs(s.get('wall_s_median'))}"
                f"</td><td class='num'>{_secs(s.get('sim_s_per_pick_median'))}</td><td class='num'>{per_hour}"
                f"</td><td class='num{' fail' if s.get('false_success') else ''}'>"
                f"{int(s.get('false_success') or 0)}</td>"
                f"<td>{_e(f'{top[0]} ({top[1]})') if top else '—'}</td></tr>")
        add(f"<table class='data'>{head}{''.join(rows)}</table>")
    else:
        add("<p class='muted'>No scenario ran.</p>")

    # Failures
    failed = [e for e in episodes if _is_done(e) and not e.get("success")]
    add("<h2>Failures</h2>")
    if not n:
        add("<p class='muted'>No episode finished.</p>")
    elif not failed:
        add("<p class='ok'>No failures: every finished episode succeeded.</p>")
    else:
        add(f"<div class='cols'><div><h3>By stage</h3>{_count_table(get('failures_by_stage'), 'stage', len(failed))}"
            f"</div><div><h3>By error code</h3>{_count_table(get('failures_by_error'), 'error', len(failed))}"
            "</div></div>")

    # Timing
    add("<h2>Cycle times</h2>")
    imgs = [(plots.get(k), alt) for k, alt in (("cycle_sim", "sim-time histogram"),
                                               ("cycle_wall", "wall-time histogram"))]
    imgs = [(p, alt) for p, alt in imgs if p]
    if imgs:
        add("<div class='plots cols'>" + "".join(
            f"<div><img src='{_e(quote(p.relative_to(report_dir).as_posix()))}' alt='{_e(alt)}'></div>"
            for p, alt in imgs) + "</div>")
    else:
        add("<p class='muted'>No timing data.</p>")
    stages = stage_summary(e for e in episodes if _is_done(e))
    add("<h2>Stage durations</h2>")
    if stages:
        table = ("<table class='data'><tr><th>stage</th><th class='num'>episodes</th><th class='num'>median</th>"
                 "<th class='num'>p90</th><th class='num'>max</th></tr>" + "".join(
                     f"<tr><td>{_e(r['stage'])}</td><td class='num'>{r['n']}</td><td class='num'>"
                     f"{_secs(r['median'])}</td><td class='num'>{_secs(r['p90'])}</td>"
                     f"<td class='num'>{_secs(r['max'])}</td></tr>" for r in stages) + "</table>")
        plot = plots.get("stages")
        img = (f"<div class='plots'><img src='{_e(quote(plot.relative_to(report_dir).as_posix()))}' "
               "alt='stage duration box plot'></div>") if plot else ""
        add(f"<div class='cols'><div>{table}</div><div>{img}</div></div>")
    else:
        add("<p class='muted'>No stage timings recorded.</p>")

    # Memory of the nodes (armbrain/nodemem.py)
    memory = result.get("node_memory") or []
    if memory:
        add("<h2>Node memory</h2><p class='muted'>Resident memory of each node after every episode: the first "
            "sample after warm-up, the last and the maximum; restarts are pid changes between samples.</p>")
        add("<table class='data'><tr><th>worker</th><th>node</th><th class='num'>samples</th>"
            "<th class='num'>RSS after warm-up</th><th class='num'>RSS at end</th><th class='num'>max</th>"
            "<th class='num'>growth</th><th class='num'>restarts</th></tr>" + "".join(
                f"<tr><td>{_e(m.get('worker'))}</td><td>{_e(m.get('node'))}</td><td class='num'>{_e(m.get('samples'))}"
                f"</td><td class='num'>{_e(m.get('rss_mb_start'))} MB</td><td class='num'>{_e(m.get('rss_mb_end'))} MB"
                f"</td><td class='num'>{_e(m.get('rss_mb_max'))} MB</td><td class='num'>"
                f"{_growth(m.get('growth_pct'))}"
                f"</td><td class='num{' fail' if m.get('restarts') else ''}'>{_e(m.get('restarts'))}</td></tr>"
                for m in memory) + "</table>")

    # Failed episodes
    add(f"<h2>Failed episodes ({len(failed)})</h2>")
    if not failed:
        add("<p class='muted'>None.</p>" if n else "<p class='muted'>No episode finished.</p>")
    else:
        if len(failed) > MAX_FAILURE_IMAGES:
            add(f"<p class='muted'>Images are shown for the first {MAX_FAILURE_IMAGES} of {len(failed)} failed "
                "episodes; the others are listed with links to their files.</p>")
        add("<div class='cards'>" + "".join(_failure_card(e, report_dir, True)
                                            for e in failed[:MAX_FAILURE_IMAGES]) + "</div>")
        if len(failed) > MAX_FAILURE_IMAGES:
            add(f"<h3>Further failed episodes ({len(failed) - MAX_FAILURE_IMAGES})</h3>")
            add(_episode_rows(failed[MAX_FAILURE_IMAGES:], report_dir))

    if episodes:
        add(f"<details><summary>All episodes ({len(episodes)})</summary>{_episode_rows(episodes, report_dir)}"
            "</details>")
    add("<footer>Raw data: <a href='result.json'>result.json</a>. Rates count finished episodes; the 95% "
        "interval is the Wilson score interval. Sim time is the simulator's clock, wall time the "
        "runner's.</footer></main></body></html>")
    return "\n".join(parts)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def write_report(result: dict, report_dir: Path) -> Path:
    """Write report_dir/index.html, report_dir/result.json (the result, pretty) and
    report_dir/plots/*.png; returns the path of index.html.

    Artifact paths in the episodes are relative to report_dir; missing files are shown
    as missing, not linked."""
    report_dir = Path(report_dir)
    plots_dir = report_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "result.json").write_text(
        json.dumps(_json_safe(result), indent=2, allow_nan=False, default=str) + "\n")
    done = [e for e in (result.get("episodes") or []) if _is_done(e)]
    plots = {
        "cycle_sim": plot_cycle_times(done, "sim_s", "Cycle time, sim seconds", plots_dir / "cycle_sim.png"),
        "cycle_wall": plot_cycle_times(done, "wall_s", "Cycle time, wall seconds", plots_dir / "cycle_wall.png"),
        "stages": plot_stage_durations(done, plots_dir / "stages.png"),
    }
    for name, path in plots.items():
        if path is None:  # no data: leave no stale plot of an earlier report behind
            (plots_dir / f"{name}.png").unlink(missing_ok=True)
    index = report_dir / "index.html"
    index.write_text(render_html(result, report_dir, plots), encoding="utf-8")
    return index
