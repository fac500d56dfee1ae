"""The console's pure core (armbrain/console/core.py): who may command, what a page without
the token sees, goal suggestions from the visible objects, a goal's live stage times."""

import pytest

from armbrain.console.core import Access, ConsoleState, GoalRecord, ObjectRow, goal_suggestions, is_loopback

RED = ObjectRow("obj_1", "red cube", 0.45, -0.15, 0.025, (0.05, 0.05, 0.05))
BLUE = ObjectRow("obj_2", "blue cube", 0.55, 0.08, 0.025, (0.05, 0.05, 0.05))


@pytest.mark.parametrize(("host", "local"), [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                             ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                             ("::", False), ("192.0.2.7", False), ("robot.example", False)])
def test_loopback(host, local):
    assert is_loopback(host) is local


def test_a_non_local_binding_always_requires_the_token():
    assert Access.for_binding("0.0.0.0", False, "s3cret").require_token
    assert not Access.for_binding("127.0.0.1", False, "s3cret").require_token
    assert Access.for_binding("127.0.0.1", True, "s3cret").require_token
    with pytest.raises(ValueError, match=r"'0\.0\.0\.0'"):
        Access.for_binding("0.0.0.0", False, "")


def test_token_check():
    open_access, closed = Access(False), Access(True, "s3cret")
    assert open_access.allows(None) and open_access.allows("anything")
    assert closed.allows("s3cret")
    assert not closed.allows(None) and not closed.allows("") and not closed.allows("s3cre") \
        and not closed.allows("s3cret ")


def test_without_the_token_a_page_sees_only_the_estop():
    state = ConsoleState()
    state.set_objects([RED], None, None, now=1.0)
    state.set_frame(b"\xff\xd8jpeg", 640, 480, now=1.0)
    closed = state.snapshot(now=1.5, authorised=False)
    assert set(closed) == {"version", "authorised", "estop"}
    assert closed["authorised"] is False and closed["estop"]["engaged"] is False
    full = state.snapshot(now=1.5, authorised=True)
    assert [o["id"] for o in full["objects"]] == ["obj_1"]
    assert full["objects_stale"] is False and full["frame"]["seq"] == 1
    assert state.snapshot(now=10.0, authorised=True)["objects_stale"] is True


def test_suggestions_name_unique_labels_and_ids():
    s = goal_suggestions([RED, BLUE])
    for goal in ("put the red cube in the bin", "pick up the blue cube", "stack the red cube on the blue cube",
                 "put obj_2 in the bin", "move the red cube at 0.45 -0.15", "clear the table"):
        assert goal in s
    assert len(s) == len(set(s))
    twins = goal_suggestions([RED, ObjectRow("obj_3", "red cube", 0.5, 0.1, 0.025, (0.05,) * 3)])
    assert "put a red cube in the bin" in twins and "put the red cube in the bin" not in twins
    assert "put obj_3 in the bin" in twins


def test_stage_times_from_feedback_then_from_the_result():
    rec = GoalRecord("put the red cube in the bin", sent_at=0.0, status="running")
    rec.on_feedback("perceive", "", 1, 0.0, "", now=10.0)
    rec.on_feedback("perceive", "", 1, 0.05, "", now=10.4)
    rec.on_feedback("select", "", 1, 0.1, "", now=10.5)
    rec.on_feedback("approach", "obj_1", 1, 0.4, "moving", now=12.0)
    assert [(s.stage, round(s.seconds, 2), s.success) for s in rec.stages] == [
        ("perceive", 0.5, True), ("select", 1.5, True), ("approach", 0.0, None)]
    assert rec.progress == pytest.approx(0.4) and rec.running
    rec.on_result("succeeded", {"success": True, "message": "done", "error": "SUCCESS", "duration": 9.5,
                                "stages": [{"stage": "perceive", "object_id": "", "attempt": 1, "duration": 0.3,
                                            "success": True, "message": ""}]})
    assert not rec.running and rec.progress == 1.0 and rec.duration == 9.5
    assert [(s.stage, s.seconds) for s in rec.stages] == [("perceive", 0.3)]


def test_one_goal_at_a_time_per_console():
    state = ConsoleState()
    first = state.start_goal("pick up the red cube")
    assert first is not None and state.start_goal("pick up the blue cube") is None
    state.update_goal(first, lambda r: setattr(r, "status", "aborted"))
    assert state.start_goal("pick up the blue cube") is not None
    assert [r.goal for r in state.history] == ["pick up the blue cube", "pick up the red cube"]


def test_a_notice_is_shown_for_a_while():
    state = ConsoleState()
    state.set_notice("this console already runs a goal", now=100.0)
    assert state.snapshot(now=105.0, authorised=True)["notice"] == "this console already runs a goal"
    assert state.snapshot(now=111.0, authorised=True)["notice"] == ""
