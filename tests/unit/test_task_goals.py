"""planner.task.goals: the operator's goal language and object resolution."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.task.goals import (
    MAX_GOAL_CHARS,
    GoalError,
    ObjectRef,
    ResolveError,
    SeenObject,
    Target,
    TaskGoal,
    describe_goals,
    goal_from_fields,
    parse_goal,
    parse_goals,
    resolve,
)

RED_CUBE = ObjectRef(colour="red", shape="box")


@pytest.mark.parametrize(("text", "goal"), [
    ("put the red cube in the bin", TaskGoal("pick_place", RED_CUBE, Target("bin"))),
    ("Please PLACE the red block into the tray.", TaskGoal("pick_place", RED_CUBE, Target("bin"))),
    ("move the red box to the bin", TaskGoal("pick_place", RED_CUBE, Target("bin"))),
    ("put a red cube in the bin", TaskGoal("pick_place", ObjectRef(None, "red", "box", "any"), Target("bin"))),
    ("put any cylinder in the bin", TaskGoal("pick_place", ObjectRef(None, None, "cylinder", "any"), Target("bin"))),
    ("put the blue cylinder in the bin", TaskGoal("pick_place", ObjectRef(None, "blue", "cylinder"), Target("bin"))),
    ("put obj_3 in the bin", TaskGoal("pick_place", ObjectRef(id="obj_3"), Target("bin"))),
    ("put object 3 in the bin", TaskGoal("pick_place", ObjectRef(id="obj_3"), Target("bin"))),
    ("stack the blue cube on the red cube",
     TaskGoal("pick_place", ObjectRef(None, "blue", "box"), Target("object", RED_CUBE))),
    ("put the blue cube on top of the red cube",
     TaskGoal("pick_place", ObjectRef(None, "blue", "box"), Target("object", RED_CUBE))),
    ("put the green cylinder onto a yellow block",
     TaskGoal("pick_place", ObjectRef(None, "green", "cylinder"),
              Target("object", ObjectRef(None, "yellow", "box", "any")))),
    ("move the green cylinder at 0.5 -0.1",
     TaskGoal("pick_place", ObjectRef(None, "green", "cylinder"), Target("position", position=(0.5, -0.1)))),
    ("move the green cylinder to (0.5, -0.1)",
     TaskGoal("pick_place", ObjectRef(None, "green", "cylinder"), Target("position", position=(0.5, -0.1)))),
    ("put the red cube at x=0.45 y=0.2",
     TaskGoal("pick_place", RED_CUBE, Target("position", position=(0.45, 0.2)))),
    ("pick up the red cube", TaskGoal("pick", RED_CUBE)),
    ("pick the red cube up", TaskGoal("pick", RED_CUBE)),
    ("grab a cube", TaskGoal("pick", ObjectRef(None, None, "box", "any"))),
    ("place it in the bin", TaskGoal("place", None, Target("bin"))),
    ("put it on the red cube", TaskGoal("place", None, Target("object", RED_CUBE))),
    ("put it down at 0.4 0.1", TaskGoal("place", None, Target("position", position=(0.4, 0.1)))),
    ("clear the table", TaskGoal("clear_table")),
    ("clear the whole table", TaskGoal("clear_table")),
    ("put all red objects in the bin", TaskGoal("place_all", ObjectRef(None, "red", None, "all"), Target("bin"))),
    ("put all cylinders in the bin", TaskGoal("place_all", ObjectRef(None, None, "cylinder", "all"), Target("bin"))),
    ("move every violet cube into the bin",
     TaskGoal("place_all", ObjectRef(None, "purple", "box", "all"), Target("bin"))),
])
def test_parses(text, goal):
    assert parse_goal(text) == goal


@pytest.mark.parametrize(("text", "message"), [
    ("", "the goal is empty"),
    ("   ", "the goal is empty"),
    ("dance", "unknown action 'dance'"),
    ("put the pink cube in the bin", "unknown colour 'pink' (known colours: red, green, blue, yellow, orange, "
                                     "purple, cyan, white, black)"),
    ("put the red sphere in the bin", "unknown shape 'sphere' (known shapes: cube, box, block, cylinder, object)"),
    ("put the red cube", "the target is missing"),
    ("put the red cube in the sink", "expected 'the bin' after 'in', got 'sink'"),
    ("put the red cube in the bin now and then dance", "understood 'put the red cube in the bin' but not the words "
                                                       "after it: 'and dance'"),
    ("put the red cube at 0.5", "expected the y coordinate in metres after 'at', got ''"),
    ("put the red cube at 50 0", "x = 50 m is not a position near the robot"),
    ("put the red cube on the red cube", "cannot put the red cube on itself"),
    ("put all red objects on the blue cube", "'put all ...' supports only 'in the bin'"),
    ("put the red blue cube in the bin", "two colours ('red' and 'blue') for one object"),
    ("clear the bin", "'clear' must be followed by 'the table'"),
    ("pick up all cubes", "'all' is only valid as 'put all <colour/shape> objects in the bin'"),
])
def test_rejections_name_what_was_understood(text, message):
    with pytest.raises(GoalError) as e:
        parse_goal(text)
    assert message in str(e.value)
    assert "docs/goals.md" in str(e.value)  # and point to what is valid


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_random_text_never_crashes(text):
    try:
        goals = parse_goals(text)
    except GoalError as e:
        assert str(e)
    else:
        assert goals and all(g.action in ("pick_place", "pick", "place", "place_all", "clear_table") for g in goals)


WORDS = ["put", "place", "pick", "up", "the", "a", "all", "red", "blue", "cube", "cylinder", "in", "into", "on",
         "bin", "at", "0.5", "-0.2", "it", "clear", "table", "obj_2", "object", "to", "top", "of", "x", "y",
         "two", "3", "cubes", "one", "other", "box", "and", "then", ",", ".", "next", "left", "biggest", "small",
         "leftmost", "front", "nearest"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_random_word_salad_is_a_goal_or_a_clear_rejection(words):
    try:
        goals = parse_goals(" ".join(words))
    except GoalError as e:
        assert "cannot understand" in str(e) or "empty" in str(e)
        return
    for goal in goals:  # a valid plan: every field it needs is there
        if goal.action in ("pick_place", "pick", "place_all"):
            assert goal.object is not None
        if goal.action in ("pick_place", "place", "place_all"):
            assert goal.target is not None
    if all(g.action != "clear_table" for g in goals):  # its echo explains itself in brackets
        assert parse_goals(describe_goals(goals)) == goals  # the echo says what was understood


def seen(id_, colour, shape, x, y):
    label = f"{colour} {'cube' if shape == 'box' else shape}"
    return SeenObject(id_, label, colour, shape, (x, y, 0.025))


OBJECTS = [seen("obj_1", "red", "box", 0.5, 0.0), seen("obj_2", "red", "box", 0.4, -0.2),
           seen("obj_3", "blue", "cylinder", 0.6, 0.1)]


def test_resolve_the_any_all_and_id():
    assert resolve(ObjectRef(None, "blue", None), OBJECTS, (0.3, 0.0)) == [OBJECTS[2]]
    assert resolve(ObjectRef(None, "red", "box", "any"), OBJECTS, (0.5, 0.05)) == [OBJECTS[0]]
    assert resolve(ObjectRef(None, "red", "box", "any"), OBJECTS, (0.4, -0.3)) == [OBJECTS[1]]
    assert resolve(ObjectRef(None, "red", None, "all"), OBJECTS, (0.4, -0.3)) == [OBJECTS[1], OBJECTS[0]]
    assert resolve(ObjectRef(id="obj_2"), OBJECTS, (0, 0)) == [OBJECTS[1]]
    assert resolve(ObjectRef(None, "green", None, "all"), OBJECTS, (0, 0)) == []


def test_resolve_errors_list_what_is_visible():
    with pytest.raises(ResolveError) as e:
        resolve(ObjectRef(None, "red", "box"), OBJECTS, (0, 0))
    assert str(e.value) == ("'the red cube' matches 2 objects: red cube (obj_2 at 0.40, -0.20), red cube "
                            "(obj_1 at 0.50, 0.00); say 'a ...' to let me choose, or name one by id")
    with pytest.raises(ResolveError) as e:
        resolve(ObjectRef(None, "purple", "box"), OBJECTS, (0, 0))
    assert str(e.value) == ("no object matches 'the purple cube'; visible: red cube (obj_1 at 0.50, 0.00), "
                            "red cube (obj_2 at 0.40, -0.20), blue cylinder (obj_3 at 0.60, 0.10)")
    with pytest.raises(ResolveError, match="visible: nothing"):
        resolve(RED_CUBE, [], (0, 0))


def test_structured_goals_are_checked():
    assert goal_from_fields("pick_place", RED_CUBE, Target("bin")) == parse_goal("put the red cube in the bin")
    assert goal_from_fields("clear_table", None, None) == TaskGoal("clear_table")
    for args, msg in [
        (("fly", None, None), "unknown action 'fly'"),
        (("pick_place", ObjectRef(colour="pink"), Target("bin")), "unknown colour 'pink'"),
        (("pick_place", ObjectRef(shape="sphere"), Target("bin")), "unknown shape 'sphere'"),
        (("pick_place", RED_CUBE, None), "action pick_place needs a target"),
        (("pick", None, None), "action pick needs an object"),
        (("place", None, Target("position", position=(float("nan"), 0.0))), "is not a finite (x, y)"),
        (("place_all", RED_CUBE, Target("object", RED_CUBE)), "place_all supports only the bin"),
        (("pick_place", ObjectRef(id="cube7"), Target("bin")), "object id 'cube7' is not a perception id"),
    ]:
        with pytest.raises(GoalError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            goal_from_fields(*args)


@pytest.mark.parametrize("text", [
    "move the yellow cylinder into the bin " + "now and then " * 8000,  # 100 kB of words after a goal
    "move the yellow cylinder into the " + "x" * 100_000,               # one 100 kB word
    "move the yellow cylinder into the bin and " + "dance " * 150,      # under the cap, a long tail
])
def test_a_huge_goal_is_quoted_once_and_capped(text):
    with pytest.raises(GoalError) as e:
        parse_goal(text)
    message = str(e.value)
    assert message.count("move the yellow cylinder into") <= 1  # the operator's text is echoed at most once
    assert len(message) < 1000, len(message)
    assert "characters)" in message  # the quote says it was cut


def test_a_goal_longer_than_the_language_allows_is_refused_naming_its_length():
    with pytest.raises(GoalError) as e:
        parse_goal("put the red cube in the bin " + "now " * 300)
    assert f"the goal is {28 + 4 * 300} characters long, more than the {MAX_GOAL_CHARS} a goal may have" in str(e.value)
