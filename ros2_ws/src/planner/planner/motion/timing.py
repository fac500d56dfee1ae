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
- A chain of paths executed as one motion (a planned path, then the straight descent that
  follows it): ``parameterize_blended``, toppra along one C2 cubic spline through every
  waypoint of the chain (straight segments subdivided every ``step`` rad first), so the arm
  passes through every waypoint without stopping there. Between waypoints the spline leaves
  the verified straight segments by a little (most near sharp corners): the caller
  re-verifies the sampled trajectory for collisions (MotionPlanner.time_parameterize_chain)
  and falls back to stopping at the waypoints when it touches anything. Toppra bounds
  velocity and acceleration; the jerk (of the sampled accelerations) is bounded by
  stretching time where it exceeds its limit (jerk scales with 1/k^3, so the velocity and
  acceleration limits still hold).

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

    def excess(self, trajectory: Trajectory) -> float:
        """The largest ratio of a sampled velocity, acceleration or jerk (the finite difference of
        the sampled accelerations) to its limit over every joint and sample (<= 1: within)."""
        v = np.max(np.abs(trajectory.velocities) / self.max_velocity, initial=0.0)
        a = np.max(np.abs(trajectory.accelerations) / self.acceleration, initial=0.0)
        j = np.max(np.abs(sampled_jerk(trajectory)) / self.jerk, initial=0.0)
        return float(max(v, a, j))


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


def sampled_jerk(trajectory: Trajectory) -> np.ndarray:
    """(k-1, n) rad/s^3: the change of the sampled accelerations between neighbouring samples
    over their time step (what a controller following the samples sees)."""
    dt = np.diff(trajectory.times)[:, None]
    return np.diff(trajectory.accelerations, axis=0) / np.maximum(dt, 1e-9)


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



def _toppra(P: np.ndarray, limits: TimingLimits, gridpoints: int):
    """toppra's time-optimal motion (starting and ending at rest) along a cubic spline through
    the waypoints P (k >= 3, n) by chord length, within the velocity and acceleration
    limits; None when it finds none."""
    import toppra as ta
    import toppra.algorithm as algo
    import toppra.constraint as constraint

    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(P, axis=0), axis=1))])
    spline = ta.SplineInterpolator(chord / chord[-1], P)
    vmax, amax = limits.max_velocity, limits.acceleration
    pc_vel = constraint.JointVelocityConstraint(np.stack([-vmax, vmax], axis=1))
    pc_acc = constraint.JointAccelerationConstraint(np.stack([-amax, amax], axis=1))
    instance = algo.TOPPRA([pc_vel, pc_acc], spline, gridpoints=np.linspace(0.0, 1.0, gridpoints),
                           parametrizer="ParametrizeConstAccel")
    return instance.compute_trajectory(0.0, 0.0)

def parameterize_smooth(path, limits: TimingLimits, dt: float = 0.01, gridpoints: int | None = None) -> Trajectory:
    """Time-optimal (toppra) along a cubic spline through the dense waypoints of `path`
    (k, n), starting and ending at rest, sampled every dt s."""
    P = _check_path(path, limits)
    keep = [0] + [i for i in range(1, len(P)) if np.max(np.abs(P[i] - P[i - 1])) > 1e-9]
    P = P[keep]
    n = P.shape[1]
    if len(P) == 1:
        z = np.zeros((1, n))
        return Trajectory(np.zeros(1), P.copy(), z, z.copy())
    if len(P) == 2:
        return parameterize_segments(P, limits, dt)
    vmax = limits.max_velocity
    jt = _toppra(P, limits, gridpoints or int(np.clip(4 * len(P), 50, 400)))
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


@dataclass(frozen=True)
class BlendedTrajectory:
    """A timed chain of paths. trajectory: the whole motion; junctions: (m-1,) s, the times
    at which it passes the first waypoint of pieces 1..m-1 (where one stage hands over to
    the next); piece_of_sample: (k,) the piece each sample belongs to; stops: whether it
    stops at the waypoints (the fallback) or flows through them (blended); corner_windows:
    per junction, the first and last sample of where a rounded corner (parameterize_blended's
    `corner`) left the pieces (empty when the corners were not rounded)."""

    trajectory: Trajectory
    junctions: tuple[float, ...]
    piece_of_sample: np.ndarray
    stops: bool
    corner_windows: tuple[tuple[int, int], ...] = ()


def chain_pieces(pieces) -> list[np.ndarray]:
    """The pieces (each (k_i, n), k_i >= 1) checked to join: each starts where the one
    before it ends (1e-6 rad); TimingError naming the first gap."""
    out = [np.asarray(p, dtype=float) for p in pieces]
    if not out:
        raise TimingError("no path to time: the chain is empty")
    for i in range(1, len(out)):
        gap = float(np.max(np.abs(out[i][0] - out[i - 1][-1])))
        if gap > 1e-6:
            raise TimingError(f"path {i} does not start where path {i - 1} ends ({gap:.2e} rad apart)")
    return out


def parameterize_blended(pieces, limits: TimingLimits, dt: float = 0.01, step: float = 0.05,
                         corner: float | tuple[float, ...] = 0.0) -> BlendedTrajectory:
    """One motion through the whole chain `pieces` (each (k_i, n) rad; see chain_pieces),
    starting and ending at rest, without stopping at any waypoint in between: toppra
    (velocity and acceleration limits) along a C2 cubic spline (chord-length parameter)
    through every waypoint, straight segments first subdivided so that no joint moves more
    than `step` rad between spline knots (the spline then keeps close to them, bulging most
    near sharp corners), then slowed uniformly where the sampled jerk exceeds its limit.
    corner > 0 rounds the junctions between pieces (one value for all, or one per junction):
    the knots within `corner` rad (every joint) of a junction are left out, at most half of
    either piece, so the spline cuts the
    corner instead of slowing almost to a stop in it (a straight lift turning into a wrist
    turn). `corner_windows` of the result gives the samples that left the pieces there.
    Sampled every dt s. Not collision-checked: the caller verifies the samples."""
    parts = chain_pieces(pieces)
    knots: list[np.ndarray] = [parts[0][0]]
    firsts: list[int] = []  # knot index of the first waypoint of pieces 1..
    for i, part in enumerate(_check_path(p, limits) for p in parts):
        if i > 0:
            firsts.append(len(knots) - 1)
        for q in part[1:]:
            a = knots[-1]
            d = q - a
            m = float(np.max(np.abs(d)))
            if m <= 1e-9:
                continue
            k = max(1, math.ceil(m / step - 1e-9))
            for j in range(1, k + 1):
                knots.append(a + d * (j / k))
    P = np.array(knots)
    junctions = P[firsts] if firsts else np.zeros((0, P.shape[1]))
    corners = tuple(corner) if isinstance(corner, (tuple, list)) else (float(corner),) * len(firsts)
    if len(corners) != len(firsts):
        raise TimingError(f"{len(corners)} corner sizes for {len(firsts)} junctions")
    if any(c > 0.0 for c in corners):
        P = _round_corners(P, firsts, corners)
    if len(P) < 3:  # a single straight segment (or none): the stopping profile is the optimum
        tr = parameterize_segments(P, limits, dt)
        return BlendedTrajectory(tr, tuple(0.0 for _ in firsts), np.zeros(len(tr.times), dtype=int), True)
    vmax, amax = limits.max_velocity, limits.acceleration
    jt = _toppra(P, limits, int(np.clip(3 * len(P), 100, 1500)))
    if jt is None:
        raise TimingError("toppra found no feasible parameterization of the chain (limits too tight?)")

    def sampled(K: float) -> Trajectory:
        """toppra's motion K >= 1 times slower (velocity / K, acceleration / K^2, jerk / K^3)."""
        T = float(jt.duration) * K
        ts = np.linspace(0.0, T, max(1, math.ceil(T / dt)) + 1)
        u = np.clip(ts / K, 0.0, float(jt.duration))
        pos, vel, acc = np.asarray(jt(u)), np.asarray(jt(u, 1)) / K, np.asarray(jt(u, 2)) / K ** 2
        pos[0], pos[-1] = P[0], P[-1]  # at rest at both ends (the jerk check sees these jumps too)
        vel[0] = vel[-1] = acc[0] = acc[-1] = 0.0
        return Trajectory(ts, pos, vel, acc)

    # Toppra's constant-acceleration pieces jump in acceleration: bound the jerk of the
    # samples by slowing down where needed (a rounding-level velocity excess goes too).
    K = 1.0
    tr = sampled(K)
    for _ in range(8):
        if limits.excess(tr) <= 1.0:
            break
        j = float(np.max(np.abs(sampled_jerk(tr)) / limits.jerk, initial=0.0))
        v = float(np.max(np.abs(tr.velocities) / vmax, initial=0.0))
        a = float(np.max(np.abs(tr.accelerations) / amax, initial=0.0))
        K *= max(1.0, v, math.sqrt(a), j ** (1.0 / 3.0)) * 1.002
        tr = sampled(K)
    if limits.excess(tr) > 1.0:
        raise TimingError(f"the blended chain exceeds its limits by {limits.excess(tr):.3f} x after slowing down")
    # Which piece each sample belongs to, and when the motion passes each junction: the
    # samples nearest the junction waypoints, in order.
    junction_idx = []
    lo = 0
    for J in junctions:
        d = np.linalg.norm(tr.positions[lo:] - J, axis=1)
        i = lo + int(np.argmin(d))
        junction_idx.append(i)
        lo = i
    piece = np.zeros(len(tr.times), dtype=int)
    for i in junction_idx:
        piece[i:] += 1
    windows: list[tuple[int, int]] = []
    if any(c > 0.0 for c in corners):  # the samples near each junction, where the rounded path left the pieces
        for J, i, c in zip(junctions, junction_idx, corners, strict=True):
            if c <= 0.0:
                windows.append((i, i))
                continue
            near = np.max(np.abs(tr.positions - J), axis=1) < c + step
            a = b = i
            while a > 0 and near[a - 1]:
                a -= 1
            while b < len(near) - 1 and near[b + 1]:
                b += 1
            windows.append((a, b))
    return BlendedTrajectory(tr, tuple(float(tr.times[i]) for i in junction_idx), piece, False, tuple(windows))


def _round_corners(P: np.ndarray, firsts: list[int], corners: tuple[float, ...]) -> np.ndarray:
    """The knots P without those within corners[j] rad of junction knot P[firsts[j]], keeping
    at least half of the knots on either side of it and both ends of the chain."""
    bounds = [0, *firsts, len(P) - 1]
    drop = np.zeros(len(P), dtype=bool)
    for j, (f, corner) in enumerate(zip(firsts, corners, strict=True)):
        if corner <= 0.0:
            continue
        lo_half = f - (f - bounds[j]) // 2  # at most half of the piece before ...
        hi_half = f + (bounds[j + 2] - f) // 2  # ... and of the piece after
        close = np.max(np.abs(P - P[f]), axis=1) < corner
        for i in range(f, lo_half - 1, -1):
            if not close[i]:
                break
            drop[i] = True
        for i in range(f, hi_half + 1):
            if not close[i]:
                break
            drop[i] = True
    drop[0] = drop[-1] = False
    return P[~drop]


def concatenate(trajectories: list[Trajectory]) -> BlendedTrajectory:
    """Trajectories that each start where the one before ends, at rest, played one after
    the other as one motion (it stops between them)."""
    times, pos, vel, acc, piece, junctions = [], [], [], [], [], []
    t0 = 0.0
    for i, tr in enumerate(trajectories):
        first = 0 if i == 0 else 1
        if i > 0:
            junctions.append(t0)
        times.append(tr.times[first:] + t0)
        pos.append(tr.positions[first:])
        vel.append(tr.velocities[first:])
        acc.append(tr.accelerations[first:])
        piece.append(np.full(len(tr.times) - first, i))
        t0 += tr.duration
    out = Trajectory(np.concatenate(times), np.vstack(pos), np.vstack(vel), np.vstack(acc))
    return BlendedTrajectory(out, tuple(junctions), np.concatenate(piece), True)
