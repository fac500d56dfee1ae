"""The grasp check: is the object held after closing, and is it still held later?

A state machine fed with gripper commands and finger-opening samples (time in seconds of
ROS time, sim time in simulation; openings in metres):

    idle --close--> closing --fingers stop--> held | wrong_width | missed
    held / wrong_width --fingers close fully (or drop by lost_drop)--> lost
    any --open--> released (from held / wrong_width / lost) or idle

- held: the fingers stopped near an expected object width w (a box may be grasped across
  either pair of faces, so several widths may be expected; the nearest counts): at most
  held_tolerance above it (pads sit a little proud, a cube may be caught across a
  diagonal), and at most min(held_tolerance, held_fraction * w) below it: a 2 cm object
  read at 1 cm is not held the way it should be. With no expectation: stopped on
  something, neither fully closed nor at the commanded width.
- wrong_width: stopped on something whose width does not match the expectation.
- missed: closed fully (to closed_width, at most a quarter of the expected width), or
  reached the commanded width: nothing was between the pads.
- lost: after held / wrong_width, the fingers closed (fully, or by min(lost_drop,
  lost_fraction * the held width) below the width they stopped at) for at least
  `debounce` seconds: the object slipped out. The thresholds scale with the object so
  that a 2 cm object that falls out counts as lost and an 8 cm one squeezed a little
  does not.

Close with a target below the object's width (0 for a full squeeze): reaching the
commanded width means nothing stopped the fingers. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from grasping.core.gripper_motion import Stillness

OPENED_BY_OTHERS = 0.01  # m: fingers held on an object that open this much more opened (a reset, a driver)


class GraspState(Enum):
    IDLE = "idle"
    CLOSING = "closing"
    HELD = "held"
    WRONG_WIDTH = "wrong_width"
    MISSED = "missed"
    LOST = "lost"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class GraspCheckConfig:
    """Tolerances of the grasp check (metres, seconds); see the module docstring."""

    held_tolerance: float = 0.01
    held_fraction: float = 0.3
    closed_width: float = 0.004
    lost_drop: float = 0.01
    lost_fraction: float = 0.4
    debounce: float = 0.05
    reached_tolerance: float = 0.002
    still_tolerance: float = 0.0005
    settle_time: float = 0.1
    no_motion_time: float = 0.5

    def __post_init__(self) -> None:
        for name in self.__slots__:
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"grasp check: {name} must be > 0, got {v}")
        for name in ("held_fraction", "lost_fraction"):
            if getattr(self, name) >= 1.0:
                raise ValueError(f"grasp check: {name} must be < 1, got {getattr(self, name)}")

    def held_band(self, expected: float) -> tuple[float, float]:
        """Openings (lo, hi), m, at which fingers closed on an object `expected` m wide hold it."""
        return (expected - min(self.held_tolerance, self.held_fraction * expected),
                expected + self.held_tolerance)

    def closed_below(self, expected: float | None) -> float:
        """Opening, m, at or below which the fingers are fully closed (nothing between them)."""
        return self.closed_width if expected is None else min(self.closed_width, 0.25 * expected)

    def lost_below(self, held_width: float, expected: float | None) -> float:
        """Opening, m, below which an object held at `held_width` m has slipped out."""
        return max(self.closed_below(expected), held_width - min(self.lost_drop, self.lost_fraction * held_width))


@dataclass(frozen=True, slots=True)
class GraspEvent:
    """A state change. time: s; width: opening then (m); expected_width: m or None;
    object_id: what the expectation came from ("" if unknown); message: for people."""

    state: GraspState
    time: float
    width: float
    expected_width: float | None
    object_id: str
    message: str

    def as_dict(self) -> dict:
        """JSON-ready form (the grasping/grasp_state message)."""
        return {"state": self.state.value, "time": self.time, "width": self.width,
                "expected_width": self.expected_width, "object_id": self.object_id, "message": self.message}


def _cm(v: float) -> str:
    return f"{v * 100.0:.1f} cm"


class GraspMonitor:
    """The grasp check state machine (see the module docstring)."""

    def __init__(self, config: GraspCheckConfig | None = None) -> None:
        self.cfg = config or GraspCheckConfig()
        self.state = GraspState.IDLE
        self.width: float | None = None
        self.expected: float | None = None
        self._expected_all: tuple[float, ...] = ()
        self.object_id = ""
        self._target = 0.0
        self._start = 0.0
        self._first: float | None = None
        self._moved = False
        self._held_width = 0.0
        self._lost_since: float | None = None
        self._still = Stillness(self.cfg.settle_time, self.cfg.still_tolerance)

    def _event(self, state: GraspState, t: float, message: str) -> GraspEvent:
        self.state = state
        return GraspEvent(state, t, self.width if self.width is not None else math.nan, self.expected,
                          self.object_id, message)

    def command(self, target_width: float, t: float, expected_widths: tuple[float, ...] = (),
                object_id: str = "") -> GraspEvent:
        """A gripper command was sent at time t. A grasp (the check is armed with
        expected_widths, m, of object_id) is a target below the current opening and, when
        widths are expected, below the smallest of them; anything else opens the hand
        (e.g. to the candidate's opening before the approach)."""
        cfg = self.cfg
        current = math.inf if self.width is None else self.width
        below = not expected_widths or target_width < min(expected_widths)
        if target_width < current - cfg.still_tolerance and below:
            self._expected_all = tuple(sorted({round(float(w), 6) for w in expected_widths}))
            self.expected = self._expected_all[0] if len(self._expected_all) == 1 else None
            self.object_id = object_id
            self._target, self._start = float(target_width), float(t)
            self._first, self._moved, self._lost_since = None, False, None
            self._still.reset()
            what = ("expecting " + " or ".join(_cm(w) for w in self._expected_all) if self._expected_all
                    else "no expected width")
            return self._event(GraspState.CLOSING, t, f"closing to {_cm(target_width)} ({what})")
        if self.state in (GraspState.HELD, GraspState.WRONG_WIDTH, GraspState.LOST):
            return self._event(GraspState.RELEASED, t, f"opening to {_cm(target_width)}: the object is released")
        return self._event(GraspState.IDLE, t, f"opening to {_cm(target_width)}")

    def update(self, t: float, width: float) -> GraspEvent | None:
        """Feed one opening sample; returns an event when the state changes."""
        cfg = self.cfg
        self.width = float(width)
        if self.state == GraspState.CLOSING:
            return self._closing(t, width)
        if self.state in (GraspState.HELD, GraspState.WRONG_WIDTH):
            if width > self._held_width + OPENED_BY_OTHERS:  # not by a command: those come through command()
                return self._event(GraspState.RELEASED, t, f"the fingers opened to {_cm(width)} without a command "
                                                           f"(after holding {_cm(self._held_width)}): nothing is held")
            gone = width < cfg.lost_below(self._held_width, self.expected) or width <= cfg.closed_below(self.expected)
            if not gone:
                self._lost_since = None
                return None
            if self._lost_since is None:
                self._lost_since = t
            if t - self._lost_since >= cfg.debounce:
                return self._event(GraspState.LOST, t, f"the object slipped out: the fingers closed to {_cm(width)} "
                                                       f"after holding {_cm(self._held_width)} (below "
                                                       f"{_cm(cfg.lost_below(self._held_width, self.expected))})")
        return None

    def _closing(self, t: float, width: float) -> GraspEvent | None:
        cfg = self.cfg
        if t < self._start:
            return None
        if self._first is None:
            self._first = width
        if abs(width - self._first) > cfg.still_tolerance:
            self._moved = True
        still = self._still.add(t, width)
        if not still or not (self._moved or t - self._start >= cfg.no_motion_time):
            return None
        nearest = min(self._expected_all, key=lambda w: abs(w - width)) if self._expected_all else None
        if width <= cfg.closed_below(nearest) or abs(width - self._target) <= cfg.reached_tolerance:
            return self._event(GraspState.MISSED, t, f"the fingers closed to {_cm(width)} with nothing "
                                                     "between them")
        self._held_width = width
        if nearest is None:
            return self._event(GraspState.HELD, t, f"holding something {_cm(width)} wide (no expected width)")
        self.expected = nearest
        lo, hi = cfg.held_band(nearest)
        if lo <= width <= hi:
            return self._event(GraspState.HELD, t, f"the fingers stopped at {_cm(width)}, expected "
                                                   f"{_cm(self.expected)}")
        return self._event(GraspState.WRONG_WIDTH, t, f"the fingers stopped at {_cm(width)} but the object should "
                                                      f"be {_cm(self.expected)} wide (held between {_cm(lo)} and "
                                                      f"{_cm(hi)})")
