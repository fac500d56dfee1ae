"""Did a change make the brain better? `armbrain compare A.json B.json`.

    armbrain compare A.json B.json [--alpha 0.05] [--json OUT]

A and B are results of `armbrain run --json` (or the result.json of a --report), A before
the change and B after. Per scenario: episodes, successes, the success rates, their
difference and its significance; the median cycle time of the successful episodes and
the stages that got faster or slower; the seeds that newly fail (success in A, failure in
B) with B's cause, and those that newly pass; failures by cause and by stage, new classes
flagged.

The test: where the same (scenario, seed) episodes are in both files, the seed fixes the
scene, so the outcomes are paired and the exact McNemar test asks whether the discordant
pairs (newly failing vs newly passing) split unevenly (two-sided binomial, p = 1/2);
episodes without a partner are left out of it. Without any pair: Fisher's exact test
(two-sided) on the 2x2 table of successes and failures. The overall line pools the
scenarios in both files (McNemar over all pairs, else Fisher over the totals). The
per-scenario tests are not corrected for multiple comparisons: with many scenarios, a p
just under --alpha in one of them deserves a rerun with more episodes.

Exit codes: 0 no significant regression; 1 a significant regression (p < --alpha with B
worse, in a scenario or overall); 2 bad input (a missing or unreadable file, not a
campaign result, a bad option). Episodes that were interrupted are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from armbrain.report import _median, _number, _stage_sorted, failure_stage

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
ALPHA = 0.05
# A stage's median is called faster/slower only past both of these (seconds, fraction of A's).
STAGE_CHANGE_MIN_S = 0.05
STAGE_CHANGE_MIN_FRACTION = 0.10
MESSAGE_CHARS = 120  # a newly failing episode's message is clipped to this
MAX_LISTED_SEEDS = 40  # per list on the terminal; --json has them all


class CompareError(ValueError):
    """A file that is not a campaign result: the message names the file and what is wrong."""


# -- input ------------------------------------------------------------------------------------
def load_campaign(path: Path) -> dict:
    """The campaign result in `path`, checked with check_campaign; CompareError otherwise."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot be read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompareError(f"{path}: not JSON ({exc}); compare reads the output of 'armbrain run --json'") from None
    check_campaign(doc, str(path))
    return doc


def check_campaign(doc: object, name: str) -> None:
    """Raise CompareError naming `name` unless `doc` is a campaign result: an object with an
    "episodes" list whose records have a string "scenario" and a boolean "success". Other
    fields are optional (a missing or non-numeric sim_s is no data) and unknown ones ignored."""
    if not isinstance(doc, dict):
        raise CompareError(f"{name}: not a campaign result: the JSON is a {type(doc).__name__}, not an object "
                           f"with 'episodes' (the output of 'armbrain run --json')")
    episodes = doc.get("episodes")
    if not isinstance(episodes, list):
        raise CompareError(f"{name}: not a campaign result: no 'episodes' list (the output of 'armbrain run --json'"
                           f" has one; found keys: {', '.join(sorted(doc)[:8]) or 'none'})")
    for i, e in enumerate(episodes):
        if not isinstance(e, dict):
            raise CompareError(f"{name}: episodes[{i}] is a {type(e).__name__}, not an episode record")
        if not isinstance(e.get("scenario"), str):
            raise CompareError(f"{name}: episodes[{i}]: 'scenario' is {_shown(e.get('scenario'))}, not a name")
        if not isinstance(e.get("success"), bool):
            raise CompareError(f"{name}: episodes[{i}] ({e['scenario']}): 'success' is {_shown(e.get('success'))}, "
                               f"not true or false")


def _shown(x: object) -> str:
    return "missing" if x is None else repr(x)[:40]


def _seed(e: Mapping) -> int | None:
    s = e.get("seed")
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def finished(episodes: Iterable[Mapping]) -> list[Mapping]:
    """The episodes that ran to a verdict (not cut short by Ctrl-C)."""
    return [e for e in episodes if e.get("cause") != "interrupted"]


# -- tests ------------------------------------------------------------------------------------
def mcnemar_p(newly_failing: int, newly_passing: int) -> float:
    """Exact two-sided McNemar p of paired outcomes: under "no change" each discordant pair
    is newly failing or newly passing with probability 1/2 (binomial test); 1.0 without any."""
    from scipy.stats import binomtest

    n = newly_failing + newly_passing
    return 1.0 if n == 0 else float(binomtest(newly_failing, n, 0.5).pvalue)


def fisher_p(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided p of Fisher's exact test on [[successes, failures] of A, of B]."""
    from scipy.stats import fisher_exact

    if n_a == 0 or n_b == 0:
        return 1.0
    table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def pairs_of(eps_a: list[Mapping], eps_b: list[Mapping]) -> list[tuple[Mapping, Mapping]]:
    """(A's, B's) episode of every (scenario, seed) found exactly once in each list, in A's order."""
    def once(eps: list[Mapping]) -> dict[tuple[str, int], Mapping]:
        keys = Counter((e["scenario"], _seed(e)) for e in eps)
        return {(e["scenario"], s): e for e in eps if (s := _seed(e)) is not None and keys[(e["scenario"], s)] == 1}

    a, b = once(eps_a), once(eps_b)
    return [(ea, b[k]) for k, ea in a.items() if k in b]


def significance(eps_a: list[Mapping], eps_b: list[Mapping], alpha: float) -> dict:
    """The test of B's success rate against A's (see the module docstring): test ("mcnemar",
    "fisher" or None when a side has no episode), p, n_pairs, newly_failing and
    newly_passing (pairs), b_worse, significant (p < alpha) and regression (both)."""
    pairs = pairs_of(eps_a, eps_b)
    fail = sum(1 for ea, eb in pairs if ea["success"] and not eb["success"])
    passing = sum(1 for ea, eb in pairs if eb["success"] and not ea["success"])
    sa, sb = (sum(1 for e in eps if e["success"]) for eps in (eps_a, eps_b))
    if pairs:
        test, p, worse = "mcnemar", mcnemar_p(fail, passing), fail > passing
    elif eps_a and eps_b:
        test, p = "fisher", fisher_p(sa, len(eps_a), sb, len(eps_b))
        worse = sb / len(eps_b) < sa / len(eps_a)
    else:
        test, p, worse = None, None, False
    significant = p is not None and p < alpha
    return {"test": test, "p": p, "n_pairs": len(pairs), "newly_failing": fail, "newly_passing": passing,
            "b_worse": worse, "significant": significant, "regression": significant and worse}


# -- the comparison ---------------------------------------------------------------------------
def _rates(eps: list[Mapping]) -> dict:
    n, s = len(eps), sum(1 for e in eps if e["success"])
    return {"n_episodes": n, "successes": s, "success_rate": s / n if n else None}


def _change(a: float | None, b: float | None) -> dict:
    """{"a", "b", "change" (b - a), "fraction" (of a)}; None where a side has no value."""
    change = None if a is None or b is None else b - a
    fraction = None if change is None or not a else change / a
    return {"a": a, "b": b, "change": change, "fraction": fraction}


def cycle_times(eps_a: list[Mapping], eps_b: list[Mapping]) -> dict:
    """Successful episodes only (a failure ends early): medians of sim_s and wall_s (seconds,
    each {"a", "b", "change", "fraction"}), paired_sim_s_change (median over seeds that
    succeeded in both of B's sim_s - A's; None without such pairs) and per stage
    ("stages", in execution order) the medians of stage_durations, with "trend" "faster",
    "slower" or "" (a change under STAGE_CHANGE_MIN_S or STAGE_CHANGE_MIN_FRACTION)."""
    ok_a = [e for e in eps_a if e["success"]]
    ok_b = [e for e in eps_b if e["success"]]
    paired = [(_number(ea.get("sim_s")), _number(eb.get("sim_s"))) for ea, eb in pairs_of(ok_a, ok_b)]
    stages: dict[str, dict] = {}

    def durations(eps: list[Mapping]) -> dict[str, list]:
        out: dict[str, list] = {}
        for e in eps:
            d = e.get("stage_durations")
            for stage, secs in (d.items() if isinstance(d, dict) else ()):
                out.setdefault(str(stage), []).append(secs)
        return out

    da, db = durations(ok_a), durations(ok_b)
    for stage in _stage_sorted(set(da) | set(db)):
        row = _change(_median(da.get(stage, ())), _median(db.get(stage, ())))
        moved = (row["change"] is not None and abs(row["change"]) >= STAGE_CHANGE_MIN_S
                 and row["fraction"] is not None and abs(row["fraction"]) >= STAGE_CHANGE_MIN_FRACTION)
        row["trend"] = ("slower" if row["change"] > 0 else "faster") if moved else ""
        stages[stage] = row
    return {"n_successful": [len(ok_a), len(ok_b)],
            "sim_s": _change(_median(e.get("sim_s") for e in ok_a), _median(e.get("sim_s") for e in ok_b)),
            "wall_s": _change(_median(e.get("wall_s") for e in ok_a), _median(e.get("wall_s") for e in ok_b)),
            "paired_sim_s_change": _median(b - a for a, b in paired if a is not None and b is not None),
            "stages": stages}


def _clip(text: object, n: int = MESSAGE_CHARS) -> str:
    s = re.sub(r"\s+", " ", str(text or "")).strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def changed_seeds(eps_a: list[Mapping], eps_b: list[Mapping]) -> tuple[list[dict], list[dict]]:
    """(newly failing: success in A, failure in B, with B's cause, failed_stage and clipped
    message; newly passing: failure in A, success in B, with A's cause and failed_stage)."""
    failing, passing = [], []
    for ea, eb in pairs_of(eps_a, eps_b):
        if ea["success"] and not eb["success"]:
            failing.append({"scenario": eb["scenario"], "seed": _seed(eb), "cause": str(eb.get("cause") or ""),
                            "failed_stage": str(eb.get("failed_stage") or ""), "message": _clip(eb.get("message"))})
        elif eb["success"] and not ea["success"]:
            passing.append({"scenario": ea["scenario"], "seed": _seed(ea), "cause_a": str(ea.get("cause") or ""),
                            "failed_stage_a": str(ea.get("failed_stage") or "")})
    return failing, passing


def failure_classes(eps_a: list[Mapping], eps_b: list[Mapping], key) -> list[dict]:
    """Failed episodes counted by key(episode) in A and B: [{"name", "a", "b", "new" (none in
    A), "gone" (none in B)}], most frequent in B first."""
    ca = Counter(key(e) for e in eps_a if not e["success"])
    cb = Counter(key(e) for e in eps_b if not e["success"])
    names = sorted(set(ca) | set(cb), key=lambda k: (-cb[k], -ca[k], k))
    return [{"name": k, "a": ca[k], "b": cb[k], "new": ca[k] == 0, "gone": cb[k] == 0} for k in names]


SETTINGS = ("workers", "real_time_factor", "sim_max_lead", "seed", "episodes_per_scenario")


def compare(a: Mapping, b: Mapping, alpha: float = ALPHA) -> dict:
    """The comparison of campaign results `a` (before) and `b` (after), both checked by
    check_campaign. A JSON-ready dict: "scenarios" (name -> only_in ("a", "b" or None), a and
    b rates, difference, the test, cycle_times), "overall" (scenarios in both files),
    "newly_failing", "newly_passing", "failures_by_cause" and "failures_by_stage" (in the
    scenarios in both files),
    "campaign" (episodes_per_minute, wall_s_total, interrupted counts), "settings_differ"
    and "regression" (names of the regressed scenarios, "overall" last)."""
    all_a, all_b = a["episodes"], b["episodes"]
    eps_a, eps_b = finished(all_a), finished(all_b)
    names = list(dict.fromkeys([e["scenario"] for e in eps_a] + [e["scenario"] for e in eps_b]))
    scenarios = {}
    common_a, common_b = [], []
    for name in names:
        sa = [e for e in eps_a if e["scenario"] == name]
        sb = [e for e in eps_b if e["scenario"] == name]
        if sa and sb:
            common_a += sa
            common_b += sb
        ra, rb = _rates(sa), _rates(sb)
        diff = None if not sa or not sb else rb["success_rate"] - ra["success_rate"]
        scenarios[name] = {"only_in": None if sa and sb else ("a" if sa else "b"), "a": ra, "b": rb,
                           "difference": diff, **significance(sa, sb, alpha), "cycle_times": cycle_times(sa, sb)}
    ra, rb = _rates(common_a), _rates(common_b)
    overall = {"a": ra, "b": rb,
               "difference": None if not common_a else rb["success_rate"] - ra["success_rate"],
               **significance(common_a, common_b, alpha), "cycle_times": cycle_times(common_a, common_b)}
    failing, passing = changed_seeds(eps_a, eps_b)
    campaign = {k: _change(_number(a.get(k)), _number(b.get(k))) for k in ("episodes_per_minute", "wall_s_total")}
    campaign["n_interrupted"] = [len(all_a) - len(eps_a), len(all_b) - len(eps_b)]
    differ = {k: [a.get(k), b.get(k)] for k in SETTINGS if a.get(k) != b.get(k)}
    regression = [n for n, s in scenarios.items() if s["regression"]] + (["overall"] if overall["regression"] else [])
    return {"alpha": alpha, "scenarios": scenarios, "overall": overall, "newly_failing": failing,
            "newly_passing": passing,
            "failures_by_cause": failure_classes(common_a, common_b, lambda e: str(e.get("cause") or "unknown")),
            "failures_by_stage": failure_classes(common_a, common_b, failure_stage),
            "campaign": campaign, "settings_differ": differ, "regression": regression}


# -- the terminal -----------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """Aligned columns: the first left, the others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        return (indent + "  ".join(cells)).rstrip()

    return [line(header), *map(line, rows)]


def _pct(x: float | None, sign: bool = False) -> str:
    return "-" if x is None else f"{x * 100:{'+' if sign else ''}.1f}%"


def _s(x: float | None, sign: bool = False) -> str:
    return "-" if x is None else f"{x:{'+' if sign else ''}.2f}"


def _p(p: float | None) -> str:
    return "-" if p is None else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def _test_name(s: Mapping) -> str:
    return {"mcnemar": f"McNemar {s['n_pairs']} pairs", "fisher": "Fisher", None: "-"}[s["test"]]


def _verdict(s: Mapping) -> str:
    if s.get("only_in"):
        return f"only in {s['only_in'].upper()}"
    if s["regression"]:
        return "REGRESSION"
    return "better" if s["significant"] else ""


def _failure_text(cause: str, stage: str, message: str) -> str:
    return (cause or "unknown") + (f" in {stage}" if stage else "") + (f": {message}" if message else "")


def format_comparison(cmp: Mapping, name_a: str, name_b: str) -> str:
    """The comparison as aligned text for a terminal."""
    out = [f"A = {name_a}", f"B = {name_b}", ""]
    rows = []
    for name, s in [*cmp["scenarios"].items(), ("overall", cmp["overall"])]:
        rows.append([name, str(s["a"]["n_episodes"]), str(s["b"]["n_episodes"]), _pct(s["a"]["success_rate"]),
                     _pct(s["b"]["success_rate"]), _pct(s["difference"], sign=True), _test_name(s), _p(s["p"]),
                     _verdict(s)])
    out += _table(["scenario", "n A", "n B", "rate A", "rate B", "B - A", "test", "p", ""], rows)
    out += [f"(overall: the scenarios in both files; significant: p < {cmp['alpha']:g})", ""]

    out.append("cycle time, successful episodes (median seconds):")
    rows, stage_lines = [], []
    for name, s in [*cmp["scenarios"].items(), ("overall", cmp["overall"])]:
        c = s["cycle_times"]
        c_sim = c["sim_s"]
        rows.append([name, _s(c_sim["a"]), _s(c_sim["b"]), _s(c_sim["change"], sign=True),
                     _pct(c_sim["fraction"], sign=True), _s(c["paired_sim_s_change"], sign=True),
                     _s(c["wall_s"]["a"]), _s(c["wall_s"]["b"])])
        for trend in ("slower", "faster"):
            moved = [f"{st} {_s(r['a'])} -> {_s(r['b'])} ({_pct(r['fraction'], sign=True)})"
                     for st, r in c["stages"].items() if r["trend"] == trend]
            if moved and name != "overall":
                stage_lines.append(f"  {name}: {trend} stages: " + ", ".join(moved))
    out += _table(["scenario", "sim A", "sim B", "B - A", "", "per seed", "wall A", "wall B"], rows, "  ")
    out.append("  (per seed: the median of B - A over the seeds that succeeded in both)")
    out += stage_lines
    epm = cmp["campaign"]["episodes_per_minute"]
    if epm["a"] is not None or epm["b"] is not None:
        out.append(f"  episodes/min: A {_s(epm['a'])}, B {_s(epm['b'])}")
    for k, (va, vb) in cmp["settings_differ"].items():
        out.append(f"  note: {k} differs: A {va}, B {vb}")
    out.append("")

    for title, items, fmt in (
            ("newly failing (success in A, failure in B)", cmp["newly_failing"],
             lambda f: _failure_text(f["cause"], f["failed_stage"], f["message"])),
            ("newly passing (failure in A, success in B)", cmp["newly_passing"],
             lambda f: "was " + _failure_text(f["cause_a"], f["failed_stage_a"], ""))):
        out.append(f"{title}: {len(items)}")
        out += [f"  {f['scenario']} seed {f['seed']}: {fmt(f)}" for f in items[:MAX_LISTED_SEEDS]]
        if len(items) > MAX_LISTED_SEEDS:
            out.append(f"  ... and {len(items) - MAX_LISTED_SEEDS} more (--json lists them all)")
    out.append("")

    for title, classes in (("cause", cmp["failures_by_cause"]), ("stage", cmp["failures_by_stage"])):
        if classes:
            out += _table([f"failures by {title} (scenarios in both)", "A", "B", ""],
                          [[c["name"], str(c["a"]), str(c["b"]), "NEW" if c["new"] else ("gone" if c["gone"] else "")]
                           for c in classes])
            out.append("")
    n_int = cmp["campaign"]["n_interrupted"]
    for side, n in zip("AB", n_int, strict=True):
        if n:
            out.append(f"note: {n} interrupted episode(s) of {side} left out")
    if cmp["regression"]:
        worst = [f"{n} (p {_p((cmp['overall'] if n == 'overall' else cmp['scenarios'][n])['p'])})"
                 for n in cmp["regression"]]
        out.append(f"SIGNIFICANT REGRESSION: {', '.join(worst)}")
    else:
        out.append("no significant regression")
    return "\n".join(out)


# -- the command ------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A.json", help="the campaign before the change ('armbrain run --json')")
    p.add_argument("b", metavar="B.json", help="the campaign after the change")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help=f"significance level of the tests (default {ALPHA:g})")
    p.add_argument("--json", metavar="OUT", help="also write the comparison as JSON")


def run(opts: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr  # looked up now: a test may have replaced them
    try:
        if not 0.0 < opts.alpha < 1.0:
            raise CompareError(f"--alpha must be between 0 and 1; got {opts.alpha}")
        a, b = load_campaign(Path(opts.a)), load_campaign(Path(opts.b))
    except CompareError as exc:
        print(f"armbrain compare: error: {exc}", file=err)
        return EXIT_USAGE
    cmp = compare(a, b, opts.alpha)
    if opts.json:
        Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.json).write_text(json.dumps({"a": str(opts.a), "b": str(opts.b), **cmp}, indent=2) + "\n")
    print(format_comparison(cmp, _describe(opts.a, a), _describe(opts.b, b)), file=out)
    return EXIT_REGRESSION if cmp["regression"] else EXIT_OK


def _describe(path: str, doc: Mapping) -> str:
    eps = doc["episodes"]
    seeds = sorted({s for e in eps if (s := _seed(e)) is not None})
    span = f", seeds {seeds[0]}..{seeds[-1]}" if seeds else ""
    started = f", started {doc['started']}" if isinstance(doc.get("started"), str) else ""
    return f"{path} ({len(eps)} episodes{span}{started})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="armbrain compare", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
