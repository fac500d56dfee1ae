"""Frame-to-frame tracking: stable object ids.

Each frame's detections are matched to the known tracks greedily by cost (xy distance
in metres, plus 3 cm if the colour names differ and 2 cm if the shapes differ), pairs
farther apart than ``gate`` never match. A detection left over is matched to a track not
seen in this frame with the same colour, shape and a similar size, wherever it is (the
object was carried: it vanished in the gripper and reappears where it was put), the
nearest such track first. Anything else starts a new track. Tracks not seen for
``memory`` seconds are forgotten. Ids ("obj_<n>") are never reused by one Tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLOUR_MISMATCH_COST = 0.03  # m
SHAPE_MISMATCH_COST = 0.02  # m
SIZE_TOLERANCE = 0.25  # fraction, for re-identification
SIZE_TOLERANCE_ABS = 0.006  # m


@dataclass(slots=True)
class Detection:
    """What the tracker needs of one detection: position (3,) m, colour name, shape, size (3,) m."""

    position: np.ndarray
    colour_name: str
    shape: str
    size: np.ndarray


@dataclass(slots=True)
class Track:
    """A tracked object: its last detection, when it was first and last seen (s), how often."""

    id: str
    position: np.ndarray
    colour_name: str
    shape: str
    size: np.ndarray
    first_seen: float
    last_seen: float
    hits: int


class Tracker:
    """See the module docstring. gate: m; memory: s."""

    def __init__(self, gate: float, memory: float, prefix: str = "obj_") -> None:
        self.gate = float(gate)
        self.memory = float(memory)
        self.prefix = prefix
        self.tracks: dict[str, Track] = {}
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so none is ever reused)."""
        self.tracks.clear()

    def rewind(self, stamp: float) -> None:
        """Time jumped back to `stamp` (s): no track was seen later than that. The tracks and
        their ids stay (a task in progress still finds its objects)."""
        for t in self.tracks.values():
            t.first_seen, t.last_seen = min(t.first_seen, stamp), min(t.last_seen, stamp)

    def _new_id(self) -> str:
        tid = f"{self.prefix}{self._next_id}"
        self._next_id += 1
        return tid

    def update(self, detections: list[Detection], stamp: float) -> list[str]:
        """The track id of each detection (same order), after updating the tracks at `stamp` (s)."""
        for tid in [t.id for t in self.tracks.values() if stamp - t.last_seen > self.memory]:
            del self.tracks[tid]
        tracks = list(self.tracks.values())
        ids: list[str | None] = [None] * len(detections)
        used: set[str] = set()
        pairs = []
        for i, det in enumerate(detections):
            for t in tracks:
                dist = float(np.hypot(*(det.position[:2] - t.position[:2])))
                if dist < self.gate:
                    cost = (dist + COLOUR_MISMATCH_COST * (det.colour_name != t.colour_name)
                            + SHAPE_MISMATCH_COST * (det.shape != t.shape))
                    pairs.append((cost, i, t.id))
        for _cost, i, tid in sorted(pairs, key=lambda p: (p[0], p[1], p[2])):
            if ids[i] is None and tid not in used:
                ids[i] = tid
                used.add(tid)
        for i, det in enumerate(detections):
            if ids[i] is not None:
                continue
            candidates = [t for t in tracks if t.id not in used and t.colour_name == det.colour_name
                          and t.shape == det.shape
                          and np.all(np.abs(t.size - det.size) <= SIZE_TOLERANCE * t.size + SIZE_TOLERANCE_ABS)]
            if candidates:
                t = min(candidates, key=lambda t: float(np.linalg.norm(t.position - det.position)))
                ids[i] = t.id
                used.add(t.id)
        for i, det in enumerate(detections):
            tid = ids[i]
            if tid is None:
                tid = ids[i] = self._new_id()
                self.tracks[tid] = Track(tid, det.position.copy(), det.colour_name, det.shape, det.size.copy(),
                                         stamp, stamp, 1)
            else:
                t = self.tracks[tid]
                t.position, t.colour_name, t.shape, t.size = det.position.copy(), det.colour_name, det.shape, \
                    det.size.copy()
                t.last_seen = stamp
                t.hits += 1
        return [str(i) for i in ids]
