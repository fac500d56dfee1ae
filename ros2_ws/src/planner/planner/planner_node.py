"""planner: the ExecuteTask action server that turns operator goals into motion.

Action:  planner/execute_task (brain_interfaces/ExecuteTask), one goal at a time (a
         second goal while one runs is rejected; the log and planner/active_goal say
         which goal runs).
Publishes: planner/active_goal (std_msgs/String, JSON, latched): {"goal": "<the running
         goal's text, at most goals.QUOTE_CHARS long>", "since": <ROS seconds>}, goal ""
         when idle: what an operator's refused goal waits for.
Service: planner/clear_bin (std_srvs/Trigger): the bin was emptied. Perception does not
         see into the bin, so the planner remembers what it put there (across goals) to
         pack the next objects beside them; after someone empties the bin (or a simulated
         episode is reset), call this. Refused while a task runs.
Uses:    perception/objects, joint_states, grasping/grasp_state (topics);
         grasping/plan_grasps (service); grasping/gripper (action);
         arm_controller/joint_trajectory (through planner.motion.execution).
Parameters: the `motion` group (planner/motion/config.py) and the `task` group
(planner/task/runner.py RunnerConfig), defaults in config/planner.yaml.

E-stop (estop, brain_interfaces/EStop, latched; brain_common/estop.py): when engaged, the arm
is commanded to hold at its measured position at once, the running task ends ESTOPPED in the
stage it was in (the gripper goal canceled), and every goal is answered ESTOPPED without
motion until the stop is released. The node passes the state on, like every node.

Watchdogs (parameters): no trajectory starts on a joint state older than
motion.joint_states_max_age, and a running one stops (FAULT, the arm held) when
joint_states fall silent for longer; no motion starts, and a running one stops
(STALE_PERCEPTION, the arm held), while perception/objects is older than
task.perception_watchdog. /diagnostics once a second (brain_common/health.py): those inputs'
rates and ages, the task running, the e-stop.

Lost dependencies: a goal that waits on perception, plan_grasps, the gripper or /clock (sim
time) watches the graph too; one that went away and is not back within task.dependency_timeout
s of wall time ends the goal with a result naming it (planner/task/dependencies.py), the arm
held, even when sim time stands still.

Threading: one SingleThreadedExecutor serves every callback; a task runs in a worker
thread that blocks on events those callbacks set (ROS_ON_PIP.md: no
MultiThreadedExecutor), and the action's async execute callback awaits its result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from dataclasses import fields

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.task import Future
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from transforms3d.quaternions import quat2mat

from brain_common.actions import GOAL_RESPONSE_TIMEOUT, send_goal
from brain_common.cell import Bin, Cell, bin_from_detected, cell_for
from brain_common.estop import EStopCommand, EStopListener
from brain_common.health import Health
from brain_common.params import declare_parameters, in_group, node_param_specs
from brain_common.qos import LATCHED, RELIABLE_10
from brain_common.runtime import run_node
from brain_interfaces.action import ExecuteTask, GripperCommand
from brain_interfaces.msg import DetectedObjectArray, EStop, ObjectOutcome, StageReport
from brain_interfaces.srv import PlanGrasps
from planner.lead_ack import LeadAck
from planner.motion.config import MotionConfig, build_motion
from planner.motion.execution import TrajectoryExecutor
from planner.task.dependencies import CLOCK, GRIPPER, PERCEPTION, PLAN_GRASPS, Dependency, DependencyWatch
from planner.task.goals import GoalError, ObjectRef, Target, clip, describe_goals, goal_from_fields, parse_goals
from planner.task.placement import BinItem, Workspace, WorldObject
from planner.task.runner import BinView, Grasp, GripperOutcome, RunnerConfig, TaskOutcome, TaskRunner

PLAN_GRASPS_TIMEOUT = 10.0  # s of sim time for grasping/plan_grasps to answer from the frame asked about
WAIT_SLICE = 0.05  # s of wall time between checks while a worker waits (cancel, sim-time deadlines)
GRIPPER_GOAL_ATTEMPTS = 2  # gripper goals sent before the gripper counts as not answering
ESTOP_LEARN_TIMEOUT_S = 2.0  # s of wall time a (re)started planner waits to hear the e-stop from the others

ACTION_FROM_FIELD = {
    ExecuteTask.Goal.ACTION_PICK_PLACE: "pick_place", ExecuteTask.Goal.ACTION_PICK: "pick",
    ExecuteTask.Goal.ACTION_PLACE: "place", ExecuteTask.Goal.ACTION_PLACE_ALL: "place_all",
    ExecuteTask.Goal.ACTION_CLEAR_TABLE: "clear_table",
}
TARGET_FROM_FIELD = {ExecuteTask.Goal.TARGET_BIN: "bin", ExecuteTask.Goal.TARGET_OBJECT: "object",
                     ExecuteTask.Goal.TARGET_POSITION: "position"}


def world_object_from_msg(o) -> WorldObject:
    q = o.pose.orientation
    R = quat2mat([q.w, q.x, q.y, q.z])
    yaw = math.atan2(R[1, 0], R[0, 0])
    colour = o.color_name
    return WorldObject(o.id, o.label or o.id, colour, o.shape, (o.pose.position.x, o.pose.position.y,
                       o.pose.position.z), yaw, (o.size.x, o.size.y, o.size.z))


def bin_view_from_msg(msg, prior: Bin) -> BinView:
    """BinView of a DetectedObjectArray: the perceived bin (its floor thickness, which a
    camera cannot see, from the prior) or the prior when not seen; its contents."""
    b = msg.bin
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    contents = tuple(world_object_from_msg(o) for o in b.contents)
    perceived = bin_from_detected(b, prior) if b.seen else None
    if perceived is None:  # not seen, or a broken message: the prior, and nothing confirmed by it
        return BinView(prior, False, contents, stamp)
    return BinView(perceived, True, contents, stamp)


def grasp_from_msg(c) -> Grasp:
    q = c.grasp_pose.orientation
    T = np.eye(4)
    T[:3, :3] = quat2mat([q.w, q.x, q.y, q.z])
    T[:3, 3] = [c.grasp_pose.position.x, c.grasp_pose.position.y, c.grasp_pose.position.z]
    a = np.array([c.approach_direction.x, c.approach_direction.y, c.approach_direction.z])
    n = np.linalg.norm(a)
    return Grasp(T, a / n if n > 0 else T[:3, 2], c.pre_grasp_distance, c.gripper_width, c.object_width)


def ref_from_selector(sel) -> ObjectRef | None:
    if not (sel.id or sel.color or sel.shape or sel.any):
        return None
    return ObjectRef(id=sel.id or None, colour=sel.color or None, shape=sel.shape or None,
                     quantifier="any" if sel.any else "the")


def goal_text(goal) -> str:
    """The operator's words of an ExecuteTask goal, for logs and refusals (clipped)."""
    if goal.command.strip():
        return clip(goal.command.strip())
    return f"structured action {ACTION_FROM_FIELD.get(goal.action, goal.action)}"


def goals_from_msg(goal) -> list:
    """The TaskGoals of an ExecuteTask goal, in order: the text's (a sequence: "..., then ...")
    when given, else the one of the structured fields."""
    if goal.command.strip():
        return parse_goals(goal.command)
    if goal.action not in ACTION_FROM_FIELD:
        raise GoalError(f"empty command and action {goal.action} is not a structured action; "
                        f"give a command text or action 1..5 (see ExecuteTask.action)")
    action = ACTION_FROM_FIELD[goal.action]
    target = None
    if action in ("pick_place", "place", "place_all"):
        kind = TARGET_FROM_FIELD.get(goal.target_type)
        if kind is None:
            raise GoalError(f"target_type {goal.target_type} is not valid; choices: 0 bin, 1 object, 2 position")
        target = Target(kind, ref_from_selector(goal.target_object) if kind == "object" else None,
                        (goal.target_position.x, goal.target_position.y) if kind == "position" else None)
    obj = ref_from_selector(goal.object)
    if action == "place_all" and obj is not None:
        obj = dataclasses.replace(obj, quantifier="all")
    return [goal_from_fields(action, obj, target)]


def _cancel_if_accepted(future) -> None:
    """Done callback of a goal request nobody waits for any more: cancel the goal if it was accepted."""
    try:
        handle = future.result()
    except Exception:  # the request failed: nothing runs
        return
    if handle is not None and handle.accepted:
        handle.cancel_goal_async()


class _GripperWait:
    """A gripper command under way (RosPorts.gripper_begin): wait() gives its outcome once."""

    def __init__(self, outcome: GripperOutcome | None, finish=None, result_future=None, goal=None) -> None:
        self._outcome, self._finish, self._future, self._goal = outcome, finish, result_future, goal

    def wait(self) -> GripperOutcome:
        if self._outcome is None:
            self._outcome = self._finish(self._future)
        return self._outcome

    def cancel(self) -> None:
        """Cancel the gripper goal unless it finished (its result is then not waited for)."""
        if self._outcome is None and self._goal is not None and not self._future.done():
            self._goal.cancel_goal_async()
            self._outcome = GripperOutcome(float("nan"), False, False, "canceled with the stage it belonged to")


class RosPorts:
    """The runner's ports over ROS, used from the worker thread."""

    def __init__(self, node: PlannerNode, handle) -> None:
        self.n, self.handle = node, handle
        self.seen_stamp = Time()  # of the newest perception/objects frame the runner was given
        self.lost_reason: str | None = None
        self.span = (0.0, 1.0)  # (start, share) of the whole goal the running step is: a sequence's progress
        self.step = ""  # "step 2 of 3: " in a sequence's feedback

    def lost(self) -> str | None:
        return self.lost_reason

    def _seen(self, dep: Dependency) -> None:
        """`dep` answered a moment ago: from now on its loss is watched (even if it goes
        before the next look at the graph)."""
        with self.n.lock:
            self.n.dependencies.observe(dep, True, time.monotonic())

    def _gone(self, *deps: Dependency) -> bool:
        """True when one of `deps` (or /clock, on sim time) went away and did not come back
        within dependency_timeout s of wall time; lost_reason then names it."""
        if self.n.use_sim_time:
            deps = (*deps, CLOCK)
        for dep in deps:
            present = self.n.provided(dep)
            with self.n.lock:
                gone = self.n.dependencies.observe(dep, present, time.monotonic())
            if gone:
                self.lost_reason = dep.lost_message(self.n.dependencies.timeout)
                self.n.get_logger().error(self.lost_reason)
                return True
        return False

    def now(self) -> float:
        return self.n.get_clock().now().nanoseconds * 1e-9

    def canceled(self) -> bool:
        return bool(self.handle.is_cancel_requested) or self.n.shutting_down or self.n.estop.engaged

    def estopped(self) -> str | None:
        return self.n.estop.describe() if self.n.estop.engaged else None

    def _stop_reason(self) -> str:
        return self.estopped() or "canceled by the operator"

    def _perception_stale(self) -> str | None:
        """Why motion must not go on for want of fresh perception (task.perception_watchdog), or None."""
        limit = self.n.runner_config.perception_watchdog
        if limit <= 0:
            return None
        with self.n.lock:
            msg = self.n.latest_objects
        if msg is None:
            return "no perception/objects received: no motion while blind"
        age = self.now() - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        if age <= limit:
            return None
        return (f"perception/objects stopped: the newest frame is {age:.2f} s old (more than "
                f"task.perception_watchdog {limit:g} s); no motion while blind")

    def _wait(self, future: Future, timeout_sim: float, dep: Dependency):
        """Wait for an rclpy future from the worker thread; None on timeout, cancel or when
        `dep` went away (lost_reason says so)."""
        self.lost_reason = None
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        t0 = self.now()
        while not done.wait(WAIT_SLICE):
            if self.canceled() or self.now() - t0 > timeout_sim or self._gone(dep):
                return None
        return future.result()

    def _scene(self, max_age: float, timeout: float, newer_than: float | None = None):
        """The latest perception/objects at most max_age old (and newer than `newer_than`),
        waiting up to `timeout` s of ROS time; None if none came (or on cancel, or when
        perception went away: lost_reason says so)."""
        with self.n.lead.waiting():  # on the world: the sim goes on at its pace (lead_ack.py)
            return self._wait_scene(max_age, timeout, newer_than)

    def _wait_scene(self, max_age: float, timeout: float, newer_than: float | None):
        self.lost_reason = None
        t0 = self.now()
        while True:
            with self.n.lock:
                msg = self.n.latest_objects
            if msg is not None:
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                if self.now() - stamp <= max_age and (newer_than is None or stamp > newer_than):
                    self.seen_stamp = msg.header.stamp
                    return msg
            if self.now() - t0 >= timeout or self.canceled() or self._gone(PERCEPTION):
                return None
            with self.n.objects_arrived:
                self.n.objects_arrived.wait(WAIT_SLICE)

    def objects(self, max_age: float, timeout: float) -> list[WorldObject] | None:
        msg = self._scene(max_age, timeout)
        return None if msg is None else [world_object_from_msg(o) for o in msg.objects]

    def bin_view(self, max_age: float, timeout: float, newer_than: float | None = None) -> BinView | None:
        msg = self._scene(max_age, timeout, newer_than)
        return None if msg is None else bin_view_from_msg(msg, self.n.bin)

    def joints(self) -> np.ndarray | None:
        return self.n.motion_executor.current_positions()

    def plan_grasps(self, obj: WorldObject) -> tuple[list[Grasp], str]:
        client = self.n.plan_grasps_client
        if not client.wait_for_service(timeout_sec=5.0):
            return [], "the grasping node does not answer on grasping/plan_grasps"
        # Asked about the frame the object was seen in: the grasping node may not have it yet
        # (each subscriber gets perception/objects on its own), then it says so and is asked again.
        self._seen(PLAN_GRASPS)
        t0 = self.now()
        while True:
            request = PlanGrasps.Request(object_id=obj.id, min_stamp=self.seen_stamp)
            res = self._wait(client.call_async(request), PLAN_GRASPS_TIMEOUT, PLAN_GRASPS)
            if res is None:
                return [], self.lost_reason or "grasping/plan_grasps did not answer in time"
            if not res.frame_pending:
                break
            if self.canceled() or self._gone(PERCEPTION):
                return [], self.lost_reason or "canceled"
            if self.now() - t0 > PLAN_GRASPS_TIMEOUT:
                return [], f"grasping/plan_grasps: {res.message} (gave up after {PLAN_GRASPS_TIMEOUT:g} s)"
            with self.n.objects_arrived:  # the next frame is on its way to both nodes
                self.n.objects_arrived.wait(WAIT_SLICE)
        if not res.success:
            return [], res.message
        return [grasp_from_msg(c) for c in res.candidates], res.message

    def gripper(self, width: float) -> GripperOutcome:
        """Command the fingers and wait for them; on the operator's cancel (or a deadline) the
        gripper goal is canceled too, so the fingers do not go on with a stage that ended."""
        return self.gripper_begin(width).wait()

    def gripper_begin(self, width: float) -> _GripperWait:
        """Command the fingers (wait until the goal is accepted); the returned handle's wait()
        waits for the result, as gripper() does, so the arm can move meanwhile."""
        with self.n.lead.waiting():  # on the world: the sim goes on at its pace (lead_ack.py)
            return self._gripper_begin(width)

    def _gripper_begin(self, width: float) -> _GripperWait:
        client = self.n.gripper_client
        if not client.wait_for_server(timeout_sec=5.0):
            return _GripperWait(GripperOutcome(float("nan"), False, False,
                                               "the grasping node does not answer on grasping/gripper"))
        self._seen(GRIPPER)
        goal = GripperCommand.Goal(target_width=float(width))
        handle = None
        for attempt in range(1, GRIPPER_GOAL_ATTEMPTS + 1):  # a gripper goal is idempotent: a resend is safe
            sent = send_goal(self.n, client, goal)
            handle = self._wait(sent, GOAL_RESPONSE_TIMEOUT, GRIPPER)
            if handle is None and (self.canceled() or self.lost_reason):
                # Stopped before the answer came: a goal accepted after that must not run on
                # with nobody waiting for it (the fingers would go on moving after a cancel).
                sent.add_done_callback(_cancel_if_accepted)
            if handle is not None or self.canceled() or self.lost_reason:
                break
            self.n.get_logger().warning(f"grasping/gripper did not answer gripper goal {attempt} of "
                                        f"{GRIPPER_GOAL_ATTEMPTS} within {GOAL_RESPONSE_TIMEOUT:g} s")
        if handle is None:
            if self.canceled():
                return _GripperWait(GripperOutcome(float("nan"), False, False, self._stop_reason()))
            if self.lost_reason:
                return _GripperWait(GripperOutcome(float("nan"), False, False, self.lost_reason))
            return _GripperWait(GripperOutcome(float("nan"), False, False, f"grasping/gripper answered none of "
                                f"{GRIPPER_GOAL_ATTEMPTS} goals within {GOAL_RESPONSE_TIMEOUT:g} s each"))
        if not handle.accepted:
            return _GripperWait(GripperOutcome(float("nan"), False, False, "grasping/gripper refused the goal"))
        # asked for the result at once: the gripper goal's result is not missed while the arm moves
        return _GripperWait(None, lambda future: self._gripper_result(handle, width, future),
                            handle.get_result_async(), handle)

    def _gripper_result(self, handle, width: float, result_future=None) -> GripperOutcome:
        with self.n.lead.waiting():
            return self._wait_gripper_result(handle, width, result_future)

    def _wait_gripper_result(self, handle, width: float, result_future=None) -> GripperOutcome:
        wrapped = self._wait(result_future, 10.0, GRIPPER)
        if wrapped is None:
            handle.cancel_goal_async()
            why = (self._stop_reason() if self.canceled() else
                   self.lost_reason or "the gripper did not finish in time")
            self.n.get_logger().warning(f"gripper goal to {width * 1000:.1f} mm canceled: {why}")
            return GripperOutcome(float("nan"), False, False, why)
        r = wrapped.result
        return GripperOutcome(r.final_width, r.reached, r.stalled, r.message)

    def grasp_held(self) -> bool | None:
        with self.n.lock:
            state = self.n.grasp_state
        if state in ("held",):
            return True
        if state in ("lost", "missed", "wrong_width"):
            return False
        return None

    def execute(self, trajectory) -> tuple[bool, str, str]:
        with self.n.lead.waiting():
            return self._execute(trajectory)

    def _execute(self, trajectory) -> tuple[bool, str, str]:
        self.lost_reason = None
        stale = self._perception_stale()
        if stale is not None:
            self.n.get_logger().error(f"trajectory not started: {stale}")
            return False, stale, "STALE_PERCEPTION"
        handle = self.n.motion_executor.execute(trajectory)
        while not handle.done():
            if self.canceled():
                self.n.motion_executor.stop(self._stop_reason())
            elif self._gone():  # no /clock: the execution's sim-time deadlines would never pass
                self.n.motion_executor.stop(self.lost_reason or "")
            elif (stale := self._perception_stale()) is not None:
                self.n.motion_executor.stop(stale)
                handle.wait(WAIT_SLICE)
                return False, stale, "STALE_PERCEPTION"
            handle.wait(WAIT_SLICE)
        result = handle.result
        return result.success, result.message, "EXECUTION_FAILED"

    def stop(self) -> None:
        self.n.motion_executor.stop("task stopped")

    def feedback(self, stage: str, object_id: str, attempt: int, progress: float, message: str) -> None:
        progress = self.span[0] + progress * self.span[1]
        self.handle.publish_feedback(ExecuteTask.Feedback(stage=stage, object_id=object_id, attempt=attempt,
                                                          progress=float(progress), message=self.step + message))
        self.n.get_logger().info(f"[{object_id or 'task'}] {stage} (attempt {attempt})")


class PlannerNode(Node):
    def __init__(self) -> None:
        super().__init__("planner")
        # The parameters of config/planner.params.yaml: their one description (types,
        # defaults, ranges); the motion and task groups become frozen configs.
        specs = node_param_specs("planner", "planner")
        values = declare_parameters(self, specs)
        self.cell = cell_for(values["cell_file"])
        self.motion_config = MotionConfig.from_dict(in_group(values, "motion"), self.cell)
        self.runner_config = self._runner_config(in_group(values, "task"), self.cell)
        mc = self.motion_config
        self.bin = self.cell.bin  # the prior; perception's bin replaces it when seen
        self.workspace = Workspace(table=self.cell.table)
        self.bin_items: list[BinItem] = []  # what this node put in the bin since the last clear_bin
        self.holding: WorldObject | None = None  # what the gripper holds after a goal ("pick up ...")
        self.kinematics, self.fixtures, self.planner = build_motion(mc, rng=np.random.default_rng(0))
        self.limits = mc.timing_limits(self.kinematics)
        self.lock = threading.Lock()
        self.dependencies = DependencyWatch(self.runner_config.dependency_timeout)  # under self.lock
        self.use_sim_time = bool(self.get_parameter("use_sim_time").value)
        self.objects_arrived = threading.Condition()
        self.latest_objects: DetectedObjectArray | None = None
        self.grasp_state: str = "idle"
        self.busy = False
        self.running_goal = ""  # goal_text of the task that runs ("" when idle)
        self.shutting_down = False
        self._active_goal_pub = self.create_publisher(String, "planner/active_goal", LATCHED)
        self._publish_active_goal("")
        self.estop = EStopListener(self, EStop, self._on_estop)
        self.health = Health(self, "", self.estop, lambda: {
            "task": self.running_goal or "idle", "objects put in the bin": len(self.bin_items)})
        self.health.watch("perception/objects", self.runner_config.perception_watchdog or None)
        self.health.watch("joint_states", mc.joint_states_max_age)
        self.motion_executor = TrajectoryExecutor(self, tolerances=mc.tolerances, start_delay=mc.start_delay,
                                                  stale_after=mc.joint_states_max_age,
                                                  on_state=lambda t: self.health.tick("joint_states", t))
        self.lead = LeadAck(self._sim_now, self._ack_lead)
        self._lead_ack_pub = None
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        if self.use_sim_time and values["lead_ack_period"] > 0.0:
            # Simulation only: tell the sim how far this node has seen, so it never runs further
            # ahead of the trajectories this node stamps than their start delay (the sim's lead
            # gate, armbrain_sim/lead.py). On a robot nothing waits and nothing is sent.
            # While it thinks, it acknowledges no further than its CPU time allows (lead_ack.py);
            # a wall-clock timer then keeps the sim going, as the sim's clock may stand still.
            self._lead_ack_pub = self.create_publisher(Header, "lead_ack", RELIABLE_10)
            self.create_timer(values["lead_ack_period"], self._ack_lead)
            self.create_timer(values["lead_ack_period"], lambda: self.lead.thinking and self._ack_lead(),
                              clock=self._steady_clock)
        self.create_subscription(DetectedObjectArray, "perception/objects", self._on_objects, RELIABLE_10)
        self.create_subscription(String, "grasping/grasp_state", self._on_grasp_state, LATCHED)
        self.plan_grasps_client = self.create_client(PlanGrasps, "grasping/plan_grasps")
        self.gripper_client = ActionClient(self, GripperCommand, "grasping/gripper")
        self._wake = self.create_guard_condition(lambda: None)
        self.server = ActionServer(self, ExecuteTask, "planner/execute_task", execute_callback=self._execute,
                                   goal_callback=self._on_goal, cancel_callback=lambda _h: CancelResponse.ACCEPT)
        self.create_service(Trigger, "planner/clear_bin", self._on_clear_bin)
        self.get_logger().info("planner ready: goals on planner/execute_task")

    def _sim_now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _ack_lead(self) -> None:
        if self._lead_ack_pub is None:
            return
        stamp = self.lead.stamp()
        ns = round(stamp * 1e9)
        self._lead_ack_pub.publish(Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
                                          frame_id=self.get_name()))

    def _on_clear_bin(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            if self.busy:
                response.success, response.message = False, "a task is running; clear the bin after it ends"
                return response
            n = len(self.bin_items)
            self.bin_items.clear()
        response.success, response.message = True, f"forgot {n} object(s) put in the bin; it is empty now"
        self.get_logger().info(response.message)
        return response

    @staticmethod
    def _runner_config(d: dict, cell: Cell) -> RunnerConfig:
        known = {f.name for f in fields(RunnerConfig)} - {"contact_margin", "release_width", "gripper", "home"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown task parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        cfg = RunnerConfig(**d, contact_margin=cell.clearances.contact, release_width=cell.gripper.max_opening,
                           gripper=cell.gripper, home=cell.home)
        if cfg.max_attempts < 1 or cfg.perception_max_age <= 0:
            raise ValueError(f"task: max_attempts must be >= 1 and perception_max_age > 0, got {cfg}")
        return cfg

    def provided(self, dep: Dependency) -> bool:
        """Whether some node provides `dep` now (from the ROS graph)."""
        if dep is PLAN_GRASPS:
            return self.plan_grasps_client.service_is_ready()
        if dep is GRIPPER:
            return self.gripper_client.server_is_ready()
        return self.count_publishers(dep.name) > 0

    def _on_estop(self, cmd: EStopCommand) -> None:
        if cmd.engaged:  # the hold first; the running task sees the stop at its next check
            self.motion_executor.stop(cmd.describe())

    def _on_objects(self, msg: DetectedObjectArray) -> None:
        self.health.tick("perception/objects", msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        with self.lock:
            self.latest_objects = msg
            self.dependencies.observe(PERCEPTION, True, time.monotonic())
        with self.objects_arrived:
            self.objects_arrived.notify_all()

    def _on_grasp_state(self, msg: String) -> None:
        try:
            state = json.loads(msg.data).get("state", "")
        except (ValueError, AttributeError):
            self.get_logger().warning(f"ignoring a grasping/grasp_state that is not JSON: {msg.data[:80]!r}")
            return
        with self.lock:
            self.grasp_state = state

    def _publish_active_goal(self, text: str) -> None:
        since = self.get_clock().now().nanoseconds * 1e-9
        self._active_goal_pub.publish(String(data=json.dumps({"goal": text, "since": since})))

    def _on_goal(self, goal) -> GoalResponse:
        text = goal_text(goal)
        with self.lock:
            running = self.running_goal
            if self.busy:
                self.get_logger().warning(f"goal {text!r} rejected: the task {running!r} is running (one task "
                                          "at a time)")
                return GoalResponse.REJECT
            self.busy, self.running_goal = True, text
        self._publish_active_goal(text)
        return GoalResponse.ACCEPT

    async def _execute(self, handle):
        done: Future = Future()

        def work() -> None:
            ports = RosPorts(self, handle)
            try:
                with self.lead.task():  # thinking, but for its waits on the world (lead_ack.py)
                    result = self._run_task(handle, ports)
            except Exception as exc:  # a bug must still end the goal with a report
                self.get_logger().error(f"task failed with an internal error: {exc!r}")
                result = TaskOutcome(False, "INTERNAL_ERROR", f"internal error: {exc!r}")
            # Every abort, fault and cancel ends with the arm held where it is (a hold moves
            # nothing); not a goal refused under the e-stop: the controller refuses commands then.
            if not result.success and result.failed_stage != "accept":
                self.motion_executor.stop(f"task ended {result.error}")
            done.set_result(result)
            self._wake.trigger()

        threading.Thread(target=work, daemon=True).start()
        outcome: TaskOutcome = await done
        with self.lock:
            self.busy, self.running_goal = False, ""
        self._publish_active_goal("")
        result = self._result_msg(outcome)
        if outcome.error == "CANCELED" and handle.is_cancel_requested:
            handle.canceled()
        elif outcome.success:
            handle.succeed()
        else:
            handle.abort()
        # (rclpy refuses one call site logging at two severities: two call sites.)
        if outcome.success:
            self.get_logger().info(f"task succeeded: {outcome.message}")
        else:
            self.get_logger().error(f"task failed: {outcome.error}: {outcome.message}")
        return result

    def _run_task(self, handle, ports: RosPorts) -> TaskOutcome:
        # After a (re)start, the e-stop state comes from the other nodes' latched copies:
        # no goal before they have been heard from (once; brain_common/estop.py).
        unheard = self.estop.wait_learned(ESTOP_LEARN_TIMEOUT_S)
        if unheard:  # the controller and grasping honour the stop themselves: go on, say so
            self.get_logger().warning(f"e-stop state not confirmed by {', '.join(unheard)} within "
                                      f"{ESTOP_LEARN_TIMEOUT_S:g} s; going on with {self.estop.describe()}")
        if self.estop.engaged:
            return TaskOutcome(False, "ESTOPPED", f"goal {goal_text(handle.request)!r} refused: "
                               f"{self.estop.describe()}; nothing moved. Release it with "
                               "`armbrain estop --release` once the cell is safe", "accept")
        try:
            goals = goals_from_msg(handle.request)
        except GoalError as exc:
            return TaskOutcome(False, "INVALID_GOAL", str(exc), "parse")
        cfg = self.runner_config
        if handle.request.max_attempts:
            cfg = dataclasses.replace(cfg, max_attempts=int(handle.request.max_attempts))
        if self.holding is not None and ports.grasp_held() is not True:  # the world says otherwise
            self.get_logger().info(f"forgetting {self.holding.label} ({self.holding.id}): the gripper does not "
                                   "hold it any more (grasping/grasp_state)")
            self.holding = None
        mc = self.motion_config
        runner = TaskRunner(ports, self.planner, self.fixtures, self.limits, cfg, self.bin, self.workspace,
                            log=self.get_logger().info, bin_items=self.bin_items, holding=self.holding,
                            blend=mc.blend, blend_step=mc.blend_step, dt=mc.trajectory_dt,
                            blend_corner=mc.blend_corner)
        echo = describe_goals(goals)  # what the brain understood, before anything moves
        self.get_logger().info(f"goal: {echo}")
        ports.feedback("understood", "", 0, 0.0, f"understood: {echo}")
        n, t0, objects = len(goals), ports.now(), []
        try:
            for i, goal in enumerate(goals):
                if n > 1:
                    ports.span, ports.step = (i / n, 1.0 / n), f"step {i + 1} of {n}: "
                outcome = runner.run(goal)
                objects += outcome.objects
                if not outcome.success:
                    break
            if n > 1:
                outcome.message = (f"all {n} steps done ({echo}): {outcome.message}" if outcome.success else
                                   f"step {i + 1} of {n} ({goal.describe()}) failed: {outcome.message}")
            outcome.objects, outcome.duration = objects, ports.now() - t0
            return outcome
        finally:
            self.bin = runner.bin  # where the bin was last seen: the next goal starts from there
            self.holding = runner.holding

    @staticmethod
    def _result_msg(o: TaskOutcome) -> ExecuteTask.Result:
        code = getattr(ExecuteTask.Result, o.error, ExecuteTask.Result.INTERNAL_ERROR)
        r = ExecuteTask.Result(success=o.success, error_code=code, message=o.message, failed_stage=o.failed_stage,
                               duration=float(o.duration))
        for ob in o.objects:
            r.objects.append(ObjectOutcome(
                object_id=ob.object_id, label=ob.label, success=ob.success,
                error_code=getattr(ExecuteTask.Result, ob.error, ExecuteTask.Result.INTERNAL_ERROR),
                failed_stage=ob.failed_stage, message=ob.message, attempts=ob.attempts))
        for s in o.stages:
            r.stages.append(StageReport(stage=s.stage, object_id=s.object_id, attempt=s.attempt,
                                        duration=float(s.duration), success=s.success, message=s.message))
        return r

    def destroy_node(self) -> None:
        self.shutting_down = True
        super().destroy_node()


def main(args=None):
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
