"""Checking and sampling joint trajectories, as a joint_trajectory_controller does.

Pure Python (numpy): the sim bridge converts a trajectory_msgs/JointTrajectory into
plain arrays, calls check_trajectory(), and samples the result every physics step.
Units: radians, seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brain_common.trajectory import sample_joint_trajectory, sample_joint_trajectory_velocity

LIMIT_TOLERANCE = 1e-6  # rad: a point exactly on a limit is fine


class TrajectoryError(ValueError):
    """A trajectory that must not be executed; the message names the problem."""


@dataclass(frozen=True, slots=True)
class JointLimits:
    """Per-joint limits in a fixed joint order. lower/upper: (n,) rad; velocity: (n,) rad/s."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True, slots=True)
class JointPath:
    """A checked trajectory in the limits' joint order.

    times: (m,) seconds from the trajectory start, strictly increasing, times[0] == 0
    (a start point at the current position is inserted when the first point is later).
    positions: (m, n) rad. velocities: (m, n) rad/s, or None (linear interpolation).
    """

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> np.ndarray:
        """Positions (n,) at t seconds from the start: cubic Hermite between points
        when velocities are given, linear otherwise; clamped to the ends. The planner
        predicts the arm with the same function (brain_common.trajectory)."""
        return sample_joint_trajectory(self.times, self.positions, self.velocities, t)

    def sample_velocity(self, t: float) -> np.ndarray:
        """Velocities (n,) at t: the derivative of sample(t), the controller's feed-forward
        (zero before the start and after the end)."""
        return sample_joint_trajectory_velocity(self.times, self.positions, self.velocities, t)


def check_trajectory(
    joint_names: Sequence[str],
    times: Sequence[float],
    positions: Sequence[Sequence[float]],
    velocities: Sequence[Sequence[float]],
    limits: JointLimits,
    current: np.ndarray,
) -> JointPath:
    """Validate a trajectory and reorder it to the limits' joint order.

    joint_names: the trajectory's joint names (any order, every limited joint exactly once).
    times: (m,) time_from_start per point, seconds. positions: m rows of len(joint_names).
    velocities: m rows of len(joint_names), or all rows empty. current: (n,) present
    positions, used as the start point when times[0] > 0.
    Raises TrajectoryError naming the joint, point and value at fault.
    """
    names = list(joint_names)
    expected = list(limits.names)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise TrajectoryError(f"joint '{dup}' appears twice in joint_names")
    unknown = [n for n in names if n not in expected]
    if unknown:
        raise TrajectoryError(f"unknown joint '{unknown[0]}'; expected exactly: {', '.join(expected)}")
    missing = [n for n in expected if n not in names]
    if missing:
        raise TrajectoryError(f"trajectory lacks joint(s) {', '.join(missing)}; expected exactly: "
                              f"{', '.join(expected)}")
    m = len(times)
    if m == 0:
        raise TrajectoryError("trajectory has no points")
    if len(positions) != m or len(velocities) != m:
        raise TrajectoryError("internal: times, positions and velocities differ in length")
    order = [names.index(n) for n in expected]
    t = np.asarray(times, dtype=float)
    q = np.empty((m, len(expected)))
    with_vel = any(len(v) for v in velocities)
    qd = np.empty_like(q) if with_vel else None
    for i in range(m):
        if len(positions[i]) != len(names):
            raise TrajectoryError(f"point {i} has {len(positions[i])} positions for {len(names)} joints")
        q[i] = np.asarray(positions[i], dtype=float)[order]
        if qd is not None:
            if len(velocities[i]) != len(names):
                raise TrajectoryError(f"point {i} has {len(velocities[i])} velocities for {len(names)} joints "
                                      "(give all or none)")
            qd[i] = np.asarray(velocities[i], dtype=float)[order]
    for arr, what in ((q, "position"), (qd, "velocity")):
        if arr is not None and not np.all(np.isfinite(arr)):
            i, j = map(int, np.argwhere(~np.isfinite(arr))[0])
            raise TrajectoryError(f"point {i}: {what} of {expected[j]} is {arr[i, j]} (not finite)")
    if not np.all(np.isfinite(t)):
        i = int(np.argwhere(~np.isfinite(t))[0][0])
        raise TrajectoryError(f"point {i}: time_from_start is {t[i]} (not finite)")
    if t[0] < 0:
        raise TrajectoryError(f"point 0: time_from_start {t[0]:g} s is negative")
    bad = np.nonzero(np.diff(t) <= 0)[0]
    if bad.size:
        i = int(bad[0]) + 1
        raise TrajectoryError(f"point {i}: time_from_start {t[i]:g} s does not increase "
                              f"(point {i - 1} is at {t[i - 1]:g} s)")
    low = q < limits.lower - LIMIT_TOLERANCE
    high = q > limits.upper + LIMIT_TOLERANCE
    if low.any() or high.any():
        i, j = map(int, np.argwhere(low | high)[0])
        raise TrajectoryError(f"point {i}: {expected[j]} = {q[i, j]:.4f} rad is outside its limits "
                              f"[{limits.lower[j]:.4f}, {limits.upper[j]:.4f}]")
    if t[0] > 0:
        t = np.concatenate([[0.0], t])
        q = np.vstack([np.asarray(current, dtype=float), q])
        if qd is not None:
            qd = np.vstack([np.zeros(len(expected)), qd])
    return JointPath(times=t, positions=q, velocities=qd)


def check_gripper_command(data: Sequence[float], max_opening: float) -> float:
    """The finger opening (m) of a gripper_controller/commands message, or TrajectoryError."""
    if len(data) != 1:
        raise TrajectoryError(f"gripper command needs exactly 1 value (opening in metres), got {len(data)}")
    w = float(data[0])
    if not np.isfinite(w) or not 0.0 <= w <= max_opening:
        raise TrajectoryError(f"gripper opening {w} m is out of range; valid: 0 .. {max_opening} m")
    return w
