"""Which of the planner's dependencies went away during a wait (pure: no ROS).

A goal waits on other nodes: perception's objects, grasping's plan_grasps service and
gripper action, and (in simulation) /clock. When one of them dies, a wait measured in
sim time may never end: the sim stops stepping for a perception that no longer answers
(sim/armbrain_sim/lead.py), and no /clock at all freezes every sim-time deadline. So the
planner also watches the graph: a dependency it has seen that has had no provider (no
publisher, no server) for `timeout` seconds of wall time is lost, and the goal ends naming
it. Wall time on purpose: this watches operating-system processes, which the launcher
restarts on wall time (armbrain/respawn.py); a restart within `timeout` is waited for.
A dependency never seen is not judged here (the sim-time deadlines cover a graph that
never had it: its clock keeps running).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dependency:
    """name: the topic, service or action as the planner names it; kind: "topic",
    "service" or "action"; node: who provides it, for the message."""

    name: str
    kind: str
    node: str

    def lost_message(self, seconds: float) -> str:
        if self.kind == "topic":
            what = f"{self.name} stopped arriving: no node has published it for {seconds:g} s"
        else:
            what = f"{self.name} went away: no {self.kind} server has answered on it for {seconds:g} s"
        return f"{what}; is the {self.node} running? (the launcher restarts it; see its output)"


PERCEPTION = Dependency("perception/objects", "topic", "perception node")
PLAN_GRASPS = Dependency("grasping/plan_grasps", "service", "grasping node")
GRIPPER = Dependency("grasping/gripper", "action", "grasping node")
CLOCK = Dependency("/clock", "topic", "sim bridge (or whatever publishes /clock)")


class DependencyWatch:
    """observe(dep, present, wall_now) -> True once `dep`, seen present before, has been
    absent for more than `timeout` s of wall time (a return resets it)."""

    def __init__(self, timeout: float) -> None:
        if not timeout > 0:
            raise ValueError(f"dependency timeout {timeout!r} is not valid; expected seconds > 0")
        self.timeout = float(timeout)
        self._seen: set[str] = set()
        self._gone_since: dict[str, float] = {}

    def observe(self, dep: Dependency, present: bool, wall_now: float) -> bool:
        if present:
            self._seen.add(dep.name)
            self._gone_since.pop(dep.name, None)
            return False
        if dep.name not in self._seen:
            return False
        since = self._gone_since.setdefault(dep.name, wall_now)
        return wall_now - since > self.timeout
