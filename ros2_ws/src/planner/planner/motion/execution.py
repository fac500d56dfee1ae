"""Executing timed trajectories on the arm: the ROS adapter of the motion layer.

``TrajectoryExecutor`` belongs to a node (the planner node, or a test's node). It
publishes trajectory_msgs/JointTrajectory on ``arm_controller/joint_trajectory`` (relative:
wired by remapping), follows ``joint_states`` and judges the motion with the pure
TrajectoryMonitor (tolerances, timeout 1.2 x duration + 0.5 s on the node's clock: sim
time under use_sim_time). It never sleeps: results arrive through joint_states callbacks
and a timer on the node's clock, so it works with a single-threaded executor:

    handle = executor.execute(trajectory)       # returns at once
    result = await handle.future                # in an async callback, or
    handle.wait(timeout=...)                    # in a worker thread (threading.Event)

``stop()`` commands a hold at the measured position and ends the execution as STOPPED;
every other way an execution can end short of success (a tolerance violated, a timeout, a
fault) commands the same hold at once, so the controller never goes on along a trajectory
the brain gave up. A trajectory that does not start where the arm is (0.01 rad) is refused
before anything is sent. joint_states are merged by name (monitor.JointStateMerger): a
message with only some joints (a gripper driver's fingers) updates those and is no fault;
NaN in an arm joint is a FAULT. Watchdog: no trajectory starts on a joint state older than
``stale_after`` (ROS seconds), and a running one ends as a FAULT, the arm held at the last
measured position, as soon as joint_states have been silent for longer (checked on the
node's clock by the timer).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from brain_common.qos import RELIABLE_10
from brain_common.robot import ARM_JOINTS
from planner.motion.monitor import (
    ExecutionCode,
    ExecutionResult,
    JointStateMerger,
    Tolerances,
    TrajectoryMonitor,
    start_violation,
)
from planner.motion.timing import Trajectory

# Executions that end short of success while the arm may be moving: a hold follows at once.
HOLD_AFTER = (ExecutionCode.PATH_TOLERANCE_VIOLATED, ExecutionCode.GOAL_TOLERANCE_VIOLATED, ExecutionCode.FAULT)


def seconds_from_stamp(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_from_seconds(t: float) -> Time:
    ns = round(t * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_from_seconds(t: float) -> Duration:
    ns = round(t * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def msg_from_trajectory(trajectory: Trajectory, joint_names: Sequence[str], start_time: float) -> JointTrajectory:
    """JointTrajectory starting at robot time start_time (s): positions, velocities and
    accelerations of every sample, time_from_start from 0."""
    msg = JointTrajectory()
    msg.header.stamp = stamp_from_seconds(start_time)
    msg.joint_names = list(joint_names)
    for t, q, v, a in zip(trajectory.times, trajectory.positions, trajectory.velocities, trajectory.accelerations,
                          strict=True):
        msg.points.append(JointTrajectoryPoint(positions=[float(x) for x in q], velocities=[float(x) for x in v],
                                               accelerations=[float(x) for x in a],
                                               time_from_start=duration_from_seconds(float(t))))
    return msg


class ExecutionHandle:
    """One execution: ``future`` (rclpy Future, for async callbacks), ``wait(timeout)``
    (for worker threads; timeout in wall seconds, a guard only), ``result``; start_time:
    robot-clock seconds at which the trajectory starts (None when refused)."""

    def __init__(self) -> None:
        self.future: Future = Future()
        self._event = threading.Event()
        self.result: ExecutionResult | None = None
        self.start_time: float | None = None
        self.sent_at = 0.0  # robot-clock seconds when it was sent

    def _finish(self, result: ExecutionResult) -> None:
        if self.result is not None:
            return
        self.result = result
        self._event.set()
        self.future.set_result(result)

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> ExecutionResult | None:
        """Block a worker thread until the result (never call from the executor's thread)."""
        self._event.wait(timeout)
        return self.result


class TrajectoryExecutor:
    """Sends trajectories and monitors them (see module docstring).

    node: the owning node (its clock: sim time under use_sim_time). joint_names: the arm's
    joints in trajectory order. tolerances: monitor tolerances. start_delay: seconds between
    sending and the stamped start (time for the message to arrive). stale_after: a joint
    state older than this (robot seconds) is not a current state.
    """

    def __init__(self, node: Node, *, joint_names: Sequence[str] = ARM_JOINTS,
                 tolerances: Tolerances | None = None, start_delay: float = 0.2, stale_after: float = 0.5,
                 trajectory_topic: str = "arm_controller/joint_trajectory", joint_states_topic: str = "joint_states",
                 callback_group: CallbackGroup | None = None, timer_period: float = 0.05,
                 on_state=None) -> None:
        """on_state(stamp): called with every valid arm state (a health monitor's tick)."""
        self.node = node
        self.joint_names = tuple(joint_names)
        self.tolerances = tolerances or Tolerances()
        self.start_delay = float(start_delay)
        self.stale_after = float(stale_after)
        self._on_state = on_state
        self._lock = threading.Lock()
        self._merger = JointStateMerger(self.joint_names)
        self._latest: tuple[float, np.ndarray] | None = None  # (stamp s, positions) of the last valid state
        self._latest_error: str | None = None
        self._last_valid: np.ndarray | None = None  # survives a fault: where to hold the arm
        self._active: tuple[TrajectoryMonitor, ExecutionHandle] | None = None
        self._pub = node.create_publisher(JointTrajectory, trajectory_topic, RELIABLE_10)
        self._sub = node.create_subscription(JointState, joint_states_topic, self._on_joint_state, RELIABLE_10,
                                             callback_group=callback_group)
        # timeouts must fire even when joint_states stop: a timer on the node's clock
        self._timer = node.create_timer(timer_period, self._on_timer, callback_group=callback_group)

    # -- state ---------------------------------------------------------------------
    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def current_positions(self) -> np.ndarray | None:
        """The last valid measured arm positions (n,) rad, or None."""
        with self._lock:
            return None if self._latest is None else self._latest[1].copy()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._active is not None

    def _on_joint_state(self, msg: JointState) -> None:
        t = seconds_from_stamp(msg.header.stamp)
        try:
            about_the_arm = self._merger.update(msg.name, msg.position)
        except ValueError as exc:
            with self._lock:
                self._latest = None  # a faulty state is not a state
                self._latest_error = str(exc)
                active = self._active
            if active is not None:
                self._end(active, active[0].fault(f"{exc}: treated as a fault", t))
            return
        if not about_the_arm:  # e.g. only the fingers, from a separate gripper driver
            return
        q = self._merger.positions()
        with self._lock:
            if q is None:
                self._latest = None
                self._latest_error = f"joint_states has not reported {', '.join(self._merger.missing())} yet"
                return
            self._latest = (t, q)
            self._latest_error = None
            self._last_valid = q
            active = self._active
        if self._on_state is not None:
            self._on_state(t)
        if active is not None:
            result = active[0].update(t, q)
            if result is not None:
                self._end(active, result)

    def _on_timer(self) -> None:
        with self._lock:
            active = self._active
            latest = self._latest
        if active is None:
            return
        t = self.now()
        since = max(latest[0], active[1].sent_at) if latest is not None else active[1].sent_at
        if t - since > self.stale_after:  # the watchdog: moving blind is not allowed
            old = "none since the start" if latest is None else f"the newest is {t - latest[0]:.2f} s old"
            result = active[0].fault(f"joint_states stopped ({old}, more than joint_states_max_age "
                                     f"{self.stale_after:g} s)", t)
        elif latest is not None and t - latest[0] <= self.stale_after:
            result = active[0].check_timeout(t, latest[1])
        else:
            result = active[0].check_timeout(t)
        if result is not None:
            self._end(active, result)

    def _end(self, active, result: ExecutionResult) -> None:
        with self._lock:
            if self._active is not active:
                return
            self._active = None
        if result.code in HOLD_AFTER:  # before anyone hears of it: the arm stops first
            self._hold(f"execution {result.code.value}")
        active[1]._finish(result)
        log = self.node.get_logger()
        if result.success:  # (rclpy refuses one call site logging at two severities)
            log.info(f"execution {result.code.value}: {result.message}")
        else:
            log.error(f"execution {result.code.value}: {result.message}")

    def _hold(self, why: str) -> bool:
        """Command a hold at the last valid measured position; False when there is none."""
        with self._lock:
            q = None if self._last_valid is None else self._last_valid.copy()
        if q is None:
            self.node.get_logger().error(f"{why}: no valid joint state ever measured, no hold commanded")
            return False
        msg = JointTrajectory()
        # Stamped now (start at once): a controller can tell a hold from before a reset of the
        # world (a simulator's) from one meant for the arm as it is.
        msg.header.stamp = stamp_from_seconds(self.now())
        msg.joint_names = list(self.joint_names)
        msg.points.append(JointTrajectoryPoint(positions=[float(x) for x in q], velocities=[0.0] * len(q),
                                               time_from_start=Duration(sec=0, nanosec=0)))
        self._pub.publish(msg)
        self.node.get_logger().warning(f"{why}: holding the arm at {np.round(q, 3).tolist()} rad")
        return True

    # -- commands ------------------------------------------------------------------
    def execute(self, trajectory: Trajectory) -> ExecutionHandle:
        """Start `trajectory` if the arm is at its start (tolerances.start); returns a handle
        at once (already finished, REJECTED, when refused)."""
        handle = ExecutionHandle()
        t = self.now()
        with self._lock:
            latest, latest_error, busy = self._latest, self._latest_error, self._active is not None
        why = None
        if busy:
            why = "another trajectory is executing; stop it first"
        elif latest is None:
            why = f"no valid joint state ({latest_error})" if latest_error else "no joint_states received yet"
        elif t - latest[0] > self.stale_after:
            why = f"the last joint state is {t - latest[0]:.2f} s old (more than {self.stale_after} s)"
        elif trajectory.positions.shape[1] != len(self.joint_names):
            why = f"trajectory has {trajectory.positions.shape[1]} joints, the arm {len(self.joint_names)}"
        else:
            why = start_violation(latest[1], trajectory.start, self.joint_names, self.tolerances.start)
        if why is not None:
            result = ExecutionResult(ExecutionCode.REJECTED, f"trajectory refused: {why}")
            self.node.get_logger().error(result.message)
            handle._finish(result)
            return handle
        start = t + self.start_delay
        handle.start_time, handle.sent_at = start, t
        monitor = TrajectoryMonitor(trajectory, self.joint_names, start, self.tolerances)
        with self._lock:
            self._active = (monitor, handle)
        self._pub.publish(msg_from_trajectory(trajectory, self.joint_names, start))
        self.node.get_logger().info(f"executing a trajectory of {len(trajectory.times)} points, "
                                    f"{trajectory.duration:.2f} s, starting at {start:.3f} s")
        return handle

    def stop(self, why: str = "stopped on request") -> bool:
        """Command a hold at the measured position (the last valid one, when the latest state
        is faulty); the running execution (if any) ends STOPPED. Returns False when no state
        was ever measured (nothing sent)."""
        with self._lock:
            active = self._active
        t = self.now()
        held = self._hold(why)
        if active is not None:
            self._end(active, active[0].stop(t, why) if held else
                      active[0].fault(f"{why}, but no valid joint state to hold at", t))
        return held

    def destroy(self) -> None:
        self.node.destroy_timer(self._timer)
        self.node.destroy_subscription(self._sub)
        self.node.destroy_publisher(self._pub)
