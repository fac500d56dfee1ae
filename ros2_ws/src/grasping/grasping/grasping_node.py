"""grasping: grasp synthesis, gripper control and the grasp check, as a ROS 2 node.

Services:
  grasping/plan_grasps   brain_interfaces/PlanGrasps: ranked grasp candidates for a
                         perception id (resolved against the latest perception/objects) or
                         for the object given in the request; success=false with a reason.
Actions:
  grasping/gripper       brain_interfaces/GripperCommand: move the fingers to an opening;
                         result: final width, reached or stalled. A goal out of range is
                         refused (aborted at once with a message naming the valid range;
                         nothing is sent to the gripper), never clamped. Under the e-stop
                         a goal is aborted at once, and the running one ends where the
                         fingers are, with nothing more sent (the grip is kept).
Publishes:
  gripper_controller/commands  std_msgs/Float64MultiArray [opening, m] (reliable, depth 10)
  grasping/grasp_state         std_msgs/String, JSON, latched (TRANSIENT_LOCAL, depth 1):
      {"state": "idle" | "closing" | "held" | "wrong_width" | "missed" | "lost" | "released",
       "time": ROS time s (sim time in simulation), "width": opening m,
       "expected_width": m or null, "object_id": str, "message": str}
      One message per change. "held" after a close whose fingers stopped at the expected
      width; "lost" when the fingers close fully later (the object slipped out).
Subscribes:
  perception/objects     brain_interfaces/DetectedObjectArray (reliable, depth 10)
  joint_states           sensor_msgs/JointState: finger positions (opening = sum of the
                         two finger joints) and arm joints (current wrist orientation)
  estop                  brain_interfaces/EStop (latched; brain_common/estop.py)
Diagnostics: /diagnostics once a second (brain_common/health.py): joint_states and
  perception/objects rates and ages, the grasp state, the e-stop.

The grasp check expects the object widths of the latest successful plan_grasps answer
(the candidates' object_width values), so the intended flow is: plan_grasps, approach,
close with a gripper goal (target 0: squeeze), watch grasp_state. Closing goals sent
before any plan arm the check without an expected width (held = stopped on something).

Time: every gripper decision is taken on the joint_states stamps (sim time in
simulation), so results do not depend on CPU load. The action's execute callback is a
coroutine on the node's single-threaded executor; it awaits futures that the
joint_states callback completes (ROS_ON_PIP.md: no MultiThreadedExecutor busy loop, no
blocking waits). A steady-clock watchdog only ends a goal when joint_states stop coming.
"""

from __future__ import annotations

import dataclasses
import json
import math
import traceback
from dataclasses import dataclass

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from brain_common.cell import Bin, cell_for
from brain_common.estop import EStopCommand, EStopListener
from brain_common.health import Health
from brain_common.params import declare_parameters, node_param_specs
from brain_common.qos import LATCHED, RELIABLE_10
from brain_common.robot import ARM_JOINTS, FINGER_JOINTS
from brain_common.runtime import run_node
from brain_interfaces.action import GripperCommand
from brain_interfaces.msg import DetectedObjectArray, EStop
from brain_interfaces.srv import PlanGrasps
from grasping.conversions import bin_from_msg, msg_from_candidate, object_from_msg
from grasping.core import (
    PANDA_HAND,
    FingerMotion,
    GraspCheckConfig,
    GraspEvent,
    GraspMonitor,
    GripperConfig,
    Outcome,
    SynthesisConfig,
    check_gripper_goal,
    grasp_pose_from_joints,
    plan_grasps,
)


@dataclass(frozen=True, slots=True)
class GraspingParams:
    """Everything the node is configured with (config/grasping.yaml)."""

    synthesis: SynthesisConfig
    bin: Bin | None
    gripper: GripperConfig
    check: GraspCheckConfig
    feedback_period: float
    joint_states_timeout: float


@dataclass(slots=True)
class _Sample:
    time: float
    width: float


class GraspingNode(Node):
    def __init__(self) -> None:
        super().__init__("grasping")
        self.params = self._declare_parameters()
        self._objects: DetectedObjectArray | None = None
        self._sample: _Sample | None = None
        self._arm_q: list[float] | None = None
        self._waiters: list[Future] = []
        self._wall_last_sample = 0.0
        self._active_goal = None  # the goal handle being executed
        self._plan_widths: tuple[str, tuple[float, ...]] = ("", ())
        self._monitor = GraspMonitor(self.params.check)

        self._cmd_pub = self.create_publisher(Float64MultiArray, "gripper_controller/commands", RELIABLE_10)
        self._state_pub = self.create_publisher(String, "grasping/grasp_state", LATCHED)
        self.create_subscription(DetectedObjectArray, "perception/objects", self._on_objects, RELIABLE_10)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, RELIABLE_10)
        self.create_service(PlanGrasps, "grasping/plan_grasps", self._on_plan_grasps)
        self._action = ActionServer(self, GripperCommand, "grasping/gripper", execute_callback=self._execute,
                                    goal_callback=lambda _goal: GoalResponse.ACCEPT,
                                    cancel_callback=lambda _handle: CancelResponse.ACCEPT)
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(0.5, self._watchdog, clock=self._steady)
        self.estop = EStopListener(self, EStop, self._on_estop)
        self.health = Health(self, "", self.estop, lambda: {"grasp state": self._monitor.state.value,
                                                            "gripper goal active": self._active_goal is not None})
        self.health.watch("joint_states", self.params.joint_states_timeout)
        self.health.watch("perception/objects")
        self._publish_event(GraspEvent(self._monitor.state, 0.0, math.nan, None, "", "grasping node started"))
        b = self.params.bin
        self.get_logger().info(
            f"ready: plan_grasps, gripper action; max opening {self.params.synthesis.gripper.max_opening:g} m; "
            + (f"bin at ({b.x:.3f}, {b.y:.3f}) m, inner {b.inner_size[0]:g} x {b.inner_size[1]:g} m"
               if b else "no bin"))

    # -- parameters --------------------------------------------------------------
    def _declare_parameters(self) -> GraspingParams:
        """Declare the parameters of config/grasping.params.yaml (their one description:
        types, defaults, ranges) and build the frozen configs from them and the cell."""
        values = declare_parameters(self, node_param_specs("grasping", "grasping"))
        g = values.__getitem__
        cell = cell_for(str(g("cell_file")))
        cl = cell.clearances
        synthesis = SynthesisConfig(
            gripper=dataclasses.replace(PANDA_HAND, max_opening=cell.gripper.max_opening),
            open_margin=float(g("open_margin")), min_open_margin=cell.gripper.grip_margin,
            grasp_depth=float(g("grasp_depth")), table_clearance=cl.fingertip,
            hand_clearance=float(g("hand_clearance")), min_contact=float(g("min_contact")),
            min_finger_clearance=cl.neighbour, min_static_clearance=cl.contact,
            pre_grasp_distance=float(g("pre_grasp_distance")), offsets=int(g("offsets")),
            cylinder_yaw_step_deg=float(g("cylinder_yaw_step_deg")), tall_height=float(g("tall_height")),
            side_max_angle_deg=float(g("side_max_angle_deg")))
        bin_model = cell.bin  # the prior; perception's bin replaces it when seen
        gripper = GripperConfig(
            max_opening=cell.gripper.max_opening, max_effort=float(g("max_effort")),
            default_effort=float(g("default_effort")), reached_tolerance=float(g("reached_tolerance")),
            still_tolerance=float(g("still_tolerance")), settle_time=float(g("settle_time")),
            no_motion_time=float(g("no_motion_time")), timeout=float(g("gripper_timeout")))
        check = GraspCheckConfig(
            held_tolerance=float(g("held_tolerance")), held_fraction=float(g("held_fraction")),
            closed_width=float(g("closed_width")), lost_drop=float(g("lost_drop")),
            lost_fraction=float(g("lost_fraction")), debounce=max(1e-6, float(g("lost_debounce"))),
            reached_tolerance=gripper.reached_tolerance, still_tolerance=gripper.still_tolerance,
            settle_time=gripper.settle_time, no_motion_time=gripper.no_motion_time)
        return GraspingParams(synthesis=synthesis, bin=bin_model, gripper=gripper, check=check,
                              feedback_period=float(g("feedback_period")),
                              joint_states_timeout=float(g("joint_states_timeout")))

    # -- inputs ------------------------------------------------------------------
    def _on_objects(self, msg: DetectedObjectArray) -> None:
        self._objects = msg
        self.health.tick("perception/objects", msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

    def _on_estop(self, cmd: EStopCommand) -> None:
        if cmd.engaged and self._active_goal is not None:
            self._wake(self._sample)  # the running goal sees the stop at once

    def _on_joint_states(self, msg: JointState) -> None:
        names = list(msg.name)
        try:
            width = sum(float(msg.position[names.index(j)]) for j in FINGER_JOINTS)
        except (ValueError, IndexError):
            return  # a joint_states message without the fingers (another publisher): not ours
        if not math.isfinite(width):
            self.get_logger().warning("joint_states: non-finite finger position ignored", throttle_duration_sec=5.0)
            return
        try:
            q = [float(msg.position[names.index(j)]) for j in ARM_JOINTS]
            self._arm_q = q if all(math.isfinite(v) for v in q) else self._arm_q
        except (ValueError, IndexError):
            pass
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if t == 0.0:
            t = self.get_clock().now().nanoseconds * 1e-9
        self._sample = _Sample(t, width)
        self.health.tick("joint_states", t)
        self._wall_last_sample = self._steady.now().nanoseconds * 1e-9
        event = self._monitor.update(t, width)
        if event is not None:
            self._publish_event(event)
        self._wake(self._sample)

    def _wake(self, value: _Sample | None) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(value)

    def _watchdog(self) -> None:
        if not self._waiters:
            return
        idle = self._steady.now().nanoseconds * 1e-9 - self._wall_last_sample
        if idle > self.params.joint_states_timeout:
            self._wake(None)

    def _publish_event(self, event: GraspEvent) -> None:
        d = event.as_dict()
        d["width"] = None if math.isnan(d["width"]) else round(d["width"], 6)
        self._state_pub.publish(String(data=json.dumps(d)))
        # (rclpy refuses one call site logging at two severities: two call sites.)
        if event.state.value in ("lost", "missed", "wrong_width"):
            self.get_logger().warning(f"grasp state {event.state.value}: {event.message}")
        else:
            self.get_logger().info(f"grasp state {event.state.value}: {event.message}")

    # -- plan_grasps -------------------------------------------------------------
    def _on_plan_grasps(self, request: PlanGrasps.Request, response: PlanGrasps.Response) -> PlanGrasps.Response:
        try:
            self._plan(request, response)
        except Exception as exc:  # one bad request must not take the node down
            self.get_logger().error(f"plan_grasps failed: {exc}\n{traceback.format_exc()}")
            response.success, response.candidates = False, []
            response.message = f"internal error while planning grasps: {exc}"
        return response

    def _plan(self, request: PlanGrasps.Request, response: PlanGrasps.Response) -> None:
        response.success = False
        wanted = request.min_stamp.sec + request.min_stamp.nanosec * 1e-9
        if wanted > 0.0:
            have = None if self._objects is None else \
                self._objects.header.stamp.sec + self._objects.header.stamp.nanosec * 1e-9
            if have is None or have < wanted:
                response.frame_pending = True
                response.message = (f"the perception/objects frame of {wanted:.3f} s has not arrived yet (newest: "
                                    + ("none" if have is None else f"{have:.3f} s") + "): ask again")
                return
        known = list(self._objects.objects) if self._objects is not None else []
        if request.object_id:
            matches = [o for o in known if o.id == request.object_id]
            if not matches:
                if self._objects is None:
                    response.message = (f"no object with id {request.object_id!r}: nothing received on "
                                        "perception/objects yet (is perception running?)")
                elif not known:
                    response.message = f"no object with id {request.object_id!r}; perception sees no objects"
                else:
                    listing = ", ".join(f"{o.id} ({o.label})" if o.label else o.id for o in known)
                    response.message = f"no object with id {request.object_id!r}; known: {listing}"
                self.get_logger().warning(f"plan_grasps: {response.message}")
                return
            target_msg = matches[0]
        else:
            target_msg = request.object
            s = target_msg.size
            if not (s.x or s.y or s.z):
                response.message = "give object_id (a perception id) or an object with its pose and size"
                self.get_logger().warning(f"plan_grasps: {response.message}")
                return
        try:
            target = object_from_msg(target_msg)
        except ValueError as exc:
            response.message = f"bad object: {exc}"
            self.get_logger().warning(f"plan_grasps: {response.message}")
            return
        neighbours = []
        for o in known:
            if o.id == target.id:
                continue
            try:
                neighbours.append(object_from_msg(o))
            except ValueError as exc:
                self.get_logger().warning(f"plan_grasps: neighbour skipped: {exc}")
        reference = None
        if self._arm_q is not None:
            reference = grasp_pose_from_joints(self._arm_q)[:3, :3]
        # The bin where perception sees it in the same frame as the objects; the configured
        # bin only when it is not seen.
        scene = self._objects
        bin_model = self.params.bin
        if bin_model is not None and scene is not None:
            bin_model = bin_from_msg(scene.bin, bin_model)
        plan = plan_grasps(target, neighbours, bin_model, self.params.synthesis, reference,
                           int(request.max_candidates))
        response.success, response.message = plan.success, plan.message
        response.candidates = [msg_from_candidate(c) for c in plan.candidates]
        if plan.success:
            self._plan_widths = (target.id, tuple(sorted({round(c.object_width, 6) for c in plan.candidates})))
            self.get_logger().info(f"plan_grasps: {plan.message}")
        else:
            self.get_logger().warning(f"plan_grasps: {plan.message}")

    # -- gripper action ----------------------------------------------------------
    def _next_sample(self) -> Future:
        fut = Future()
        self._waiters.append(fut)
        return fut

    def _send(self, width: float) -> None:
        self._cmd_pub.publish(Float64MultiArray(data=[float(width)]))

    async def _execute(self, goal_handle) -> GripperCommand.Result:
        goal = goal_handle.request
        result = GripperCommand.Result()
        cfg = self.params.gripper
        try:
            check_gripper_goal(goal.target_width, goal.max_effort, cfg)
        except ValueError as exc:
            result.message = f"goal refused: {exc}"
            result.final_width = self._sample.width if self._sample else math.nan
            self.get_logger().error(f"gripper: {result.message}")
            goal_handle.abort()
            return result
        if self.estop.engaged:
            result.final_width = self._sample.width if self._sample else math.nan
            result.message = f"goal refused: {self.estop.describe()}"
            self.get_logger().error(f"gripper: {result.message}")
            goal_handle.abort()
            return result
        if self._sample is None:
            result.final_width = math.nan
            result.message = "no joint_states received yet: is the arm driver (or sim_bridge) running?"
            self.get_logger().error(f"gripper: {result.message}")
            goal_handle.abort()
            return result
        previous, self._active_goal = self._active_goal, goal_handle
        if previous is not None:
            self._wake(self._sample)  # the previous goal sees it was preempted
        target = float(goal.target_width)
        t0 = self._sample.time
        object_id, widths = self._plan_widths
        self._send(target)
        self._publish_event(self._monitor.command(target, t0, widths, object_id))
        if goal.max_effort > 0.0:
            self.get_logger().info(f"gripper: max_effort {goal.max_effort:g} N noted; the forward command "
                                   "controller applies its own configured force", throttle_duration_sec=60.0)
        motion = FingerMotion(target, t0, cfg)
        last_feedback = -math.inf
        while True:
            sample = await self._next_sample()
            if self._active_goal is not goal_handle:
                result.final_width = self._sample.width if self._sample else math.nan
                result.message = "preempted by a newer gripper goal"
                goal_handle.abort()
                return result
            if sample is None:
                result.final_width = self._sample.width
                result.message = (f"no joint_states for {self.params.joint_states_timeout:g} s: "
                                  "cannot follow the fingers")
                self._active_goal = None
                self.get_logger().error(f"gripper: {result.message}")
                goal_handle.abort()
                return result
            if self.estop.engaged:  # nothing more is sent: the controller keeps the last command
                result.final_width = sample.width if sample else math.nan
                result.message = f"stopped at {result.final_width * 100:.1f} cm: {self.estop.describe()}"
                self._active_goal = None
                self.get_logger().error(f"gripper: {result.message}")
                goal_handle.abort()
                return result
            if goal_handle.is_cancel_requested:
                self._send(sample.width)  # stop where the fingers are
                result.final_width = sample.width
                result.message = f"canceled at {sample.width * 100:.1f} cm"
                self._active_goal = None
                goal_handle.canceled()
                return result
            if sample.time - last_feedback >= self.params.feedback_period:
                last_feedback = sample.time
                goal_handle.publish_feedback(GripperCommand.Feedback(current_width=sample.width))
            outcome = motion.update(sample.time, sample.width)
            if outcome is None:
                continue
            self._active_goal = None
            result.final_width = outcome.final_width
            result.reached = outcome.outcome == Outcome.REACHED
            result.stalled = outcome.outcome == Outcome.STALLED
            result.message = outcome.message
            if outcome.outcome == Outcome.TIMEOUT:
                self.get_logger().error(f"gripper: {outcome.message}")
                goal_handle.abort()
            else:
                self.get_logger().info(f"gripper: {outcome.message}")
                goal_handle.succeed()
            return result

    def destroy_node(self) -> None:
        self._action.destroy()
        super().destroy_node()


def main(args=None):
    return run_node(GraspingNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
