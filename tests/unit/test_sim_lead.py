"""The sim's lead gate (armbrain_sim/lead.py): how far sim time may run ahead of perception."""

import pytest

from armbrain_sim.lead import LeadGate


def test_the_gate_is_open_until_perception_first_answers_and_when_disabled():
    gate = LeadGate(0.5)
    assert not gate.holds(100.0, 0.0)  # no perception in the graph: the sim runs free
    off = LeadGate(0.0)
    off.ack(1.0)
    assert not off.holds(100.0, 0.0)


def test_the_sim_waits_for_perception_beyond_the_lead_and_goes_on_when_it_answers():
    gate = LeadGate(0.5, escape_wall=5.0)
    gate.ack(1.0)
    assert not gate.holds(1.5, 0.0)  # exactly the lead: may step
    assert gate.holds(1.51, 0.0)
    assert gate.holds(1.51, 4.9)  # still waiting: within escape_wall
    gate.ack(1.4)
    assert not gate.holds(1.51, 5.0)
    gate.ack(0.2)  # an older answer (e.g. reordered) does not move the bound back
    assert gate.acks() == {"perception": 1.4} and not gate.holds(1.9, 5.0)


def test_a_consumer_that_stops_answering_opens_the_gate_after_escape_wall_until_it_answers_again():
    gate = LeadGate(0.5, escape_wall=2.0)
    gate.ack(1.0)
    assert gate.holds(2.0, 10.0)
    assert gate.holds(2.0, 12.0)
    assert not gate.holds(2.0, 12.1) and gate.escapes == 1
    assert not gate.holds(50.0, 13.0)  # runs free while perception is silent
    gate.ack(49.8)
    assert not gate.holds(50.0, 14.0) and gate.holds(50.4, 14.0)


@pytest.mark.parametrize("lead, escape", [(-0.1, 1.0), (0.5, 0.0), (float("nan"), 1.0)])
def test_bad_settings_are_refused_naming_them(lead, escape):
    with pytest.raises(ValueError, match="max_lead must be >= 0"):
        LeadGate(lead, escape)


def test_every_source_has_its_lead_and_the_furthest_behind_holds_the_sim():
    gate = LeadGate(0.8, escape_wall=2.0)
    gate.ack(10.0)  # perception
    gate.ack(10.0, "lead_ack:planner", 0.1)  # a source with its own lead
    assert not gate.holds(10.1, 0.0)
    assert gate.holds(10.11, 0.0)  # the planner is 0.11 s behind: more than its 0.1
    gate.ack(10.5, "lead_ack:planner")
    assert not gate.holds(10.6, 0.0)
    assert gate.holds(10.81, 0.0)  # now perception (0.8) binds
    assert gate.acks() == {"perception": 10.0, "lead_ack:planner": 10.5}


def test_a_silent_source_is_ignored_after_escape_wall_while_the_others_still_bind():
    gate = LeadGate(0.8, escape_wall=2.0)
    gate.ack(10.0)
    gate.ack(10.0, "lead_ack:planner", 0.1)  # then the planner dies
    assert gate.holds(10.2, 0.0) and gate.holds(10.2, 2.0)
    assert not gate.holds(10.2, 2.1) and gate.escapes == 1 and gate.escaped == "lead_ack:planner"
    assert gate.holds(10.9, 3.0)  # perception still binds
    gate.ack(10.8)
    assert not gate.holds(11.6, 3.0)
    gate.ack(11.5, "lead_ack:planner", 0.1)  # restarted: it counts again
    assert gate.holds(11.61, 3.0)
