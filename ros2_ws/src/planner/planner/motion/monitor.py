"""Execution monitoring of a timed joint trajectory against measured joint states. Pure
Python: the ROS adapter (execution.py) feeds it joint_states and the clock.

Rules (times in seconds of the robot's clock: sim time in simulation):
- before the trajectory's start time the arm must hold the start (path tolerance);
- while it runs, every joint within ``path`` rad of the trajectory sampled at that time;
- after its end, success as soon as every joint is within ``goal`` rad of the goal, and
  a failure (naming the joint) when that has not happened by start + timeout, where
  timeout = ``timeout_scale`` x duration + ``timeout_margin`` (1.2 x duration + 0.5 s);
- a non-finite position (NaN) is a fault, never a state; joint_states are merged by name
  (JointStateMerger), so a message without the arm's joints is no news about the arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from planner.motion.timing import Trajectory


class ExecutionCode(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"                    # not started: the arm is not at the start, no state, busy
    PATH_TOLERANCE_VIOLATED = "PATH_TOLERANCE_VIOLATED"
    GOAL_TOLERANCE_VIOLATED = "GOAL_TOLERANCE_VIOLATED"  # timed out away from the goal
    FAULT = "FAULT"                          # NaN or missing joints in joint_states, no joint_states
    STOPPED = "STOPPED"                      # stopped on request (hold commanded)


@dataclass(frozen=True)
class ExecutionResult:
    """code and message (which joint, by how much, when); time: robot-clock seconds since
    the trajectory start when it ended; max_error: largest tracking error seen (rad)."""

    code: ExecutionCode
    message: str
    time: float = 0.0
    max_error: float = 0.0

    @property
    def success(self) -> bool:
        return self.code is ExecutionCode.SUCCEEDED


@dataclass(frozen=True)
class Tolerances:
    """start: rad, the arm must be this close to the trajectory's start to begin;
    path: rad, tracking error allowed while moving; goal: rad at the end;
    timeout_scale, timeout_margin (s): the time allowed is scale x duration + margin."""

    start: float = 0.01
    path: float = 0.1
    goal: float = 0.01
    timeout_scale: float = 1.2
    timeout_margin: float = 0.5

    def __post_init__(self) -> None:
        for name in ("start", "path", "goal", "timeout_margin"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"tolerance {name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.timeout_scale) and self.timeout_scale >= 1.0):
            raise ValueError(f"timeout_scale must be >= 1, got {self.timeout_scale!r}")


class JointStateMerger:
    """The arm's state from joint_states merged by name, as robot_state_publisher's consumers
    merge it: a message may carry any subset of the joints (a separate gripper driver
    publishes only its fingers), and each joint keeps its latest value. `wanted`: the arm's
    joints; other names are ignored."""

    def __init__(self, wanted: Sequence[str]) -> None:
        self.wanted = tuple(wanted)
        self._wanted = set(self.wanted)
        self._q: dict[str, float] = {}

    def update(self, names: Sequence[str], positions: Sequence[float]) -> bool:
        """Merge one message; True when it carried any wanted joint (news about the arm).
        Raises ValueError naming a wanted joint whose position is missing or not finite; that
        joint is then unknown until a message reports it again."""
        new: dict[str, float] = {}
        for i, n in enumerate(names):
            if n not in self._wanted:
                continue
            if i >= len(positions):
                self._q.pop(n, None)
                raise ValueError(f"joint_states names {n} but has no position for it ({len(positions)} positions "
                                 f"for {len(names)} names)")
            v = float(positions[i])
            if not math.isfinite(v):
                self._q.pop(n, None)
                raise ValueError(f"joint_states reports {n} = {v} (not finite)")
            new[n] = v
        self._q.update(new)
        return bool(new)

    def missing(self) -> list[str]:
        return [n for n in self.wanted if n not in self._q]

    def positions(self) -> np.ndarray | None:
        """(len(wanted),) the latest position of every wanted joint, rad; None while one is unknown."""
        if self.missing():
            return None
        return np.array([self._q[n] for n in self.wanted])


def start_violation(q_now: np.ndarray, start: np.ndarray, names: Sequence[str], tolerance: float) -> str | None:
    """Why the arm at q_now (n,) may not start a trajectory beginning at start (n,), or None."""
    err = np.abs(np.asarray(q_now, dtype=float) - np.asarray(start, dtype=float))
    j = int(np.argmax(err))
    if err[j] > tolerance:
        return (f"the arm is not at the trajectory's start: {names[j]} is {err[j]:.4f} rad away "
                f"(tolerance {tolerance} rad); plan from the current state")
    return None


class TrajectoryMonitor:
    """Judges one execution (see module docstring). start_time: robot-clock seconds at which
    the trajectory starts (its header stamp)."""

    def __init__(self, trajectory: Trajectory, joint_names: Sequence[str], start_time: float,
                 tolerances: Tolerances | None = None) -> None:
        self.trajectory = trajectory
        self.joint_names = tuple(joint_names)
        self.start_time = float(start_time)
        self.tol = tolerances or Tolerances()
        self.deadline = self.start_time + self.tol.timeout_scale * trajectory.duration + self.tol.timeout_margin
        self.max_error = 0.0
        self.result: ExecutionResult | None = None

    def _finish(self, code: ExecutionCode, message: str, t: float) -> ExecutionResult:
        self.result = ExecutionResult(code, message, t - self.start_time, self.max_error)
        return self.result

    def fault(self, message: str, t: float) -> ExecutionResult:
        return self._finish(ExecutionCode.FAULT, message, t)

    def stop(self, t: float, why: str = "stopped on request") -> ExecutionResult:
        return self._finish(ExecutionCode.STOPPED, f"{why} at {t - self.start_time:.2f} s; holding position", t)

    def update(self, t: float, q) -> ExecutionResult | None:
        """A joint state q (n,) measured at robot time t: the final result, or None while running."""
        if self.result is not None:
            return self.result
        q = np.asarray(q, dtype=float)
        if q.shape != (len(self.joint_names),) or not np.all(np.isfinite(q)):
            bad = [n for n, v in zip(self.joint_names, np.atleast_1d(q), strict=False) if not math.isfinite(v)]
            return self.fault(f"joint_states is not a valid state ({', '.join(bad) or 'wrong size'} not finite): "
                              "treated as a fault; check the arm's drivers", t)
        traj = self.trajectory
        rel = t - self.start_time
        end = traj.duration
        if rel <= end:
            desired = traj.sample(max(rel, 0.0))
            err = np.abs(q - desired)
            j = int(np.argmax(err))
            self.max_error = max(self.max_error, float(err[j]))
            if err[j] > self.tol.path:
                return self._finish(ExecutionCode.PATH_TOLERANCE_VIOLATED,
                                    f"{self.joint_names[j]} is {err[j]:.3f} rad from the trajectory at "
                                    f"{rel:.2f} s of {end:.2f} s (path tolerance {self.tol.path} rad)", t)
            return None
        err = np.abs(q - traj.goal)
        j = int(np.argmax(err))
        if err[j] <= self.tol.goal:
            return self._finish(ExecutionCode.SUCCEEDED, f"reached the goal {rel:.2f} s after the start "
                                f"(trajectory {end:.2f} s; largest tracking error {self.max_error:.3f} rad)", t)
        if err[j] > self.tol.path:
            self.max_error = max(self.max_error, float(err[j]))
            return self._finish(ExecutionCode.PATH_TOLERANCE_VIOLATED,
                                f"{self.joint_names[j]} is {err[j]:.3f} rad from the goal {rel - end:.2f} s after "
                                f"the trajectory's end (path tolerance {self.tol.path} rad)", t)
        return self.check_timeout(t, q)

    def check_timeout(self, t: float, q=None) -> ExecutionResult | None:
        """The timeout rule alone (also called from a timer when joint_states stop coming)."""
        if self.result is not None:
            return self.result
        if t <= self.deadline:
            return None
        allowed = self.deadline - self.start_time
        if q is None:
            return self.fault(f"no joint state within the {allowed:.2f} s allowed (timeout {self.tol.timeout_scale} x "
                              f"{self.trajectory.duration:.2f} s + {self.tol.timeout_margin} s)", t)
        err = np.abs(np.asarray(q, dtype=float) - self.trajectory.goal)
        j = int(np.argmax(err))
        return self._finish(ExecutionCode.GOAL_TOLERANCE_VIOLATED,
                            f"timed out after {allowed:.2f} s ({self.tol.timeout_scale} x "
                            f"{self.trajectory.duration:.2f} s + {self.tol.timeout_margin} s): {self.joint_names[j]} "
                            f"is still {err[j]:.4f} rad from the goal (goal tolerance {self.tol.goal} rad)", t)
