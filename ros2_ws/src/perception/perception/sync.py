"""Pairing colour, depth and camera_info messages by stamp (message_filters is not
installable from PyPI). Pure Python, no ROS imports: the messages are opaque here.

A frame is complete when a colour and a depth image with the same stamp have arrived.
It is handed out as soon as the camera_info of that stamp is there too. A complete pair
whose camera_info never comes (drivers that stamp it differently, or not at all) is
handed out with the latest camera_info when a newer complete pair shows up, so it costs
one frame of latency but is not lost; the intrinsics rarely change. Images left without
a partner are dropped once more than ``queue_size`` stamps are waiting, oldest first.
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
            if self._latest_info is None or stamp_ns >= self._latest_info[0]:
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
