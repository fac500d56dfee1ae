"""Motion planning for the arm: joint-space RRT-Connect with shortcutting, straight-line
Cartesian segments of the grasp frame, and verification of every returned path.

A path is a (k, n) array of joint configurations (rad) joined by straight joint-space
segments. Before a path is returned it is re-verified: every segment sampled so that no
joint moves more than ``validate_resolution`` rad between checked configurations, each
checked against the collision model with its margin. A path that fails is never returned.

Failures are typed (PlanCode) with a message that names what went wrong: an unreachable
pose (NO_IK), a start or goal in collision (which links touch what), no path in the time
allowed (NO_PATH). Every call is time-bounded.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from brain_common.kinematics import Kinematics, rotation_angle
from planner.motion.collision import CollisionModel, Contact
from planner.motion.rrt import make_segments_free, path_length, reduce_vertices, rrt_connect, shortcut
from planner.motion.timing import (
    BlendedTrajectory,
    TimingError,
    TimingLimits,
    Trajectory,
    concatenate,
    parameterize_blended,
    parameterize_segments,
    parameterize_smooth,
)

START_LIMIT_SLACK = 0.005  # rad: a start this close past a joint limit is taken as at the limit
MIN_CORNER = 0.03  # rad: a rounded corner narrower than this is taken sharp (time_parameterize_chain)


class PlanCode(StrEnum):
    SUCCESS = "SUCCESS"
    INVALID_INPUT = "INVALID_INPUT"          # wrong shape, not finite, outside the joint limits
    NO_IK = "NO_IK"                          # target pose unreachable (within limits, collision-free)
    START_IN_COLLISION = "START_IN_COLLISION"
    GOAL_IN_COLLISION = "GOAL_IN_COLLISION"
    NO_PATH = "NO_PATH"                      # no collision-free path found in the time allowed


@dataclass(frozen=True)
class PlanResult:
    """code/message: the outcome. path: (k, n) rad when SUCCESS, else None. contacts: the
    offending pairs for START/GOAL_IN_COLLISION (and a failing Cartesian segment).
    timings: seconds per phase ("plan", "smooth", "validate", "total"). collision: the
    model the path was verified against (time_parameterize re-checks with it)."""

    code: PlanCode
    message: str
    path: np.ndarray | None = None
    contacts: tuple[Contact, ...] = ()
    timings: dict = field(default_factory=dict)
    cartesian: bool = False  # a dense straight-line path (time it smoothly, without stops)
    collision: CollisionModel | None = field(default=None, repr=False, compare=False)  # verified against

    @property
    def success(self) -> bool:
        return self.code is PlanCode.SUCCESS

    @property
    def length(self) -> float:
        """Joint-space length of the path (rad, Euclidean), 0 when there is none."""
        return path_length(self.path) if self.path is not None else 0.0


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """Planning parameters (defaults in config/planner.params.yaml, group `motion`). Distances in rad, times in s."""

    plan_resolution: float = 0.04       # max joint step between configurations checked while growing trees
    smooth_resolution: float = 0.15     # first-pass step when checking shortcut candidates (survivors: validate_res.)
    validate_resolution: float = 0.01   # max joint step when re-verifying a path before returning it
    max_plan_time: float = 1.0          # RRT-Connect budget per attempt
    attempts: int = 3                   # RRT-Connect attempts (fresh random trees) before NO_PATH
    max_extension: float = 1.5          # longest tree extension towards a random sample (rad, Euclidean)
    node_spacing: int = 8               # keep every k-th checked configuration as a tree node
    rrt_batch: int = 4                  # random samples extended together per RRT-Connect iteration
    shortcut_rounds: int = 4            # batched shortcut rounds (measured: 4 rounds ~ 2.3 rad on the box wall)
    shortcut_batch: int = 12            # shortcut candidates checked per round
    shortcut_time: float = 0.05         # shortcutting wall-time cap (the rounds normally end it first)
    ik_restarts: int = 50               # random IK restarts after the seeds
    ik_time: float = 0.2                # IK wall-time cap per target (the restart count normally ends it first)
    cartesian_step: float = 0.005       # m between IK waypoints of a straight-line segment
    cartesian_max_joint_step: float = 0.1  # rad: a larger jump between waypoints is a flip -> failure

    def __post_init__(self) -> None:
        for name in ("plan_resolution", "smooth_resolution", "validate_resolution", "max_plan_time", "max_extension",
                     "shortcut_time", "ik_time", "cartesian_step", "cartesian_max_joint_step"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"planner config: {name} must be a finite number > 0, got {v!r}")
        if self.validate_resolution > 0.01 + 1e-12:
            raise ValueError(f"planner config: validate_resolution must be <= 0.01 rad, got {self.validate_resolution}")
        for name in ("attempts", "node_spacing", "rrt_batch", "shortcut_rounds", "shortcut_batch"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"planner config: {name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.ik_restarts, int) and self.ik_restarts >= 0):
            raise ValueError(f"planner config: ik_restarts must be an integer >= 0, got {self.ik_restarts!r}")


def interpolate(q1: np.ndarray, q2: np.ndarray, resolution: float) -> np.ndarray:
    """(k, n) configurations from q1 (excluded) to q2 (included), no joint moving more than
    `resolution` rad between neighbours; k >= 1."""
    d = q2 - q1
    k = max(1, math.ceil(float(np.max(np.abs(d))) / resolution - 1e-9))
    s = np.arange(1, k + 1)[:, None] / k
    return q1 + s * d


def densify(path: np.ndarray, resolution: float) -> np.ndarray:
    """(m, n) the path's configurations with every segment sampled at `resolution` rad
    (start included)."""
    P = np.asarray(path, dtype=float)
    parts = [P[:1]] + [interpolate(P[i], P[i + 1], resolution) for i in range(len(P) - 1)]
    return np.vstack(parts)


def describe_contacts(contacts, limit: int = 4) -> str:
    if not contacts:
        return "no contact found (outside the joint limits?)"
    text = "; ".join(str(c) for c in contacts[:limit])
    return text + (f"; and {len(contacts) - limit} more" if len(contacts) > limit else "")


class MotionPlanner:
    """Plans collision-free motions of the arm (see module docstring).

    kinematics: FK/IK of the arm. collision: the default collision model (the world as the
    planner knows it); every method takes an optional other model (e.g. without the object
    to grasp, or with it attached). rng: seeded randomness for sampling and IK restarts.
    """

    def __init__(self, kinematics: Kinematics, collision: CollisionModel, config: PlannerConfig | None = None,
                 rng: np.random.Generator | None = None) -> None:
        self.kinematics = kinematics
        self.collision = collision
        self.config = config or PlannerConfig()
        self.rng = rng if rng is not None else np.random.default_rng(0)

    # -- checks ----------------------------------------------------------------
    def _check_q(self, q, what: str) -> tuple[np.ndarray | None, str]:
        k = self.kinematics
        arr = np.asarray(q, dtype=float)
        if arr.shape != (k.dof,):
            return None, f"{what} must have {k.dof} joint values, got shape {arr.shape}"
        if not np.all(np.isfinite(arr)):
            return None, f"{what} is not finite: {np.array2string(arr, precision=3)}"
        if what == "start":
            # A measured start may sit a hair past a limit (the arm rests against it, or the
            # simulator's joint overshoots by micro-radians): plan from the limit itself.
            near = (arr >= k.lower - START_LIMIT_SLACK) & (arr <= k.upper + START_LIMIT_SLACK)
            arr = np.where(near, np.clip(arr, k.lower, k.upper), arr)
        out = np.flatnonzero((arr < k.lower - 1e-9) | (arr > k.upper + 1e-9))
        if out.size:
            j = int(out[0])
            return None, (f"{what}: {k.model.joint_names[j]} = {arr[j]:.4f} rad is outside its limits "
                          f"[{k.lower[j]:.4f}, {k.upper[j]:.4f}]")
        return arr, ""

    def validate_path(self, path, collision: CollisionModel | None = None,
                      resolution: float | None = None) -> tuple[bool, int, tuple[Contact, ...]]:
        """Re-verify a path (k, n): (ok, index of the first bad densified configuration or -1,
        its contacts). Densified so no joint moves more than `resolution` (default
        validate_resolution) rad between checked configurations."""
        cm = collision or self.collision
        P = np.asarray(path, dtype=float)
        if P.ndim != 2 or P.shape[1] != self.kinematics.dof or len(P) == 0 or not np.all(np.isfinite(P)):
            return False, 0, ()
        D = densify(P, resolution or self.config.validate_resolution)
        bad = cm.first_collision(D)
        if bad < 0:
            return True, -1, ()
        return False, bad, tuple(cm.explain(D[bad]))

    def _callables(self, cm: CollisionModel, resolution: float):
        k = self.kinematics
        rng = self.rng

        def sample_fn() -> np.ndarray:
            return rng.uniform(k.lower, k.upper)

        def distance_fn(q: np.ndarray, Q: np.ndarray) -> np.ndarray:
            return np.linalg.norm(Q - q, axis=1)

        def extend_fn(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
            return interpolate(q1, q2, resolution)

        return sample_fn, distance_fn, extend_fn, cm.in_collision

    # -- joint-space planning --------------------------------------------------
    def plan_to_configuration(self, start, goal, collision: CollisionModel | None = None,
                              time_limit: float | None = None) -> PlanResult:
        """A verified collision-free joint path from start (n,) to goal (n,) rad."""
        t0 = time.perf_counter()
        cm = collision or self.collision
        cfg = self.config
        q0, err = self._check_q(start, "start")
        if q0 is None:
            return PlanResult(PlanCode.INVALID_INPUT, err)
        q1, err = self._check_q(goal, "goal")
        if q1 is None:
            return PlanResult(PlanCode.INVALID_INPUT, err)
        if not cm.is_free(q0):
            contacts = tuple(cm.explain(q0))
            return PlanResult(PlanCode.START_IN_COLLISION,
                              f"start configuration is in collision: {describe_contacts(contacts)}", contacts=contacts)
        if not cm.is_free(q1):
            contacts = tuple(cm.explain(q1))
            return PlanResult(PlanCode.GOAL_IN_COLLISION,
                              f"goal configuration is in collision: {describe_contacts(contacts)}", contacts=contacts)
        deadline = t0 + (time_limit if time_limit is not None else cfg.max_plan_time * cfg.attempts)
        timings = {"plan": 0.0, "smooth": 0.0, "validate": 0.0}
        fns = self._callables(cm, cfg.plan_resolution)
        for resolution in (cfg.plan_resolution, cfg.validate_resolution):
            if resolution != cfg.plan_resolution:
                fns = self._callables(cm, resolution)  # a path missed a thin obstacle: plan as finely as we check
            for _ in range(cfg.attempts):
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                ta = time.perf_counter()
                raw = rrt_connect(q0, q1, *fns, max_time=min(cfg.max_plan_time, remaining),
                                  max_extension=cfg.max_extension, node_spacing=cfg.node_spacing,
                                  batch=cfg.rrt_batch)
                tb = time.perf_counter()
                timings["plan"] += tb - ta
                if raw is None:
                    continue
                path = self._smooth(raw, cm)
                tc = time.perf_counter()
                timings["smooth"] += tc - tb
                ok, _, _ = self.validate_path(path, cm)
                if not ok and resolution != cfg.validate_resolution:
                    # a kept tree edge (checked at plan_resolution) clips something thinner:
                    # re-plan just that segment as finely as paths are verified
                    path = self._repair(path, cm, deadline)
                    ok = path is not None and self.validate_path(path, cm)[0]
                timings["validate"] += time.perf_counter() - tc
                if ok:
                    timings["total"] = time.perf_counter() - t0
                    P = np.array(path)
                    return PlanResult(PlanCode.SUCCESS, f"path of {len(P)} waypoints, {path_length(P):.2f} rad",
                                      path=P, timings=timings, collision=cm)
        timings["total"] = time.perf_counter() - t0
        return PlanResult(PlanCode.NO_PATH, f"no collision-free path found in {timings['total']:.2f} s "
                          f"({cfg.attempts} RRT-Connect attempts); the goal may be enclosed by obstacles",
                          timings=timings)

    def _repair(self, path: list[np.ndarray], cm: CollisionModel, deadline: float) -> list[np.ndarray] | None:
        """Replace every segment of `path` that fails at validate_resolution by a sub-plan
        checked at that resolution; None when one cannot be found in time."""
        cfg = self.config
        fine = make_segments_free(cm.in_collision, cfg.validate_resolution)
        P = [np.asarray(q, dtype=float) for q in path]
        ok = fine(list(itertools.pairwise(P)))
        fns = self._callables(cm, cfg.validate_resolution)
        out = [P[0]]
        for i, good in enumerate(ok):
            if good:
                out.append(P[i + 1])
                continue
            remaining = deadline - time.perf_counter()
            sub = None if remaining <= 0 else rrt_connect(
                P[i], P[i + 1], *fns, max_time=min(cfg.max_plan_time, remaining), max_extension=cfg.max_extension,
                node_spacing=cfg.node_spacing, batch=cfg.rrt_batch)
            if sub is None:
                return None
            out.extend(reduce_vertices(sub, fine)[1:])
        return out

    def _smooth(self, raw: list[np.ndarray], cm: CollisionModel) -> list[np.ndarray]:
        """Vertex reduction, batched random shortcuts, vertex reduction. Candidates are
        screened at smooth_resolution and every accepted segment verified at
        validate_resolution; raw tree edges kept unchanged were checked at plan_resolution
        (the final validation covers them)."""
        cfg = self.config
        coarse = make_segments_free(cm.in_collision, cfg.smooth_resolution)
        fine = make_segments_free(cm.in_collision, cfg.validate_resolution)
        path = reduce_vertices(raw, coarse, fine, candidates=4)
        path = shortcut(path, coarse, fine, self.rng, rounds=cfg.shortcut_rounds, batch=cfg.shortcut_batch,
                        max_time=cfg.shortcut_time)
        return reduce_vertices(path, coarse, fine)

    # -- timing ------------------------------------------------------------------
    def time_parameterize(self, plan: PlanResult, limits: TimingLimits, dt: float = 0.01,
                          collision: CollisionModel | None = None) -> Trajectory:
        """The timed trajectory of a successful plan: joint paths stop at each waypoint
        (ruckig, on the verified segments), Cartesian paths flow (toppra). The sampled
        trajectory is re-verified like a path (the controller follows these samples), with
        `collision` or else the model the plan was verified against; TimingError when it
        fails, so a trajectory that collides is never returned."""
        if not plan.success or plan.path is None:
            raise TimingError(f"no path to time: {plan.code.value}: {plan.message}")
        traj = (parameterize_smooth if plan.cartesian else parameterize_segments)(plan.path, limits, dt)
        k = self.kinematics
        clipped = np.clip(traj.positions, k.lower, k.upper)
        if 0.0 < np.max(np.abs(clipped - traj.positions)) <= START_LIMIT_SLACK:
            # the interpolant overshoots a waypoint that lies on a joint limit by a hair
            traj = dataclasses.replace(traj, positions=clipped)
        ok, _, contacts = self.validate_path(traj.positions, collision or plan.collision)
        if not ok:
            raise TimingError(f"the timed trajectory leaves the verified path into a collision: "
                              f"{describe_contacts(contacts)}")
        return traj

    def time_parameterize_chain(self, plans: list[PlanResult], limits: TimingLimits, dt: float = 0.01,
                                collisions: list[CollisionModel | None] | None = None, blend: bool = True,
                                step: float = 0.05, corner: float = 0.0) -> BlendedTrajectory:
        """One motion through successful plans that each start where the one before ends (an
        approach and its straight descent; a transfer and the lowering), without a new start
        (and its start delay) in between. The faster of two verified timings:
        - each plan timed on its own as by time_parameterize (it stops at their waypoints),
          played back to back;
        - blended (timing.parameterize_blended: through every waypoint without stopping),
          with the straight segments subdivided every `step` and 3 x `step` rad, kept only when
          every sample is free in the model of the plan it belongs to (`collisions[i]`, else
          the plan's own; the junction samples in the models on both sides), checked at
          validate_resolution like every path, and within the joint limits.
        Blending pays where the path turns gently; at a sharp corner it slows almost to a stop.
        corner > 0: first the chain with its junctions rounded (parameterize_blended), taken
        when it verifies, its corners also in the models of both pieces they join.
        TimingError when no timing is free of collisions."""
        if not plans:
            raise TimingError("no path to time: the chain is empty")
        for plan in plans:
            if not plan.success or plan.path is None:
                raise TimingError(f"no path to time: {plan.code.value}: {plan.message}")
        models = [(collisions[i] if collisions is not None and collisions[i] is not None else plan.collision)
                  for i, plan in enumerate(plans)]
        best: BlendedTrajectory | None = None
        error: TimingError | None = None
        try:
            best = concatenate([self.time_parameterize(p, limits, dt, m) for p, m in zip(plans, models, strict=True)])
        except TimingError as exc:
            error = exc
        if blend and (len(plans) > 1 or (not plans[0].cartesian and len(plans[0].path) > 2)):
            # rounded corners first (the fastest when free; a corner not free in both models it
            # joins is tried half as wide, then sharp); then through every waypoint
            corners = [corner] * (len(plans) - 1) if len(plans) > 1 and corner > 0.0 else []
            variants = [(step, tuple(corners))] if corners else []
            rounded_ok = False
            while variants:
                s, c = variants.pop(0)
                try:
                    blended = parameterize_blended([p.path for p in plans], limits, dt, s, corner=c)
                except TimingError:
                    break
                bad = self._corners_not_free(blended, models)
                if not bad and self._pieces_free(blended, models):
                    if best is None or blended.trajectory.duration < best.trajectory.duration:
                        best, rounded_ok = blended, True
                    break
                # a corner not free: rounded half as wide, then not at all
                rest = tuple((x / 2 if x / 2 >= MIN_CORNER else 0.0) if j in bad else x for j, x in enumerate(c))
                if bad and any(x > 0.0 for x in rest):
                    variants.append((s, rest))
            for s in () if rounded_ok else (step, 3 * step):
                try:
                    blended = parameterize_blended([p.path for p in plans], limits, dt, s)
                except TimingError:
                    continue
                if (best is None or blended.trajectory.duration < best.trajectory.duration) \
                        and self._chain_free(blended, models):
                    best = blended
        if best is None:
            raise error or TimingError("no timing of the chain is free of collisions")
        return best

    def _chain_free(self, blended: BlendedTrajectory, models: list[CollisionModel | None]) -> bool:
        return self._pieces_free(blended, models) and not self._corners_not_free(blended, models)

    def _pieces_free(self, blended: BlendedTrajectory, models: list[CollisionModel | None]) -> bool:
        """Within the joint limits, and every piece's samples free in its model (with the
        junction samples on both sides)."""
        k = self.kinematics
        qs = blended.trajectory.positions
        if not np.all((qs >= k.lower - 1e-9) & (qs <= k.upper + 1e-9)):
            return False
        piece = blended.piece_of_sample
        for i, cm in enumerate(models):
            idx = np.flatnonzero(piece == i)
            if idx.size == 0:
                continue
            lo, hi = max(0, idx[0] - 1), min(len(qs) - 1, idx[-1] + 1)  # with the junctions on both sides
            if not self.validate_path(qs[lo:hi + 1], cm or self.collision)[0]:
                return False
        return True

    def _corners_not_free(self, blended: BlendedTrajectory, models: list[CollisionModel | None]) -> list[int]:
        """The junctions whose rounded corner is not free in the models of both pieces it joins
        (a rounded corner leaves both)."""
        qs = blended.trajectory.positions
        bad = []
        for j, (a, b) in enumerate(blended.corner_windows):
            if b > a and not all(self.validate_path(qs[a:b + 1], cm or self.collision)[0]
                                 for cm in (models[j], models[j + 1])):
                bad.append(j)
        return bad

    # -- targets given as poses -------------------------------------------------
    def ik(self, T_target, seed, collision: CollisionModel | None = None):
        """IKResult for the grasp frame at T_target (4, 4): within limits, collision-free
        (with the model's margin), seeded from `seed` (n,) then random restarts."""
        cm = collision or self.collision
        cfg = self.config
        return self.kinematics.ik(T_target, seed, rng=self.rng, restarts=cfg.ik_restarts, time_limit=cfg.ik_time,
                                  validate=cm.is_free)

    def plan_to_pose(self, start, T_goal, collision: CollisionModel | None = None,
                     time_limit: float | None = None, explain: bool = True) -> PlanResult:
        """A verified joint path from start (n,) to a configuration placing the grasp frame at
        T_goal (4, 4); NO_IK when no collision-free in-limit configuration reaches it
        (GOAL_IN_COLLISION when some do, but all of those found collide: told apart by a
        second IK search, skipped when not `explain`, which then says NO_IK for both)."""
        cm = collision or self.collision
        q0, err = self._check_q(start, "start")
        if q0 is None:
            return PlanResult(PlanCode.INVALID_INPUT, err)
        T = np.asarray(T_goal, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            return PlanResult(PlanCode.INVALID_INPUT, f"goal pose must be a finite (4, 4) transform, got {T.shape}")
        res = self.ik(T, q0, cm)
        if not res.success and not explain:
            p = T[:3, 3]
            return PlanResult(PlanCode.NO_IK, f"no collision-free configuration found for the goal pose at "
                              f"({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) after {res.attempts} starts")
        if not res.success:
            free_any = self.kinematics.ik(T, q0, rng=self.rng, restarts=self.config.ik_restarts,
                                          time_limit=self.config.ik_time)
            p = T[:3, 3]
            if free_any.success:
                contacts = tuple(cm.explain(free_any.q))
                return PlanResult(PlanCode.GOAL_IN_COLLISION,
                                  f"every IK solution found for the goal pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) "
                                  f"is in collision, e.g. {describe_contacts(contacts)}", contacts=contacts)
            return PlanResult(PlanCode.NO_IK, f"goal pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) is unreachable "
                              f"within the joint limits (best IK error {res.position_error * 1000:.1f} mm, "
                              f"{math.degrees(res.angle_error):.1f} deg after {res.attempts} starts)")
        return self.plan_to_configuration(q0, res.q, cm, time_limit)

    # -- straight lines of the grasp frame ---------------------------------------
    def plan_cartesian(self, start, T_goal, collision: CollisionModel | None = None) -> PlanResult:
        """A joint path moving the grasp frame in a straight line (orientation slerped) from
        FK(start) to T_goal (4, 4): IK every `cartesian_step` m (or 2 deg), each seeded
        from the previous solution; verified like every path. NO_IK names the first
        unreachable waypoint; a joint jump (a flip) or a collision is NO_PATH."""
        t0 = time.perf_counter()
        cm = collision or self.collision
        cfg = self.config
        k = self.kinematics
        q0, err = self._check_q(start, "start")
        if q0 is None:
            return PlanResult(PlanCode.INVALID_INPUT, err)
        T1 = np.asarray(T_goal, dtype=float)
        if T1.shape != (4, 4) or not np.all(np.isfinite(T1)):
            return PlanResult(PlanCode.INVALID_INPUT, f"goal pose must be a finite (4, 4) transform, got {T1.shape}")
        if not cm.is_free(q0):
            contacts = tuple(cm.explain(q0))
            return PlanResult(PlanCode.START_IN_COLLISION,
                              f"start configuration is in collision: {describe_contacts(contacts)}", contacts=contacts)
        T0 = k.fk(q0)
        dist = float(np.linalg.norm(T1[:3, 3] - T0[:3, 3]))
        ang = rotation_angle(T0[:3, :3], T1[:3, :3])
        n = max(1, math.ceil(max(dist / cfg.cartesian_step, ang / math.radians(2.0))))
        path = [q0]
        q = q0
        for i in range(1, n + 1):
            s = i / n
            T = np.eye(4)
            T[:3, 3] = T0[:3, 3] + s * (T1[:3, 3] - T0[:3, 3])
            T[:3, :3] = _slerp(T0[:3, :3], T1[:3, :3], s)
            res = k.ik(T, q, restarts=0, max_iterations=40, time_limit=cfg.ik_time)
            if not res.success:
                p = T[:3, 3]
                return PlanResult(PlanCode.NO_IK, f"straight line: waypoint {i}/{n} at ({p[0]:.3f}, {p[1]:.3f}, "
                                  f"{p[2]:.3f}) is unreachable from the previous one within the joint limits")
            jump = float(np.max(np.abs(res.q - q)))
            if jump > cfg.cartesian_max_joint_step:
                return PlanResult(PlanCode.NO_PATH, f"straight line: the arm would flip between waypoints {i - 1} "
                                  f"and {i} (a joint jumps {jump:.2f} rad); approach from another direction")
            path.append(res.q)
            q = res.q
        P = np.array(path)
        ok, _, contacts = self.validate_path(P, cm)
        timings = {"total": time.perf_counter() - t0}
        if not ok:
            return PlanResult(PlanCode.NO_PATH, f"straight line is blocked: {describe_contacts(contacts)}",
                              contacts=contacts, timings=timings)
        return PlanResult(PlanCode.SUCCESS, f"straight line of {dist * 1000:.0f} mm, {len(P)} waypoints", path=P,
                          timings=timings, cartesian=True, collision=cm)


def _slerp(R0: np.ndarray, R1: np.ndarray, s: float) -> np.ndarray:
    """Rotation a fraction s (0..1) of the way from R0 to R1 (3, 3)."""
    from brain_common.kinematics import rotation_log

    w = rotation_log(R1 @ R0.T) * s
    angle = float(np.linalg.norm(w))
    if angle < 1e-12:
        return R0.copy()
    a = w / angle
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    R = np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K
    return R @ R0
