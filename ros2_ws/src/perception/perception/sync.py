"""Pairing colour, depth and camera_info messages by stamp (message_filters is not
installable from PyPI). Pure Python, no ROS imports: the messages are opaque here.

A frame is complete when a colour and a depth image with the same stamp have arrived.
It is handed out as soon as the camera_info of that stamp is there too. A complete pair
whose camera_info never comes (drivers that stamp it differently, or not at all) is
handed out with the latest camera_info when a newer complete pair shows up, so it costs
one frame of latency but is not lost; the intrinsics rarely change ("latest" is the last
to arrive, so a camera_info stamped ahead holds nothing up). Images left without a partner
are dropped once more than ``queue_size`` stamps are waiting, oldest first.

``StampOrder`` decides whether a complete pair is processed: in stamp order, and, as tf's
buffer clears itself when time jumps back, starting over when the stamps did (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("color", "depth", "info")


@dataclass(slots=True)
class SyncedFrame:
    """A colour/depth pair of one stamp (ns) and its camera_info (None if none ever came);
    info_matched: the camera_info has the same stamp."""

    stamp_ns: int
    color: Any
    depth: Any
    info: Any | None
    info_matched: bool


class StampSync:
    """See the module docstring. ``add`` returns the frames completed by a message, oldest first."""

    def __init__(self, queue_size: int = 10) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.queue_size = queue_size
        self._pending: dict[int, dict[str, Any]] = {}
        self._infos: dict[int, Any] = {}
        self._latest_info: tuple[int, Any] | None = None
        self.dropped: dict[str, int] = {"color": 0, "depth": 0}

    def add(self, kind: str, stamp_ns: int, msg: Any) -> list[SyncedFrame]:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "info":
            self._infos[stamp_ns] = msg
            self._latest_info = (stamp_ns, msg)
            while len(self._infos) > self.queue_size:
                del self._infos[min(self._infos)]
        else:
            self._pending.setdefault(stamp_ns, {})[kind] = msg
        out: list[SyncedFrame] = []
        complete = sorted(s for s, e in self._pending.items() if "color" in e and "depth" in e)
        newest = complete[-1] if complete else None
        for s in complete:
            e = self._pending[s]
            if s in self._infos:
                out.append(SyncedFrame(s, e["color"], e["depth"], self._infos[s], True))
            elif s != newest or (self._latest_info is not None and self._latest_info[0] > s):
                info = None if self._latest_info is None else self._latest_info[1]
                out.append(SyncedFrame(s, e["color"], e["depth"], info, False))
            else:
                continue
            del self._pending[s]
        while len(self._pending) > self.queue_size:
            oldest = min(self._pending)
            for k in self._pending.pop(oldest):
                self.dropped[k] += 1
        return out


class StampOrder:
    """Which complete pairs to process, by stamp (ns). ``check(stamp)`` says:

    - "next": newer than the last processed pair: process it;
    - "old": a repeated or late pair (not newer than the last, not older than it by more than
      ``jump_back_ns``, and not newer than the one before the last): skip it;
    - "jump": time jumped back, as tf's buffer detects it: the pair is older than the last
      by more than ``jump_back_ns`` (a camera or clock restart, a bag played again), or it
      lies between the last two (the last one was stamped ahead of the others, e.g. one
      frame from a camera whose clock jumped): forget the order and process it. So one frame
      stamped in the future costs nothing but itself, whatever its skew.

    ``processed(stamp)`` records a processed pair."""

    def __init__(self, jump_back_ns: int) -> None:
        if jump_back_ns < 0:
            raise ValueError(f"jump_back_ns must be >= 0, got {jump_back_ns}")
        self.jump_back_ns = int(jump_back_ns)
        self.last: int | None = None  # stamp of the last processed pair
        self._before: int | None = None  # and of the one before it
        self.jumps = 0

    def check(self, stamp_ns: int) -> str:
        last, before = self.last, self._before
        if last is None or stamp_ns > last:
            return "next"
        if stamp_ns == last:
            return "old"
        if last - stamp_ns > self.jump_back_ns or (before is not None and before < stamp_ns):
            return "jump"
        return "old"

    def jumped(self) -> None:
        """Time jumped back: no order is known any more."""
        self.last = self._before = None
        self.jumps += 1

    def processed(self, stamp_ns: int) -> None:
        self._before, self.last = self.last, stamp_ns
