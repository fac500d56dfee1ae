"""The planner's lead_ack stamp: the sim time seen, except while a task thinks (lead_ack.py)."""

from __future__ import annotations

import threading

import pytest

from planner.lead_ack import LeadAck


class Clocks:
    def __init__(self) -> None:
        self.sim, self.wall, self.freed = 10.0, 100.0, 0


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def lead(clocks: Clocks) -> LeadAck:
    def free() -> None:
        clocks.freed += 1
    return LeadAck(lambda: clocks.sim, free)


def test_without_a_task_the_stamp_is_the_sim_time_seen(lead, clocks):
    assert not lead.thinking
    assert lead.stamp() == 10.0
    clocks.sim = 12.5
    assert lead.stamp() == 12.5


def test_a_thinking_task_acknowledges_no_faster_than_its_thinking_clock(lead, clocks):
    with lead.task(lambda: clocks.wall):
        assert lead.thinking
        clocks.sim, clocks.wall = 11.0, 100.2  # the sim ran 1 s ahead while it thought 0.2 s
        assert lead.stamp() == pytest.approx(10.2)
        clocks.sim, clocks.wall = 10.3, 100.5  # a slow sim: never more than it has seen
        assert lead.stamp() == pytest.approx(10.3)
    assert not lead.thinking and clocks.freed == 1  # freed at once when the task ends
    assert lead.stamp() == 10.3


def test_waiting_on_the_world_frees_the_sim_and_thinking_starts_again_after(lead, clocks):
    with lead.task(lambda: clocks.wall):
        clocks.wall = 100.1
        with lead.waiting():
            assert not lead.thinking and clocks.freed == 1  # acknowledged at once
            clocks.sim, clocks.wall = 14.0, 101.0  # a motion ran 4 s of sim time
            assert lead.stamp() == 14.0
            with lead.waiting():  # nested waits
                assert lead.stamp() == 14.0
            assert not lead.thinking
        assert lead.thinking
        clocks.sim, clocks.wall = 15.0, 101.3  # thinking again from (14.0, 101.0)
        assert lead.stamp() == pytest.approx(14.3)


def test_it_is_safe_from_two_threads(lead, clocks):
    errors = []

    def waits() -> None:
        try:
            for _ in range(2000):
                with lead.waiting():
                    lead.stamp()
        except Exception as exc:  # reported below
            errors.append(exc)

    with lead.task(lambda: clocks.wall):
        threads = [threading.Thread(target=waits) for _ in range(2)]
        for t in threads:
            t.start()
        for _ in range(2000):
            lead.stamp()
        for t in threads:
            t.join()
        assert lead.thinking  # every wait ended
    assert errors == [] and not lead.thinking


def test_the_default_thinking_clock_is_the_task_threads_cpu_time(clocks):
    lead = LeadAck(lambda: clocks.sim)
    with lead.task():
        clocks.sim = 20.0  # the sim ran on; this thread burns CPU time
        x = 0
        for i in range(300_000):
            x += i
        spent = lead.stamp() - 10.0
        assert 0.0 < spent < 10.0
        stamps = []
        other = threading.Thread(target=lambda: stamps.append(lead.stamp()))
        other.start()
        other.join()
        assert stamps[0] >= 10.0 + spent  # read from another thread: still this thread's CPU time


def test_a_gripper_goal_accepted_after_the_task_stopped_waiting_is_canceled():
    """RosPorts._gripper_begin: when a cancel ends the wait for the goal's answer, a goal the
    gripper accepts afterwards is canceled as soon as the answer arrives."""
    from types import SimpleNamespace

    from rclpy.task import Future

    from planner.planner_node import _cancel_if_accepted

    canceled = []

    def answer(accepted):
        f = Future()
        f.add_done_callback(_cancel_if_accepted)
        f.set_result(SimpleNamespace(accepted=accepted, cancel_goal_async=lambda: canceled.append(accepted)))
        return f

    answer(True)
    answer(False)
    assert canceled == [True]
    failed = Future()
    failed.add_done_callback(_cancel_if_accepted)
    failed.set_exception(RuntimeError("the request failed"))  # nothing runs, nothing to cancel
    assert canceled == [True]
