"""The operator's goal language: text -> TaskGoal, and object references -> objects.

Pure Python. Grammar (case-insensitive; punctuation and "please" are ignored; the full
reference with examples is docs/goals.md):

    put|place|move|drop <object> in|into [the] bin|tray
    put|place|move|stack <object> on|onto <object>
    put|place|move <object> at <x> <y>              (metres, base frame; "x 0.5 y -0.1",
                                                     "(0.5, -0.1)" and "0.5, -0.1" too)
    pick up <object> | pick <object> up | grab|grasp|take <object>      (hold it)
    place|put|drop it in|into the bin | on|onto <object> | at <x> <y>   (the held object)
    clear the table                                  (everything into the bin, one by one)
    put|place|move all|every <colour|shape ...> [objects] in|into the bin

    <object>:  [the | a | an | any] [<colour>] [<shape>]   or an id such as obj_3
      the (or no article): exactly one object must match, else the goal is rejected
      a / an / any: one of the matches, the nearest to the gripper
    <colour>:  red green blue yellow orange purple cyan white black (violet = purple,
               grey/gray are not palette colours)
    <shape>:   cube box block (-> box), cylinder can (-> cylinder), object thing item (any)

Errors are GoalError with a message that names what was understood and what is valid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "cyan", "white", "black")
COLOUR_SYNONYMS = {"violet": "purple", "magenta": "purple", "turquoise": "cyan"}
SHAPE_WORDS = {
    "cube": "box", "cubes": "box", "box": "box", "boxes": "box", "block": "box", "blocks": "box",
    "cylinder": "cylinder", "cylinders": "cylinder", "can": "cylinder", "cans": "cylinder",
    "object": None, "objects": None, "thing": None, "things": None, "item": None, "items": None,
    "one": None, "ones": None,
}
BIN_WORDS = ("bin", "tray", "basket")
ARTICLES_ONE = ("the", "this", "that")
ARTICLES_ANY = ("a", "an", "any", "some")
ALL_WORDS = ("all", "every", "each")
PUT_VERBS = ("put", "place", "move", "drop", "stack", "set", "transfer")
PICK_VERBS = ("pick", "grab", "grasp", "take", "lift", "hold")
FILLER = {"please", "now", "then", "carefully", "gently", "robot", "armbrain", "could", "you", "can"}
ID_RE = re.compile(r"^obj_\d+$")
MAX_GOAL_CHARS = 1000  # a longer text is no goal of this language (its longest sensible goal is < 100)
QUOTE_CHARS = 80  # an operator's words are quoted at most this long in a message
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

GRAMMAR_HELP = ("expected e.g. 'put the red cube in the bin', 'stack the blue cube on the red cube', "
                "'move the green cylinder at 0.5 -0.1', 'pick up a red cube', 'place it in the bin', "
                "'clear the table' or 'put all red objects in the bin' (see docs/goals.md)")


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` for quoting in a message: at most `limit` characters, and how long it really was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class GoalError(ValueError):
    """The goal text (or structured goal) cannot be understood; maps to INVALID_GOAL."""


class ResolveError(ValueError):
    """The goal is understood but names no (or several) objects; maps to OBJECT_NOT_FOUND."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A reference to objects. id: a perception id (colour/shape then unused).
    colour: palette name or None (any). shape: "box", "cylinder" or None (any).
    quantifier: "the" (exactly one), "any" (the nearest match), "all" (every match)."""

    id: str | None = None
    colour: str | None = None
    shape: str | None = None
    quantifier: str = "the"

    def describe(self) -> str:
        if self.id:
            return self.id
        words = [self.colour or "", {"box": "cube", "cylinder": "cylinder"}.get(self.shape or "", "object")]
        noun = " ".join(w for w in words if w)
        return {"the": f"the {noun}", "any": f"a {noun}", "all": f"all {noun}s"}[self.quantifier]


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


ACTIONS = ("pick_place", "pick", "place", "place_all", "clear_table")


@dataclass(frozen=True, slots=True)
class TaskGoal:
    """What the operator asked for. action: one of ACTIONS.
    pick_place: `object` to `target`; pick: `object`, then hold it; place: the held object
    to `target`; place_all: every object matching `object` to `target`; clear_table:
    every object into the bin."""

    action: str
    object: ObjectRef | None = None
    target: Target | None = None

    def describe(self) -> str:
        if self.action == "pick_place":
            return f"put {self.object.describe()} {self.target.describe()}"  # type: ignore[union-attr]
        if self.action == "pick":
            return f"pick up {self.object.describe()}"  # type: ignore[union-attr]
        if self.action == "place":
            return f"place the held object {self.target.describe()}"  # type: ignore[union-attr]
        if self.action == "place_all":
            return f"put {self.object.describe()} {self.target.describe()}"  # type: ignore[union-attr]
        return "clear the table (every object into the bin)"


def _tokens(text: str) -> list[str]:
    text = text.lower().replace(",", " ").replace("(", " ").replace(")", " ").replace("=", " ")
    text = re.sub(r"[!?;:\"']", " ", text)
    words = [w.strip(".") if not NUMBER_RE.match(w) else w for w in text.split()]
    return [w for w in words if w and w not in FILLER]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.words = _tokens(text)
        self.i = 0

    # -- helpers -----------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.words[j] if j < len(self.words) else None

    def take(self, *options: str) -> str | None:
        w = self.peek()
        if w is not None and (not options or w in options):
            self.i += 1
            return w
        return None

    def fail(self, message: str) -> GoalError:
        return GoalError(f"cannot understand {clip(self.text.strip())!r}: {message}; {GRAMMAR_HELP}")

    def expect_end(self, understood: str) -> None:
        if self.peek() is not None:
            rest = " ".join(self.words[self.i:])
            raise self.fail(f"understood '{understood}' but not the words after it: '{clip(rest)}'")

    # -- grammar -----------------------------------------------------------------
    def goal(self) -> TaskGoal:
        if not self.words:
            raise GoalError(f"the goal is empty; {GRAMMAR_HELP}")
        verb = self.take()
        assert verb is not None
        if verb == "clear":
            self.take("the", "whole", "entire")
            self.take("whole", "entire")
            if not self.take("table", "workspace"):
                raise self.fail("'clear' must be followed by 'the table'")
            self.expect_end("clear the table")
            return TaskGoal("clear_table")
        if verb in PICK_VERBS:
            self.take("up")
            obj = self.object_ref(allow_all=False)
            self.take("up")
            self.expect_end(f"pick up {obj.describe()}")
            return TaskGoal("pick", obj)
        if verb in PUT_VERBS:
            if self.peek() == "it":
                self.take()
                self.take("down")
                target = self.target()
                self.expect_end(f"place the held object {target.describe()}")
                return TaskGoal("place", None, target)
            if self.peek() in ALL_WORDS:
                self.take()
                self.take("the")
                self.take("of")
                self.take("the")
                obj = self.object_ref(allow_all=True, quantifier="all")
                target = self.target()
                if target.kind != "bin":
                    raise self.fail(f"'{verb} all ...' supports only 'in the bin', not '{target.describe()}'")
                self.expect_end(f"{verb} {obj.describe()} {target.describe()}")
                return TaskGoal("place_all", obj, target)
            obj = self.object_ref(allow_all=False)
            target = self.target()
            self.expect_end(f"{verb} {obj.describe()} {target.describe()}")
            if target.kind == "object" and target.object == obj and obj.quantifier == "the":
                raise self.fail(f"cannot put {obj.describe()} on itself")
            return TaskGoal("pick_place", obj, target)
        raise self.fail(f"unknown action '{clip(verb)}' (known: {', '.join(PUT_VERBS + PICK_VERBS)}, clear)")

    def object_ref(self, allow_all: bool, quantifier: str | None = None) -> ObjectRef:
        start = self.i
        w = self.peek()
        if w is None:
            raise self.fail("an object is missing (e.g. 'the red cube')")
        if w in ALL_WORDS and not allow_all:
            raise self.fail(f"'{w}' is only valid as 'put all <colour/shape> objects in the bin'")
        q = quantifier
        if w in ARTICLES_ONE:
            self.take()
            q = q or "the"
        elif w in ARTICLES_ANY:
            self.take()
            q = q or "any"
        q = q or "the"
        w = self.peek()
        if w is not None and (ID_RE.match(w) or (w in ("object", "obj", "id") and self.peek(1) and
                                                  ID_RE.match(f"obj_{self.peek(1)}"))):
            if ID_RE.match(w):
                self.take()
                return ObjectRef(id=w, quantifier="the")
            self.take()
            n = self.take()
            return ObjectRef(id=f"obj_{n}", quantifier="the")
        colour = shape = None
        shape_given = False
        while (w := self.peek()) is not None:
            if w in COLOURS or w in COLOUR_SYNONYMS:
                c = COLOUR_SYNONYMS.get(w, w)
                if colour is not None and colour != c:
                    raise self.fail(f"two colours ('{colour}' and '{c}') for one object")
                colour = c
                self.take()
            elif w in SHAPE_WORDS:
                if shape_given:
                    break
                shape, shape_given = SHAPE_WORDS[w], True
                self.take()
            else:
                break
        if colour is None and not shape_given:
            w = self.peek()
            if w is None:
                raise self.fail("an object is missing (e.g. 'the red cube')")
            if w in BIN_WORDS or w in ("in", "into", "on", "onto", "at"):
                raise self.fail(f"expected an object before '{w}'")
            nxt = self.peek(1)
            if nxt in SHAPE_WORDS:
                raise self.fail(f"unknown colour '{clip(w)}' (known colours: {', '.join(COLOURS)})")
            raise self.fail(f"unknown object word '{clip(w)}' (colours: {', '.join(COLOURS)}; shapes: cube, box, "
                            "block, cylinder, object; or an id such as obj_3)")
        w = self.peek()
        if not shape_given and w is not None and w not in ("in", "into", "inside", "on", "onto", "atop", "at", "to",
                                                            "up"):
            raise self.fail(f"unknown shape '{clip(w)}' (known shapes: cube, box, block, cylinder, object)")
        if self.i == start:
            raise self.fail("an object is missing")
        return ObjectRef(colour=colour, shape=shape, quantifier=q)

    def target(self) -> Target:
        prep = self.take()
        if prep == "to":  # "to the bin", "to 0.5 -0.1"
            nxt = self.peek(1) if self.peek() in ("the", "a") else self.peek()
            if nxt in BIN_WORDS:
                prep = "into"
            elif nxt is not None and (nxt == "x" or NUMBER_RE.match(nxt)):
                prep = "at"
            else:
                raise self.fail("after 'to' expected 'the bin' or a position '<x> <y>'")
        if prep in ("in", "into", "inside"):
            self.take("the", "a")
            w = self.take()
            if w not in BIN_WORDS:
                raise self.fail(f"expected 'the bin' after '{prep}', got '{clip(w or '')}'")
            return Target("bin")
        if prep in ("on", "onto", "atop"):
            if self.take("top"):
                self.take("of")
            obj = self.object_ref(allow_all=False)
            return Target("object", obj)
        if prep == "at":
            self.take("x")
            x = self.number("x")
            self.take("y")
            y = self.number("y")
            self.take("m", "metres", "meters")
            return Target("position", position=(x, y))
        if prep is None:
            raise self.fail("the target is missing ('in the bin', 'on <object>' or 'at <x> <y>')")
        raise self.fail(f"unknown target '{clip(prep)}' (expected 'in the bin', 'on <object>' or 'at <x> <y>')")

    def number(self, axis: str) -> float:
        w = self.take()
        if w is None or not NUMBER_RE.match(w):
            raise self.fail(f"expected the {axis} coordinate in metres after 'at', got '{clip(w or '')}'")
        v = float(w)
        if not math.isfinite(v) or abs(v) > 10:
            raise self.fail(f"{axis} = {clip(w)} m is not a position near the robot")
        return v


def parse_goal(text: str) -> TaskGoal:
    """Parse an operator's goal text; raises GoalError naming what was understood and what is valid."""
    if not isinstance(text, str):
        raise GoalError(f"the goal must be text, got {type(text).__name__}")
    if len(text) > MAX_GOAL_CHARS:
        raise GoalError(f"the goal is {len(text)} characters long, more than the {MAX_GOAL_CHARS} a goal may have: "
                        f"{clip(text.strip())!r}; {GRAMMAR_HELP}")
    return _Parser(text).goal()


def goal_from_fields(action: str, obj: ObjectRef | None, target: Target | None) -> TaskGoal:
    """A TaskGoal from structured fields (the ExecuteTask goal without text), checked."""
    if action not in ACTIONS:
        raise GoalError(f"unknown action {clip(str(action))!r}; valid: {', '.join(ACTIONS)}")
    for ref in (obj, target.object if target else None):
        if ref is None:
            continue
        if ref.colour is not None and ref.colour not in COLOURS:
            raise GoalError(f"unknown colour {clip(ref.colour)!r}; known colours: {', '.join(COLOURS)}")
        if ref.shape is not None and ref.shape not in ("box", "cylinder"):
            raise GoalError(f"unknown shape {clip(ref.shape)!r}; valid: box, cylinder, or empty for any")
        if ref.id is not None and not ID_RE.match(ref.id):
            raise GoalError(f"object id {clip(ref.id)!r} is not a perception id like obj_3")
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
        position_ok = target.position is not None and all(math.isfinite(v) and abs(v) <= 10 for v in target.position)
        if target.kind == "position" and not position_ok:
            raise GoalError(f"target position {target.position} is not a finite (x, y) in metres")
    if action == "place_all" and target is not None and target.kind != "bin":
        raise GoalError("place_all supports only the bin as target")
    return TaskGoal(action, obj if needs_object else None, target if needs_target else None)


# -- resolving references against what perception sees -----------------------------------
@dataclass(frozen=True, slots=True)
class SeenObject:
    """What the resolver needs of a perceived object. position: (3,) metres, base frame."""

    id: str
    label: str
    colour: str
    shape: str
    position: tuple[float, float, float]


def _matches(ref: ObjectRef, o: SeenObject) -> bool:
    if ref.id is not None:
        return o.id == ref.id
    return (ref.colour is None or o.colour == ref.colour) and (ref.shape is None or o.shape == ref.shape)


def _listing(objects: list[SeenObject]) -> str:
    if not objects:
        return "nothing"
    return ", ".join(f"{o.label} ({o.id} at {o.position[0]:.2f}, {o.position[1]:.2f})" for o in objects)


def resolve(ref: ObjectRef, objects: list[SeenObject], gripper_xy: tuple[float, float],
            exclude: tuple[str, ...] = (), at_least_one: bool = False) -> list[SeenObject]:
    """The objects `ref` designates: one for "the"/"any" (nearest to the gripper for "any"),
    every match (nearest first) for "all" (none, unless `at_least_one`). Raises ResolveError
    naming what is visible."""
    pool = [o for o in objects if o.id not in exclude]
    found = [o for o in pool if _matches(ref, o)]
    if not found:
        if ref.quantifier == "all" and not at_least_one:
            return []
        raise ResolveError(f"no object matches '{ref.describe()}'; visible: {_listing(pool)}")
    def dist(o: SeenObject) -> float:
        return math.hypot(o.position[0] - gripper_xy[0], o.position[1] - gripper_xy[1])
    found.sort(key=lambda o: (dist(o), o.id))
    if ref.quantifier == "the" and len(found) > 1:
        raise ResolveError(f"'{ref.describe()}' matches {len(found)} objects: {_listing(found)}; "
                           f"say 'a ...' to let me choose, or name one by id")
    return found if ref.quantifier == "all" else found[:1]
