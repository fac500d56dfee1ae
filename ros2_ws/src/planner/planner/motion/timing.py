"""Time parameterization of joint paths within velocity, acceleration and jerk limits.

Two path kinds, two libraries (neither hand-rolled):

- A planned joint-space path (a few waypoints joined by straight segments, each verified
  for collisions): ruckig, one jerk-limited rest-to-rest profile per segment along the
  segment's own parameter, so every joint moves in proportion and the arm stays exactly
  on the verified straight segment. The arm stops at each waypoint (after shortcutting
  there are few).
- A dense path that samples a smooth curve (a Cartesian straight line of the grasp frame,
  IK every few mm): toppra, time-optimal under the velocity and acceleration limits
  along a cubic spline through the waypoints (one solve, no stops).

The result is sampled every ``dt`` seconds (positions, velocities, accelerations), ready
for a trajectory_msgs/JointTrajectory. Units: rad, rad/s, rad/s^2, rad/s^3, seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brain_common.trajectory import sample_joint_trajectory


class TimingError(ValueError):
    """A path or a limit that cannot be time-parameterized; the message names it."""


@dataclass(frozen=True)
class TimingLimits:
    """Per-joint limits (n,): velocity rad/s (the URDF's), acceleration rad/s^2 and jerk
    rad/s^3 (configured). velocity_scale in (0, 1] scales the velocity limits."""

    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray
    velocity_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("velocity", "acceleration", "jerk"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.ndim != 1 or not np.all(np.isfinite(v)) or np.any(v <= 0):
                raise TimingError(f"{name} limits must be finite and > 0, got {v}")
            object.__setattr__(self, name, v)
        if not (0.0 < self.velocity_scale <= 1.0):
            raise TimingError(f"velocity_scale must be in (0, 1], got {self.velocity_scale}")
        if not (len(self.velocity) == len(self.acceleration) == len(self.jerk)):
            raise TimingError("velocity, acceleration and jerk limits differ in length")

    @property
    def max_velocity(self) -> np.ndarray:
        return self.velocity * self.velocity_scale


@dataclass(frozen=True)
class Trajectory:
    """A timed joint trajectory. times: (k,) s from the start, times[0] == 0, increasing.
    positions/velocities/accelerations: (k, n)."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def start(self) -> np.ndarray:
        return self.positions[0]

    @property
    def goal(self) -> np.ndarray:
        return self.positions[-1]

    def sample(self, t: float) -> np.ndarray:
        """Positions (n,) at t seconds (cubic Hermite between samples, clamped at the ends):
        what a joint_trajectory_controller follows, and the sim's controller with it
        (brain_common.trajectory, one function for both)."""
        return sample_joint_trajectory(self.times, self.positions, self.velocities, t)


def _check_path(path, limits: TimingLimits) -> np.ndarray:
    P = np.asarray(path, dtype=float)
    if P.ndim != 2 or len(P) < 1 or P.shape[1] != len(limits.velocity):
        raise TimingError(f"path must be (k, {len(limits.velocity)}) joint positions, got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        raise TimingError("path has non-finite positions")
    return P


def parameterize_segments(path, limits: TimingLimits, dt: float = 0.01) -> Trajectory:
    """Rest-to-rest along each straight segment of `path` (k, n), sampled every dt s; stops
    at the waypoints. Each segment is q(t) = a + s(t) (b - a) with s(t) a jerk-limited
    ruckig profile from 0 to 1 under the tightest scaled limits (v_i / |b_i - a_i|, ...):
    exactly on the verified segment, every joint within its limits, the slowest joint at
    its limit (ruckig's own multi-joint phase synchronisation leaves the line when it
    cannot synchronise: 0.02 rad measured)."""
    from ruckig import InputParameter, Result, Ruckig
    from ruckig import Trajectory as RuckigTrajectory

    P = _check_path(path, limits)
    n = P.shape[1]
    keep = [0] + [i for i in range(1, len(P)) if np.max(np.abs(P[i] - P[i - 1])) > 1e-9]
    P = P[keep]
    times, pos, vel, acc = [0.0], [P[0]], [np.zeros(n)], [np.zeros(n)]
    otg = Ruckig(1)
    t_offset = 0.0
    for i in range(len(P) - 1):
        d = P[i + 1] - P[i]
        ad = np.maximum(np.abs(d), 1e-12)
        inp = InputParameter(1)
        inp.current_position, inp.target_position = [0.0], [1.0]
        inp.current_velocity = inp.current_acceleration = [0.0]
        inp.target_velocity = inp.target_acceleration = [0.0]
        inp.max_velocity = [float(np.min(limits.max_velocity / ad))]
        inp.max_acceleration = [float(np.min(limits.acceleration / ad))]
        inp.max_jerk = [float(np.min(limits.jerk / ad))]
        traj = RuckigTrajectory(1)
        result = otg.calculate(inp, traj)
        if result not in (Result.Working, Result.Finished):
            raise TimingError(f"ruckig failed on segment {i} ({result})")
        T = float(traj.duration)
        steps = max(1, math.ceil(T / dt))
        for k in range(1, steps + 1):
            t = T * k / steps
            (s,), (sd,), (sdd,) = traj.at_time(t)
            times.append(t_offset + t)
            pos.append(P[i] + s * d)
            vel.append(sd * d)
            acc.append(sdd * d)
        pos[-1] = P[i + 1].copy()  # exactly on the waypoint, at rest
        vel[-1] = np.zeros(n)
        acc[-1] = np.zeros(n)
        t_offset += T
    return Trajectory(np.array(times), np.array(pos), np.array(vel), np.array(acc))


def parameterize_smooth(path, limits: TimingLimits, dt: float = 0.01, gridpoints: int | None = None) -> Trajectory:
    """Time-optimal (toppra) along a cubic spline through the dense waypoints of `path`
    (k, n), starting and ending at rest, sampled every dt s."""
    import toppra as ta
    import toppra.algorithm as algo
    import toppra.constraint as constraint

    P = _check_path(path, limits)
    keep = [0] + [i for i in range(1, len(P)) if np.max(np.abs(P[i] - P[i - 1])) > 1e-9]
    P = P[keep]
    n = P.shape[1]
    if len(P) == 1:
        z = np.zeros((1, n))
        return Trajectory(np.zeros(1), P.copy(), z, z.copy())
    if len(P) == 2:
        return parameterize_segments(P, limits, dt)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(P, axis=0), axis=1))])
    ss = chord / chord[-1]
    spline = ta.SplineInterpolator(ss, P)
    vmax = limits.max_velocity
    amax = limits.acceleration
    pc_vel = constraint.JointVelocityConstraint(np.stack([-vmax, vmax], axis=1))
    pc_acc = constraint.JointAccelerationConstraint(np.stack([-amax, amax], axis=1))
    grid = gridpoints or int(np.clip(4 * len(P), 50, 400))
    instance = algo.TOPPRA([pc_vel, pc_acc], spline, gridpoints=np.linspace(0.0, 1.0, grid),
                           parametrizer="ParametrizeConstAccel")
    jt = instance.compute_trajectory(0.0, 0.0)
    if jt is None:
        raise TimingError("toppra found no feasible parameterization (limits too tight?)")
    T = float(jt.duration)
    steps = max(1, math.ceil(T / dt))
    ts = np.linspace(0.0, T, steps + 1)
    pos, vel, acc = np.asarray(jt(ts)), np.asarray(jt(ts, 1)), np.asarray(jt(ts, 2))
    pos[0], pos[-1] = P[0], P[-1]
    vel[0] = vel[-1] = 0.0
    if np.any(np.abs(vel) > vmax * 1.01):
        j = int(np.argmax(np.max(np.abs(vel) / vmax, axis=0)))
        raise TimingError(f"toppra exceeded the velocity limit of joint {j} by more than 1 %")
    vel = np.clip(vel, -vmax, vmax)  # toppra's discretisation: a rounding-level overshoot at most
    return Trajectory(ts, pos, vel, acc)
