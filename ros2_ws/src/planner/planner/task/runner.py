"""Staged pick-and-place, in the spirit of MoveIt Task Constructor (pure Python).

The runner plans fully, then executes each stage as a named, timed unit with its own
failure code: perceive -> select -> plan_grasps -> plan_approach -> open -> approach ->
close -> verify_held -> lift -> transfer -> place -> release -> retreat -> home ->
verify_placed. A failed grasp or a lost object re-perceives and retries with the next
candidate, up to `max_attempts`; multi-object goals go on with the remaining objects.

Everything the runner needs from the robot comes through `Ports` (the planner node
implements it over ROS; tests use fakes). It runs in a worker thread and blocks on the
ports; `ports.canceled()` is checked between stages and after every motion and gripper
command (the ports end those early on cancel); a cancel ends the task CANCELED in the
stage that was running (or was to run next), with the arm stopped. The e-stop stops it the
same way (`ports.canceled()` is true while it is engaged) and ends it ESTOPPED
(`ports.estopped()` says who engaged it and why).
Frames: base frame, metres, radians; times are ROS (sim) seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from brain_common.cell import Bin, Gripper, default_cell
from planner.motion.collision import AttachedObject, CollisionModel, Obstacle, bin_obstacles
from planner.motion.planner import MotionPlanner, PlanResult
from planner.motion.timing import BlendedTrajectory, TimingError, TimingLimits, Trajectory
from planner.task.goals import (
    GoalError,
    ObjectRef,
    ResolveError,
    Scene,
    SeenObject,
    Target,
    TaskGoal,
    resolve,
)
from planner.task.placement import (
    BinItem,
    Workspace,
    WorldObject,
    check_graspable,
    check_position_target,
    check_stack_target,
    held_extents,
    place_pose,
)

START_MATCH = 0.003  # rad: a motion planned ahead from where the arm was sent starts only if the arm stands
                    # this close to it (else it is planned again from where the arm is)
BIN_MOVED = 0.03  # m: a bin perceived this far from where it was last is a moved bin (more than its jitter)
BLOCKED_ERRORS = ("NO_PATH", "NO_IK", "NO_GRASP")  # may clear up once neighbours are gone
BIN_WALLS = ("bin_wall_px", "bin_wall_nx", "bin_wall_py", "bin_wall_ny")  # motion.collision.bin_obstacles
STAGES = ("perceive", "select", "plan_grasps", "plan_approach", "open", "approach", "close", "verify_held",
          "lift", "transfer", "place", "release", "retreat", "home", "verify_placed")


@dataclass(frozen=True, slots=True)
class Grasp:
    """A grasp candidate in the runner's terms. T_grasp: (4, 4) grasp frame at closing;
    approach: (3,) unit direction of the final approach; distances and widths in metres."""

    T_grasp: np.ndarray
    approach: np.ndarray
    pre_grasp_distance: float
    gripper_width: float
    object_width: float


@dataclass(frozen=True, slots=True)
class GripperOutcome:
    final_width: float
    reached: bool
    stalled: bool
    message: str


@dataclass(frozen=True, slots=True)
class BinView:
    """What perception saw of the bin in one frame: `bin` as perceived (or the configured
    prior when not `seen`), the objects seen inside its rim, and the frame's stamp (s)."""

    bin: Bin
    seen: bool
    contents: tuple[WorldObject, ...]
    stamp: float


class GripperHandle(Protocol):
    def wait(self) -> GripperOutcome: ...  # blocks until the fingers finished (or the port gave up)
    def cancel(self) -> None: ...  # the stage it belongs to ended: the fingers stop (no-op once finished)


class Ports(Protocol):
    def now(self) -> float: ...
    def objects(self, max_age: float, timeout: float) -> list[WorldObject] | None: ...
    def bin_view(self, max_age: float, timeout: float, newer_than: float | None = None) -> BinView | None: ...
    def joints(self) -> np.ndarray | None: ...
    def plan_grasps(self, obj: WorldObject) -> tuple[list[Grasp], str]: ...
    def gripper(self, width: float) -> GripperOutcome: ...
    def gripper_begin(self, width: float) -> GripperHandle: ...  # command the fingers, do not wait for them
    def grasp_held(self) -> bool | None: ...
    def execute(self, trajectory: Trajectory) -> tuple[bool, str, str]: ...  # ok, message, error code
    def stop(self) -> None: ...
    def feedback(self, stage: str, object_id: str, attempt: int, progress: float, message: str) -> None: ...
    def canceled(self) -> bool: ...  # the operator canceled, or the e-stop is engaged: stop now
    def estopped(self) -> str | None: ...  # the e-stop's description while it is engaged
    def lost(self) -> str | None: ...  # why the last wait ended empty, when a dependency went away


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Task parameters (defaults in config/planner.params.yaml, group `task`)."""

    perception_max_age: float = 1.0   # s of sim time: older perception/objects are stale
    perception_timeout: float = 3.0   # s of sim time to wait for fresh objects
    perception_watchdog: float = 2.0  # s of sim time: no motion while perception/objects is older (0: off)
    dependency_timeout: float = 10.0  # s of wall time a lost dependency may take to come back (dependencies.py)
    max_attempts: int = 3             # grasp attempts per object
    lift_height: float = 0.10         # m lifted straight up after closing
    transfer_height: float = 0.12     # m above the place pose (object bottom) before lowering
    place_clearance: float = 0.006    # m: release this far above the resting height
    bin_drop_height: float = 0.03     # m: into the bin, release this far above its floor, so the
                                      # hand (wide along the closing axis) stays over the walls
    retreat_height: float = 0.10      # m straight up after releasing
    approach_budget: float = 0.6      # s of ROS (sim) time: no further grasp candidate is tried once the
                                      # search took this long (an unreachable object is refused in about this)
    gripper_open_time: float = 0.3    # s: the fingers open for a grasp within this (sent as the approach
                                      # starts); the descent follows the approach without a stop only
                                      # when the arm takes at least this long to reach the pre-grasp
    release_width: float = field(default_factory=lambda: default_cell().gripper.max_opening)
                                      # m largest opening to release (and to recover): the cell's gripper
    release_gap: float = 0.01         # m: at a release the pads open this far off each gripped face
    verify_tolerance: float = 0.03    # m: placed object within this of the target (x, y)
    contact_margin: float = field(default_factory=lambda: default_cell().clearances.contact)
                                      # m: clearance kept on the short straight moves next to contact
                                      # (descend, lift, place, retreat): the cell's clearances.contact
    gripper: Gripper = field(default_factory=lambda: default_cell().gripper)
    home: tuple[float, ...] = field(default_factory=lambda: default_cell().home)
                                      # rad: the arm's waiting pose between objects, the cell's home


@dataclass
class StageRecord:
    stage: str
    object_id: str
    attempt: int
    duration: float
    success: bool
    message: str = ""


@dataclass
class ObjectResult:
    object_id: str
    label: str
    success: bool = False
    error: str = "SUCCESS"
    failed_stage: str = ""
    message: str = ""
    attempts: int = 0


@dataclass
class TaskOutcome:
    success: bool
    error: str
    message: str
    failed_stage: str = ""
    objects: list[ObjectResult] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    duration: float = 0.0


class Ahead:
    """fn() computed in a worker thread while the arm moves (planning the next motion during
    the current one). result() waits for it and raises what it raised. Only for work that
    shares nothing with what the caller does meanwhile: the runner waits on its ports while
    this plans, and joins it before it plans anything itself."""

    def __init__(self, fn) -> None:
        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name="plan-ahead")
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def join(self) -> None:
        self._thread.join()


class StageError(Exception):
    def __init__(self, stage: str, error: str, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.stage, self.error, self.message, self.retry = stage, error, message, retry


class CanceledError(Exception):
    pass


def seen_from(o: WorldObject) -> SeenObject:
    return SeenObject(o.id, o.label, o.colour, o.shape, o.position, o.size)


def obstacle_from(o: WorldObject, margin: float = 0.0) -> Obstacle:
    size = tuple(s + 2 * margin for s in o.size)
    if o.shape == "cylinder":
        return Obstacle.cylinder(o.id, max(size[0], size[1]), size[2], o.position, 0.0)
    return Obstacle.box(o.id, size, o.position, o.yaw)


class TaskRunner:
    """Carries out one TaskGoal through `ports` with the motion layer."""

    def __init__(self, ports: Ports, planner: MotionPlanner, fixtures: CollisionModel, limits: TimingLimits,
                 config: RunnerConfig, bin_: Bin, workspace: Workspace, log=None,
                 bin_items: list[BinItem] | None = None, holding: WorldObject | None = None,
                 blend: bool = True, blend_step: float = 0.05, dt: float = 0.01, blend_corner: float = 0.0) -> None:
        """blend, blend_step, dt, blend_corner: how chains of motions are timed (the motion
        config's blend, blend_step, trajectory_dt, blend_corner;
        MotionPlanner.time_parameterize_chain)."""
        self.p, self.planner, self.fixtures, self.limits = ports, planner, fixtures, limits
        self.blend, self.blend_step, self.dt, self.blend_corner = blend, blend_step, dt, blend_corner
        self.cfg, self.bin, self.ws = config, bin_, workspace
        self.log = log or (lambda msg: None)
        self.records: list[StageRecord] = []
        # What this brain put in the bin (perception does not see into it): shared across goals
        # by the node, which clears it when told the bin was emptied.
        self.bin_items: list[BinItem] = bin_items if bin_items is not None else []
        # What the gripper holds: kept by the node from goal to goal ("pick up ...", then
        # "place it ..."), until the world says otherwise (grasping's grasp state).
        self.holding: WorldObject | None = holding
        self._progress = 0.0  # of the whole task, 0..1, before the current object
        self._share = 1.0  # of the whole task the current object stands for
        self._bin_contents: int | None = None  # objects seen in the bin when last looked at
        self._object, self._attempt = "", 0
        # A multi-object goal goes from the bin straight to the next object: placements wait
        # here (object, target, xyz) to be judged together once the arm is home (out of view).
        self._batch = False
        self._pending: list[tuple[WorldObject, Target, tuple[float, float, float]]] = []
        self._batch_view: tuple[BinView, list[WorldObject]] | None = None

    # -- stage bookkeeping -------------------------------------------------------------
    def _stage(self, name: str, fn, *args, covers: tuple[str, ...] = ()):
        """Run fn(*args) as the stage `name` (feedback, timing, a record). `covers`: later
        stages fn carries out too (one motion through several); a StageError naming one of
        them is recorded under its own name."""
        if self.p.canceled():  # the stage that would have run next is the one canceled
            self.records.append(StageRecord(name, self._object, self._attempt, 0.0, False, self._stop_reason()))
            raise CanceledError()
        within = STAGES.index(name) / len(STAGES) if name in STAGES else 0.0
        progress = self._progress + within * self._share
        self.p.feedback(name, self._object, self._attempt, progress, name.replace("_", " "))
        t0 = self.p.now()
        try:
            out = fn(*args)
        except StageError as f:
            self.records.append(StageRecord(f.stage if f.stage in covers else name, self._object, self._attempt,
                                            self.p.now() - t0, False, f.message))
            raise
        except CanceledError:
            self.records.append(StageRecord(name, self._object, self._attempt, self.p.now() - t0, False,
                                            self._stop_reason()))
            raise
        self.records.append(StageRecord(name, self._object, self._attempt, self.p.now() - t0, True))
        return out

    def _stop_reason(self) -> str:
        return self.p.estopped() or "canceled by the operator"

    def _stages(self, names: tuple[str, ...], fn, *args):
        """Run fn(*args), which moves through the stages `names` as one motion and returns the
        BlendedTrajectory it executed (or a tuple that starts with it; None: it moved
        otherwise), as one stage for feedback and cancel; each stage is then recorded with
        its part of the motion's timeline (the first one also with the planning, the start
        delay and the settling). Returns what fn returned."""
        out = self._stage(names[0], fn, *args, covers=names[1:])
        rec = self.records.pop()
        chain = out[0] if isinstance(out, tuple) else out
        if isinstance(chain, BlendedTrajectory) and len(chain.junctions) == len(names) - 1:
            bounds = [0.0, *chain.junctions, chain.trajectory.duration]
            shares = [bounds[i + 1] - bounds[i] for i in range(len(names))]
        else:
            shares = [0.0] * len(names)
        shares[0] += max(0.0, rec.duration - sum(shares))
        for name, share in zip(names, shares, strict=True):
            self.records.append(StageRecord(name, rec.object_id, rec.attempt, share, True))
        return out

    # -- perception --------------------------------------------------------------------
    def _cancel_point(self) -> None:
        """A port that waits returns early (nothing) on cancel: that is a cancel, not a failure."""
        if self.p.canceled():
            raise CanceledError()

    def perceive(self) -> list[WorldObject]:
        objs = self.p.objects(self.cfg.perception_max_age, self.cfg.perception_timeout)
        self._cancel_point()
        if objs is None:
            raise StageError("perceive", "STALE_PERCEPTION", self.p.lost() or
                               f"no perception/objects newer than {self.cfg.perception_max_age:g} s arrived within "
                               f"{self.cfg.perception_timeout:g} s; is perception running?")
        return objs

    def _look_at_bin(self) -> None:
        """Use the bin where perception sees it (the configured bin is only the prior), and
        note what it holds, so that a placement can be judged against a fresh view."""
        view = self.p.bin_view(self.cfg.perception_max_age, self.cfg.perception_timeout)
        self._cancel_point()
        if view is None or not view.seen:
            self.log("the bin is not seen: planning with its configured pose; a placement into it is "
                     "confirmed only once it is seen")
            self._bin_contents = None
            return
        b, prior = view.bin, self.bin
        moved = math.hypot(b.x - prior.x, b.y - prior.y)
        if moved > BIN_MOVED or abs(b.inner_size[0] - prior.inner_size[0]) > 0.01 \
                or abs(b.inner_size[1] - prior.inner_size[1]) > 0.01:
            self.log(f"bin perceived at ({b.x:.3f}, {b.y:.3f}) m, yaw {math.degrees(b.yaw):.0f} deg, inside "
                     f"{b.inner_size[0]:.2f} x {b.inner_size[1]:.2f} m ({moved * 100:.0f} cm from the configured "
                     "pose): using the perceived bin")
            if moved > BIN_MOVED:
                self.bin_items.clear()  # what was remembered in it belongs to where it was
        self.bin = b
        self.fixtures = self.fixtures.with_obstacles(
            [*(o for o in self.fixtures.obstacles if o.group != "bin"), *bin_obstacles(b)])
        self._bin_contents = len(view.contents)

    def _gripper_xy(self) -> tuple[float, float]:
        q = self.p.joints()
        if q is None:
            return (0.3, 0.0)
        T = self.planner.kinematics.fk(q)
        return float(T[0, 3]), float(T[1, 3])

    # -- motion helpers ----------------------------------------------------------------
    def _scene(self, objects: list[WorldObject], exclude: tuple[str, ...] = ()) -> CollisionModel:
        """The fixtures (table, bin), what this brain put in the bin (perception does not
        report it), and the perceived objects except `exclude`."""
        return self.fixtures.with_obstacles([*self.fixtures.obstacles, *self._bin_obstacles(),
                                             *[obstacle_from(o) for o in objects if o.id not in exclude]])

    def _bin_obstacles(self, items: list[BinItem] | None = None) -> list[Obstacle]:
        """What this brain put in the bin (`items`, default bin_items) as obstacles."""
        out = []
        for i, it in enumerate(self.bin_items if items is None else items):
            x, y = self.bin.to_base(it.u, it.v)
            out.append(Obstacle.box(f"in_bin_{i}", (2 * it.half_u, 2 * it.half_v, it.height),
                                    (x, y, self.bin.floor_z + it.height / 2), self.bin.yaw))
        return out

    def _clear_start(self, objects: list[WorldObject]) -> None:
        """A goal that begins with the hand touching something (a cancel or a fault during the
        place or release left it down in the bin or at the table) first lifts the hand straight
        up by retreat_height, clear of what it touches (stage "clear_start"); every plan from
        there starts free. Without contact it does nothing."""
        cm = self._scene(objects)
        q = self._q()
        if cm.is_free(q):
            return
        touched = sorted({c.other for c in cm.explain(q)})
        self._stage("clear_start", self._straight, "clear_start", self.cfg.retreat_height, cm.without(touched))

    def _run_plan(self, stage: str, plan: PlanResult, cm: CollisionModel) -> BlendedTrajectory:
        return self._run_chain(stage, [plan], [cm])

    def _run_chain(self, stage: str, plans: list[PlanResult], models: list[CollisionModel]) -> BlendedTrajectory:
        """Execute successful plans that join up as one motion (blended where verified free)."""
        chain = self._time_chain(stage, plans, models)
        self._execute(stage, chain.trajectory)
        return chain

    def _time_chain(self, stage: str, plans: list[PlanResult], models: list[CollisionModel]) -> BlendedTrajectory:
        for plan in plans:
            if not plan.success:
                error = "NO_IK" if plan.code.value == "NO_IK" else "NO_PATH"
                raise StageError(stage, error, f"{stage}: {plan.message}")
        try:
            chain = self.planner.time_parameterize_chain(plans, self.limits, self.dt, collisions=list(models),
                                                         blend=self.blend, step=self.blend_step,
                                                         corner=self.blend_corner)
            return chain
        except TimingError as exc:
            raise StageError(stage, "NO_PATH", f"{stage}: {exc}") from None

    def _execute(self, stage: str, traj: Trajectory) -> None:
        if self.p.canceled():
            raise CanceledError()
        ok, message, code = self.p.execute(traj)
        if self.p.canceled():
            raise CanceledError()
        if not ok:
            raise StageError(stage, code, f"{stage}: {message}")

    def _q(self) -> np.ndarray:
        q = self.p.joints()
        if q is None:
            raise StageError("perceive", "EXECUTION_FAILED", "no valid joint_states from the arm")
        return q

    def _near(self, cm: CollisionModel) -> CollisionModel:
        """`cm` with the small margin of moves that start or end next to a contact."""
        return cm.with_margin(min(cm.margin, self.cfg.contact_margin))

    def _straight(self, stage: str, dz: float, cm: CollisionModel) -> None:
        """Move the grasp frame dz metres vertically in a straight line (small margin)."""
        cm = self._near(cm)
        q = self._q()
        T = self.planner.kinematics.fk(q).copy()
        T[2, 3] += dz
        self._run_plan(stage, self.planner.plan_cartesian(q, T, cm), cm)

    # -- the task ----------------------------------------------------------------------
    def run(self, goal: TaskGoal) -> TaskOutcome:
        t0 = self.p.now()
        results: list[ObjectResult] = []
        try:
            outcome = self._run(goal, results)
        except StageError as f:  # a whole-task stage (perceive, select) failed
            outcome = TaskOutcome(False, f.error, f"{goal.describe()}: {f.message}", f.stage)
        except CanceledError:
            self.p.stop()
            held = f"; the gripper still holds {self.holding.label} ({self.holding.id})" if self.holding else ""
            stage = self.records[-1].stage if self.records else ""
            estop = self.p.estopped()
            if estop:
                outcome = TaskOutcome(False, "ESTOPPED", f"{estop}: the task stopped in stage {stage or '-'} and the "
                                      f"arm holds{held}; goals are refused until the e-stop is released", stage)
            else:
                outcome = TaskOutcome(False, "CANCELED", f"canceled by the operator; the arm stopped and holds{held}",
                                      stage)
        outcome.objects, outcome.stages, outcome.duration = results, self.records, self.p.now() - t0
        return outcome

    def _resolve(self, ref: ObjectRef, seen: list[SeenObject], **kw) -> list[SeenObject]:
        """`resolve` with what the runner knows: the gripper's position, the bin."""
        b = self.bin
        return resolve(ref, seen, self._gripper_xy(), scene=Scene((b.x, b.y), b.outer_size, b.yaw), **kw)

    def _run(self, goal: TaskGoal, results: list[ObjectResult]) -> TaskOutcome:
        self._object, self._attempt = "", 0
        if self.holding is not None and goal.action != "place":
            h = self.holding
            return TaskOutcome(False, "INVALID_GOAL", f"the gripper holds {h.label} ({h.id}); place it first, e.g. "
                               "'place it in the bin' or 'put it at 0.5 0.1'", "select")
        objects = self._stage("perceive", self.perceive)
        self._look_at_bin()
        first, target_obj = self._stage("select", self._select_first, goal, objects)
        if goal.action == "place":
            return self._place_held(goal, target_obj, objects, results)
        self._clear_start(objects)
        if goal.action in ("pick_place", "pick"):
            assert first is not None
            r = self._handle_object(first, goal, target_obj, results)
            return self._summary(goal, results, r)
        # place_all / clear_table: one by one, nearest first, each reported. An object that
        # cannot be reached (neighbours in the way) is tried once more after the others.
        done: set[str] = set()
        failed: set[str] = set()
        deferred: set[str] = set()
        second: set[str] = set()
        ref = goal.object if goal.action == "place_all" else ObjectRef(quantifier="all")
        assert ref is not None
        wanted = ref.count if ref.quantifier == "count" else None  # "put two red cubes ...": that many
        if wanted is not None:
            ref = dataclasses.replace(ref, quantifier="all", count=None)
        looks: dict[str, tuple[str, str]] = {}  # id -> (colour, shape) of the object handled under it
        times: dict[str, int] = {}  # id -> how often an object was handled under it
        from_home = False  # the last look was taken from home, after the arm got there
        self._batch, self._pending = True, []
        while wanted is None or len(done | failed) < wanted:
            self._object, self._attempt = "", 0
            objects = self._stage("perceive", self.perceive)
            todo = self._resolve(ref, [seen_from(o) for o in objects],
                                 exclude=self._handled(objects, done | failed | deferred, looks, times))
            if wanted is not None:
                todo = todo[:wanted - len(done | failed)]
            if not todo:
                if not deferred:
                    if wanted is None and not from_home and self.holding is None:
                        # Clear as seen from over the bin: done only when a view from home,
                        # with the arm out of the camera's way, agrees (never from the plan).
                        self._object, self._attempt = "", 0
                        self._stage("home", self._home, self._scene(objects))
                        self._fresh_view()
                        from_home = True
                        continue
                    break
                second |= deferred
                deferred.clear()
                results[:] = [r for r in results if r.success or r.object_id not in second]
                # Tried again from home, on a view taken with the arm out of the way: above the
                # bin it hides part of the bin, whose rim then may look like an object there.
                if self.holding is None:
                    self._object, self._attempt = "", 0
                    self._stage("home", self._home, self._scene(objects))
                    self._fresh_view()
                    from_home = True
                continue
            obj = next(o for o in objects if o.id == todo[0].id)
            self._share = (1.0 - self._progress) / len(todo)
            looks[obj.id], times[obj.id], from_home = (obj.colour, obj.shape), times.get(obj.id, 0) + 1, False
            r = self._handle_object(obj, TaskGoal("pick_place", None, Target("bin")), None, results)
            if r.success:
                done.add(obj.id)
            elif r.error in BLOCKED_ERRORS and obj.id not in second and self.holding is None:
                deferred.add(obj.id)
                self.log(f"{obj.id}: {r.error}; trying it again after the other objects")
            else:
                failed.add(obj.id)
            handled, left = len(done | failed | deferred), len(todo) - 1
            self._progress = handled / max(1, handled + left)
            self._share = 1.0 / max(1, handled + left)
        self._batch = False
        self._finish_batch(results)
        if not results:  # clear_table on a clear table (place_all found its objects in select)
            return TaskOutcome(True, "SUCCESS", "nothing to do: the table is clear")
        return self._summary(goal, results, None)

    @staticmethod
    def _handled(objects: list[WorldObject], ids: set[str], looks: dict[str, tuple[str, str]],
                 times: dict[str, int]) -> tuple[str, ...]:
        """The ids of a multi-object goal not to take up again: every one handled, unless the
        object seen under it now looks different (another colour or shape: perception's
        tracker can give a vanished object's id to a neighbour that moved into its place, a
        cylinder knocked over next to one that was picked) and it was handled only once."""
        seen = {o.id: (o.colour, o.shape) for o in objects}
        return tuple(sorted(i for i in ids if i not in seen or seen[i] == looks.get(i) or times.get(i, 0) >= 2))

    def _fresh_view(self) -> None:
        """Wait for a frame taken after now (the arm has just arrived): the next look sees it."""
        self.p.bin_view(self.cfg.perception_max_age, self.cfg.perception_timeout, newer_than=self.p.now())
        self._cancel_point()

    def _finish_batch(self, results: list[ObjectResult]) -> None:
        """After the last object of a multi-object goal: home (out of the camera's view of the
        bin), then every placement made on the way judged from fresh views. A failed
        judgement turns that object's result into a failure."""
        pending, self._pending = self._pending, []
        q = self.p.joints()
        at_home = q is not None and np.max(np.abs(q - np.array(self.cfg.home))) < 0.02
        if not pending and at_home:
            return
        self._object, self._attempt = "", 0
        if self.holding is None and not at_home:  # (holding: its way home is not planned)
            self._stage("home", self._home, self._scene(self.p.objects(1e9, 0.0) or []))
        if not pending:
            return
        placed_in_bin = [(o, t, xyz) for o, t, xyz in pending if t.kind == "bin"]
        self._batch_view = None
        by_id = {r.object_id: r for r in results}
        for obj, target, xyz in pending:
            self._object, self._attempt = obj.id, by_id[obj.id].attempts if obj.id in by_id else 1
            try:
                if target.kind == "bin":
                    self._stage("verify_placed", self._verify_in_bin, obj, len(placed_in_bin))
                else:
                    self._stage("verify_placed", self._verify_placed, obj, target, xyz)
            except StageError as f:
                r = by_id.get(obj.id)
                if r is not None:
                    r.success, r.error, r.failed_stage, r.message = False, f.error, f.stage, f.message

    def _summary(self, goal: TaskGoal, results: list[ObjectResult], single: ObjectResult | None) -> TaskOutcome:
        ok = [r for r in results if r.success]
        bad = [r for r in results if not r.success]
        if single is not None:
            if single.success:
                return TaskOutcome(True, "SUCCESS", f"{goal.describe()}: done ({single.message})")
            return TaskOutcome(False, single.error, f"{goal.describe()}: {single.message}", single.failed_stage)
        if not bad:
            return TaskOutcome(True, "SUCCESS", f"{goal.describe()}: all {len(ok)} objects done")
        first = bad[0]
        return TaskOutcome(False, first.error, f"{goal.describe()}: {len(ok)} of {len(results)} done; failed: "
                           + "; ".join(f"{r.label} ({r.object_id}): {r.message}" for r in bad), first.failed_stage)

    def _select_first(self, goal: TaskGoal, objects: list[WorldObject]):
        """Resolve and check the goal against what is seen, before anything moves."""
        seen = [seen_from(o) for o in objects]
        by_id = {o.id: o for o in objects}
        try:
            if goal.action in ("pick_place", "pick", "place"):
                if goal.action == "place":  # the object the gripper holds, from an earlier goal
                    if self.holding is None:
                        raise GoalError("the gripper holds nothing to place; give 'put <object> ...' instead")
                    obj = self.holding
                else:
                    assert goal.object is not None
                    obj = by_id[self._resolve(goal.object, seen)[0].id]
                    check_graspable(obj, self.cfg.gripper)
                target_obj = None
                if goal.target is not None and goal.target.kind == "object":
                    ref = goal.target.object
                    assert ref is not None
                    try:
                        target_obj = by_id[self._resolve(ref, seen, exclude=(obj.id,))[0].id]
                    except ResolveError:
                        # nothing else matches: if the object itself does, the goal asks the impossible
                        if resolve(dataclasses.replace(ref, quantifier="all"), [seen_from(obj)], (0.0, 0.0)):
                            check_stack_target(obj, obj)
                        raise
                    check_stack_target(obj, target_obj)
                elif goal.target is not None and goal.target.kind == "position":
                    assert goal.target.position is not None
                    check_position_target(goal.target.position, obj, objects, self.bin, self.ws)
                return obj, target_obj
            if goal.action == "place_all":  # none matching is OBJECT_NOT_FOUND, not "nothing to do"
                assert goal.object is not None
                for s in self._resolve(goal.object, seen, at_least_one=True):
                    check_graspable(by_id[s.id], self.cfg.gripper)
            if goal.action == "clear_table":
                for o in objects:
                    check_graspable(o, self.cfg.gripper)
            return None, None
        except ResolveError as exc:
            raise StageError("select", "OBJECT_NOT_FOUND", str(exc)) from None
        except GoalError as exc:
            raise StageError("select", "INVALID_GOAL", str(exc)) from None

    def _place_held(self, goal: TaskGoal, target_obj: WorldObject | None, objects: list[WorldObject],
                    results: list[ObjectResult]) -> TaskOutcome:
        """'place it ...': the object an earlier goal picked and the gripper still holds (one
        attempt: a failed place cannot be retried without picking again)."""
        obj = self.holding
        assert obj is not None and goal.target is not None
        res = ObjectResult(obj.id, obj.label)
        results.append(res)
        self._object, self._attempt = obj.id, 1
        res.attempts = 1
        try:
            if self.p.grasp_held() is False:
                self.holding = None
                raise StageError("select", "GRASP_LOST", f"{obj.label} is no longer in the gripper")
            self._place(obj, goal.target, target_obj, objects)  # (_place leaves the held object out)
            res.success, res.message = True, f"placed {goal.target.describe()}"
        except StageError as f:
            res.error, res.failed_stage, res.message = f.error, f.stage, f.message
            if self.holding is not None:
                res.message += f"; the gripper still holds {self.holding.label}"
        return self._summary(goal, results, res)

    def _handle_object(self, obj: WorldObject, goal: TaskGoal, target_obj: WorldObject | None,
                       results: list[ObjectResult]) -> ObjectResult:
        res = ObjectResult(obj.id, obj.label)
        results.append(res)
        self._object = obj.id
        tried: set[int] = set()
        last: StageError | None = None
        for attempt in range(1, self.cfg.max_attempts + 1):
            self._attempt = res.attempts = attempt
            try:
                if attempt > 1:  # re-perceive: the object may have moved
                    objects = self._stage("perceive", self.perceive)
                    now = {o.id: o for o in objects}
                    if obj.id not in now:
                        if last is not None and last.error == "GRASP_LOST":  # it fell off the table, or into the bin
                            raise StageError(last.stage, last.error, f"{last.message}; it is not seen on the table")
                        raise StageError("perceive", "OBJECT_NOT_FOUND",
                                           f"{obj.label} ({obj.id}) is no longer seen on the table")
                    obj = now[obj.id]
                    if target_obj is not None:
                        target_obj = now.get(target_obj.id, target_obj)
                else:
                    objects = self.p.objects(1e9, 0.0) or [obj]
                then = None
                if goal.action != "pick":
                    assert goal.target is not None
                    then = functools.partial(self._plan_carry, obj, goal.target, target_obj,
                                             [o for o in objects if o.id != obj.id])
                ahead = self._pick(obj, objects, tried, then)
                if goal.action == "pick":
                    res.success, res.message = True, f"holding {obj.label}"
                    return res
                assert goal.target is not None
                self._place(obj, goal.target, target_obj, objects, ahead)
                res.success, res.message = True, f"placed {goal.target.describe()}"
                return res
            except StageError as f:
                last = f
                self.log(f"{obj.id} attempt {attempt}: {f.stage} failed: {f.message}")
                if not f.retry:
                    break
                self._recover()
        assert last is not None
        res.error, res.failed_stage, res.message = last.error, last.stage, last.message
        if self.holding is not None:
            res.message += f"; the gripper still holds {self.holding.label}"
        return res

    def _recover(self) -> None:
        """After a failed grasp: open, back off upwards, so the next attempt starts clear."""
        self.p.gripper(self.cfg.release_width)
        self.holding = None
        try:
            self._straight("retreat", self.cfg.retreat_height, self.fixtures)
        except StageError as f:
            self.log(f"recovery retreat failed: {f.message}")

    # -- pick ----------------------------------------------------------------------------
    def _pick(self, obj: WorldObject, objects: list[WorldObject], tried: set[int], then=None) -> Ahead | None:
        """Pick `obj` up. then(q_grasp): planning of what follows from the grasp configuration,
        started while the arm approaches (returned as an Ahead; None when it could not start)."""
        grasps = self._stage("plan_grasps", self._plan_grasps, obj)
        scene = self._scene(objects)
        around = self._scene(objects, exclude=(obj.id,))
        chosen = self._stage("plan_approach", self._plan_approach, grasps, scene, around, tried)
        index, grasp, pre_plan, descend = chosen
        tried.add(index)
        opening = self._stage("open", self._open_begin, grasp.gripper_width)  # the fingers open on the way
        try:
            ahead = self._stage("approach", self._approach, pre_plan, scene, descend, around, opening, then)
        except BaseException:
            opening.cancel()  # a cancel, a failed motion: the fingers do not go on with a stage that ended
            raise
        try:
            self._stage("close", self._close, grasp)
            self._stage("verify_held", self._verify_held, obj, grasp)
        except BaseException:
            if ahead is not None:
                ahead.join()  # (the recovery plans next: never two plannings at once)
            raise
        self.holding = obj
        return ahead

    def _plan_grasps(self, obj: WorldObject) -> list[Grasp]:
        grasps, why = self.p.plan_grasps(obj)
        self._cancel_point()
        if not grasps:
            raise StageError("plan_grasps", "NO_GRASP", why or f"no grasp for {obj.label}")
        return grasps

    def _plan_approach(self, grasps: list[Grasp], scene: CollisionModel, around: CollisionModel, tried: set[int]):
        """The first candidate (in the grasping node's order) whose pre-grasp plans, whose
        straight descent plans from there, and whose straight lift from the grasp plans.
        Bounded: no candidate is started once the search has taken approach_budget s of ROS
        (sim) time; the first failure is explained in full (unreachable or in collision), the
        others only counted."""
        q = self._q()
        errors: list[PlanResult] = []
        explained: list[PlanResult] = []  # what tells NO_IK from NO_PATH (a blocked descent, the first IK failure)
        t0 = self.p.now()
        for i, g in enumerate(grasps):
            if i in tried:
                continue
            if errors and self.p.now() - t0 > self.cfg.approach_budget:
                worst = errors[0]
                error = "NO_IK" if all(e.code.value == "NO_IK" for e in explained) else "NO_PATH"
                raise StageError("plan_approach", error, f"none of the first {len(errors)} of {len(grasps)} grasp "
                                 f"candidates can be reached (search stopped after "
                                 f"{self.cfg.approach_budget:g} s): {worst.message}")
            T_pre = g.T_grasp.copy()
            T_pre[:3, 3] -= g.approach * g.pre_grasp_distance
            plan = self.planner.plan_to_pose(q, T_pre, scene, explain=not errors)
            if not plan.success:
                if not errors:
                    explained.append(plan)
                errors.append(plan)
                continue
            q_pre = plan.path[-1]
            descend = self.planner.plan_cartesian(q_pre, g.T_grasp, self._near(around))
            if not descend.success:
                errors.append(descend)
                explained.append(descend)
                continue
            # The way out too: a grasp whose straight lift is impossible (the arm would flip
            # its wrist on the way up) would leave the object in the hand at the table.
            T_up = self.planner.kinematics.fk(descend.path[-1]).copy()
            T_up[2, 3] += self.cfg.lift_height
            lift = self.planner.plan_cartesian(descend.path[-1], T_up, self._near(around))
            if not lift.success:
                errors.append(lift)
                explained.append(lift)
                continue
            return i, g, plan, descend
        if not errors:
            raise StageError("plan_approach", "NO_GRASP", "every grasp candidate was tried")
        worst = errors[0]
        error = "NO_IK" if all(e.code.value == "NO_IK" for e in explained) else "NO_PATH"
        raise StageError("plan_approach", error, f"no candidate of {len(grasps)} can be reached: {worst.message}")

    def _open(self, width: float) -> None:
        out = self.p.gripper(min(max(width, 0.0), self.cfg.release_width))
        self._cancel_point()  # the ports canceled the gripper goal too: not a gripper failure
        if not out.reached:
            raise StageError("open", "EXECUTION_FAILED", f"the gripper did not open: {out.message}")

    def _open_begin(self, width: float):
        out = self.p.gripper_begin(min(max(width, 0.0), self.cfg.release_width))
        self._cancel_point()
        return out

    def _opened(self, handle) -> None:
        out = handle.wait()
        self._cancel_point()  # the ports canceled the gripper goal too: not a gripper failure
        if not out.reached:
            raise StageError("open", "EXECUTION_FAILED", f"the gripper did not open: {out.message}")

    def _approach(self, pre_plan: PlanResult, scene: CollisionModel, descend: PlanResult,
                  around: CollisionModel, opening, then=None) -> Ahead | None:
        """To the pre-grasp and straight down to the grasp while the fingers open: one motion
        when the arm takes at least gripper_open_time to reach the pre-grasp (the fingers are
        open before the descent begins; their result is checked at the end), else the
        descent waits for the fingers."""
        near = self._near(around)
        chain = self._time_chain("approach", [pre_plan, descend], [scene, near])
        if chain.junctions and chain.junctions[0] >= self.cfg.gripper_open_time:
            q_grasp = descend.path[-1]
            ahead = Ahead(lambda: then(q_grasp)) if then is not None else None
            try:
                self._execute("approach", chain.trajectory)
                self._opened(opening)
            except BaseException:
                if ahead is not None:
                    ahead.join()
                raise
            return ahead
        self._run_plan("approach", pre_plan, scene)
        self._opened(opening)
        q = self._q()
        if np.max(np.abs(q - descend.path[0])) > 0.01:  # re-plan the short descent from where we are
            descend = self.planner.plan_cartesian(q, self.planner.kinematics.fk(descend.path[-1]), near)
        self._run_plan("approach", descend, near)
        return None

    def _close(self, grasp: Grasp) -> None:
        out = self.p.gripper(0.0)
        self._cancel_point()
        if out.reached and not out.stalled:
            raise StageError("close", "NO_GRASP", f"the fingers closed on nothing (width "
                               f"{out.final_width * 1000:.1f} mm; expected {grasp.object_width * 1000:.1f} mm)",
                               retry=True)

    def _verify_held(self, obj: WorldObject, grasp: Grasp) -> None:
        held = self.p.grasp_held()
        if held is False:
            raise StageError("verify_held", "GRASP_LOST", f"{obj.label} is not held after closing", retry=True)

    # -- place ---------------------------------------------------------------------------
    def _attachment(self, obj: WorldObject, position, q: np.ndarray) -> AttachedObject:
        """`obj`, centred at `position` when the arm is at `q`, held by the hand."""
        T_grasp = self.planner.kinematics.fk(q)
        T_obj = np.eye(4)
        T_obj[:3, 3] = position
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        T_obj[:2, :2] = [[c, -s], [s, c]]
        shape = obstacle_from(obj)  # its pose is unused: the attachment gives it
        return AttachedObject(shape, np.linalg.inv(T_grasp) @ T_obj)

    def _place(self, obj: WorldObject, target: Target, base: WorldObject | None,
               seen: list[WorldObject], ahead: Ahead | None = None) -> None:
        # The neighbours as seen before the hand came down (`seen`, the frame the pick was
        # planned on): a frame taken with the hand at the table may show the hand and the
        # held object as one more object right where the fingers are, which would put the
        # lift's start in collision.
        objects = [o for o in seen if o.id != obj.id]
        # up, across and down as one motion, planned together before anything moves
        then = None
        if not self._batch:  # the way up and home, planned while the arm carries the object
            def then(q_place, xyz, closing):
                # the worlds of the way up (the object still in the hand's place) and home (it
                # in the bin), made here, before the release changes what the bin holds
                slot = self._slot(obj, target, xyz, closing)
                up, home_cm = self._scene(objects), self._scene(objects)
                if slot is not None:
                    home_cm = home_cm.with_obstacles([*home_cm.obstacles,
                                                      *self._bin_obstacles([*self.bin_items, slot])[-1:]])
                return lambda: self._plan_retreat_home(q_place, up, home_cm)
        _, (x, y, z), closing, following = self._stages(("lift", "transfer", "place"), self._carry, obj, target,
                                                        base, objects, ahead, then)
        try:
            self._place_down(obj, target, objects, (x, y, z), closing, following)
        except BaseException:
            if following is not None:
                following.join()
            raise

    def _slot(self, obj: WorldObject, target: Target, xyz, closing) -> BinItem | None:
        """What `obj`, released at xyz with the fingers along `closing`, takes up in the bin."""
        if target.kind != "bin":
            return None
        along, across = held_extents(obj, closing)
        u, v = self.bin.to_local(xyz[0], xyz[1])
        return BinItem(u, v, across / 2, along / 2, obj.size[2])

    def _place_down(self, obj: WorldObject, target: Target, objects: list[WorldObject], xyz, closing,
                    following: Ahead | None) -> None:
        """After the lowering: check the hold, release, retreat (and home), verify."""
        x, y, z = xyz
        if self.p.grasp_held() is False:
            # It is not in the hand (never report it as held after this). It slipped while
            # lifting (back near where it stood) or on the way: open, back off, re-perceive and
            # try again, if it is still seen on the table.
            self.holding = None
            raise StageError("transfer", "GRASP_LOST", f"{obj.label} slipped out of the gripper on the way",
                             retry=True)
        along, _ = held_extents(obj, closing)
        slot = self._slot(obj, target, xyz, closing)
        try:
            self._stage("release", self._open, along + 2 * self.cfg.release_gap)
        except CanceledError:
            if self.p.grasp_held() is not True:  # the fingers opened before the cancel: it is out of the hand
                self._released(slot)
            raise
        self._released(slot)
        # up and away from what the fingers just let go of (in the bin it is remembered now)
        just_placed = [f"in_bin_{len(self.bin_items) - 1}"] if slot is not None else []
        if self._batch:
            # more objects may follow: no way home in between; judged once the arm is home
            self._stage("retreat", self._straight, "retreat", self.cfg.retreat_height,
                        self._scene(objects).without(just_placed))
            self._pending.append((obj, target, (x, y, z)))
            return
        self._stages(("retreat", "home"), self._retreat_home, self._scene(objects).without(just_placed),
                     self._scene(objects), following)
        self._stage("verify_placed", self._verify_placed, obj, target, (x, y, z))

    def _retreat_home(self, up: CollisionModel, cm: CollisionModel, ahead: Ahead | None = None) -> BlendedTrajectory:
        """Straight up by retreat_height (in `up`), then home (in `cm`), as one motion: planned
        while the arm was placing (`ahead`) when the arm stands where that plan starts, else
        planned now."""
        q = self._q()
        chain = ahead.result() if ahead is not None else None
        if chain is None or np.max(np.abs(chain.trajectory.start - q)) > START_MATCH:
            chain = self._plan_retreat_home(q, up, cm)
        self._execute("retreat", chain.trajectory)
        return chain

    def _plan_retreat_home(self, q: np.ndarray, up: CollisionModel, cm: CollisionModel) -> BlendedTrajectory:
        """The timed, verified motion of _retreat_home from q (planning only: it may run in a
        worker thread)."""
        near = self._near(up)
        T = self.planner.kinematics.fk(q).copy()
        T[2, 3] += self.cfg.retreat_height
        retreat = self.planner.plan_cartesian(q, T, near)
        home = np.array(self.cfg.home)
        if not retreat.success or np.max(np.abs(retreat.path[-1] - home)) < 0.02:
            return self._time_chain("retreat", [retreat], [near])  # (raises, naming why, when it failed)
        to_home = self.planner.plan_to_configuration(retreat.path[-1], home, cm)
        if not to_home.success:
            self._time_chain("home", [to_home], [cm])  # raises, naming why
        return self._time_chain("home", [retreat, to_home], [near, cm])

    def _carry(self, obj: WorldObject, target: Target, base: WorldObject | None, objects: list[WorldObject],
               ahead: Ahead | None = None, then=None):
        """Lift straight up, move above the place pose and lower straight down to it, as one
        motion: planned while the arm approached (`ahead`, from the grasp configuration it was
        sent to) when the arm stands there (START_MATCH), else planned now from where it is.
        then(q_place, xyz, closing): returns the planning of what follows, run in a worker
        thread from when the motion starts.
        Returns the executed motion, the object's place position (x, y, z), the fingers'
        closing axis there and the Ahead of `then` (or None)."""
        q = self._q()
        planned = ahead.result() if ahead is not None else None  # its planning failure is this stage's
        if planned is None or np.max(np.abs(planned[0].trajectory.start - q)) > START_MATCH:
            planned = self._plan_carry(obj, target, base, objects, q)
        chain, xyz, closing = planned
        following = Ahead(then(chain.trajectory.goal, xyz, closing)) if then is not None else None
        try:
            self._execute("lift", chain.trajectory)
        except BaseException:
            if following is not None:
                following.join()
            raise
        return chain, xyz, closing, following

    def _plan_carry(self, obj: WorldObject, target: Target, base: WorldObject | None, objects: list[WorldObject],
                    q0: np.ndarray):
        """The timed, verified motion of _carry from the arm at q0 (planning only: it may run
        in a worker thread), with the place position and the closing axis."""
        lift_cm = self._near(self._scene(objects).without([obj.id]))
        T0 = self.planner.kinematics.fk(q0)
        T_up = T0.copy()
        T_up[2, 3] += self.cfg.lift_height
        lift = self.planner.plan_cartesian(q0, T_up, lift_cm)
        if not lift.success:
            self._time_chain("lift", [lift], [lift_cm])  # raises, naming why
        q = lift.path[-1]
        T_now = self.planner.kinematics.fk(q)
        closing = self._place_closing_axis(T_now, target)
        try:
            x, y, z = place_pose(target, obj, base, self.bin, self.bin_items, closing)
        except GoalError as exc:  # e.g. the bin is full
            raise StageError("transfer", "PLACE_FAILED", str(exc)) from None
        lifted = np.array(obj.position) + np.array([0.0, 0.0, self.cfg.lift_height])  # the object, lifted
        held = self._attachment(obj, lifted, q)
        carry = self._scene(objects).with_attached([held])
        # Turn the hand about the vertical so the fingers close along `closing` (the object
        # turns with it), and put the object's centre at (x, y, z + clearance + transfer height).
        release_z = z + (self.cfg.bin_drop_height if target.kind == "bin" else self.cfg.place_clearance)
        above = np.array([x, y, release_z + self.cfg.transfer_height])
        turn = math.atan2(closing[1], closing[0]) - math.atan2(T_now[1, 1], T_now[0, 1])
        turn = (turn + math.pi / 2) % math.pi - math.pi / 2  # the hand is symmetric: at most 90 deg
        candidates = [self._turned(T_now, lifted, above, turn + k * math.pi) for k in (0, -1, 1)
                      if abs(turn + k * math.pi) <= 1.5 * math.pi]
        # Lowering ends place_clearance above the support, which the carried object may
        # touch (its covering spheres bulge past its faces by 9-17 mm; under the bin floor
        # lies the table). Into the bin it goes straight down into a slot that bin_slot
        # chose with the exact footprints clear of the walls and of what is there, so there
        # the spheres may also touch those; the hand is still checked against everything.
        if base is not None:
            support = (base.id,)
        elif target.kind == "bin":
            support = ("bin_floor", "table", *BIN_WALLS, *(o.name for o in self._bin_obstacles()))
        else:
            support = ("table",)
        lower = self._scene(objects).with_attached([dataclasses.replace(held, touch_obstacles=support)])
        return self._transfer(q, candidates, carry, lower, (lift, lift_cm)), (x, y, z), closing

    def _released(self, slot: BinItem | None) -> None:
        """The object left the hand; over the bin it is in the bin from now on (remembered at
        once, so that a cancel or a failure after the release does not forget it)."""
        self.holding = None
        if slot is not None:
            self.bin_items.append(slot)

    def _verify_in_bin(self, obj: WorldObject, placed: int = 1) -> None:
        """Judge a placement into the bin from a view taken after the arm left (never from
        the plan): the object seen inside the tray's rim, or gone from the table while the
        tray holds more than before. `placed`: how many objects went into the bin since the
        count this compares with (a multi-object goal judges its placements together at the
        end: the tray must then hold at least that many more)."""
        if placed > 1 and self._batch_view is not None:  # one fresh look serves every placement of the batch
            view, objects = self._batch_view
        else:
            view, objects = self._look_after_leaving(obj)
            if placed > 1:
                self._batch_view = (view, objects)
        still = [o for o in objects if o.id == obj.id]
        inside = [c for c in view.contents if c.colour == obj.colour and view.bin.contains(c.position[0],
                                                                                            c.position[1])]
        grew = self._bin_contents is not None and len(view.contents) >= self._bin_contents + placed
        if placed <= 1:
            self._bin_contents = len(view.contents)
        if inside or (grew and not still):
            return
        if still:
            o = still[0]
            raise StageError("verify_placed", "PLACE_FAILED", f"{obj.label} is still on the table at "
                               f"({o.position[0]:.2f}, {o.position[1]:.2f}), not in the bin")
        seen = ", ".join(c.label for c in view.contents) or "nothing"
        raise StageError("verify_placed", "PLACE_FAILED", f"{obj.label} is not seen in the bin (it holds: {seen}) "
                         "nor on the table")

    def _look_after_leaving(self, obj: WorldObject) -> tuple[BinView, list[WorldObject]]:
        """A view of the bin taken after now (the arm has left it) and the objects seen."""
        t_left = self.p.now()
        view = self.p.bin_view(self.cfg.perception_max_age, self.cfg.perception_timeout, newer_than=t_left)
        self._cancel_point()
        if view is None:
            raise StageError("verify_placed", "STALE_PERCEPTION", self.p.lost() or (
                f"no view of the bin newer than the release arrived within {self.cfg.perception_timeout:g} s; "
                f"cannot confirm {obj.label} is in it"))
        if not view.seen:
            raise StageError("verify_placed", "PLACE_FAILED", f"cannot confirm {obj.label} is in the bin: the bin "
                             "is not seen (occluded or out of the camera's view)")
        return view, self.perceive()

    def _place_closing_axis(self, T_now: np.ndarray, target: Target) -> tuple[float, float]:
        """The fingers' closing axis (base frame, horizontal) at the release: along the bin's v
        axis for the bin, where bin_slot packs objects; else the grasp's own."""
        if target.kind == "bin":
            return -math.sin(self.bin.yaw), math.cos(self.bin.yaw)
        c = T_now[:2, 1]
        n = float(np.hypot(c[0], c[1])) or 1.0
        return float(c[0] / n), float(c[1] / n)

    @staticmethod
    def _turned(T_now: np.ndarray, lifted: np.ndarray, above: np.ndarray, turn: float) -> np.ndarray:
        """The hand pose that holds the object (now centred at `lifted`) centred at `above`,
        turned by `turn` about the vertical through the object."""
        c, s = math.cos(turn), math.sin(turn)
        Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        T = T_now.copy()
        T[:3, :3] = Rz @ T_now[:3, :3]
        T[:3, 3] = above + Rz @ (T_now[:3, 3] - lifted)
        return T

    def _transfer(self, q, candidates: list[np.ndarray], cm: CollisionModel,
                  lower: CollisionModel, before: tuple[PlanResult, CollisionModel]) -> BlendedTrajectory:
        """After `before` (a plan and its model: the lift, ending at q), move above the place pose
        and straight down to it, as one motion: the first of the
        equivalent hand turns that plans and from which the straight descent plans too (a
        wrist turn can leave the arm in a pose whose straight descent folds a link into
        another). When every turn's straight descent is blocked, the lowering is planned again as
        a short joint-space path to the same place pose (verified in the same model: the arm
        takes a detour, the hand ends where it would have). Without either: NO_PATH at
        transfer, or at place naming why the descent is blocked, before anything moves."""
        near = self._near(lower)
        first, blocked = None, None
        above: list[tuple[PlanResult, np.ndarray]] = []
        for T_above in candidates:
            plan = self.planner.plan_to_pose(q, T_above, cm)
            if not plan.success:
                first = first or plan
                continue
            T_down = T_above.copy()
            T_down[2, 3] -= self.cfg.transfer_height
            down = self.planner.plan_cartesian(plan.path[-1], T_down, near)
            if down.success:  # `before` (the lift), then across and down, as one motion
                return self._time_chain("transfer", [before[0], plan, down], [before[1], cm, near])
            blocked = blocked or down
            above.append((plan, T_down))
        for plan, T_down in above:  # a blocked straight line: a joint-space detour to the same pose
            detour = self.planner.plan_to_pose(plan.path[-1], T_down, near,
                                               time_limit=self.planner.config.max_plan_time)
            if detour.success:
                self.log(f"place: the straight descent is blocked ({blocked.message}); lowering along a "
                         "joint-space path instead")
                return self._time_chain("transfer", [before[0], plan, detour], [before[1], cm, near])
        if blocked is not None:
            raise StageError("place", "NO_PATH", f"place: {blocked.message}")
        if first is None:
            raise StageError("transfer", "NO_PATH", "transfer: no hand turn to try")
        error = "NO_IK" if first.code.value == "NO_IK" else "NO_PATH"
        raise StageError("transfer", error, f"transfer: {first.message}")

    def _home(self, cm: CollisionModel) -> None:
        q = self._q()
        home = np.array(self.cfg.home)
        if np.max(np.abs(q - home)) < 0.02:
            return
        self._run_plan("home", self.planner.plan_to_configuration(q, home, cm), cm)

    def _verify_placed(self, obj: WorldObject, target: Target, xyz) -> None:
        if target.kind == "bin":
            self._verify_in_bin(obj)
            return
        objects = self.perceive()
        near = [o for o in objects if math.hypot(o.position[0] - xyz[0], o.position[1] - xyz[1])
                <= self.cfg.verify_tolerance and abs(o.position[2] - xyz[2]) <= self.cfg.verify_tolerance
                and o.colour == obj.colour]
        if not near:
            raise StageError("verify_placed", "PLACE_FAILED", f"{obj.label} is not seen at ({xyz[0]:.2f}, "
                               f"{xyz[1]:.2f}, {xyz[2]:.2f}) after placing")
