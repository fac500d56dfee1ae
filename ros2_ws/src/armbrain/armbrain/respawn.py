"""When to restart a node that died, and when to give up (pure: no processes, no ROS).

A graph node with ``respawn: true`` is restarted after ``respawn_delay`` seconds, the
delay doubling with every restart still inside the window (exponential backoff, capped
at ``respawn_max_delay``), until it has been restarted ``respawn_max`` times within
``respawn_window`` seconds; the next death is then final (the launcher says so and
treats the node as dead). A node that stays up for a whole window starts over at
``respawn_delay``. Times are seconds of one monotonic clock (the launcher's wall clock:
it watches operating-system processes, not the simulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The graph fields of a respawn policy and their defaults (graph.yaml, see armbrain.graph).
FIELDS = {"respawn_delay": 1.0, "respawn_max_delay": 30.0, "respawn_max": 5, "respawn_window": 60.0}


@dataclass(frozen=True)
class RespawnPolicy:
    """delay: s before the first restart; max_delay: s, the cap of the doubling delay;
    limit: restarts allowed within `window` s before the launcher gives up."""

    delay: float = FIELDS["respawn_delay"]
    max_delay: float = FIELDS["respawn_max_delay"]
    limit: int = FIELDS["respawn_max"]
    window: float = FIELDS["respawn_window"]

    def recent(self, restarts: Sequence[float], now: float) -> int:
        """How many of the restart times `restarts` lie within the window before `now`."""
        return sum(1 for t in restarts if now - t < self.window)

    def next_delay(self, restarts: Sequence[float], now: float) -> float | None:
        """Seconds to wait before restarting a node that died at `now`, having been
        restarted at the times `restarts`; None when the limit is reached (give up)."""
        n = self.recent(restarts, now)
        if n >= self.limit:
            return None
        return min(self.delay * 2.0 ** n, self.max_delay)


def check_respawn_policy(raw: dict[str, Any], where: str) -> RespawnPolicy:
    """The RespawnPolicy of a graph node's fields (`raw`, the node's mapping); ValueError
    naming the field, the bad value and what is valid."""

    def number(key: str, positive: bool) -> float:
        value = raw.get(key, FIELDS[key])
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            value > 0 if positive else value >= 0)
        if not ok:
            raise ValueError(f"{where}.{key}: {value!r} is not valid; expected a number of seconds "
                             f"{'> 0' if positive else '>= 0'}")
        return float(value)

    delay = number("respawn_delay", positive=False)
    max_delay = number("respawn_max_delay", positive=False)
    window = number("respawn_window", positive=True)
    limit = raw.get("respawn_max", FIELDS["respawn_max"])
    if not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1):
        raise ValueError(f"{where}.respawn_max: {limit!r} is not valid; expected a whole number of restarts "
                         f">= 1 (within respawn_window s, before the launcher gives up)")
    if max_delay < delay:
        raise ValueError(f"{where}.respawn_max_delay: {max_delay:g} is less than respawn_delay {delay:g}; "
                         "expected the cap of the doubling delay, >= respawn_delay")
    return RespawnPolicy(delay, max_delay, limit, window)
