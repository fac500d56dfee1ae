"""Sampling a timed joint trajectory by time, as a joint_trajectory_controller follows it.

One function for both sides of the wire: the planner predicts where the arm should be
(planner.motion.timing.Trajectory, the execution monitor) and the sim bridge's controller
commands the arm (armbrain_sim.trajectory.JointPath) with the same interpolation, so the
prediction and the motion agree exactly. Pure numpy. Units: radians, seconds.
"""

from __future__ import annotations

import numpy as np


def sample_joint_trajectory(times: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None,
                            t: float) -> np.ndarray:
    """Positions (n,) at t seconds from the start of a trajectory.

    times: (m,) seconds, strictly increasing, times[0] == 0. positions: (m, n) rad.
    velocities: (m, n) rad/s, or None. Between two points: cubic Hermite on the positions
    and velocities when velocities are given, linear otherwise (what
    joint_trajectory_controller does for position + velocity and position-only points).
    Before the start and after the end: the first and last positions (a copy).
    """
    if t <= 0.0:
        return positions[0].copy()
    if t >= times[-1]:
        return positions[-1].copy()
    i, h, s = _segment(times, t)
    p0, p1 = positions[i], positions[i + 1]
    if velocities is None:
        return p0 + s * (p1 - p0)
    v0, v1 = velocities[i] * h, velocities[i + 1] * h
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * v0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * v1


def sample_joint_trajectory_velocity(times: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None,
                                     t: float) -> np.ndarray:
    """Velocities (n,) at t seconds from the start: the time derivative of
    sample_joint_trajectory (the controller's feed-forward); zero before the start and
    after the end."""
    if t <= 0.0 or t >= times[-1]:
        return np.zeros(positions.shape[1])
    i, h, s = _segment(times, t)
    p0, p1 = positions[i], positions[i + 1]
    if velocities is None:
        return (p1 - p0) / h
    v0, v1 = velocities[i] * h, velocities[i + 1] * h
    s2 = s * s
    return ((6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * v0 + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * v1) / h


def _segment(times: np.ndarray, t: float) -> tuple[int, float, float]:
    """The segment holding 0 < t < times[-1]: its first point, its length (s) and where t lies in it (0..1)."""
    i = int(np.searchsorted(times, t, side="right")) - 1
    h = float(times[i + 1] - times[i])
    return i, h, (t - times[i]) / h
