"""The operator's goal language: text -> TaskGoal(s), and object references -> objects.

Pure Python. This module is the one place callers import from; the parts live in
  planner.task.goal_types  what a goal means (TaskGoal, Target, ObjectRef, Relation, errors)
  planner.task.phrasing    English text -> [TaskGoal] (grammar in its docstring)
  planner.task.relations   ObjectRef -> the SeenObjects it designates (size, place, relations)
The full reference with examples is docs/goals.md. Directions are the robot's: x forward away
from the base, y to the robot's left ("left" = larger y, "front" = larger x).

Errors are GoalError (INVALID_GOAL) with a message that names what was understood and what is
valid, and ResolveError (OBJECT_NOT_FOUND) naming what is visible.
"""

from __future__ import annotations

import math

from planner.task.goal_types import (
    ACTIONS,
    COLOUR_SYNONYMS,
    COLOURS,
    MAX_COUNT,
    PLACES,
    QUANTIFIERS,
    QUOTE_CHARS,
    RELATIONS,
    SIZES,
    GoalError,
    ObjectRef,
    Relation,
    ResolveError,
    Target,
    TaskGoal,
    clip,
    describe_goals,
)
from planner.task.phrasing import GRAMMAR_HELP, ID_RE, MAX_GOAL_CHARS, POSITION_LIMIT, parse_goal, parse_goals
from planner.task.relations import (
    NEXT_TO_GAP,
    PLACE_TOLERANCE,
    SIZE_TOLERANCE,
    Scene,
    SeenObject,
    resolve,
)

__all__ = [
    "ACTIONS", "COLOURS", "COLOUR_SYNONYMS", "GRAMMAR_HELP", "MAX_COUNT", "MAX_GOAL_CHARS", "NEXT_TO_GAP",
    "PLACES", "PLACE_TOLERANCE", "QUANTIFIERS", "QUOTE_CHARS", "RELATIONS", "SIZES", "SIZE_TOLERANCE",
    "GoalError", "ObjectRef", "Relation", "ResolveError", "Scene", "SeenObject", "Target", "TaskGoal",
    "check_ref", "clip", "describe_goals", "goal_from_fields", "parse_goal", "parse_goals", "resolve",
]


def check_ref(ref: ObjectRef) -> None:
    """GoalError unless every field of `ref` (and of its relation's anchor) is valid."""
    if ref.colour is not None and ref.colour not in COLOURS:
        raise GoalError(f"unknown colour {clip(ref.colour)!r}; known colours: {', '.join(COLOURS)}")
    if ref.shape is not None and ref.shape not in ("box", "cylinder"):
        raise GoalError(f"unknown shape {clip(ref.shape)!r}; valid: box, cylinder, or empty for any")
    if ref.id is not None and not ID_RE.match(ref.id):
        raise GoalError(f"object id {clip(ref.id)!r} is not a perception id like obj_3")
    if ref.quantifier not in QUANTIFIERS:
        raise GoalError(f"unknown quantifier {clip(str(ref.quantifier))!r}; valid: {', '.join(QUANTIFIERS)}")
    if ref.quantifier == "count" and not (isinstance(ref.count, int) and 1 <= ref.count <= MAX_COUNT):
        raise GoalError(f"count {ref.count!r} is not a number of objects from 1 to {MAX_COUNT}")
    if ref.size is not None and ref.size not in SIZES:
        raise GoalError(f"unknown size word {clip(str(ref.size))!r}; valid: {', '.join(SIZES)}")
    if ref.place is not None and ref.place not in PLACES:
        raise GoalError(f"unknown place word {clip(str(ref.place))!r}; valid: {', '.join(PLACES)}")
    if ref.relation is not None:
        if ref.relation.kind not in RELATIONS:
            raise GoalError(f"unknown relation {clip(str(ref.relation.kind))!r}; valid: {', '.join(RELATIONS)}")
        if ref.relation.anchor is not None:
            check_ref(ref.relation.anchor)


def goal_from_fields(action: str, obj: ObjectRef | None, target: Target | None) -> TaskGoal:
    """A TaskGoal from structured fields (the ExecuteTask goal without text), checked."""
    if action not in ACTIONS:
        raise GoalError(f"unknown action {clip(str(action))!r}; valid: {', '.join(ACTIONS)}")
    for ref in (obj, target.object if target else None):
        if ref is not None:
            check_ref(ref)
    needs_object = action in ("pick_place", "pick", "place_all")
    needs_target = action in ("pick_place", "place", "place_all")
    if needs_object and obj is None:
        raise GoalError(f"action {action} needs an object")
    if needs_target and target is None:
        raise GoalError(f"action {action} needs a target")
    if target is not None:
        if target.kind not in ("bin", "object", "position"):
            raise GoalError(f"unknown target kind {clip(target.kind)!r}; valid: bin, object, position")
        if target.kind == "object" and target.object is None:
            raise GoalError("target 'object' needs a target object")
        position_ok = target.position is not None and all(
            math.isfinite(v) and abs(v) <= POSITION_LIMIT for v in target.position)
        if target.kind == "position" and not position_ok:
            raise GoalError(f"target position {target.position} is not a finite (x, y) in metres")
    if action == "place_all" and target is not None and target.kind != "bin":
        raise GoalError("place_all supports only the bin as target")
    return TaskGoal(action, obj if needs_object else None, target if needs_target else None)
