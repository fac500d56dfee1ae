"""How far simulated time may run ahead of the brain (simulation only).

With real_time_factor 0 the sim steps as fast as the CPU allows. A brain slowed by load
(another job, more workers than cores) then sees the world late in sim time: perception's
output goes stale against the planner's age limits, and a trajectory stamped to start
`start_delay` after it was sent reaches the controller after its start, so the arm lags its
timeline and overruns the path tolerance. Outcomes would depend on how busy the machine was.
The gate bounds the lead instead. Each source of acknowledgements has its lead:
- perception (`max_lead`): the stamp of perception/objects, which carries its camera
  frame's stamp. On a quiet machine perception keeps up and the gate never closes; under
  load the sim waits for it, so the brain's view is as fresh in sim time as when quiet.
- any node publishing `lead_ack` (std_msgs/Header, frame_id = its name; the planner every
  lead_ack_period of sim time, only under use_sim_time) with its own lead (`ack_lead`,
  less than the planner's start_delay): the sim never runs further ahead of the time that
  node has seen, so a trajectory sent at its time t and stamped t + start_delay arrives
  before the sim reaches t + ack_lead.
The sim does not step while any source is further behind than its lead.

It is a simulation harness, not a robot behaviour: real arms do not wait. A source counts
only after its first acknowledgement (a graph without it runs free), and one that keeps the
gate closed for `escape_wall` wall seconds is ignored (a consumer that died must not freeze
the sim; the campaign runner judges a dead graph by other means) until it answers again.
"""

from __future__ import annotations

from dataclasses import dataclass

PERCEPTION = "perception"


@dataclass(slots=True)
class _Source:
    lead: float
    acked: float = -float("inf")
    engaged: bool = False
    closed_since: float | None = None


class LeadGate:
    """holds(sim_now, wall_now): True while the sim must not step (see the module docstring).

    max_lead: sim s the sim may run ahead of perception's newest acknowledged stamp (and
    of any source acknowledging without a lead of its own); 0 disables the gate.
    escape_wall: wall s one source keeps the gate closed at most before it is ignored
    (`escapes` counts those, `escaped` names the last)."""

    def __init__(self, max_lead: float, escape_wall: float = 5.0) -> None:
        if not (max_lead >= 0.0 and escape_wall > 0.0):
            raise ValueError(f"max_lead must be >= 0 and escape_wall > 0; got {max_lead!r}, {escape_wall!r}")
        self.max_lead = float(max_lead)
        self.escape_wall = float(escape_wall)
        self._sources: dict[str, _Source] = {}
        self.escapes = 0
        self.escaped = ""

    def acks(self) -> dict[str, float]:
        """Every source's newest acknowledged stamp (sim s)."""
        return {name: src.acked for name, src in self._sources.items()}

    def ack(self, stamp: float, source: str = PERCEPTION, lead: float | None = None) -> None:
        """`source` has processed sim time up to `stamp` (sim s); the sim may run `lead` sim s
        ahead of it (None: max_lead; fixed at its first acknowledgement)."""
        src = self._sources.get(source)
        if src is None:
            lead = self.max_lead if lead is None else float(lead)
            if not lead >= 0.0:
                raise ValueError(f"the lead of {source!r} must be >= 0; got {lead!r}")
            src = self._sources[source] = _Source(lead)
        if stamp > src.acked:
            src.acked = stamp
        src.engaged = self.max_lead > 0.0

    def holds(self, sim_now: float, wall_now: float) -> bool:
        held = False
        for name, src in self._sources.items():
            if not src.engaged or sim_now - src.acked <= src.lead:
                src.closed_since = None
                continue
            if src.closed_since is None:
                src.closed_since = wall_now
            if wall_now - src.closed_since > self.escape_wall:
                src.engaged, src.closed_since = False, None
                self.escapes += 1
                self.escaped = name
                continue
            held = True
        return held
