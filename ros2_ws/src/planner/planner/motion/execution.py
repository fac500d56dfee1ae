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

``stop()`` commands a hold at the measured position and ends the execution as STOPPED.
A trajectory that does not start where the arm is (0.01 rad) is refused before anything
is sent; NaN in joint_states is a FAULT.
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
    Tolerances,
    TrajectoryMonitor,
    positions_by_name,
    start_violation,
)
from planner.motion.timing import Trajectory


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
                 callback_group: CallbackGroup | None = None, timer_period: float = 0.05) -> None:
        self.node = node
        self.joint_names = tuple(joint_names)
        self.tolerances = tolerances or Tolerances()
        self.start_delay = float(start_delay)
        self.stale_after = float(stale_after)
        self._lock = threading.Lock()
        self._latest: tuple[float, np.ndarray] | None = None  # (stamp s, positions) of the last valid state
        self._latest_error: str | None = None
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
            q = positions_by_name(msg.name, msg.position, self.joint_names)
        except ValueError as exc:
            with self._lock:
                self._latest = None  # a faulty state is not a state
                self._latest_error = str(exc)
                active = self._active
            if active is not None:
                self._end(active, active[0].fault(f"{exc}: treated as a fault", t))
            return
        with self._lock:
            self._latest = (t, q)
            self._latest_error = None
            active = self._active
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
        if latest is not None and t - latest[0] <= self.stale_after:
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
        active[1]._finish(result)
        log = self.node.get_logger()
        if result.success:  # (rclpy refuses one call site logging at two severities)
            log.info(f"execution {result.code.value}: {result.message}")
        else:
            log.error(f"execution {result.code.value}: {result.message}")

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
        handle.start_time = start
        monitor = TrajectoryMonitor(trajectory, self.joint_names, start, self.tolerances)
        with self._lock:
            self._active = (monitor, handle)
        self._pub.publish(msg_from_trajectory(trajectory, self.joint_names, start))
        self.node.get_logger().info(f"executing a trajectory of {len(trajectory.times)} points, "
                                    f"{trajectory.duration:.2f} s, starting at {start:.3f} s")
        return handle

    def stop(self, why: str = "stopped on request") -> bool:
        """Command a hold at the measured position; the running execution (if any) ends
        STOPPED. Returns False when there was no state to hold at (nothing sent)."""
        q = self.current_positions()
        with self._lock:
            active = self._active
        t = self.now()
        if q is None:
            if active is not None:
                self._end(active, active[0].fault(f"{why}, but no valid joint state to hold at", t))
            return False
        msg = JointTrajectory()
        msg.joint_names = list(self.joint_names)
        msg.points.append(JointTrajectoryPoint(positions=[float(x) for x in q], velocities=[0.0] * len(q),
                                               time_from_start=Duration(sec=0, nanosec=0)))
        self._pub.publish(msg)
        if active is not None:
            self._end(active, active[0].stop(t, why))
        return True

    def destroy(self) -> None:
        self.node.destroy_timer(self._timer)
        self.node.destroy_subscription(self._sub)
        self.node.destroy_publisher(self._pub)
