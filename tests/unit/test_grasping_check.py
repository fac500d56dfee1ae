"""The grasp check state machine and the gripper motion judge, fed with synthetic finger
openings in sim time (grasping.core.grasp_check, grasping.core.gripper_motion)."""

from __future__ import annotations

import math

import pytest

from grasping.core import (
    FingerMotion,
    GraspCheckConfig,
    GraspMonitor,
    GraspState,
    GripperConfig,
    Outcome,
    check_gripper_goal,
)

DT = 1.0 / 120.0  # joint_states period of the sim bridge, s
SPEED = 0.2  # m/s, the fingers' velocity limit (opening closes at 2 x 0.1 here)


def closing(start: float, stop: float, t0: float, seconds: float, speed: float = SPEED):
    """(t, opening) samples of fingers closing from `start` at `speed` until `stop`, then still."""
    out, w, t = [], start, t0
    while t < t0 + seconds:
        out.append((t, w))
        w = max(stop, w - speed * DT)
        t += DT
    return out


def feed(monitor: GraspMonitor, samples) -> list:
    events = []
    for t, w in samples:
        e = monitor.update(t, w)
        if e is not None:
            events.append(e)
    return events


def test_closing_on_an_object_of_the_expected_width_is_held():
    m = GraspMonitor()
    m.update(0.0, 0.07)
    e = m.command(0.0, 0.0, (0.05,), "obj_1")
    assert e.state == GraspState.CLOSING and e.object_id == "obj_1"
    events = feed(m, closing(0.07, 0.0503, 0.0, 1.0))
    assert [ev.state for ev in events] == [GraspState.HELD]
    held = events[0]
    assert held.width == pytest.approx(0.0503) and held.expected_width == pytest.approx(0.05)
    # decided once the fingers were still for settle_time (0.1 s) after stopping at ~0.1 s
    assert 0.19 <= held.time <= 0.25
    assert held.as_dict()["state"] == "held" and held.as_dict()["object_id"] == "obj_1"
    assert m.state == GraspState.HELD


def test_fingers_opened_by_someone_else_hold_nothing():
    # e.g. a simulator reset, or another driver: no command came through the check
    m = GraspMonitor()
    m.update(0.0, 0.07)
    m.command(0.0, 0.0, (0.05,), "obj_1")
    feed(m, closing(0.07, 0.0503, 0.0, 1.0))
    assert m.state == GraspState.HELD
    assert feed(m, [(1.0, 0.055), (1.01, 0.058)]) == []  # a little give is still a grip
    (e,) = feed(m, [(1.02, 0.08)])
    assert e.state == GraspState.RELEASED and "without a command" in e.message


def test_a_box_may_be_held_across_either_pair_of_faces():
    m = GraspMonitor()
    m.update(0.0, 0.08)
    m.command(0.0, 0.0, (0.03, 0.06), "obj_2")
    events = feed(m, closing(0.08, 0.0598, 0.0, 1.0))
    assert events[-1].state == GraspState.HELD and events[-1].expected_width == pytest.approx(0.06)


def test_stopping_at_another_width_is_wrong_width():
    m = GraspMonitor(GraspCheckConfig(held_tolerance=0.008))
    m.update(0.0, 0.08)
    m.command(0.0, 0.0, (0.05,), "obj_1")
    events = feed(m, closing(0.08, 0.03, 0.0, 1.0))
    assert [e.state for e in events] == [GraspState.WRONG_WIDTH]
    assert "stopped at 3.0 cm but the object should be 5.0 cm wide" in events[0].message


def test_closing_on_nothing_is_missed():
    m = GraspMonitor()
    m.update(0.0, 0.07)
    m.command(0.0, 0.0, (0.05,), "obj_1")
    events = feed(m, closing(0.07, 0.0, 0.0, 1.0))
    assert [e.state for e in events] == [GraspState.MISSED]
    # reaching a commanded width above closed_width also means nothing was in the way
    m = GraspMonitor()
    m.update(0.0, 0.07)
    m.command(0.03, 0.0)
    assert [e.state for e in feed(m, closing(0.07, 0.03, 0.0, 1.0))] == [GraspState.MISSED]


def test_no_decision_while_the_fingers_still_move_or_before_the_command():
    m = GraspMonitor()
    m.update(0.0, 0.08)
    m.command(0.0, 1.0, (0.05,))
    assert feed(m, [(0.5, 0.08), (0.9, 0.08)]) == []  # samples older than the command
    slow = closing(0.08, 0.05, 1.0, 2.0, speed=0.02)  # 0.03 m at 0.02 m/s: 1.5 s
    events = feed(m, slow)
    assert [e.state for e in events] == [GraspState.HELD] and events[0].time >= 2.5 + 0.1 - 2 * DT


def test_fingers_that_never_move_are_judged_after_no_motion_time():
    # closing again on an object already held: the fingers cannot move
    m = GraspMonitor(GraspCheckConfig(no_motion_time=0.5))
    m.update(0.0, 0.05)
    m.command(0.0, 0.0, (0.05,))
    events = feed(m, [(k * DT, 0.05) for k in range(120)])
    assert [e.state for e in events] == [GraspState.HELD]
    assert events[0].time == pytest.approx(0.5, abs=DT)


def test_held_then_the_fingers_close_fully_is_lost():
    m = GraspMonitor(GraspCheckConfig(debounce=0.05))
    m.update(0.0, 0.07)
    m.command(0.0, 0.0, (0.05,), "obj_1")
    feed(m, closing(0.07, 0.05, 0.0, 1.0))
    assert m.state == GraspState.HELD
    # a blip shorter than the debounce time is ignored
    assert feed(m, [(1.0, 0.002), (1.02, 0.002), (1.04, 0.05)]) == []
    assert m.state == GraspState.HELD
    events = feed(m, closing(0.05, 0.0, 2.0, 0.5))
    assert [e.state for e in events] == [GraspState.LOST]
    lost = events[0]
    assert lost.object_id == "obj_1" and lost.width < 0.04
    assert "after holding 5.0 cm" in lost.message


def test_a_held_width_that_drops_by_lost_drop_is_lost_too():
    m = GraspMonitor(GraspCheckConfig(lost_drop=0.01, debounce=0.05))
    m.update(0.0, 0.07)
    m.command(0.0, 0.0, (0.05,))
    feed(m, closing(0.07, 0.05, 0.0, 1.0))
    assert feed(m, [(1.0 + k * DT, 0.045) for k in range(20)]) == []  # 5 mm: the object turned a bit
    events = feed(m, [(2.0 + k * DT, 0.035) for k in range(20)])
    assert [e.state for e in events] == [GraspState.LOST]


def test_opening_releases_and_opening_before_a_grasp_does_not_arm_the_check():
    m = GraspMonitor()
    m.update(0.0, 0.08)
    # opening to the candidate's 7 cm before the approach: wider than the object, not a grasp
    e = m.command(0.07, 0.0, (0.05,), "obj_1")
    assert e.state == GraspState.IDLE
    assert feed(m, closing(0.08, 0.07, 0.0, 1.0)) == []
    m.command(0.0, 1.0, (0.05,), "obj_1")
    feed(m, closing(0.07, 0.05, 1.0, 1.0))
    assert m.state == GraspState.HELD
    e = m.command(0.08, 2.0)
    assert e.state == GraspState.RELEASED and "released" in e.message
    assert feed(m, closing(0.05, 0.0, 2.0, 1.0, speed=-SPEED)) == []  # opening: no more events


def test_without_an_expected_width_anything_between_the_pads_is_held():
    m = GraspMonitor()
    m.update(0.0, 0.08)
    m.command(0.0, 0.0)
    events = feed(m, closing(0.08, 0.031, 0.0, 1.0))
    assert events[-1].state == GraspState.HELD and events[-1].expected_width is None
    assert "no expected width" in events[-1].message


def test_a_sim_reset_sending_time_backwards_starts_the_stillness_window_over():
    m = GraspMonitor()
    m.update(5.0, 0.07)
    m.command(0.0, 5.0, (0.05,))
    events = feed(m, closing(0.07, 0.05, 5.0, 0.15) + closing(0.05, 0.05, 0.0, 0.3))
    assert events == []  # the samples before 5 s are older than the command


# -- the gripper action's motion judge --------------------------------------------------
def run_motion(target, samples, cfg=None):
    motion = FingerMotion(target, samples[0][0], cfg or GripperConfig())
    for t, w in samples:
        r = motion.update(t, w)
        if r is not None:
            return r, t
    return None, None


def test_fingers_reaching_the_target_report_reached_as_they_get_there():
    r, t = run_motion(0.08, [(k * DT, min(0.08, 0.05 + SPEED * k * DT)) for k in range(120)])
    tol = GripperConfig().reached_tolerance
    assert r.outcome == Outcome.REACHED and abs(r.final_width - 0.08) <= tol
    assert t == pytest.approx((0.08 - tol - 0.05) / SPEED, abs=DT)  # within tolerance: no wait for stillness


def test_fingers_stopped_by_an_object_report_stalled_at_its_width():
    r, _ = run_motion(0.0, closing(0.08, 0.0497, 0.0, 1.0))
    assert r.outcome == Outcome.STALLED and r.final_width == pytest.approx(0.0497)
    assert r.message == "stalled at 5.0 cm (target 0.0 cm)"


def test_fingers_already_at_the_target_report_reached_at_once_else_stalled_after_no_motion_time():
    r, t = run_motion(0.08, [(k * DT, 0.0795) for k in range(120)], GripperConfig(no_motion_time=0.5))
    assert r.outcome == Outcome.REACHED and t == 0.0  # within tolerance: at once
    r, t = run_motion(0.0, [(k * DT, 0.05) for k in range(120)], GripperConfig(no_motion_time=0.5))
    assert r.outcome == Outcome.STALLED and t == pytest.approx(0.5, abs=DT)


def test_fingers_still_moving_at_the_timeout_report_timeout():
    crawl = [(k * DT, 0.08 - 0.001 * k * DT) for k in range(600)]  # 1 mm/s
    r, t = run_motion(0.0, crawl, GripperConfig(timeout=3.0, still_tolerance=0.00005))
    assert r.outcome == Outcome.TIMEOUT and t == pytest.approx(3.0, abs=2 * DT)
    assert "still moving after 3 s" in r.message


@pytest.mark.parametrize(("width", "effort", "message"), [
    (0.12, 0.0, "target_width 0.12 m is out of range; valid: 0 .. 0.08 m"),
    (-0.001, 0.0, "target_width -0.001 m is out of range"),
    (math.nan, 0.0, "target_width nan m is out of range"),
    (0.04, 100.0, "max_effort 100 N is out of range; valid: 0 (the default, 20 N) or up to 70 N"),
    (0.04, -1.0, "max_effort -1 N is out of range"),
])
def test_out_of_range_gripper_goals_are_refused_not_clamped(width, effort, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_gripper_goal(width, effort, GripperConfig())


def test_valid_gripper_goals_get_their_force():
    cfg = GripperConfig(default_effort=20.0)
    assert check_gripper_goal(0.0, 0.0, cfg) == 20.0
    assert check_gripper_goal(0.08, 35.0, cfg) == 35.0


# -- the whole object range: thresholds scale with the perceived width -------------------
PAD_PROUD = 0.002  # m, the sim's finger joints read ~2 mm wider than the object between the pads
WIDTHS = (0.02, 0.025, 0.03, 0.05, 0.07, 0.08)  # m, the schema's 2..8 cm


def held_on(width: float) -> tuple[GraspMonitor, float]:
    """A monitor that closed on an object `width` m wide and holds it; returns it and the held opening."""
    m = GraspMonitor()
    start = min(0.08, width + 0.02)
    stop = min(0.08, width + PAD_PROUD)
    m.update(0.0, start)
    m.command(0.0, 0.0, (width,), "obj_1")
    events = feed(m, closing(start, stop, 0.0, 1.0))
    assert [e.state for e in events] == [GraspState.HELD], [e.message for e in events]
    return m, stop


@pytest.mark.parametrize(("width", "band"), [(0.02, (0.014, 0.03)), (0.025, (0.0175, 0.035)),
                                             (0.03, (0.021, 0.04)), (0.05, (0.04, 0.06)), (0.08, (0.07, 0.09))])
def test_the_held_band_scales_below_the_width(width, band):
    assert GraspCheckConfig().held_band(width) == pytest.approx(band)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_object_of_any_width_closed_on_is_held_and_stays_held_while_squeezed_a_little(width):
    m, held = held_on(width)
    lo = GraspCheckConfig().lost_below(held, width)
    # squeezed (or turned in the grip) to just above the loss threshold for a second: still held
    assert feed(m, [(1.0 + k * DT, lo + 0.0005) for k in range(120)]) == []
    assert m.state == GraspState.HELD


@pytest.mark.parametrize(("width", "lost_below"), [(0.02, 0.0132), (0.025, 0.017), (0.03, 0.022),
                                                   (0.05, 0.042), (0.07, 0.062), (0.08, 0.07)])
def test_an_object_that_slips_out_is_lost_once_and_for_good(width, lost_below):
    m, held = held_on(width)
    assert GraspCheckConfig().lost_below(held, width) == pytest.approx(lost_below)
    events = feed(m, [(1.0 + k * DT, lost_below - 0.0005) for k in range(30)])
    assert [e.state for e in events] == [GraspState.LOST]
    assert events[0].message.startswith("the object slipped out: the fingers closed to")
    assert f"after holding {held * 100:.1f} cm" in events[0].message
    # the fingers opening back to the held width (a reading glitch) does not make it held again
    assert feed(m, [(2.0 + k * DT, held) for k in range(30)]) == []
    assert m.state == GraspState.LOST


def test_a_2cm_cube_read_at_1_3cm_is_not_held():
    # 7 mm below a 2 cm object was inside the old fixed 1 cm tolerance: the pads are on an
    # edge or the object tilted out; the check says wrong_width, the planner retries.
    m = GraspMonitor()
    m.update(0.0, 0.04)
    m.command(0.0, 0.0, (0.02,), "obj_1")
    events = feed(m, closing(0.04, 0.013, 0.0, 1.0))
    assert [e.state for e in events] == [GraspState.WRONG_WIDTH]
    assert "held between 1.4 cm and 3.0 cm" in events[0].message


def test_a_5cm_cube_read_at_4_2cm_is_still_held():
    m = GraspMonitor()
    m.update(0.0, 0.07)
    m.command(0.0, 0.0, (0.05,), "obj_1")
    assert [e.state for e in feed(m, closing(0.07, 0.042, 0.0, 1.0))] == [GraspState.HELD]


@pytest.mark.parametrize("bad", [{"held_fraction": 1.0}, {"lost_fraction": 1.5}, {"held_fraction": 0.0}])
def test_fractions_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GraspCheckConfig(**bad)
