"""planner.task.goals, issue 19: sequences, counts, size/place/relation references, the echo,
and property tests (the parser and the resolver raise only their own errors; echoes parse back)."""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.task.goals import (
    NEXT_TO_GAP,
    GoalError,
    ObjectRef,
    Relation,
    ResolveError,
    Scene,
    SeenObject,
    Target,
    TaskGoal,
    describe_goals,
    goal_from_fields,
    parse_goal,
    parse_goals,
    resolve,
)

CUBE = 0.05


def obj(id_, colour, shape, x, y, size=(CUBE, CUBE, CUBE), z=None):
    label = f"{colour} {'cube' if shape == 'box' else shape}"
    return SeenObject(id_, label, colour, shape, (x, y, size[2] / 2 if z is None else z), size)


# -- the echo and sequences ---------------------------------------------------------------
@pytest.mark.parametrize(("text", "echo"), [
    ("put two red cubes in the bin", "put two red cubes in the bin"),
    ("put 12 cubes in the bin", "put 12 cubes in the bin"),
    ("grab the small red cube", "pick up the smallest red cube"),
    ("pick up the cube in front", "pick up the frontmost cube"),
    ("put the red cube on the right in the bin", "put the rightmost red cube in the bin"),
    ("pick up the object nearest to the green cylinder", "pick up the object nearest to the green cylinder"),
    ("put the cube next to the bin in the bin", "put the cube next to the bin in the bin"),
    ("stack the red cube on the other one", "put the red cube on the other red cube"),
    ("put the orange cube in the bin, then put another one in the bin",
     "put the orange cube in the bin, then put another orange cube in the bin"),
    ("Could you please pick up the red cube and put it in the bin?", "put the red cube in the bin"),
])
def test_every_accepted_goal_has_a_one_line_echo(text, echo):
    assert describe_goals(parse_goals(text)) == echo


def test_parse_goal_refuses_a_sequence_naming_its_goals():
    with pytest.raises(GoalError) as e:
        parse_goal("put the red cube in the bin, then pick up the blue cube")
    assert "is a sequence of 2 goals (put the red cube in the bin, then pick up the blue cube)" in str(e.value)
    assert parse_goal("pick up the red cube and put it in the bin") == parse_goals("put the red cube in the bin")[0]


def test_structured_goals_take_counts_sizes_and_relations_and_check_them():
    two = ObjectRef(colour="red", shape="box", quantifier="count", count=2)
    assert goal_from_fields("place_all", two, Target("bin")) == parse_goal("put two red cubes in the bin")
    near = ObjectRef(shape="box", relation=Relation("next_to"))
    assert goal_from_fields("pick", near, None) == parse_goal("pick up the cube next to the bin")
    for ref, msg in [(ObjectRef(quantifier="count", count=0), "count 0"), (ObjectRef(size="huge"), "size word"),
                     (ObjectRef(place="up"), "place word"), (ObjectRef(relation=Relation("over")), "relation"),
                     (ObjectRef(relation=Relation("next_to", ObjectRef(colour="pink"))), "colour 'pink'"),
                     (ObjectRef(quantifier="most"), "quantifier")]:
        with pytest.raises(GoalError, match=msg):
            goal_from_fields("pick", ref, None)


# -- resolution: size, place, relations ---------------------------------------------------
SMALL, BIG = (0.04, 0.04, 0.04), (0.06, 0.06, 0.06)
SCENE = Scene(bin_xy=(0.5, -0.3), bin_size=(0.2, 0.3))


def ids(found):
    return [o.id for o in found]


def test_size_words_pick_the_extreme_and_tie_within_ten_percent():
    objs = [obj("obj_1", "red", "box", 0.5, 0.0, SMALL), obj("obj_2", "red", "box", 0.4, 0.2, BIG),
            obj("obj_3", "blue", "cylinder", 0.6, 0.1, (0.04, 0.04, 0.12))]
    assert ids(resolve(parse_goal("pick up the small red cube").object, objs, (0, 0))) == ["obj_1"]
    assert ids(resolve(parse_goal("pick up the biggest cube").object, objs, (0, 0))) == ["obj_2"]
    assert ids(resolve(parse_goal("pick up the tallest object").object, objs, (0, 0))) == ["obj_3"]
    same = [obj("obj_1", "red", "box", 0.5, 0.0, (0.05, 0.05, 0.05)),
            obj("obj_2", "red", "box", 0.4, 0.2, (0.051, 0.051, 0.051))]
    with pytest.raises(ResolveError) as e:
        resolve(parse_goal("pick up the bigger cube").object, same, (0, 0))
    assert "'the largest cube' matches 2 objects of about the same size (within 10 %)" in str(e.value)
    assert "5.1 x 5.1 x 5.1 cm" in str(e.value)
    assert ids(resolve(parse_goal("pick up a big cube").object, same, (0.45, 0.25))) == ["obj_2"]
    unknown = [SeenObject("obj_1", "red cube", "red", "box", (0.5, 0, 0.02)),
               SeenObject("obj_2", "red cube", "red", "box", (0.4, 0, 0.02))]
    with pytest.raises(ResolveError, match=r"the size of red cube \(obj_\d\) is not known"):
        resolve(parse_goal("pick up the biggest cube").object, unknown, (0, 0))


def test_place_words_are_the_robots_directions():
    objs = [obj("obj_1", "red", "box", 0.5, 0.2), obj("obj_2", "red", "box", 0.3, -0.1),
            obj("obj_3", "red", "box", 0.7, 0.0)]
    for text, want in [("the leftmost cube", "obj_1"), ("the cube on the right", "obj_2"),
                       ("the cube in front", "obj_3"), ("the cube at the back", "obj_2"),
                       ("the nearest cube", "obj_2"), ("the farthest cube", "obj_3")]:
        assert ids(resolve(parse_goal(f"pick up {text}").object, objs, (0, 0))) == [want], text
    level = [obj("obj_1", "red", "box", 0.5, 0.2), obj("obj_2", "red", "box", 0.3, 0.19)]
    with pytest.raises(ResolveError) as e:
        resolve(parse_goal("pick up the leftmost cube").object, level, (0, 0))
    assert "level within 2 cm (left: largest y, the robot's left)" in str(e.value)


def test_relations_to_objects_and_to_the_bin():
    red, blue = obj("obj_1", "red", "box", 0.5, 0.1), obj("obj_2", "blue", "box", 0.5, -0.1)
    top = obj("obj_3", "green", "box", 0.5, 0.1, z=CUBE + CUBE / 2)
    by_bin = obj("obj_4", "yellow", "cylinder", 0.5, -0.5, (0.04, 0.04, 0.1))
    far = obj("obj_5", "yellow", "cylinder", 0.3, 0.3, (0.04, 0.04, 0.1))
    objs = [red, blue, top, by_bin, far]

    def one(text):
        return ids(resolve(parse_goal(f"pick up {text}").object, objs, (0, 0), scene=SCENE))

    with pytest.raises(ResolveError, match="matches 2 objects"):  # the red cube and the green one on it
        one("the cube left of the blue one")
    assert one("the red cube left of the blue one") == ["obj_1"]
    assert one("the cube right of the red cube") == ["obj_2"]
    assert one("the cube on top of the red one") == ["obj_3"]
    assert one("the cube under the green cube") == ["obj_1"]
    assert one("the cylinder next to the bin") == ["obj_4"]
    assert one("the cylinder farthest from the bin") == ["obj_5"]
    assert one("the cylinder nearest to the blue cube") == ["obj_4"]
    with pytest.raises(ResolveError, match="about as near"):  # the red cube and the green one on it
        one("the object nearest to the blue cube")
    with pytest.raises(ResolveError) as e:
        one("the red cube next to the bin")
    assert f"footprints at most {100 * NEXT_TO_GAP:.0f} cm apart" in str(e.value)
    with pytest.raises(ResolveError, match="needs the bin's position"):
        resolve(parse_goal("pick up the cube next to the bin").object, objs, (0, 0))
    with pytest.raises(ResolveError, match="the object 'left of' refers to"):
        one("the cube left of the purple cube")


def test_counts_take_the_nearest_and_say_when_too_few_match():
    objs = [obj("obj_1", "red", "box", 0.5, 0.0), obj("obj_2", "red", "box", 0.4, -0.2),
            obj("obj_3", "red", "box", 0.3, 0.2)]
    two = parse_goal("put two red cubes in the bin").object
    assert ids(resolve(two, objs, (0.3, 0.2))) == ["obj_3", "obj_1"]
    with pytest.raises(ResolveError, match="'four red cubes' asks for 4 objects but 3 match"):
        resolve(parse_goal("put four red cubes in the bin").object, objs, (0, 0))


# -- properties -----------------------------------------------------------------------------
COLOURS = st.sampled_from([None, "red", "blue", "green"])
SHAPES = st.sampled_from([None, "box", "cylinder"])


@st.composite
def refs(draw, plural_ok=False, anchor=False):
    if draw(st.booleans()) and draw(st.booleans()):
        return ObjectRef(id=f"obj_{draw(st.integers(1, 30))}")
    quantifier = draw(st.sampled_from(["the", "any", "all", "count"] if plural_ok else ["the", "any"]))
    count = draw(st.integers(2, 20)) if quantifier == "count" else None
    single = quantifier in ("the", "any")
    size = draw(st.sampled_from([None, "smallest", "largest", "tallest", "shortest"])) if single else None
    place = draw(st.sampled_from([None, "left", "right", "front", "back", "nearest", "farthest"])) if single else None
    relation = None
    if not anchor and draw(st.booleans()):
        kind = draw(st.sampled_from(["next_to", "left_of", "right_of", "in_front_of", "behind", "nearest_to",
                                     "farthest_from", "on", "under"]))
        to_bin = kind not in ("on", "under") and draw(st.booleans())
        relation = Relation(kind, None if to_bin else draw(refs(anchor=True)))
    return ObjectRef(None, draw(COLOURS), draw(SHAPES), quantifier, count, size, place, relation)


@st.composite
def goals(draw):
    action = draw(st.sampled_from(["pick_place", "pick", "place", "place_all"]))
    kind = draw(st.sampled_from(["bin", "object", "position"])) if action in ("pick_place", "place") else "bin"
    target = {"bin": Target("bin"),
              "object": Target("object", dataclasses.replace(draw(refs()), relation=None)),
              "position": Target("position", position=(draw(st.integers(-900, 900)) / 1000,
                                                       draw(st.integers(-900, 900)) / 1000))}[kind]
    if action == "place_all":
        ref = draw(refs(plural_ok=True).filter(lambda r: r.quantifier in ("all", "count")))
        return TaskGoal(action, ref, target)
    ref = draw(refs())
    if action == "place":
        return TaskGoal(action, None, target)
    if action == "pick":
        return TaskGoal(action, ref, None)
    return TaskGoal(action, ref, target)


@settings(max_examples=400, deadline=None)
@given(st.lists(goals(), min_size=1, max_size=3))
def test_echoes_of_structured_goals_parse_back_to_the_same_goals(gs):
    # a stacking target that 'on top of' describes would read as the moved object's relation:
    # the generator leaves relations off stacking targets, and a goal stacking an object on itself out
    for g in gs:
        if g.target is not None and g.target.kind == "object" and g.target.object == g.object:
            return
    assert parse_goals(describe_goals(gs)) == gs


SEEN = st.builds(
    SeenObject, st.sampled_from([f"obj_{i}" for i in range(6)]), st.just("thing"),
    st.sampled_from(["red", "blue", "green"]), st.sampled_from(["box", "cylinder", "unknown"]),
    st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(0, 0.3)),
    st.one_of(st.none(), st.tuples(st.floats(0.001, 0.2), st.floats(0.001, 0.2), st.floats(0.001, 0.2))))


@settings(max_examples=400, deadline=None)
@given(refs(plural_ok=True), st.lists(SEEN, max_size=6), st.booleans())
def test_resolve_raises_nothing_but_resolve_errors(ref, seen, with_bin):
    scene = SCENE if with_bin else None
    try:
        found = resolve(ref, seen, (0.3, 0.0), scene=scene)
    except ResolveError as e:
        assert str(e)
    else:
        assert all(math.isfinite(o.position[0]) for o in found)
        if ref.quantifier in ("the", "any"):
            assert len(found) == 1
        if ref.quantifier == "count":
            assert len(found) == ref.count
