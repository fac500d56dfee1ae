"""What an operator's goal means, as data: TaskGoal, Target, ObjectRef, Relation, and the
vocabulary they are described in. Pure Python; the parser is planner.task.phrasing, the
resolution against what is seen planner.task.relations, the facade planner.task.goals.

Directions are the robot's (base frame `panda_link0`, x forward away from the base, y to the
robot's left): "left" is larger y, "front" larger x (towards an operator standing across the
table), "back" nearer the base; "nearest"/"farthest" are measured from the base.
"""

from __future__ import annotations

from dataclasses import dataclass

COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "cyan", "white", "black")
COLOUR_SYNONYMS = {"violet": "purple", "magenta": "purple", "turquoise": "cyan"}
ACTIONS = ("pick_place", "pick", "place", "place_all", "clear_table")
QUANTIFIERS = ("the", "any", "all", "count")
MAX_COUNT = 20  # "put <n> cubes ...": more than the table holds is a mistake, not a goal
QUOTE_CHARS = 80  # an operator's words are quoted at most this long in a message

# Size words -> the measure they pick the extreme of (see planner.task.relations).
SIZES = ("smallest", "largest", "tallest", "shortest")
# Place words -> the direction they pick the extreme of (robot's point of view).
PLACES = ("left", "right", "front", "back", "nearest", "farthest")
PLACE_ECHO = {"left": "leftmost", "right": "rightmost", "front": "frontmost", "back": "rearmost",
              "nearest": "nearest", "farthest": "farthest"}
PLACE_MEANING = {"left": "largest y, the robot's left", "right": "smallest y, the robot's right",
                 "front": "largest x, farthest forward from the robot base",
                 "back": "smallest x, nearest the robot base",
                 "nearest": "nearest to the robot base", "farthest": "farthest from the robot base"}
# Relations of one object to another (or to the bin); the words that say them are in phrasing.
RELATIONS = ("next_to", "left_of", "right_of", "in_front_of", "behind", "on", "under", "nearest_to",
             "farthest_from")
RELATION_ECHO = {"next_to": "next to", "left_of": "left of", "right_of": "right of", "in_front_of": "in front of",
                 "behind": "behind", "on": "on top of", "under": "under", "nearest_to": "nearest to",
                 "farthest_from": "farthest from"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` for quoting in a message: at most `limit` characters, and how long it really was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class GoalError(ValueError):
    """The goal text (or structured goal) cannot be understood; maps to INVALID_GOAL."""


class ResolveError(ValueError):
    """The goal is understood but names no (or several) objects; maps to OBJECT_NOT_FOUND."""


@dataclass(frozen=True, slots=True)
class Relation:
    """Where an object stands relative to an anchor. kind: one of RELATIONS.
    anchor: the other object, or None for the bin."""

    kind: str
    anchor: ObjectRef | None = None

    def describe(self) -> str:
        return f"{RELATION_ECHO[self.kind]} {self.anchor.describe() if self.anchor else 'the bin'}"


def _count_word(n: int) -> str:
    return next((w for w, v in NUMBER_WORDS.items() if v == n and n > 1), str(n))


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A reference to objects. id: a perception id (the rest then unused).
    colour: palette name or None (any). shape: "box", "cylinder" or None (any).
    quantifier: "the" (exactly one), "any" (the nearest match), "all" (every match),
    "count" (`count` of the matches, nearest first).
    size: one of SIZES (the extreme of the matches); place: one of PLACES (the extreme in that
    direction, robot's point of view); relation: only matches standing so to an anchor.
    other: "the other ...": not the object the same goal moves (the caller excludes it)."""

    id: str | None = None
    colour: str | None = None
    shape: str | None = None
    quantifier: str = "the"
    count: int | None = None
    size: str | None = None
    place: str | None = None
    relation: Relation | None = None
    other: bool = False

    def noun(self, other: bool = True) -> str:
        """The words after the article: '[other] [size] [place] [colour] <shape>[s] [relation]'."""
        plural = self.quantifier == "all" or (self.quantifier == "count" and (self.count or 0) > 1)
        shape = {"box": "cube", "cylinder": "cylinder"}.get(self.shape or "", "object")
        words = ["other" if self.other and other else "", self.size or "", PLACE_ECHO.get(self.place or "", ""),
                 self.colour or "", shape + ("s" if plural else "")]
        if self.relation is not None:
            words.append(self.relation.describe())
        return " ".join(w for w in words if w)

    def describe(self) -> str:
        if self.id:
            return self.id
        noun = self.noun()
        if self.quantifier == "any":
            if self.other:
                return f"another {self.noun(other=False)}"
            return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
        if self.quantifier == "all":
            return f"all {noun}"
        if self.quantifier == "count":
            return f"{_count_word(self.count or 0)} {noun}"
        return f"the {noun}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where to place. kind: "bin", "object" (stack on `object`), "position" ((x, y) metres,
    base frame, on the table)."""

    kind: str
    object: ObjectRef | None = None
    position: tuple[float, float] | None = None

    def describe(self) -> str:
        if self.kind == "bin":
            return "in the bin"
        if self.kind == "object":
            assert self.object is not None
            return f"on {self.object.describe()}"
        assert self.position is not None
        return f"at ({self.position[0]:.3f}, {self.position[1]:.3f})"


@dataclass(frozen=True, slots=True)
class TaskGoal:
    """What the operator asked for. action: one of ACTIONS.
    pick_place: `object` to `target`; pick: `object`, then hold it; place: the held object
    to `target`; place_all: every object matching `object` (`object.count` of them when its
    quantifier is "count") to `target` (the bin); clear_table: every object into the bin."""

    action: str
    object: ObjectRef | None = None
    target: Target | None = None

    def describe(self) -> str:
        """The canonical one-line echo of the goal; it parses back to the same goal
        (except clear_table's explanation in brackets and positions beyond millimetres)."""
        if self.action in ("pick_place", "place_all"):
            return f"put {self.object.describe()} {self.target.describe()}"  # type: ignore[union-attr]
        if self.action == "pick":
            return f"pick up {self.object.describe()}"  # type: ignore[union-attr]
        if self.action == "place":
            return f"place the held object {self.target.describe()}"  # type: ignore[union-attr]
        return "clear the table (every object into the bin)"


def describe_goals(goals: list[TaskGoal]) -> str:
    """The echo of a sequence: its goals' descriptions joined by ', then '."""
    return ", then ".join(g.describe() for g in goals)
