"""planner.task.dependencies: when a dependency of a running goal counts as lost."""

import pytest

from planner.task.dependencies import CLOCK, GRIPPER, PERCEPTION, PLAN_GRASPS, DependencyWatch


def test_a_dependency_seen_then_absent_beyond_the_timeout_is_lost():
    w = DependencyWatch(timeout=10.0)
    assert not w.observe(PERCEPTION, True, 0.0)
    assert [w.observe(PERCEPTION, False, t) for t in (1.0, 5.0, 11.0, 11.5)] == [False, False, False, True]


def test_a_return_within_the_timeout_starts_over():
    w = DependencyWatch(timeout=2.0)
    w.observe(PLAN_GRASPS, True, 0.0)
    assert not w.observe(PLAN_GRASPS, False, 1.0)
    assert not w.observe(PLAN_GRASPS, True, 2.5)  # restarted by the launcher
    assert not w.observe(PLAN_GRASPS, False, 4.0)
    assert w.observe(PLAN_GRASPS, False, 6.5)


def test_a_dependency_never_seen_is_not_judged_and_each_is_watched_alone():
    w = DependencyWatch(timeout=1.0)
    assert not w.observe(GRIPPER, False, 0.0)
    assert not w.observe(GRIPPER, False, 100.0)
    w.observe(CLOCK, True, 0.0)
    assert w.observe(CLOCK, False, 0.0) is False and w.observe(CLOCK, False, 1.5)
    assert not w.observe(GRIPPER, False, 200.0)


def test_messages_name_the_dependency_and_who_provides_it():
    assert PERCEPTION.lost_message(10) == (
        "perception/objects stopped arriving: no node has published it for 10 s; is the perception node running? "
        "(the launcher restarts it; see its output)")
    assert PLAN_GRASPS.lost_message(2.5).startswith(
        "grasping/plan_grasps went away: no service server has answered on it for 2.5 s; is the grasping node running?")
    assert GRIPPER.lost_message(1).startswith("grasping/gripper went away: no action server has answered")


def test_a_bad_timeout_is_named():
    with pytest.raises(ValueError, match="dependency timeout 0 is not valid; expected seconds > 0"):
        DependencyWatch(0)
