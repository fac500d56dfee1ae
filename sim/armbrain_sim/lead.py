"""How far simulated time may run ahead of the brain (simulation only).

With real_time_factor 0 the sim steps as fast as the CPU allows. A brain slowed by load
(another job, more workers than cores) then sees the world through frames that are old in
sim time: perception's output goes stale against the planner's age limits, and outcomes
depend on how busy the machine was. The gate bounds the lead instead: the sim does not
step beyond `max_lead` sim seconds after the newest frame the brain has acknowledged (the
stamp of perception/objects, which carries its camera frame's stamp). On a quiet machine
perception keeps up and the gate never closes; under load the sim waits for it, so the
brain's view of the world is as fresh in sim time as on a quiet machine.

It is a simulation harness, not a robot behaviour: real arms do not wait. It closes only
after the first acknowledgement (a graph without perception runs free), and opens again
after `escape_wall` wall seconds without one (a consumer that died must not freeze the
sim; the campaign runner judges a dead graph by other means) until the next one arrives.
"""

from __future__ import annotations


class LeadGate:
    """holds(sim_now, wall_now): True while the sim must not step (see the module docstring).

    max_lead: sim s the sim may run ahead of the newest acknowledged stamp; 0 disables the
    gate. escape_wall: wall s the gate stays closed at most before it opens (`escapes` counts
    those)."""

    def __init__(self, max_lead: float, escape_wall: float = 5.0) -> None:
        if not (max_lead >= 0.0 and escape_wall > 0.0):
            raise ValueError(f"max_lead must be >= 0 and escape_wall > 0; got {max_lead!r}, {escape_wall!r}")
        self.max_lead = float(max_lead)
        self.escape_wall = float(escape_wall)
        self.acked = -float("inf")
        self.engaged = False
        self.escapes = 0
        self._closed_since: float | None = None

    def ack(self, stamp: float) -> None:
        """The brain has processed the frame stamped `stamp` (sim s)."""
        if stamp > self.acked:
            self.acked = stamp
        self.engaged = self.max_lead > 0.0

    def holds(self, sim_now: float, wall_now: float) -> bool:
        if not self.engaged or sim_now - self.acked <= self.max_lead:
            self._closed_since = None
            return False
        if self._closed_since is None:
            self._closed_since = wall_now
        if wall_now - self._closed_since > self.escape_wall:
            self.engaged, self._closed_since = False, None
            self.escapes += 1
            return False
        return True
