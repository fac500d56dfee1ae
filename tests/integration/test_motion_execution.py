"""The motion layer end to end over real DDS: plan, time, execute on the simulated arm and
monitor joint_states (the test process owns the execution adapter, as the planner node will)."""

from __future__ import annotations

import numpy as np
import pytest

from brain_common.kinematics import top_down_rotation, transform_from_position_rotation
from conftest import ROOT, Spinner, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.sim]
GRAPH = ROOT / "tests" / "graphs" / "motion.yaml"
CONFIG = ROOT / "ros2_ws" / "src" / "planner" / "config" / "planner.params.yaml"


def top_down(x, y, z, yaw=0.0):
    return transform_from_position_rotation((x, y, z), top_down_rotation(yaw))


class Arm:
    """A node on sim time owning a TrajectoryExecutor, spun by a single-threaded executor."""

    def __init__(self, context):
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        from planner.motion.config import build_motion, load_motion_config
        from planner.motion.execution import TrajectoryExecutor

        self.config = load_motion_config(CONFIG)
        self.kin, self.collision, self.planner = build_motion(self.config, rng=np.random.default_rng(0))
        self.node = Node("motion_test", context=context,
                         parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, True)])
        self.ex = TrajectoryExecutor(self.node, tolerances=self.config.tolerances, start_delay=self.config.start_delay)
        self.spinner = Spinner(self.node, context)


    def timed(self, plan):
        return self.planner.time_parameterize(plan, self.config.timing_limits(self.kin), self.config.trajectory_dt)

    def close(self):
        self.ex.destroy()
        self.spinner.close()
        self.node.destroy_node()


@pytest.fixture
def arm(launch, ros_context):
    run = launch(GRAPH)
    arm = Arm(ros_context)
    wait_for(lambda: arm.ex.current_positions() is not None and arm.ex.now() > 0.5, 90,
             "joint_states and /clock from the sim bridge")
    yield run, arm
    arm.close()
    assert run.stop() == 0, run.output


def test_planned_trajectory_is_executed_and_succeeds(arm):
    from planner.motion.monitor import ExecutionCode

    run, a = arm
    q0 = a.ex.current_positions()
    plan = a.planner.plan_to_pose(q0, top_down(0.45, -0.2, 0.25, 0.6))
    assert plan.success, plan.message
    traj = a.timed(plan)
    assert 0.5 < traj.duration < 10.0
    handle = a.ex.execute(traj)
    assert not handle.done()
    result = handle.wait(timeout=120)  # wall-clock guard only; the monitor's timeout is in sim time
    assert result is not None, "no execution result within 120 s"
    assert result.code is ExecutionCode.SUCCEEDED, result.message
    assert traj.duration <= result.time <= 1.2 * traj.duration + 0.5
    assert result.max_error < a.config.tolerances.path
    run.wait_for_output(rf"following a trajectory of {len(traj.times)} points")
    err = np.abs(a.ex.current_positions() - traj.goal)
    assert err.max() <= a.config.tolerances.goal, err
    T = a.kin.fk(a.ex.current_positions())
    np.testing.assert_allclose(T[:3, 3], [0.45, -0.2, 0.25], atol=0.01)


def test_trajectory_not_starting_at_the_arm_is_refused(arm):
    from planner.motion.monitor import ExecutionCode
    from planner.motion.timing import parameterize_segments

    run, a = arm
    q0 = a.ex.current_positions()
    off = q0 + np.array([0.05, 0, 0, 0, 0, 0, 0])
    traj = parameterize_segments(np.array([off, off + np.array([0.2, 0, 0, 0, 0, 0, 0])]),
                                 a.config.timing_limits(a.kin))
    handle = a.ex.execute(traj)
    assert handle.done()  # refused at once, nothing sent
    assert handle.result.code is ExecutionCode.REJECTED
    assert "panda_joint1 is 0.05" in handle.result.message and "plan from the current state" in handle.result.message
    t0 = a.ex.now()
    wait_for(lambda: a.ex.now() > t0 + 0.5, 60, "0.5 s of sim time")
    assert "following a trajectory" not in run.output
    assert np.abs(a.ex.current_positions() - q0).max() < 2e-3


def test_stop_holds_the_arm_where_it_is(arm):
    from planner.motion.monitor import ExecutionCode

    _run, a = arm
    q0 = a.ex.current_positions()
    plan = a.planner.plan_to_configuration(q0, q0 + np.array([1.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert plan.success, plan.message
    handle = a.ex.execute(a.timed(plan))
    wait_for(lambda: abs(a.ex.current_positions()[0] - q0[0]) > 0.2, 60, "the arm to be on its way")
    assert a.ex.stop()
    assert handle.done() and handle.result.code is ExecutionCode.STOPPED
    t0 = a.ex.now()
    wait_for(lambda: a.ex.now() > t0 + 0.5, 60, "0.5 s of sim time")  # it decelerates onto the hold
    held = a.ex.current_positions()
    t1 = a.ex.now()
    wait_for(lambda: a.ex.now() > t1 + 0.5, 60, "0.5 s more of sim time")
    assert np.abs(a.ex.current_positions() - held).max() < 2e-3
    assert 0.2 < held[0] - q0[0] < 1.1  # it stopped short of the goal


class FakeArm:
    """A TrajectoryExecutor on its own topics (no sim) with the test as the arm: it publishes
    joint_states with publish(q) and spins with spin_until(pred, what)."""

    Q0 = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))

    def __init__(self, ros_context, name: str, **executor_options) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import JointState

        from planner.motion.execution import TrajectoryExecutor

        self.node = Node(name, context=ros_context)
        self.ex = TrajectoryExecutor(self.node, joint_states_topic=f"{name}/joint_states",
                                     trajectory_topic=f"{name}/joint_trajectory", **executor_options)
        self.pub = self.node.create_publisher(JointState, f"{name}/joint_states", 10)
        self.executor = SingleThreadedExecutor(context=ros_context)
        self.executor.add_node(self.node)
        self.spin_until(lambda: self.pub.get_subscription_count() > 0, "the adapter's subscription")
        self.publish(self.Q0)
        self.spin_until(lambda: self.ex.current_positions() is not None, "the first joint state")

    def publish(self, q) -> None:
        from sensor_msgs.msg import JointState

        from brain_common.robot import ARM_JOINTS

        msg = JointState(name=list(ARM_JOINTS), position=[float(v) for v in q])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.pub.publish(msg)

    def spin_until(self, pred, what: str, timeout: float = 30.0) -> None:
        wait_for(lambda: (self.executor.spin_once(timeout_sec=0.02), pred())[1], timeout, what)

    def close(self) -> None:
        self.ex.destroy()
        self.executor.shutdown()
        self.node.destroy_node()


def test_nan_in_joint_states_is_a_fault_not_a_state(ros_context):
    """The adapter alone on its own topics (no sim): a NaN position ends the execution as FAULT."""
    from planner.motion.monitor import ExecutionCode
    from planner.motion.timing import TimingLimits, parameterize_segments

    arm = FakeArm(ros_context, "nan_test")
    ex, q0 = arm.ex, arm.Q0
    try:
        limits = TimingLimits(np.full(7, 1.0), np.full(7, 2.0), np.full(7, 20.0))
        handle = ex.execute(parameterize_segments(np.array([q0, q0 + 0.2]), limits))
        assert not handle.done(), handle.result
        bad = q0.copy()
        bad[2] = float("nan")
        arm.publish(bad)
        arm.spin_until(handle.future.done, "the execution to end")
        result = handle.future.result()
        assert result.code is ExecutionCode.FAULT and "panda_joint3 = nan" in result.message
        assert ex.current_positions() is None  # a NaN state is not a state
        refused = ex.execute(parameterize_segments(np.array([q0, q0 + 0.2]), limits))
        assert refused.result.code is ExecutionCode.REJECTED and "no valid joint state" in refused.result.message
    finally:
        arm.close()


def test_joint_states_that_stop_mid_motion_end_it_at_once_with_a_hold(ros_context):
    """The watchdog: the arm's state stops coming while a 2 s trajectory runs; the execution
    ends FAULT within joint_states_max_age (not at the 2.9 s timeout) and a hold is sent at the
    last measured position. The test's node runs on wall time (no sim): ages are wall seconds."""
    from trajectory_msgs.msg import JointTrajectory

    from planner.motion.monitor import ExecutionCode
    from planner.motion.timing import TimingLimits, parameterize_segments

    arm = FakeArm(ros_context, "watchdog_test", stale_after=0.3, start_delay=0.05)
    ex, q0 = arm.ex, arm.Q0
    sent: list = []
    arm.node.create_subscription(JointTrajectory, "watchdog_test/joint_trajectory", sent.append, 10)
    try:
        traj = parameterize_segments(np.array([q0, q0 + 0.5]), TimingLimits(np.full(7, 0.3), np.full(7, 2.0),
                                                                             np.full(7, 20.0)))
        assert traj.duration > 1.5
        handle = ex.execute(traj)
        arm.spin_until(handle.future.done, "the watchdog")  # no joint state is published any more
        result = handle.future.result()
        assert result.code is ExecutionCode.FAULT and "joint_states stopped" in result.message, result.message
        assert "joint_states_max_age 0.3 s" in result.message  # the watchdog, not the trajectory's timeout
        arm.spin_until(lambda: len(sent) >= 2, "the hold")
        hold = sent[-1]
        assert len(hold.points) == 1 and list(hold.points[0].positions) == pytest.approx(q0)
    finally:
        arm.close()


def test_async_callback_awaits_the_result_on_a_single_threaded_executor(ros_context):
    """The adapter inside an async callback (how an action server's execute callback uses it):
    `await handle.future` while the same single-threaded executor delivers joint_states."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState

    from brain_common.robot import ARM_JOINTS
    from planner.motion.execution import TrajectoryExecutor
    from planner.motion.monitor import ExecutionCode, Tolerances
    from planner.motion.timing import TimingLimits, parameterize_segments

    node = Node("async_test", context=ros_context)
    ex = TrajectoryExecutor(node, joint_states_topic="fake2/joint_states", trajectory_topic="fake2/joint_trajectory",
                            tolerances=Tolerances(path=0.05), start_delay=0.05)
    pub = node.create_publisher(JointState, "fake2/joint_states", 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    q0 = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))
    traj = parameterize_segments(np.array([q0, q0 + 0.1]), TimingLimits(np.full(7, 1.0), np.full(7, 4.0),
                                                                         np.full(7, 40.0)))
    outcome = {}

    def publish_state():  # a perfect arm: the trajectory sampled at the node's clock
        handle = outcome.get("handle")
        q = traj.sample(ex.now() - handle.start_time) if handle else q0
        msg = JointState(name=list(ARM_JOINTS), position=[float(v) for v in q])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    async def run_motion():
        outcome["handle"] = handle = ex.execute(traj)
        outcome["result"] = await handle.future

    try:
        wait_for(lambda: (executor.spin_once(timeout_sec=0.01), pub.get_subscription_count() > 0)[1], 30,
                 "the adapter's subscription")
        node.create_timer(0.01, publish_state)
        wait_for(lambda: (executor.spin_once(timeout_sec=0.01), ex.current_positions() is not None)[1], 30,
                 "the first joint state")
        executor.create_task(run_motion)
        wait_for(lambda: (executor.spin_once(timeout_sec=0.01), "result" in outcome)[1], 30, "the awaited result")
        assert outcome["result"].code is ExecutionCode.SUCCEEDED, outcome["result"].message
    finally:
        ex.destroy()
        executor.shutdown()
        node.destroy_node()


def test_partial_joint_states_are_merged_and_every_abort_holds_the_arm(ros_context):
    """The adapter alone on its own topics (no sim). A gripper driver's fingers-only
    joint_states is no fault; an execution that ends short of success (path tolerance, a NaN
    fault) commands a hold at the measured position at once, as stop() does."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from brain_common.robot import ARM_JOINTS
    from planner.motion.execution import TrajectoryExecutor
    from planner.motion.monitor import ExecutionCode
    from planner.motion.timing import TimingLimits, parameterize_segments

    node = Node("partial_test", context=ros_context)
    ex = TrajectoryExecutor(node, joint_states_topic="fake3/joint_states", trajectory_topic="fake3/joint_trajectory",
                            start_delay=0.05)
    pub = node.create_publisher(JointState, "fake3/joint_states", 10)
    sent: list = []  # what the controller receives
    node.create_subscription(JointTrajectory, "fake3/joint_trajectory", sent.append, 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    q0 = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))
    limits = TimingLimits(np.full(7, 1.0), np.full(7, 4.0), np.full(7, 40.0))
    arm = {"handle": None, "q": q0, "off": None}  # the simulated arm: follows the trajectory, or sits at "off"

    def publish(names, positions):
        msg = JointState(name=list(names), position=[float(v) for v in positions])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    def tick():
        h = arm["handle"]
        if arm["off"] is not None:
            arm["q"] = arm["off"]
        elif h is not None and not h.done():
            arm["q"] = arm["traj"].sample(ex.now() - h.start_time)
        publish(ARM_JOINTS, arm["q"])
        publish(["panda_finger_joint1", "panda_finger_joint2"], [0.04, 0.04])  # the gripper driver

    def spin_until(pred, what):
        return wait_for(lambda: (executor.spin_once(timeout_sec=0.01), pred())[1], 30, what)

    def run(traj):
        arm["traj"] = traj
        arm["handle"] = handle = ex.execute(traj)
        assert not handle.done(), handle.result
        return handle

    def holds():
        return [m for m in sent if len(m.points) == 1 and not any(m.points[0].velocities)
                and m.points[0].time_from_start.sec == 0 and m.points[0].time_from_start.nanosec == 0]

    try:
        spin_until(lambda: pub.get_subscription_count() > 0 and len(node.get_publishers_info_by_topic(
            "fake3/joint_trajectory")) > 0, "the adapter's topics")
        node.create_timer(0.01, tick)
        spin_until(lambda: ex.current_positions() is not None, "the first joint state")

        # 1. Fingers-only messages between the arm's: merged by name, the execution succeeds.
        handle = run(parameterize_segments(np.array([q0, q0 + 0.1]), limits))
        spin_until(handle.done, "the first execution to end")
        assert handle.result.code is ExecutionCode.SUCCEEDED, handle.result.message
        assert holds() == []

        # 2. The arm is pushed off its path: PATH_TOLERANCE_VIOLATED, and a hold where it is measured.
        q1 = ex.current_positions()
        handle = run(parameterize_segments(np.array([q1, q1 + 0.3]), limits))
        off = q1 + np.eye(7)[0] * 0.3
        arm["off"] = off
        spin_until(handle.done, "the second execution to end")
        assert handle.result.code is ExecutionCode.PATH_TOLERANCE_VIOLATED, handle.result.message
        spin_until(lambda: holds(), "a hold command after the violation")
        np.testing.assert_allclose(holds()[-1].points[0].positions, off)
        assert list(holds()[-1].points[0].velocities) == [0.0] * 7

        # 3. A NaN in an arm joint: FAULT, and a hold at the last valid measured position.
        arm["off"] = None
        arm["q"] = off
        handle = run(parameterize_segments(np.array([off, off - 0.2]), limits))
        spin_until(lambda: ex.now() > handle.start_time + 0.1, "the third execution to be under way")
        before = len(holds())
        bad = ex.current_positions().copy()
        bad[2] = float("nan")
        arm["off"] = bad
        spin_until(handle.done, "the third execution to end")
        assert handle.result.code is ExecutionCode.FAULT, handle.result.message
        spin_until(lambda: len(holds()) > before, "a hold command after the fault")
        held = np.array(holds()[-1].points[0].positions)
        assert np.all(np.isfinite(held)) and np.abs(held - off).max() < 0.2
    finally:
        ex.destroy()
        executor.shutdown()
        node.destroy_node()
