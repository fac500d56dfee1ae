"""How operators say goals: English text -> a list of TaskGoal (planner.task.goal_types).

Pure Python, deterministic, no language model. The grammar, with examples, is
docs/goals.md; in short (case, punctuation, "please", "now", "then" are ignored):

    goals   := clause ((","|";"|"."|"and"|"and then"|"after that"|...) clause)*
    clause  := put-verb <object> [down|back] <target>          (pick_place, place_all)
             | put-verb it [down|back] <target>                 (place the held object)
             | pick-verb [up] <object> [up] [<target>]          (pick, or pick_place)
             | clear [off] the [whole] table
    target  := in|into|inside|in to [the] bin|tray|basket|box|container | away
             | on|onto|on top of|atop <object> | at|to [x] <x> [y] <y> [m|cm|mm]
    object  := [the|a|an|any|another|all|every|both|<n>] [other] <adjective>* <noun> <postmod>*
             | obj_<n> | object <n> | it
    adjective := <colour> | small|big|tall|short|... | leftmost|front|nearest|...
    noun    := cube|box|block|cylinder|can|object|thing|item (plurals too) | one (= the last noun)
    postmod := on the left|right | in front | at the back | nearest to the robot | ...
             | next to|beside|near|left of|right of|in front of|behind|on top of|under
               |nearest to|farthest from  (the bin | <object>)

"pick up X and put it in the bin" is one pick_place; "it" after a goal that named one object
is that object again. Errors are GoalError naming what was understood and what is valid.
"""

from __future__ import annotations

import math
import re

from planner.task.goal_types import (
    COLOUR_SYNONYMS,
    COLOURS,
    MAX_COUNT,
    NUMBER_WORDS,
    GoalError,
    ObjectRef,
    Relation,
    Target,
    TaskGoal,
    clip,
    describe_goals,
)

MAX_GOAL_CHARS = 1000  # a longer text is no goal of this language (its longest sensible goal is < 200)
POSITION_LIMIT = 10.0  # metres: a coordinate beyond this is a typing slip, not a place near the robot

SHAPE_WORDS = {
    "cube": "box", "box": "box", "block": "box", "cylinder": "cylinder", "can": "cylinder",
    "object": None, "thing": None, "item": None,
}
PLURALS = {"cubes": "cube", "boxes": "box", "blocks": "block", "cylinders": "cylinder", "cans": "can",
           "objects": "object", "things": "thing", "items": "item"}
SIZE_WORDS = {
    "smallest": "smallest", "small": "smallest", "smaller": "smallest", "tiniest": "smallest", "tiny": "smallest",
    "little": "smallest", "littlest": "smallest",
    "largest": "largest", "large": "largest", "larger": "largest", "biggest": "largest", "big": "largest",
    "bigger": "largest",
    "tallest": "tallest", "tall": "tallest", "taller": "tallest",
    "shortest": "shortest", "short": "shortest", "shorter": "shortest", "flattest": "shortest",
}
PLACE_WORDS = {
    "leftmost": "left", "left": "left", "rightmost": "right", "right": "right",
    "frontmost": "front", "front": "front", "foremost": "front",
    "rearmost": "back", "backmost": "back", "back": "back", "rear": "back", "hindmost": "back",
    "nearest": "nearest", "closest": "nearest", "nearer": "nearest", "closer": "nearest",
    "farthest": "farthest", "furthest": "farthest", "farther": "farthest", "further": "farthest",
}
NEAR_WORDS = ("nearest", "closest", "nearer", "closer")
FAR_WORDS = ("farthest", "furthest", "farther", "further")
ROBOT_WORDS = ("robot", "you", "base", "arm")
CONTAINERS = ("bin", "tray", "basket", "container", "bucket", "crate", "box")
ANCHOR_BINS = ("bin", "tray", "basket", "container", "bucket", "crate")  # "box" as an anchor is a cube
TABLE_WORDS = ("table", "workspace", "desk")
ARTICLES_ONE = ("the", "this", "that")
ARTICLES_ANY = ("a", "an", "any", "some")
ALL_WORDS = ("all", "every", "each")
PUT_VERBS = ("put", "place", "move", "drop", "stack", "set", "transfer", "bring", "carry", "deposit")
PICK_VERBS = ("pick", "grab", "grasp", "take", "lift", "hold", "get", "fetch", "keep")
CLEAR_VERBS = ("clear", "clean", "tidy", "empty")
VERBS = PUT_VERBS + PICK_VERBS + CLEAR_VERBS
MARKS = (",", ";", ".", "?", "!", ":")
SEPARATORS = (*MARKS, "and", "afterwards", "next", "finally", "lastly", "also", "first", "firstly", "second",
              "secondly", "third", "thirdly")
# dropped anywhere; "then" only joins clauses, which "and"/"," already do
FILLER = {"please", "kindly", "now", "then", "carefully", "gently", "slowly", "quickly", "just", "thanks", "thx"}
# dropped at the start of a clause: "could you please", "I want you to", "robot, ..."
PREFIX = {"could", "can", "would", "will", "you", "i", "id", "want", "like", "to", "go", "ahead", "and", "ok",
          "okay", "hey", "robot", "armbrain", "let", "lets", "us", "after", "that", "also", "next", "first",
          "firstly", "finally", "lastly", "afterwards", "second", "secondly", "third", "thirdly", "try", "need"}
TARGET_WORDS = ("in", "into", "inside", "on", "onto", "atop", "upon", "at", "to", "away")
ID_RE = re.compile(r"^obj_\d+$")
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", re.ASCII)
UNITS = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "cm": 0.01, "centimetres": 0.01,
         "centimeters": 0.01, "mm": 0.001, "millimetres": 0.001, "millimeters": 0.001}

GRAMMAR_HELP = ("expected e.g. 'put the red cube in the bin', 'stack the blue cube on the red cube', "
                "'move the green cylinder at 0.5 -0.1', 'pick up a red cube', 'place it in the bin', "
                "'clear the table' or 'put all red objects in the bin' (see docs/goals.md)")
TARGET_HELP = "'in the bin', 'on <object>' or 'at <x> <y>'"
ADJECTIVE_HELP = ("size words: small, big, tall, short (and -est); place words, from the robot's point of view: "
                  "leftmost, rightmost, front, back, nearest, farthest")


def tokens(text: str) -> list[str]:
    """Lower-case words, numbers and punctuation marks (MARKS) of `text`, fillers dropped."""
    text = text.lower().replace("\u2212", "-")
    text = re.sub(r"['\u2019`]", "", text)  # "what's" -> "whats"
    text = re.sub(r"[()\[\]{}=\"*]", " ", text)
    text = re.sub(r"([,;?!:])", r" \1 ", text)
    text = re.sub(r"\.(?![0-9])", " . ", text)  # a full stop, not a decimal point
    text = re.sub(r"(?<=[0-9])(m|cm|mm)\b", r" \1", text)  # "0.5m" -> "0.5 m"
    words = text.split()
    out: list[str] = []
    for k, w in enumerate(words):
        if w in FILLER or (w == "thank" and k + 1 < len(words) and words[k + 1] == "you"):
            continue
        if w == "you" and out and out[-1] == "thank":
            continue
        if w == "me" and out and out[-1] == "for":  # "... for me"
            out.pop()
            continue
        out.append(w)
    return [w for w in out if w != "thank"]


class Phrasing:
    """One parse of one text (a recursive-descent parser over `tokens(text)`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = tokens(text)
        self.i = 0
        self.last_ref: ObjectRef | None = None  # what "one" and "the other one" refer to

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

    def take_seq(self, *words: str) -> bool:
        if tuple(self.words[self.i:self.i + len(words)]) == words:
            self.i += len(words)
            return True
        return False

    def fail(self, message: str) -> GoalError:
        return GoalError(f"cannot understand {clip(self.text.strip())!r}: {message}; {GRAMMAR_HELP}")

    def rest(self, start: int) -> str:
        return " ".join(w for w in self.words[start:] if w not in MARKS)

    def at_end(self) -> bool:
        return self.peek() is None or self.peek() in SEPARATORS or self.peek() in VERBS

    # -- sequences ---------------------------------------------------------------
    def goals(self) -> list[TaskGoal]:
        if not [w for w in self.words if w not in MARKS and w not in PREFIX]:
            raise GoalError(f"the goal is empty; {GRAMMAR_HELP}")
        steps: list[TaskGoal] = []
        while True:
            before = self.i
            while self.peek() in SEPARATORS or self.peek() in PREFIX or self.take_seq("after", "that"):
                if self.take_seq("after", "that"):
                    continue
                self.i += 1
            if self.peek() is None:
                return steps
            if steps and self.peek() not in VERBS:
                raise self.fail(f"understood '{describe_goals(steps)}' but not the words after it: "
                                f"'{clip(self.rest(before))}'")
            start = self.i
            goal, it = self.clause()
            self.join(steps, goal, it, start)
            if self.peek() is not None and self.peek() not in SEPARATORS and self.peek() not in VERBS:
                raise self.fail(f"understood '{describe_goals(steps)}' but not the words after it: "
                                f"'{clip(self.rest(self.i))}'")

    def join(self, steps: list[TaskGoal], goal: TaskGoal, it: bool, start: int) -> None:
        """Append `goal` to `steps`; "it" means the object the previous goal named."""
        if not it:
            steps.append(goal)
            return
        prev = steps[-1] if steps else None
        if prev is None:
            if goal.action == "place":  # "put it ...": the held object
                steps.append(goal)
                return
            raise self.fail("'it' names no object here; say which object, e.g. 'pick up the red cube'")
        if prev.action == "pick" and goal.action == "place":  # "pick up X and put it in the bin"
            assert prev.object is not None and goal.target is not None
            self.check_not_itself(prev.object, goal.target)
            steps[-1] = TaskGoal("pick_place", prev.object, goal.target)
            return
        if prev.action == "pick" and goal.action == "pick":  # "pick up X and hold it"
            return
        ref = prev.object
        if prev.action in ("pick_place", "pick") and ref is not None and (ref.id or ref.quantifier == "the"):
            if goal.action == "place":
                assert goal.target is not None
                self.check_not_itself(ref, goal.target)
                steps.append(TaskGoal("pick_place", ref, goal.target))
            else:
                steps.append(TaskGoal("pick", ref))
            return
        raise self.fail(f"'it' in '{clip(self.rest(start))}' does not name one object after "
                        f"'{prev.describe()}'; say which object")

    # -- clauses -----------------------------------------------------------------
    def clause(self) -> tuple[TaskGoal, bool]:
        """One goal; the flag says it was said of "it" (see `join`)."""
        verb = self.take()
        assert verb is not None
        if verb in CLEAR_VERBS:
            self.take("off", "up", "away")
            self.take("the")
            self.take("whole", "entire")
            if not self.take(*TABLE_WORDS):
                raise self.fail(f"'{verb}' must be followed by 'the table'")
            return TaskGoal("clear_table"), False
        if verb in PICK_VERBS:
            self.take("up")
            if self.take_it() is not None:
                self.take("up")
                return TaskGoal("pick", None), True
            obj = self.object_ref(allow_all=False, allow_on=True)
            self.take("up")
            if self.peek() in TARGET_WORDS:  # "take the red cube to the bin"
                return self.put(verb, obj), False
            return TaskGoal("pick", obj), False
        if verb in PUT_VERBS:
            away = self.take("down", "away") == "away"
            if (said := self.take_it()) is not None:
                self.take("down", "back")
                return TaskGoal("place", None, self.target()), said == "it"
            start = self.i
            obj = self.object_ref(allow_all=True, allow_on=True)
            if obj.relation is not None and obj.relation.kind == "on":
                try:  # "put the cube on the red one in the bin": the relation reading first
                    self.take("down", "back")
                    return self.put(verb, obj), False
                except GoalError:
                    self.i = start  # "put the cube on the red one": the target reading
                    obj = self.object_ref(allow_all=True, allow_on=False)
            self.take("down", "back")
            if away and self.at_end():  # "put away the red cube"
                return self.put(verb, obj, Target("bin")), False
            return self.put(verb, obj), False
        raise self.fail(f"unknown action '{clip(verb)}' (known: {', '.join(PUT_VERBS + PICK_VERBS)}, clear)")

    def take_it(self) -> str | None:
        """'it' (the object named before: "it"), or 'the held object', 'what you are holding'
        (whatever the gripper holds then: "held"); None when neither is said."""
        if self.take("it"):
            return "it"
        if self.peek() == "the" and self.peek(1) == "held" and (self.peek(2) in SHAPE_WORDS or
                                                                 self.peek(2) == "one"):
            self.i += 3
            return "held"
        for phrase in (("what", "you", "are", "holding"), ("what", "youre", "holding"), ("what", "you", "hold"),
                       ("what", "you", "have")):
            if self.take_seq(*phrase):
                return "held"
        return None

    def put(self, verb: str, obj: ObjectRef, target: Target | None = None) -> TaskGoal:
        target = target or self.target()
        if obj.quantifier in ("all", "count"):
            if target.kind != "bin":
                word = "all" if obj.quantifier == "all" else str(obj.count)
                raise self.fail(f"'{verb} {word} ...' supports only 'in the bin', not '{target.describe()}'")
            return TaskGoal("place_all", obj, target)
        self.check_not_itself(obj, target)
        return TaskGoal("pick_place", obj, target)

    def check_not_itself(self, obj: ObjectRef, target: Target) -> None:
        if target.kind == "object" and target.object == obj and obj.quantifier == "the" and not obj.other:
            raise self.fail(f"cannot put {obj.describe()} on itself")

    # -- targets -----------------------------------------------------------------
    def target(self) -> Target:
        prep = self.take()
        if prep == "away":  # "put the red cube away"
            return Target("bin")
        if prep == "in" and self.take("to"):
            prep = "into"
        elif prep == "on" and self.take("to"):
            prep = "onto"
        elif prep == "inside":
            self.take("of")
        if prep == "to":  # "to the bin", "to 0.5 -0.1", "to position ..."
            nxt = self.peek(1) if self.peek() in ("the", "a") else self.peek()
            if nxt in CONTAINERS:
                prep = "into"
            elif nxt is not None and (nxt in ("x", "y", "position", "coordinates", "point", "location")
                                      or NUMBER_RE.match(nxt)):
                self.take("the")
                return Target("position", position=self.position("to"))
            else:
                raise self.fail(f"after 'to' expected 'the bin' or a position '<x> <y>', got '{clip(nxt or '')}'")
        if prep in ("in", "into", "inside"):
            self.take("the", "a")
            w = self.take()
            if w in CONTAINERS:
                return Target("bin")
            if w in COLOURS or w in COLOUR_SYNONYMS or w in SIZE_WORDS or w in PLACE_WORDS:
                said = " ".join(self.words[self.i - 1:self.i + 1])
                raise self.fail(f"expected 'the bin' after '{prep}', got '{clip(said)}' (the bin is the only "
                                "container; to stack, say 'on <object>')")
            raise self.fail(f"expected 'the bin' after '{prep}', got '{clip(w or '')}'")
        if prep in ("on", "onto", "atop", "upon"):
            if self.take("top"):
                self.take("of")
            if self.peek() in TABLE_WORDS or (self.peek() == "the" and self.peek(1) in TABLE_WORDS):
                self.take("the")
                self.take()
                if self.take("at"):
                    return Target("position", position=self.position("at"))
                raise self.fail("say where on the table: 'on the table at <x> <y>' (metres, base frame)")
            return Target("object", self.object_ref(allow_all=False, allow_on=True))
        if prep == "at":
            return Target("position", position=self.position("at"))
        if prep is None or prep in SEPARATORS:
            raise self.fail(f"the target is missing ({TARGET_HELP})")
        if prep in ("next", "beside", "near", "by", "left", "right", "behind", "under", "below", "in front"):
            raise self.fail(f"'{prep} ...' is not a place I put things; the target must be {TARGET_HELP}")
        raise self.fail(f"unknown target '{clip(prep)}' (expected {TARGET_HELP})")

    def position(self, prep: str) -> tuple[float, float]:
        """'[position] [x] <x> [,|and] [y] <y>' in metres (or cm, mm), labels in either order."""
        self.take("position", "coordinates", "point", "location")
        values: dict[str, float] = {}
        for _ in range(2):
            if values:
                self.take(",")
                if self.peek() == "and" and self.peek(1) in ("x", "y"):
                    self.take()
            axis = self.take("x", "y") or ("y" if "x" in values else "x")
            if axis in values:
                raise self.fail(f"the {axis} coordinate is given twice")
            values[axis] = self.number(axis, prep)
        self.take_seq("on", "the", "table")
        return values["x"], values["y"]

    def number(self, axis: str, prep: str) -> float:
        w = self.take()
        if w is None or not NUMBER_RE.match(w):
            raise self.fail(f"expected the {axis} coordinate in metres after '{prep}', got '{clip(w or '')}'; "
                            f"a position is '{prep} <x> <y>' in metres, e.g. '{prep} 0.5 -0.1'")
        v = float(w) * UNITS.get(self.take(*UNITS) or "m", 1.0)
        if not math.isfinite(v) or abs(v) > POSITION_LIMIT:
            raise self.fail(f"{axis} = {clip(w)} m is not a position near the robot")
        return v

    # -- object references -------------------------------------------------------
    def count(self, w: str) -> int:
        """The number a determiner `w` ('two', '3') says; GoalError when it is no count of objects."""
        if w in NUMBER_WORDS:
            return NUMBER_WORDS[w]
        if not re.fullmatch(r"\d{1,6}", w, re.ASCII):
            raise self.fail(f"'{clip(w)}' is not a whole number of objects")
        n = int(w)
        if n == 0:
            raise self.fail("'0' objects is nothing to do; say how many, from 1")
        if n > MAX_COUNT:
            raise self.fail(f"{n} objects are more than one goal moves (at most {MAX_COUNT}); "
                            f"say 'all' to move every match")
        return n

    def determiner(self, allow_all: bool) -> tuple[str | None, int | None, bool, bool]:
        """(quantifier or None, count, other, noun said) of the words before an object's adjectives."""
        w = self.peek()
        q: str | None = None
        n: int | None = None
        if w in ALL_WORDS or w == "both" or w == "everything":
            if not allow_all:
                raise self.fail(f"'{w}' is only valid as 'put all <colour/shape> objects in the bin'")
            self.take()
            if w == "everything":
                return "all", None, False, True
            q, n = ("count", 2) if w == "both" else ("all", None)
            self.take("of")
            self.take("the")
        elif w in ARTICLES_ONE:
            self.take()
            q = "the"
        elif w == "another":
            self.take()
            return "any", None, True, False
        elif w in ARTICLES_ANY:
            self.take()
            q = "any"
        nxt = self.peek()
        countable = nxt is not None and (nxt in NUMBER_WORDS or NUMBER_RE.match(nxt)) and q in (None, "the")
        follows = self.peek(1)
        if countable and follows is not None and (follows in ("of", "other") or self.describes(follows)):
            assert nxt is not None
            if nxt == "one" and q == "the":  # "the one on the left"
                return q, n, False, False
            n = self.count(nxt)
            if n > 1 and not allow_all:
                raise self.fail(f"'{nxt}' objects: the gripper takes one at a time; "
                                f"say 'put {nxt} ... in the bin' or name one object")
            self.take()
            self.take_seq("of", "the")
            q = "count" if n > 1 else "any"
            n = n if n > 1 else None
        other = bool(self.take("other"))
        return q, n, other, False

    @staticmethod
    def describes(w: str) -> bool:
        """Whether `w` may stand in an object's words (colour, shape, size, place, 'one')."""
        return (w in COLOURS or w in COLOUR_SYNONYMS or w in SHAPE_WORDS or w in PLURALS or w in SIZE_WORDS
                or w in PLACE_WORDS or w in ("one", "ones"))

    def object_id(self) -> str | None:
        w = self.peek()
        if w is not None and ID_RE.match(w):
            self.take()
            return w
        n = self.peek(1)
        if w in ("object", "obj", "id", "number") and n is not None and re.fullmatch(r"\d{1,6}", n, re.ASCII):
            self.i += 2
            return f"obj_{int(n)}"
        return None

    def object_ref(self, allow_all: bool, allow_on: bool, post: bool = True) -> ObjectRef:
        """An object reference; `allow_on`: 'on <object>' may describe it (else it is the target);
        `post`: words after the noun (place and relation) may describe it (not for anchors)."""
        start = self.i
        if self.peek() is None or self.peek() in MARKS:
            raise self.fail("an object is missing (e.g. 'the red cube')")
        q, n, other, noun_said = self.determiner(allow_all)
        if (obj_id := self.object_id()) is not None:
            ref = ObjectRef(id=obj_id)
            self.last_ref = ref
            return ref
        colour = size = place = None
        shape: str | None = None
        shape_given = plural = noun_said  # "everything"
        one = False
        while not noun_said and (w := self.peek()) is not None:
            if w in COLOURS or w in COLOUR_SYNONYMS:
                c = COLOUR_SYNONYMS.get(w, w)
                if colour is not None and colour != c:
                    raise self.fail(f"two colours ('{colour}' and '{c}') for one object")
                colour = c
            elif w in SIZE_WORDS:
                if size is not None and size != SIZE_WORDS[w]:
                    raise self.fail(f"two size words ('{size}' and '{SIZE_WORDS[w]}') for one object")
                size = SIZE_WORDS[w]
            elif w in PLACE_WORDS and self.peek(1) not in ("of", "to", "from", "side"):
                if place is not None and place != PLACE_WORDS[w]:
                    raise self.fail(f"two place words ('{place}' and '{PLACE_WORDS[w]}') for one object")
                place = PLACE_WORDS[w]
            elif w == "other":
                other = True
            elif w in SHAPE_WORDS or w in PLURALS:
                shape, shape_given, plural = SHAPE_WORDS[PLURALS.get(w, w)], True, w in PLURALS
                self.take()
                break
            elif w in ("one", "ones"):
                one, plural = True, w == "ones"
                self.take()
                break
            else:
                break
            self.take()
        if one and self.last_ref is not None and not self.last_ref.id:  # "the green one", "the other one"
            shape = self.last_ref.shape
            if other and colour is None:
                colour = self.last_ref.colour
        if colour is None and not shape_given and not one and size is None and place is None:
            self.unknown_object_word(start)
        w = self.peek()
        if not shape_given and not one and w is not None and not self.may_follow_object(w):
            raise self.fail(f"unknown shape '{clip(w)}' (known shapes: cube, box, block, cylinder, object)")
        if q is None:
            q = "all" if plural else "the"
        if q == "the" and plural:
            if not allow_all:
                raise self.fail(f"'{self.words[self.i - 1]}' names several objects; the gripper takes one at a "
                                f"time: say 'put all ... in the bin' or name one object")
            q = "all"
        ref = ObjectRef(None, colour, shape, q, n, size, place, None, other)
        self.last_ref = ref
        if post:
            ref = self.post_modifiers(ref, allow_on)
        if q in ("all", "count") and (ref.size or ref.place):
            word = ref.size or ref.place
            raise self.fail(f"'{word}' picks one object, not '{ref.describe()}'; name one object, or drop "
                            f"'{word}'")
        self.last_ref = ref
        return ref

    def unknown_object_word(self, start: int) -> None:
        w = self.peek()
        if w is None or w in MARKS:
            raise self.fail("an object is missing (e.g. 'the red cube')")
        if w in CONTAINERS or w in TARGET_WORDS:
            raise self.fail(f"expected an object before '{w}'")
        if self.peek(1) in SHAPE_WORDS or self.peek(1) in PLURALS:
            raise self.fail(f"unknown colour '{clip(w)}' (known colours: {', '.join(COLOURS)}); "
                            f"{ADJECTIVE_HELP}")
        raise self.fail(f"unknown object word '{clip(w)}' (colours: {', '.join(COLOURS)}; shapes: cube, box, "
                        f"block, cylinder, object; {ADJECTIVE_HELP}; or an id such as obj_3)")

    def may_follow_object(self, w: str) -> bool:
        return (w in SEPARATORS or w in VERBS or w in TARGET_WORDS or w in PLACE_WORDS
                or w in ("up", "down", "back", "next", "beside", "near", "by", "behind", "under", "below", "beneath",
                         "underneath", "close", "that", "which", "thats", "alongside"))

    # -- words after the noun ----------------------------------------------------
    def post_modifiers(self, ref: ObjectRef, allow_on: bool) -> ObjectRef:
        place, relation = ref.place, None
        for _ in range(2):
            start = self.i
            while self.take("that", "which", "thats", "is", "sits", "sitting", "stands", "standing", "lies",
                            "lying"):
                pass
            found = self.place_phrase()
            if found is not None and place is None:
                place = found
                continue
            if found is None and relation is None:
                relation = self.relation(allow_on)
                if relation is not None:
                    continue
            self.i = start
            break
        if place == ref.place and relation is None:
            return ref
        return ObjectRef(None, ref.colour, ref.shape, ref.quantifier, ref.count, ref.size, place, relation, ref.other)

    def place_phrase(self) -> str | None:
        """'on the left', 'to the right', 'in front', 'at the back', 'nearest to the robot', ..."""
        start = self.i
        for lead in (("on", "the"), ("to", "the"), ("at", "the"), ("in", "the"), ("on",), ("at",), ("in",)):
            if not self.take_seq(*lead):
                continue
            w = self.take("left", "right", "front", "back", "rear")
            if w is not None and not self.describes(self.peek() or ""):  # not "on the left cube"
                self.take("side", "end")
                if self.peek() == "of" and not (self.peek(1) == "the" and self.peek(2) in TABLE_WORDS):
                    break  # "left of the blue cube": a relation
                if self.take_seq("of", "the"):
                    self.take()
                return PLACE_WORDS[w]
            self.i = start
        self.i = start
        w = self.peek()
        if w in NEAR_WORDS + FAR_WORDS:
            self.take()
            self.take("to", "from")
            self.take("away")
            self.take("from")
            if self.take("me"):
                raise self.fail("'me': I do not know where you stand; say 'nearest to the robot', or a "
                                "direction from the robot's point of view ('frontmost', 'leftmost')")
            self.take("the")
            if self.take(*ROBOT_WORDS):
                return "nearest" if w in NEAR_WORDS else "farthest"
        self.i = start
        return None

    def relation(self, allow_on: bool) -> Relation | None:
        start = self.i
        kind = None
        if self.take_seq("next", "to") or self.take("beside", "alongside", "near", "by") or \
                self.take_seq("close", "to"):
            kind = "next_to"
        elif self.take_seq("to", "the", "left", "of") or self.take_seq("on", "the", "left", "of") or \
                self.take_seq("left", "of"):
            kind = "left_of"
        elif self.take_seq("to", "the", "right", "of") or self.take_seq("on", "the", "right", "of") or \
                self.take_seq("right", "of"):
            kind = "right_of"
        elif self.take_seq("in", "front", "of"):
            kind = "in_front_of"
        elif self.take("behind") or self.take_seq("in", "back", "of"):
            kind = "behind"
        elif self.take("under", "below", "beneath", "underneath"):
            kind = "under"
        elif allow_on and self.peek(1) != "to" and (self.take_seq("on", "top", "of") or
                                                   self.take("on", "atop", "upon")):
            kind = "on"
        elif self.peek() in NEAR_WORDS and self.peek(1) == "to":
            self.i += 2
            kind = "nearest_to"
        elif self.peek() in FAR_WORDS and self.peek(1) in ("from", "away"):
            self.i += 2
            self.take("from")
            kind = "farthest_from"
        if kind is None:
            return None
        if self.peek() in ANCHOR_BINS or (self.peek() in ("the", "a") and self.peek(1) in ANCHOR_BINS):
            self.take("the", "a")
            self.take()
            if kind in ("on", "under"):
                raise self.fail("objects in the bin are not seen; say 'next to the bin' or name an object "
                                "on the table")
            return Relation(kind, None)
        nxt = self.peek(1) if self.peek() in ("the", "a") else self.peek()
        if nxt is None or nxt in SEPARATORS or nxt in TABLE_WORDS or (nxt in TARGET_WORDS and kind != "on"):
            self.i = start
            return None
        saved = self.last_ref
        anchor = self.object_ref(allow_all=False, allow_on=False, post=False)
        self.last_ref = saved
        if anchor.quantifier not in ("the", "any"):
            raise self.fail(f"'{anchor.describe()}': say which one object it is beside")
        return Relation(kind, anchor)


def parse_goals(text: str) -> list[TaskGoal]:
    """The goals an operator's text asks for, in order (one for a single goal); raises GoalError
    naming what was understood and what is valid."""
    if not isinstance(text, str):
        raise GoalError(f"the goal must be text, got {type(text).__name__}")
    if len(text) > MAX_GOAL_CHARS:
        raise GoalError(f"the goal is {len(text)} characters long, more than the {MAX_GOAL_CHARS} a goal may have: "
                        f"{clip(text.strip())!r}; {GRAMMAR_HELP}")
    return Phrasing(text).goals()


def parse_goal(text: str) -> TaskGoal:
    """Parse a text that asks for one goal; a sequence ("..., then ...") is refused with
    GoalError naming its goals (parse_goals takes sequences)."""
    goals = parse_goals(text)
    if len(goals) > 1:
        raise GoalError(f"{clip(text.strip())!r} is a sequence of {len(goals)} goals ({describe_goals(goals)}); "
                        f"here one goal is taken at a time: send them one by one")
    return goals[0]
