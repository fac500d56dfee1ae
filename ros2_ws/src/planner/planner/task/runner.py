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
import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from brain_common.cell import Bin, Gripper, default_cell
from planner.motion.collision import AttachedObject, CollisionModel, Obstacle, bin_obstacles
from planner.motion.planner import MotionPlanner, PlanResult
from planner.motion.timing import TimingError, TimingLimits, Trajectory
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


class Ports(Protocol):
    def now(self) -> float: ...
    def objects(self, max_age: float, timeout: float) -> list[WorldObject] | None: ...
    def bin_view(self, max_age: float, timeout: float, newer_than: float | None = None) -> BinView | None: ...
    def joints(self) -> np.ndarray | None: ...
    def plan_grasps(self, obj: WorldObject) -> tuple[list[Grasp], str]: ...
    def gripper(self, width: float) -> GripperOutcome: ...
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
                 bin_items: list[BinItem] | None = None, holding: WorldObject | None = None) -> None:
        self.p, self.planner, self.fixtures, self.limits = ports, planner, fixtures, limits
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

    # -- stage bookkeeping -------------------------------------------------------------
    def _stage(self, name: str, fn, *args):
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
            self.records.append(StageRecord(name, self._object, self._attempt, self.p.now() - t0, False, f.message))
            raise
        except CanceledError:
            self.records.append(StageRecord(name, self._object, self._attempt, self.p.now() - t0, False,
                                            self._stop_reason()))
            raise
        self.records.append(StageRecord(name, self._object, self._attempt, self.p.now() - t0, True))
        return out

    def _stop_reason(self) -> str:
        return self.p.estopped() or "canceled by the operator"

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

    def _bin_obstacles(self) -> list[Obstacle]:
        out = []
        for i, it in enumerate(self.bin_items):
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

    def _run_plan(self, stage: str, plan: PlanResult, cm: CollisionModel) -> None:
        if not plan.success:
            code = plan.code.value
            error = "NO_IK" if code == "NO_IK" else "NO_PATH"
            raise StageError(stage, error, f"{stage}: {plan.message}")
        try:
            traj = self.planner.time_parameterize(plan, self.limits, collision=cm)
        except TimingError as exc:
            raise StageError(stage, "NO_PATH", f"{stage}: {exc}") from None
        self._execute(stage, traj)

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
        while wanted is None or len(done | failed) < wanted:
            self._object, self._attempt = "", 0
            objects = self._stage("perceive", self.perceive)
            todo = self._resolve(ref, [seen_from(o) for o in objects], exclude=tuple(done | failed | deferred))
            if wanted is not None:
                todo = todo[:wanted - len(done | failed)]
            if not todo:
                if not deferred:
                    break
                second |= deferred
                deferred.clear()
                results[:] = [r for r in results if r.success or r.object_id not in second]
                continue
            obj = next(o for o in objects if o.id == todo[0].id)
            self._share = (1.0 - self._progress) / len(todo)
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
        if not results:  # clear_table on a clear table (place_all found its objects in select)
            return TaskOutcome(True, "SUCCESS", "nothing to do: the table is clear")
        return self._summary(goal, results, None)

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
                        raise StageError("perceive", "OBJECT_NOT_FOUND",
                                           f"{obj.label} ({obj.id}) is no longer seen on the table")
                    obj = now[obj.id]
                    if target_obj is not None:
                        target_obj = now.get(target_obj.id, target_obj)
                else:
                    objects = self.p.objects(1e9, 0.0) or [obj]
                self._pick(obj, objects, tried)
                if goal.action == "pick":
                    res.success, res.message = True, f"holding {obj.label}"
                    return res
                assert goal.target is not None
                self._place(obj, goal.target, target_obj, objects)
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
    def _pick(self, obj: WorldObject, objects: list[WorldObject], tried: set[int]) -> None:
        grasps = self._stage("plan_grasps", self._plan_grasps, obj)
        scene = self._scene(objects)
        around = self._scene(objects, exclude=(obj.id,))
        chosen = self._stage("plan_approach", self._plan_approach, grasps, scene, around, tried)
        index, grasp, pre_plan, descend_plan_fn = chosen
        tried.add(index)
        self._stage("open", self._open, grasp.gripper_width)
        self._stage("approach", self._approach, pre_plan, scene, descend_plan_fn, around)
        self._stage("close", self._close, grasp)
        self._stage("verify_held", self._verify_held, obj, grasp)
        self.holding = obj

    def _plan_grasps(self, obj: WorldObject) -> list[Grasp]:
        grasps, why = self.p.plan_grasps(obj)
        self._cancel_point()
        if not grasps:
            raise StageError("plan_grasps", "NO_GRASP", why or f"no grasp for {obj.label}")
        return grasps

    def _plan_approach(self, grasps: list[Grasp], scene: CollisionModel, around: CollisionModel, tried: set[int]):
        q = self._q()
        errors = []
        for i, g in enumerate(grasps):
            if i in tried:
                continue
            T_pre = g.T_grasp.copy()
            T_pre[:3, 3] -= g.approach * g.pre_grasp_distance
            plan = self.planner.plan_to_pose(q, T_pre, scene)
            if not plan.success:
                errors.append(plan)
                continue
            q_pre = plan.path[-1]
            descend = self.planner.plan_cartesian(q_pre, g.T_grasp, self._near(around))
            if not descend.success:
                errors.append(descend)
                continue
            return i, g, plan, descend
        if not errors:
            raise StageError("plan_approach", "NO_GRASP", "every grasp candidate was tried")
        worst = errors[0]
        error = "NO_IK" if all(e.code.value == "NO_IK" for e in errors) else "NO_PATH"
        raise StageError("plan_approach", error, f"no candidate of {len(grasps)} can be reached: {worst.message}")

    def _open(self, width: float) -> None:
        out = self.p.gripper(min(max(width, 0.0), self.cfg.release_width))
        self._cancel_point()  # the ports canceled the gripper goal too: not a gripper failure
        if not out.reached:
            raise StageError("open", "EXECUTION_FAILED", f"the gripper did not open: {out.message}")

    def _approach(self, pre_plan: PlanResult, scene: CollisionModel, descend: PlanResult,
                  around: CollisionModel) -> None:
        self._run_plan("approach", pre_plan, scene)
        q = self._q()
        near = self._near(around)
        if np.max(np.abs(q - descend.path[0])) > 0.01:  # re-plan the short descent from where we are
            descend = self.planner.plan_cartesian(q, self.planner.kinematics.fk(descend.path[-1]), near)
        self._run_plan("approach", descend, near)

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
    def _attachment(self, obj: WorldObject, position) -> AttachedObject:
        """`obj`, now centred at `position`, held by the hand at its present pose."""
        T_grasp = self.planner.kinematics.fk(self._q())
        T_obj = np.eye(4)
        T_obj[:3, 3] = position
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        T_obj[:2, :2] = [[c, -s], [s, c]]
        shape = obstacle_from(obj)  # its pose is unused: the attachment gives it
        return AttachedObject(shape, np.linalg.inv(T_grasp) @ T_obj)

    def _place(self, obj: WorldObject, target: Target, base: WorldObject | None,
               seen: list[WorldObject]) -> None:
        # The neighbours as seen before the hand came down (`seen`, the frame the pick was
        # planned on): a frame taken with the hand at the table may show the hand and the
        # held object as one more object right where the fingers are, which would put the
        # lift's start in collision.
        objects = [o for o in seen if o.id != obj.id]
        lift_cm = self._scene(objects)
        self._stage("lift", self._straight, "lift", self.cfg.lift_height, lift_cm.without([obj.id]))
        if self.p.grasp_held() is False:
            # The fingers closed past the object: it is not in the hand (never report it as
            # held after this), and it fell back from at most lift_height near where it
            # stood: open, back off, re-perceive and try again.
            self.holding = None
            raise StageError("lift", "GRASP_LOST", f"{obj.label} slipped out of the gripper while lifting",
                             retry=True)
        q = self._q()
        T_now = self.planner.kinematics.fk(q)
        closing = self._place_closing_axis(T_now, target)
        try:
            x, y, z = place_pose(target, obj, base, self.bin, self.bin_items, closing)
        except GoalError as exc:  # e.g. the bin is full
            raise StageError("transfer", "PLACE_FAILED", str(exc)) from None
        lifted = np.array(obj.position) + np.array([0.0, 0.0, self.cfg.lift_height])  # the object now
        held = self._attachment(obj, lifted)
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
        self._stage("transfer", self._transfer, q, candidates, carry, lower)
        if self.p.grasp_held() is False:
            self.holding = None  # it fell somewhere on the way: not in the hand, and not placed
            raise StageError("transfer", "GRASP_LOST", f"{obj.label} slipped out of the gripper on the way")
        self._stage("place", self._straight, "place", -self.cfg.transfer_height, lower)
        along, across = held_extents(obj, closing)
        u, v = self.bin.to_local(x, y)
        slot = BinItem(u, v, across / 2, along / 2, obj.size[2]) if target.kind == "bin" else None
        try:
            self._stage("release", self._open, along + 2 * self.cfg.release_gap)
        except CanceledError:
            if self.p.grasp_held() is not True:  # the fingers opened before the cancel: it is out of the hand
                self._released(slot)
            raise
        self._released(slot)
        # up and away from what the fingers just let go of (in the bin it is remembered now)
        just_placed = [f"in_bin_{len(self.bin_items) - 1}"] if slot is not None else []
        self._stage("retreat", self._straight, "retreat", self.cfg.retreat_height,
                    self._scene(objects).without(just_placed))
        self._stage("home", self._home, self._scene(objects))
        self._stage("verify_placed", self._verify_placed, obj, target, (x, y, z))

    def _released(self, slot: BinItem | None) -> None:
        """The object left the hand; over the bin it is in the bin from now on (remembered at
        once, so that a cancel or a failure after the release does not forget it)."""
        self.holding = None
        if slot is not None:
            self.bin_items.append(slot)

    def _verify_in_bin(self, obj: WorldObject) -> None:
        """Judge a placement into the bin from a view taken after the arm left (never from
        the plan): the object seen inside the tray's rim, or gone from the table while the
        tray holds more than before."""
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
        objects = self.perceive()
        still = [o for o in objects if o.id == obj.id]
        inside = [c for c in view.contents if c.colour == obj.colour and view.bin.contains(c.position[0],
                                                                                            c.position[1])]
        grew = self._bin_contents is not None and len(view.contents) > self._bin_contents
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
                  lower: CollisionModel | None = None) -> None:
        """Move above the place pose: the first of the equivalent hand turns that plans and
        from which the straight descent of the place stage plans too (a wrist turn can leave
        the arm in a pose whose straight descent folds a link into another); without such a
        turn, the first that plans (the place stage then says why the descent fails)."""
        first = None
        for T_above in candidates:
            plan = self.planner.plan_to_pose(q, T_above, cm)
            if plan.success and lower is not None:
                T_down = T_above.copy()
                T_down[2, 3] -= self.cfg.transfer_height
                if not self.planner.plan_cartesian(plan.path[-1], T_down, self._near(lower)).success:
                    first = plan if first is None or not first.success else first
                    continue
            if plan.success:
                self._run_plan("transfer", plan, cm)
                return
            first = first or plan
        self._run_plan("transfer", first, cm)

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
