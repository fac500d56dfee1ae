"""The goal corpus (tests/data/goal_corpus.yaml): every phrasing parses to its expected goals,
or is refused with a message containing its expected word. One test reports every mismatch."""

from pathlib import Path

import yaml

from planner.task.goals import GoalError, ObjectRef, Relation, Target, TaskGoal, parse_goals

CORPUS = Path(__file__).resolve().parents[1] / "data" / "goal_corpus.yaml"


def ref_from(d: dict) -> ObjectRef:
    rel = d.get("relation")
    relation = None
    if rel is not None:
        relation = Relation(rel["kind"], None if rel["anchor"] == "bin" else ref_from(rel["anchor"]))
    return ObjectRef(d.get("id"), d.get("colour"), d.get("shape"), d.get("quantifier", "the"), d.get("count"),
                     d.get("size"), d.get("place"), relation, d.get("other", False))


def target_from(t) -> Target | None:
    if t is None:
        return None
    if t == "bin":
        return Target("bin")
    if "at" in t:
        return Target("position", position=(float(t["at"][0]), float(t["at"][1])))
    return Target("object", ref_from(t["object"]))


def goal_from(d: dict) -> TaskGoal:
    return TaskGoal(d["action"], ref_from(d["object"]) if "object" in d else None, target_from(d.get("target")))


def entries() -> list[dict]:
    return yaml.safe_load(CORPUS.read_text())["entries"]


def check(entry: dict) -> str | None:
    """None when the parser does what `entry` expects, else what went wrong."""
    text = entry["text"]
    try:
        got = parse_goals(text)
    except GoalError as e:
        if "reject" in entry and entry["reject"].lower() in str(e).lower():
            return None
        return f"{text!r}: refused ({e}), expected {entry.get('goal') or 'a message with ' + repr(entry['reject'])}"
    if "reject" in entry:
        return f"{text!r}: accepted as {[g.describe() for g in got]}, expected a refusal with {entry['reject']!r}"
    expected = [goal_from(g) for g in (entry["goal"] if isinstance(entry["goal"], list) else [entry["goal"]])]
    if got != expected:
        return f"{text!r}: got {got}, expected {expected}"
    return None


def test_corpus_is_well_formed_and_large_enough():
    es = entries()
    assert len(es) >= 300, len(es)
    assert sum(e["source"] == "docs-paraphrase" for e in es) >= 100
    assert len({e["text"] for e in es}) == len(es), "duplicate texts"
    for e in es:
        assert set(e) <= {"text", "source", "goal", "reject", "note"}, e
        assert ("goal" in e) != ("reject" in e), e
        if "goal" in e:
            for g in e["goal"] if isinstance(e["goal"], list) else [e["goal"]]:
                goal_from(g)


def test_every_corpus_entry():
    failures = [f for f in (check(e) for e in entries()) if f]
    assert not failures, f"{len(failures)} of {len(entries())} corpus entries fail:\n" + "\n".join(failures)
