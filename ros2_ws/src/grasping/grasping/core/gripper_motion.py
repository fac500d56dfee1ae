"""Following one gripper command from finger-width samples: reached, stalled, timed out.

A forward command controller takes an opening (metres); the fingers then move at their
velocity limit until they reach it or something stops them. FingerMotion watches the
opening (sum of the two finger joints, from joint_states) in ROS time (sim time in
simulation): reached as soon as the opening is within reached_tolerance of the target,
else stalled once the fingers have stopped elsewhere (on an object). Pure Python.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from brain_common.cell import default_cell


@dataclass(frozen=True, slots=True)
class GripperConfig:
    """Limits and tolerances of the gripper action. Metres, newtons, seconds.

    max_opening: largest opening (Panda: 0.08). max_effort: largest force a goal may ask.
    default_effort: force used for max_effort = 0.
    reached_tolerance: final opening within this of the target counts as reached.
    still_tolerance: the opening changing less than this over settle_time counts as stopped.
    settle_time: see still_tolerance. no_motion_time: when the fingers never start moving
    (already at the target, or already blocked), decide after this long.
    timeout: a command not finished after this long ends as timed out.
    """

    max_opening: float = field(default_factory=lambda: default_cell().gripper.max_opening)
    max_effort: float = 70.0
    default_effort: float = 20.0
    reached_tolerance: float = 0.002
    still_tolerance: float = 0.0005
    settle_time: float = 0.1
    no_motion_time: float = 0.5
    timeout: float = 3.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"gripper: {name} must be > 0, got {v}")
        if self.default_effort > self.max_effort:
            raise ValueError(f"gripper: default_effort {self.default_effort} N exceeds max_effort "
                             f"{self.max_effort} N")


def check_gripper_goal(target_width: float, max_effort: float, cfg: GripperConfig) -> float:
    """The force to use (N) for a goal, or ValueError naming the bad value and the valid range.
    max_effort 0 means cfg.default_effort."""
    if not (math.isfinite(target_width) and 0.0 <= target_width <= cfg.max_opening):
        raise ValueError(f"target_width {target_width:g} m is out of range; valid: 0 .. {cfg.max_opening:g} m")
    if not (math.isfinite(max_effort) and 0.0 <= max_effort <= cfg.max_effort):
        raise ValueError(f"max_effort {max_effort:g} N is out of range; valid: 0 (the default, "
                         f"{cfg.default_effort:g} N) or up to {cfg.max_effort:g} N")
    return max_effort if max_effort > 0.0 else cfg.default_effort


class Stillness:
    """Whether a signal has stayed within `tolerance` over the last `window` seconds."""

    def __init__(self, window: float, tolerance: float) -> None:
        self.window, self.tolerance = window, tolerance
        self._samples: deque[tuple[float, float]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, t: float, value: float) -> bool:
        """Add a sample; True when the samples cover the window and vary by <= tolerance."""
        s = self._samples
        if s and t < s[-1][0]:  # time went back (sim reset): start over
            s.clear()
        s.append((t, value))
        while len(s) >= 2 and s[1][0] <= t - self.window:
            s.popleft()
        if s[0][0] > t - self.window + 1e-9:
            return False
        values = [v for _, v in s]
        return max(values) - min(values) <= self.tolerance


class Outcome(Enum):
    REACHED = "reached"
    STALLED = "stalled"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class MotionResult:
    """outcome; final_width: opening at the decision (m); message: for people."""

    outcome: Outcome
    final_width: float
    message: str


class FingerMotion:
    """One gripper command followed from opening samples (see module docstring).

    target: commanded opening (m). start_time: when it was sent (s, ROS time).
    """

    def __init__(self, target: float, start_time: float, cfg: GripperConfig) -> None:
        self.target, self.start, self.cfg = float(target), float(start_time), cfg
        self._still = Stillness(cfg.settle_time, cfg.still_tolerance)
        self._first: float | None = None
        self._moved = False
        self.width: float | None = None

    def update(self, t: float, width: float) -> MotionResult | None:
        """Feed one sample (time s, opening m); a MotionResult once the command is over."""
        cfg = self.cfg
        if t < self.start:
            return None
        self.width = width
        if self._first is None:
            self._first = width
        if abs(width - self._first) > cfg.still_tolerance or abs(width - self.target) <= cfg.reached_tolerance:
            self._moved = True
        still = self._still.add(t, width)
        elapsed = t - self.start
        if abs(width - self.target) <= cfg.reached_tolerance:
            # At the target: the controller holds it there, nothing is left to wait for (a
            # release or an open is over as soon as the fingers are where they were sent).
            return MotionResult(Outcome.REACHED, width, f"reached {width * 100:.1f} cm")
        if (still and self._moved) or (still and elapsed >= cfg.no_motion_time):
            return MotionResult(Outcome.STALLED, width, f"stalled at {width * 100:.1f} cm "
                                                        f"(target {self.target * 100:.1f} cm)")
        if elapsed > cfg.timeout:
            return MotionResult(Outcome.TIMEOUT, width, f"the fingers were still moving after {cfg.timeout:g} s "
                                                        f"(at {width * 100:.1f} cm, target "
                                                        f"{self.target * 100:.1f} cm)")
        return None
