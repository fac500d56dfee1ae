"""planner.task.runner with fake ports (no ROS, no sim) and the real motion planner.

The fake world is deliberately simple: perception returns the objects it holds; closing
the gripper holds the object under the hand (or nothing); opening drops the held object
where the hand is (into the bin when above it, off the table's object list).
"""

import dataclasses
import math
import types

import numpy as np
import pytest

from brain_common.cell import default_cell
from planner.motion.config import MotionConfig, build_motion
from planner.task.dependencies import PERCEPTION
from planner.task.goals import parse_goal
from planner.task.placement import Workspace, WorldObject
from planner.task.runner import STAGES, BinView, Grasp, GripperOutcome, RunnerConfig, TaskRunner

CONFIG = MotionConfig(tune_allocator=False)
KIN, FIXTURES, PLANNER = build_motion(CONFIG, rng=np.random.default_rng(1))
LIMITS = CONFIG.timing_limits(KIN)
HOME = np.array(RunnerConfig().home)


def cube(id_, colour, x, y):
    return WorldObject(id_, f"{colour} cube", colour, "box", (x, y, 0.025), 0.0, (0.05, 0.05, 0.05))


class FakePorts:
    def __init__(self, objects, *, empty_closes=0, cancel_at=None, bin_=None, bin_seen=True, hide_contents=False,
                 estop_at=None):
        self.objects_ = list(objects)
        self.q = HOME.copy()
        self.t = 0.0
        self.held = None
        self.empty_closes = empty_closes  # the first n closes find nothing
        self.cancel_at = cancel_at  # stage name at which the operator cancels
        self.cancel = False
        self.estop_at = estop_at  # stage name at which someone engages the e-stop
        self.estop = None
        self.executions = 0
        self.stopped = False
        self.fb = []
        self.in_bin = []  # (x, y) of the releases over the bin
        self.in_bin_objects = []  # (object, x, y) released over the bin
        self.bin_ = bin_ if bin_ is not None else default_cell().bin  # where the bin really is
        self.bin_seen = bin_seen
        self.hide_contents = hide_contents  # the camera cannot see into the bin
        self.lost_reason = None  # set by a port whose dependency went away

    def now(self):
        return self.t

    def objects(self, max_age, timeout):
        return list(self.objects_)

    def bin_view(self, max_age, timeout, newer_than=None):
        """The bin seen where configured (unless `bin_` says otherwise), holding what was released over it."""
        if self.bin_seen is False:
            return BinView(self.bin_, False, (), self.t)
        contents = tuple(WorldObject(f"in_{k}", o.label, o.colour, o.shape, (x, y, 0.03), 0.0, o.size)
                         for k, (o, x, y) in enumerate(self.in_bin_objects) if not self.hide_contents)
        return BinView(self.bin_, True, contents, self.t)

    def joints(self):
        return self.q.copy()

    def plan_grasps(self, obj):
        grasps = []
        for yaw in (0.0, np.pi / 2):  # top-down, fingers across either face pair
            T = np.eye(4)
            c, s = np.cos(yaw), np.sin(yaw)
            T[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.0, -1.0, -1.0])
            T[:3, 3] = [obj.position[0], obj.position[1], obj.position[2] + 0.025 - 0.02]
            grasps.append(Grasp(T, np.array([0.0, 0.0, -1.0]), 0.1, 0.07, 0.05))
        return grasps, ""

    def _hand_xy(self):
        T = KIN.fk(self.q)
        return T[0, 3], T[1, 3]

    def gripper(self, width):
        self.t += 0.5
        if width > 0.0:
            if self.held is not None:
                x, y = self._hand_xy()
                if not self.bin_.contains(x, y):
                    o = self.held
                    self.objects_.append(WorldObject(o.id, o.label, o.colour, o.shape, (x, y, 0.025), 0.0, o.size))
                else:
                    self.in_bin.append((x, y))
                    self.in_bin_objects.append((self.held, x, y))
                self.held = None
            return GripperOutcome(width, True, False, "reached")
        if self.empty_closes > 0:
            self.empty_closes -= 1
            return GripperOutcome(0.0, True, False, "closed on nothing")
        x, y = self._hand_xy()
        under = [o for o in self.objects_ if np.hypot(o.position[0] - x, o.position[1] - y) < 0.02]
        if not under:
            return GripperOutcome(0.0, True, False, "closed on nothing")
        self.held = under[0]
        self.objects_.remove(under[0])
        return GripperOutcome(0.05, False, True, "stalled")

    def gripper_begin(self, width):
        """The fingers start now; their outcome is known at once (fake time passes as in gripper)."""
        out = self.gripper(width)
        return types.SimpleNamespace(wait=lambda: out, cancel=lambda: None)

    def grasp_held(self):
        return None if self.held is None else True

    def execute(self, trajectory):
        self.executions += 1
        self.t += trajectory.duration
        self.q = trajectory.goal.copy()
        return True, "reached the goal", ""

    def stop(self):
        self.stopped = True

    def feedback(self, stage, object_id, attempt, progress, message):
        self.fb.append((stage, object_id, attempt, progress))
        if stage == self.cancel_at:
            self.cancel = True
        if stage == self.estop_at:
            self.estop = "e-stop engaged by armbrain estop (pid 1) at 12:00:00: test"
            self.executions_at_estop = self.executions

    def canceled(self):
        return self.cancel or self.estop is not None

    def estopped(self):
        return self.estop

    def lost(self):
        return self.lost_reason


def run(ports, text, bin_items=None, holding=None, runner_out=None, **cfg):
    runner = TaskRunner(ports, PLANNER, FIXTURES, LIMITS, RunnerConfig(**cfg), default_cell().bin, Workspace(),
                        bin_items=bin_items, holding=holding)
    if runner_out is not None:
        runner_out.append(runner)
    return runner.run(parse_goal(text))


def test_place_it_after_pick_up_uses_what_the_gripper_holds_across_goals():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    first: list = []
    out = run(ports, "pick up the red cube", runner_out=first)
    assert out.success and first[0].holding is not None and first[0].holding.id == "obj_1", out.message
    # a new goal (a new runner, as the node makes one per goal) given what the node remembers
    out = run(ports, "place it in the bin", holding=first[0].holding)
    assert out.success, out.message
    assert [s.stage for s in out.stages][:2] == ["perceive", "select"] and "plan_grasps" not in [
        s.stage for s in out.stages]  # no second pick
    assert len(ports.in_bin) == 1 and ports.held is None


def test_another_pick_while_holding_is_refused_before_any_motion():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    held = cube("obj_1", "red", 0.5, -0.1)
    out = run(ports, "put the blue cube in the bin", holding=held)
    assert out.error == "INVALID_GOAL" and "holds red cube (obj_1)" in out.message and "place it" in out.message
    assert ports.executions == 0


def test_place_with_nothing_held_is_invalid():
    out = run(FakePorts([cube("obj_1", "red", 0.5, -0.1)]), "place it in the bin")
    assert out.error == "INVALID_GOAL" and "holds nothing" in out.message


def test_a_count_puts_that_many_nearest_first():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "red", 0.45, 0.15),
                       cube("obj_3", "red", 0.6, 0.05)])
    out = run(ports, "put two red cubes in the bin")
    assert out.success, out.message
    assert len(ports.in_bin) == 2 and len(ports.objects_) == 1
    assert "two red cubes" in out.message


def test_a_count_larger_than_what_is_seen_is_refused_before_motion():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put three red cubes in the bin")
    assert out.error == "OBJECT_NOT_FOUND" and ports.executions == 0, out.message


def test_size_and_relation_references_resolve_with_sizes_and_the_bin():
    big = WorldObject("obj_2", "red cube", "red", "box", (0.45, 0.15, 0.03), 0.0, (0.06, 0.06, 0.06))
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), big])
    out = run(ports, "put the biggest red cube in the bin")
    assert out.success and out.objects[0].object_id == "obj_2", out.message


def test_pick_and_place_into_the_bin_runs_every_stage_in_order():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    out = run(ports, "put the red cube in the bin")
    assert out.success and out.error == "SUCCESS", out.message
    assert [s.stage for s in out.stages] == list(STAGES)
    assert [(o.object_id, o.success, o.attempts) for o in out.objects] == [("obj_1", True, 1)]
    assert [o.id for o in ports.objects_] == ["obj_2"]  # red went into the bin
    progress = [p for *_, p in ports.fb]
    assert progress == sorted(progress) and progress[0] >= 0 and progress[-1] < 1


def test_a_moved_bin_is_used_where_perception_sees_it():
    """The configured bin is a prior: the cube goes where the bin is seen, and the success
    comes from seeing it there."""
    moved = dataclasses.replace(default_cell().bin, x=0.45, y=-0.42, yaw=math.radians(30))
    ports = FakePorts([cube("obj_1", "red", 0.5, 0.1)], bin_=moved)
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message
    assert len(ports.in_bin) == 1 and moved.contains(*ports.in_bin[0], margin=0.02)
    assert not default_cell().bin.contains(*ports.in_bin[0])


def test_a_bin_placement_is_judged_from_a_fresh_view_never_from_the_plan():
    # Perception reports the bin where it was configured, but the tray is really elsewhere:
    # the cube lands on the table. The task must not report SUCCESS.
    elsewhere = dataclasses.replace(default_cell().bin, x=0.45, y=-0.42)
    ports = FakePorts([cube("obj_1", "red", 0.5, 0.0)], bin_=elsewhere)
    ports.bin_view = lambda max_age, timeout, newer_than=None: BinView(default_cell().bin, True, (), ports.t)
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "PLACE_FAILED" and out.failed_stage == "verify_placed"
    assert "still on the table" in out.message


def test_an_unseen_bin_cannot_confirm_a_placement():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], bin_seen=False)
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "PLACE_FAILED" and out.failed_stage == "verify_placed"
    assert "cannot confirm red cube is in the bin: the bin is not seen" in out.message


def test_an_object_hidden_in_the_bin_counts_when_the_table_lost_it_and_the_bin_holds_more():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], hide_contents=True)
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "PLACE_FAILED"
    assert "red cube is not seen in the bin (it holds: nothing) nor on the table" in out.message
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    ports.bin_view_orig = ports.bin_view

    def blurred(max_age, timeout, newer_than=None):  # sees something new in the bin, but not its colour
        v = ports.bin_view_orig(max_age, timeout, newer_than)
        return dataclasses.replace(v, contents=tuple(dataclasses.replace(c, colour="unknown") for c in v.contents))
    ports.bin_view = blurred
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message


def test_a_frame_showing_the_hand_as_an_object_does_not_block_the_lift():
    # With the hand down at the table, perception may report the fingers and the held cube
    # as one more object where the hand is; the lift must plan against the neighbours seen
    # before the hand came down, not against that.
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    plain = ports.objects

    def with_phantom(max_age, timeout):
        out = plain(max_age, timeout)
        if ports.held is not None:
            x, y = ports._hand_xy()
            out.append(WorldObject("obj_9", "unknown box", "unknown", "box", (x, y, 0.04), 0.0, (0.08, 0.06, 0.08)))
        return out
    ports.objects = with_phantom
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message


def test_missing_object_is_refused_before_anything_moves():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put the purple cube in the bin")
    assert not out.success and out.error == "OBJECT_NOT_FOUND" and out.failed_stage == "select"
    assert "no object matches 'the purple cube'; visible: red cube (obj_1 at 0.50, -0.10)" in out.message
    assert ports.executions == 0


def test_an_off_table_target_is_refused_before_anything_moves():
    ports = FakePorts([cube("obj_1", "yellow", 0.5, -0.1)])
    out = run(ports, "move the yellow cube at 0.2 -0.68")
    assert not out.success and out.error == "INVALID_GOAL" and out.failed_stage == "select", out.message
    assert f"is off the table: yellow cube (3.5 cm about its centre) must stand wholly on the table top, which " \
           f"spans {default_cell().table.describe()}" in out.message
    assert ports.executions == 0 and [s.stage for s in out.stages] == ["perceive", "select"]


def test_all_of_a_colour_that_is_not_there_is_object_not_found():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put all purple objects in the bin")
    assert not out.success and out.error == "OBJECT_NOT_FOUND" and out.failed_stage == "select", out.message
    assert out.message == ("put all purple objects in the bin: no object matches 'all purple objects'; "
                           "visible: red cube (obj_1 at 0.50, -0.10)")
    assert ports.executions == 0


@pytest.mark.parametrize("text", ["put the red cube on obj_3", "put obj_3 on the red cube",
                                  "stack the red cube on a red cube"])
def test_putting_an_object_on_itself_is_an_invalid_goal(text):
    ports = FakePorts([cube("obj_3", "red", 0.5, -0.1), cube("obj_4", "blue", 0.45, 0.15)])
    out = run(ports, text)
    assert not out.success and out.error == "INVALID_GOAL" and out.failed_stage == "select", out.message
    assert "cannot put red cube (obj_3) on itself" in out.message
    assert ports.executions == 0


def test_too_wide_object_is_refused_before_anything_moves():
    wide = WorldObject("obj_1", "blue box", "blue", "box", (0.5, 0.0, 0.03), 0.0, (0.095, 0.12, 0.06))
    ports = FakePorts([wide])
    out = run(ports, "put the blue box in the bin")
    assert out.error == "INVALID_GOAL" and "9.5 cm wide; the gripper opens 8 cm" in out.message
    assert ports.executions == 0


def test_empty_grasp_is_retried_with_the_next_candidate():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], empty_closes=1)
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message
    assert out.objects[0].attempts == 2
    failed = [s for s in out.stages if not s.success]
    assert [(s.stage, s.attempt) for s in failed] == [("close", 1)]
    assert "the fingers closed on nothing" in failed[0].message


def test_an_object_no_candidate_reaches_is_refused_within_the_search_budget():
    class FarPorts(FakePorts):
        """38 candidates, none reachable (1.3 m away); every look at the clock costs 0.05 s, as
        sim time runs on while the planner searches."""

        def now(self):
            self.t += 0.05
            return self.t

        def plan_grasps(self, obj):
            out = []
            for k in range(38):
                T = np.eye(4)
                T[:3, :3] = np.diag([1.0, -1.0, -1.0])
                T[:3, 3] = [1.3, -0.2 + 0.01 * k, 0.03]
                out.append(Grasp(T, np.array([0.0, 0.0, -1.0]), 0.1, 0.07, 0.05))
            return out, ""

    ports = FarPorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put the red cube in the bin", max_attempts=1)
    assert not out.success and out.error == "NO_IK" and out.failed_stage == "plan_approach", out.message
    tried = int(out.message.split("none of the first ")[1].split(" ")[0])
    assert 1 <= tried < 38 and "of 38 grasp candidates" in out.message
    assert "unreachable within the joint limits" in out.message  # the first failure, explained
    (search,) = [s for s in out.stages if s.stage == "plan_approach"]
    assert search.duration <= RunnerConfig().approach_budget + 0.2  # the budget and a look or two more
    assert ports.executions == 0


class BlockedDescentPlanner:
    """The real planner, except that every straight line down over the bin is blocked (as a
    wrist turn can fold panda_link5 into panda_link7 on the way down)."""

    def __init__(self, planner):
        self.planner = planner
        self.blocked = 0

    def __getattr__(self, name):
        return getattr(self.planner, name)

    def plan_cartesian(self, start, T_goal, collision=None):
        from planner.motion.planner import PlanCode, PlanResult

        T0 = self.planner.kinematics.fk(np.asarray(start))
        if T_goal[2, 3] < T0[2, 3] - 0.05 and default_cell().bin.contains(T_goal[0, 3], T_goal[1, 3]):
            self.blocked += 1
            return PlanResult(PlanCode.NO_PATH, "straight line is blocked: panda_link5 touches panda_link7")
        return self.planner.plan_cartesian(start, T_goal, collision)


def test_a_blocked_straight_descent_is_replanned_as_a_joint_space_detour():
    ports = RecordingPorts([cube("obj_1", "red", 0.5, -0.1)])
    planner = BlockedDescentPlanner(PLANNER)
    logs = []
    runner = TaskRunner(ports, planner, FIXTURES, LIMITS, RunnerConfig(), default_cell().bin, Workspace(),
                        log=logs.append)
    out = runner.run(parse_goal("put the red cube in the bin"))
    assert out.success, out.message
    assert planner.blocked >= 1 and any("lowering along a joint-space path" in m for m in logs)
    assert len(ports.in_bin) == 1
    # released where the straight line would have ended: over the bin, at the planned slot
    (x, y), = ports.in_bin
    assert default_cell().bin.contains(x, y)


class FlippingLiftPlanner:
    """The real planner, except that the straight lift from the first `n` grasp configurations
    it is asked about is impossible (the wrist would flip on the way up)."""

    def __init__(self, planner, n: int = 1):
        self.planner, self.n, self.refused = planner, n, []

    def __getattr__(self, name):
        return getattr(self.planner, name)

    def plan_cartesian(self, start, T_goal, collision=None):
        from planner.motion.planner import PlanCode, PlanResult

        T0 = self.planner.kinematics.fk(np.asarray(start))
        up = T_goal[2, 3] > T0[2, 3] + 0.05 and T0[2, 3] < 0.1  # from a grasp at the table
        if up and (len(self.refused) < self.n or any(np.allclose(start, q) for q in self.refused)):
            if not any(np.allclose(start, q) for q in self.refused):
                self.refused.append(np.array(start))
            return PlanResult(PlanCode.NO_IK, "straight line: waypoint 20/20 at (0.43, 0.02, 0.13) is unreachable "
                                              "from the previous one within the joint limits")
        return self.planner.plan_cartesian(start, T_goal, collision)


def test_a_grasp_whose_lift_is_impossible_is_not_taken():
    ports = RecordingPorts([cube("obj_1", "red", 0.5, -0.1)])
    planner = FlippingLiftPlanner(PLANNER)
    runner = TaskRunner(ports, planner, FIXTURES, LIMITS, RunnerConfig(), default_cell().bin, Workspace())
    out = runner.run(parse_goal("put the red cube in the bin"))
    assert out.success, out.message
    assert len(planner.refused) == 1 and len(ports.in_bin) == 1
    # the arm went down once: to the candidate whose lift plans (never to the refused one)
    assert [s.stage for s in out.stages].count("close") == 1
    # no candidate's lift plans: refused before anything moves, the reason named
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    runner = TaskRunner(ports, FlippingLiftPlanner(PLANNER, n=1000), FIXTURES, LIMITS, RunnerConfig(max_attempts=1),
                        default_cell().bin, Workspace())
    out = runner.run(parse_goal("put the red cube in the bin"))
    assert not out.success and out.failed_stage == "plan_approach" and "unreachable from the previous" in out.message
    assert ports.executions == 0


def test_attempts_run_out_with_a_clear_report():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], empty_closes=5)
    out = run(ports, "put the red cube in the bin", max_attempts=2)
    assert not out.success and out.error == "NO_GRASP" and out.failed_stage == "close"
    assert out.objects[0].attempts == 2
    assert "the fingers closed on nothing" in out.message


def test_cancel_stops_the_arm_and_says_what_is_held():
    # lift, transfer and place are one motion: a cancel during it ends it in its first stage
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], cancel_at="lift")
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "CANCELED" and out.failed_stage == "lift"
    assert ports.stopped
    assert out.message == ("canceled by the operator; the arm stopped and holds; the gripper still holds "
                           "red cube (obj_1)")


@pytest.mark.parametrize("stage", STAGES)
def test_estop_in_every_stage_ends_estopped_in_that_stage_with_the_arm_stopped(stage):
    ports = CancelingGripperPorts([cube("obj_1", "red", 0.5, -0.1)], estop_at=stage)
    out = run(ports, "put the red cube in the bin")
    ran = [s for s, *_ in ports.fb]
    if stage not in ran:  # a stage this goal does not run (e.g. clear_start)
        assert out.success
        return
    assert not out.success and out.error == "ESTOPPED", (out.error, out.message)
    # ends in that stage, or (a stage that only computes) at the start of the next one
    assert out.failed_stage == stage or STAGES.index(out.failed_stage) > STAGES.index(stage), out.failed_stage
    assert ports.stopped
    assert out.message.startswith("e-stop engaged by armbrain estop (pid 1)") and "until the e-stop is released" \
        in out.message
    assert [s.stage for s in out.stages if not s.success] == [out.failed_stage]
    assert ports.executions == ports.executions_at_estop  # no motion was started after the stop


class CancelingGripperPorts(FakePorts):
    """Ports that end a gripper command early on cancel, as the planner's do (they cancel the
    gripper goal): the fingers do not reach the commanded width."""

    def gripper(self, width):
        if self.cancel:
            self.t += 0.1
            return GripperOutcome(float("nan"), False, False, "canceled by the operator")
        return super().gripper(width)


def test_cancel_during_open_is_canceled_in_that_stage():
    ports = CancelingGripperPorts([cube("obj_1", "red", 0.5, -0.1)], cancel_at="open")
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "CANCELED" and out.failed_stage == "open", (out.error, out.message)
    assert ports.stopped and ports.executions == 0  # the approach never started
    assert [s.stage for s in out.stages if not s.success] == ["open"]


def test_cancel_while_waiting_for_perception_is_canceled_not_stale():
    class WaitingPorts(FakePorts):  # perception has nothing; the wait ends early on cancel
        def objects(self, max_age, timeout):
            self.cancel = True  # the operator gives up while the brain waits
            return None

    ports = WaitingPorts([])
    out = run(ports, "put the red cube in the bin")
    assert out.error == "CANCELED" and out.failed_stage == "perceive", (out.error, out.message)


def test_perception_lost_during_the_wait_is_named_in_the_result():
    class LostPorts(FakePorts):  # perception went away while the brain waited for it
        def objects(self, max_age, timeout):
            self.lost_reason = PERCEPTION.lost_message(10)
            return None

    ports = LostPorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put the red cube in the bin")
    assert (out.error, out.failed_stage) == ("STALE_PERCEPTION", "perceive")
    assert out.message.endswith("perception/objects stopped arriving: no node has published it for 10 s; is the "
                                "perception node running? (the launcher restarts it; see its output)"), out.message


def test_cancel_during_release_remembers_what_fell_into_the_bin():
    items = []
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], cancel_at="release")
    out = run(ports, "put the red cube in the bin", bin_items=items)
    assert not out.success and out.error == "CANCELED" and out.failed_stage == "release", (out.error, out.message)
    assert ports.stopped
    assert len(ports.in_bin) == 1  # the fingers opened over the bin: the cube is in it
    assert len(items) == 1  # ... and the brain remembers it there
    assert "still holds" not in out.message
    slot = items[0]
    assert default_cell().bin.contains(*default_cell().bin.to_base(slot.u, slot.v))


def test_after_a_cancel_in_the_bin_the_next_goal_lifts_the_hand_clear_first():
    """A cancel during the release leaves the hand down in the bin, around the object the
    brain now remembers there: the next goal starts by lifting straight up, not with NO_PATH."""
    items = []
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)], cancel_at="release")
    assert run(ports, "put the red cube in the bin", bin_items=items).error == "CANCELED"
    ports.cancel_at, ports.cancel = None, False
    out = run(ports, "put the blue cube in the bin", bin_items=items)
    assert out.success, (out.error, out.failed_stage, out.message)
    assert [r.stage for r in out.stages][:3] == ["perceive", "select", "clear_start"]
    assert len(items) == 2


def test_cancel_after_the_release_still_remembers_the_object_in_the_bin():
    items = []
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)], cancel_at="retreat")
    out = run(ports, "put the red cube in the bin", bin_items=items)
    assert out.error == "CANCELED" and out.failed_stage == "retreat", (out.error, out.message)
    assert len(ports.in_bin) == 1 and len(items) == 1


def test_clear_the_table_reports_each_object_and_a_full_bin():
    items = []  # the bin already holds three 5 cm cubes from earlier goals
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    for _ in range(3):
        assert run(ports, "put the red cube in the bin", bin_items=items).success
        ports.objects_.append(cube("obj_1", "red", 0.5, -0.1))
    ports.objects_ = [cube(f"obj_{i}", c, 0.4 + 0.1 * (i % 3), -0.2 + 0.15 * (i // 3)) for i, c in
                      enumerate(("red", "blue", "green"), start=1)]
    out = run(ports, "clear the table", bin_items=items)
    # the default 36 x 20 cm bin takes five 5 cm cubes in a row, the fingers along its y axis
    assert [o.success for o in out.objects] == [True, True, False]
    assert not out.success and out.error == "PLACE_FAILED"
    assert "2 of 3 done" in out.message and "the bin has no free spot left for" in out.message
    assert "(5 objects put there already)" in out.message
    assert len(items) == 5
    # the third cube is still in the hand: the arm does not go home with it (that way is not planned)
    stages = [s.stage for s in out.stages]
    assert "home" not in stages and stages.count("verify_placed") == 2


class RecordingPorts(FakePorts):
    """Also records each executed trajectory's start and goal, and where the arm was when
    perception was asked about the bin."""

    def __init__(self, objects, **kw):
        super().__init__(objects, **kw)
        self.moves = []  # (start, goal) of each executed trajectory
        self.bin_looks = []  # the arm's joints at each bin view

    def execute(self, trajectory):
        self.moves.append((trajectory.start.copy(), trajectory.goal.copy()))
        return super().execute(trajectory)

    def bin_view(self, max_age, timeout, newer_than=None):
        self.bin_looks.append(self.q.copy())
        return super().bin_view(max_age, timeout, newer_than)


def test_clearing_the_table_goes_from_the_bin_to_the_next_object_without_going_home():
    ports = RecordingPorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15),
                            cube("obj_3", "green", 0.6, 0.05)])
    out = run(ports, "clear the table")
    assert out.success and [o.success for o in out.objects] == [True, True, True], out.message
    assert len(ports.in_bin) == 3
    stages = [s.stage for s in out.stages]
    # home once, at the end, after the last retreat; each placement judged after it, once home
    assert stages.count("home") == 1 and stages.index("home") > max(i for i, s in enumerate(stages) if s == "retreat")
    assert stages.count("verify_placed") == 3 and stages.index("verify_placed") > stages.index("home")
    # no motion between two objects ends at home: from the bin the arm goes to the next pre-grasp
    at_home = [i for i, (_, goal) in enumerate(ports.moves) if np.max(np.abs(goal - HOME)) < 0.02]
    assert at_home == [len(ports.moves) - 1]
    # and the bin was judged from a view taken with the arm home (out of the camera's way)
    assert np.max(np.abs(ports.bin_looks[-1] - HOME)) < 0.02


class IdReusingPorts(FakePorts):
    """When the first object (obj_1, a red cube) lands in the bin, a blue cube appears on the
    table under its id, as perception's tracker gave a picked cylinder's id to a cylinder
    knocked over next to where it stood."""

    def __init__(self, objects, late, **kw):
        super().__init__(objects, **kw)
        self.late = late

    def gripper(self, width):
        out = super().gripper(width)
        if self.in_bin_objects and self.late is not None:
            self.objects_.append(self.late)
            self.late = None
        return out


def test_an_object_seen_under_the_id_of_one_already_in_the_bin_is_still_picked():
    late = cube("obj_1", "blue", 0.45, 0.15)  # the id of the red cube, which is in the bin by then
    ports = IdReusingPorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "green", 0.6, 0.05)], late)
    out = run(ports, "clear the table")
    assert out.success, out.message
    assert sorted(o.colour for o, _x, _y in ports.in_bin_objects) == ["blue", "green", "red"]
    assert ports.objects_ == []


class HiddenUntilHomePorts(FakePorts):
    """One object is seen only from home (over the bin the arm hides it from the camera)."""

    def __init__(self, objects, hidden, **kw):
        super().__init__(objects, **kw)
        self.objects_.append(hidden)
        self.hidden_id = hidden.id

    def objects(self, max_age, timeout):
        home = np.max(np.abs(self.q - HOME)) < 0.02
        return [o for o in self.objects_ if home or o.id != self.hidden_id]


def test_a_cleared_table_is_confirmed_from_home_and_what_is_seen_there_is_still_picked():
    ports = HiddenUntilHomePorts([cube("obj_1", "red", 0.5, -0.1)], cube("obj_2", "blue", 0.45, 0.15))
    ports.hidden_id = "none"  # seen from the start: picked in turn, then the table is clear from home
    out = run(ports, "clear the table")
    assert out.success and len(ports.in_bin) == 2 and ports.objects_ == [], out.message
    # hidden until the arm is home: the look from home finds it and it is picked too
    ports = HiddenUntilHomePorts([cube("obj_1", "red", 0.5, -0.1)], cube("obj_2", "blue", 0.45, 0.15))
    ports.q = HOME + 0.1  # the goal starts away from home: the first look misses obj_2
    out = run(ports, "clear the table")
    assert out.success and sorted(o.colour for o, _x, _y in ports.in_bin_objects) == ["blue", "red"], out.message
    stages = [s.stage for s in out.stages]
    assert stages.count("verify_placed") == 2


def test_an_object_seen_only_while_the_arm_is_over_the_bin_is_tried_again_from_home():
    class PhantomPorts(RecordingPorts):
        """While the hand is over the bin, perception also reports something no grasp reaches
        (a piece of the half-hidden bin rim, say); from home it is not there."""

        def objects(self, max_age, timeout):
            seen = super().objects(max_age, timeout)
            if self.bin_.contains(*self._hand_xy()):
                seen.append(WorldObject("ghost", "black box", "black", "box", (1.3, 0.45, 0.025), 0.0,
                                        (0.04, 0.04, 0.04)))
            return seen

    ports = PhantomPorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15),
                          cube("obj_3", "green", 0.6, 0.05)])
    out = run(ports, "clear the table")
    assert out.success, out.message
    assert sorted(o.object_id for o in out.objects) == ["obj_1", "obj_2", "obj_3"]
    assert len(ports.in_bin) == 3


def test_a_placement_judged_at_the_end_of_a_batch_can_still_fail_it():
    class MissingPorts(RecordingPorts):  # the blue cube falls back onto the table when released
        def gripper(self, width):
            held = self.held
            out = super().gripper(width)
            if width > 0.0 and held is not None and held.colour == "blue" and self.in_bin_objects:
                self.in_bin_objects.pop()
                self.in_bin.pop()
                self.objects_.append(held)
            return out

    ports = MissingPorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    out = run(ports, "clear the table")
    blue = next(o for o in out.objects if o.object_id == "obj_2")
    assert not out.success and not blue.success and blue.error == "PLACE_FAILED"
    assert blue.failed_stage == "verify_placed" and "still on the table" in blue.message
    assert next(o for o in out.objects if o.object_id == "obj_1").success


def test_lift_transfer_and_place_are_one_motion_recorded_as_three_stages():
    ports = RecordingPorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message
    # approach+descent, lift+transfer+place, retreat+home: three motions
    assert len(ports.moves) == 3
    rec = {s.stage: s.duration for s in out.stages}
    assert all(rec[s] > 0 for s in ("approach", "lift", "transfer", "place", "retreat", "home"))
    # the records share out the time the motions took (fake time: their durations)
    assert ports.t == pytest.approx(sum(s.duration for s in out.stages), abs=1e-6)


def test_bin_contents_are_remembered_across_goals_and_avoided():
    items = []
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.15)])
    assert run(ports, "put the red cube in the bin", bin_items=items).success
    assert run(ports, "put the blue cube in the bin", bin_items=items).success
    assert len(items) == 2
    a, b = items
    assert abs(a.u - b.u) >= a.half_u + b.half_u  # side by side, not on top of each other
    assert len(ports.in_bin) == 2  # both released over the bin, 6 cm or more apart
    (x1, y1), (x2, y2) = ports.in_bin
    assert np.hypot(x1 - x2, y1 - y2) >= 0.06 - 0.005


def test_place_at_a_position():
    ports = FakePorts([cube("obj_1", "red", 0.5, -0.1)])
    out = run(ports, "move the red cube to 0.45 0.1")
    assert out.success, out.message
    (placed,) = ports.objects_
    assert placed.position[:2] == pytest.approx((0.45, 0.1), abs=0.005)


class BlockedPorts(FakePorts):
    """obj_1 has no usable grasp while obj_2 stands next to it."""

    def plan_grasps(self, obj):
        if obj.id == "obj_1" and any(o.id == "obj_2" for o in self.objects_):
            return [], "every grasp of red cube hits blue cube (obj_2)"
        return super().plan_grasps(obj)


def test_clear_the_table_tries_a_blocked_object_again_after_the_others():
    ports = BlockedPorts([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.5, -0.02)])
    out = run(ports, "clear the table")
    assert out.success, out.message
    assert [(o.object_id, o.success) for o in out.objects] == [("obj_2", True), ("obj_1", True)]
    assert not ports.objects_ and len(ports.in_bin) == 2


def test_an_object_still_blocked_on_its_second_turn_fails_with_the_reason():
    class AlwaysBlocked(FakePorts):
        def plan_grasps(self, obj):
            if obj.id == "obj_1":
                return [], "every grasp of red cube hits the table edge"
            return super().plan_grasps(obj)

    ports = AlwaysBlocked([cube("obj_1", "red", 0.5, -0.1), cube("obj_2", "blue", 0.45, 0.1)])
    out = run(ports, "clear the table")
    assert not out.success and out.error == "NO_GRASP"
    assert [(o.object_id, o.success) for o in out.objects] == [("obj_2", True), ("obj_1", False)]
    assert "1 of 2 done" in out.message and "hits the table edge" in out.message


class SlippingPorts(FakePorts):
    """The object slips out of the fingers once, at the n-th hold check of the task (1: right
    after closing, 2: after the motion that lifts, carries and lowers it); it falls back where
    it was, or (falls_back False) somewhere out of sight."""

    def __init__(self, objects, slip_at, falls_back=True):
        super().__init__(objects)
        self.slip_at, self.checks, self.picked_from, self.falls_back = slip_at, 0, None, falls_back

    def gripper(self, width):
        out = super().gripper(width)
        if width == 0.0 and self.held is not None:
            self.picked_from = self.held
        return out

    def grasp_held(self):
        self.checks += 1
        if self.checks == self.slip_at and self.held is not None:
            if self.falls_back:
                self.objects_.append(self.picked_from)
            self.held = None
            return False
        return super().grasp_held()


def test_an_object_lost_while_lifting_is_picked_again_and_never_reported_held():
    ports = SlippingPorts([cube("obj_1", "red", 0.5, -0.1)], slip_at=2)
    out = run(ports, "put the red cube in the bin")
    assert out.success, out.message
    assert out.objects[0].attempts == 2
    assert [s.attempt for s in out.stages if s.stage == "lift"] == [1, 2]
    assert [s.attempt for s in out.stages if s.stage == "release"] == [2]  # nothing released before
    assert len(ports.in_bin) == 1 and ports.objects_ == []


def test_an_object_lost_on_the_way_is_not_said_to_be_still_held():
    ports = SlippingPorts([cube("obj_1", "red", 0.5, -0.1)], slip_at=2, falls_back=False)
    out = run(ports, "put the red cube in the bin")
    assert not out.success and out.error == "GRASP_LOST" and out.failed_stage == "transfer", out.message
    assert out.message == ("put the red cube in the bin: red cube slipped out of the gripper on the way; it is not "
                           "seen on the table")
    assert "still holds" not in out.message
