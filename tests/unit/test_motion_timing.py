"""planner.motion timing (ruckig / toppra within limits) and the pure execution monitor."""

import math

import numpy as np
import pytest

from brain_common.kinematics import Kinematics
from brain_common.robot import ARM_ACCELERATION_LIMITS, ARM_JERK_LIMITS, ARM_JOINTS
from brain_common.robot_model import load_robot_model
from planner.motion.config import MotionConfig, load_motion_config
from planner.motion.monitor import ExecutionCode, JointStateMerger, Tolerances, TrajectoryMonitor, start_violation
from planner.motion.timing import (
    TimingError,
    TimingLimits,
    Trajectory,
    chain_pieces,
    concatenate,
    parameterize_blended,
    parameterize_segments,
    parameterize_smooth,
    sampled_jerk,
)

NAMES = ARM_JOINTS
HOME = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))
LIMITS = TimingLimits(np.array([2.175] * 4 + [2.61] * 3), np.array([3.75, 1.875, 2.5, 3.125, 3.75, 5.0, 5.0]),
                      np.full(7, 50.0), velocity_scale=0.5)

URDF_VELOCITY = Kinematics(load_robot_model()).model.velocity.copy()  # rad/s


def test_segments_rest_to_rest_within_limits_and_on_the_lines():
    path = np.array([HOME, HOME + np.array([0.6, 0.2, -0.3, 0.4, 0.0, -0.2, 1.0]),
                     HOME + np.array([0.9, -0.1, 0.0, 0.2, 0.3, 0.0, 0.5])])
    tr = parameterize_segments(path, LIMITS, dt=0.01)
    assert tr.times[0] == 0 and np.all(np.diff(tr.times) > 0)
    assert np.all(np.abs(tr.velocities) <= LIMITS.max_velocity + 1e-9)
    assert np.all(np.abs(tr.accelerations) <= LIMITS.acceleration + 1e-9)
    assert np.max(np.abs(tr.velocities) / LIMITS.max_velocity) > 0.95  # uses the limit somewhere (not timid)
    # it passes each waypoint at rest
    for wp in path:
        i = int(np.argmin(np.linalg.norm(tr.positions - wp, axis=1)))
        np.testing.assert_allclose(tr.positions[i], wp, atol=1e-12)
        np.testing.assert_allclose(tr.velocities[i], 0.0, atol=1e-12)
    # phase synchronised: every sample lies on its straight segment
    for q in tr.positions:
        d = min(_distance_to_segment(q, path[k], path[k + 1]) for k in range(len(path) - 1))
        assert d < 1e-12
    np.testing.assert_array_equal(tr.sample(-1.0), path[0])
    np.testing.assert_array_equal(tr.sample(1e9), path[-1])


def _distance_to_segment(q, a, b):
    d = b - a
    s = np.clip((q - a) @ d / (d @ d), 0.0, 1.0)
    return float(np.linalg.norm(q - (a + s * d)))


def test_slowest_joint_sets_the_duration():
    path = np.array([HOME, HOME + np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])])
    tr = parameterize_segments(path, LIMITS)
    v, a = LIMITS.max_velocity[6], LIMITS.acceleration[6]
    assert tr.duration >= 2.0 / v + v / a - 1e-6  # trapezoid time, jerk adds a little
    assert tr.duration < 2.0 / v + v / a + 0.2


def test_smooth_dense_path_within_limits():
    s = np.linspace(0, 1, 60)[:, None]
    path = HOME + s * [0.5, 0.3, 0.0, 0.4, 0.0, -0.3, 0.2] + 0.05 * np.sin(np.pi * s)  # a gentle curve
    tr = parameterize_smooth(path, LIMITS)
    assert np.all(np.abs(tr.velocities) <= LIMITS.max_velocity * 1.001)
    assert np.all(np.abs(tr.accelerations) <= LIMITS.acceleration * 1.02)
    np.testing.assert_allclose(tr.positions[0], path[0])
    np.testing.assert_allclose(tr.positions[-1], path[-1])
    # it follows the curve: every sample is within 2 mrad of the waypoint polyline
    for q in tr.positions[::5]:
        assert min(_distance_to_segment(q, path[k], path[k + 1]) for k in range(len(path) - 1)) < 2e-3


def test_timing_input_errors():
    with pytest.raises(TimingError, match="path must be"):
        parameterize_segments(np.zeros((3, 6)), LIMITS)
    with pytest.raises(TimingError, match="non-finite"):
        parameterize_segments(np.array([HOME, HOME * math.nan]), LIMITS)
    with pytest.raises(TimingError, match="acceleration limits must be finite and > 0"):
        TimingLimits(np.ones(7), np.zeros(7), np.ones(7))


def test_config_file_loads_and_rejects_unknown_keys():
    from conftest import ROOT

    cfg = load_motion_config(ROOT / "ros2_ws" / "src" / "planner" / "config" / "planner.params.yaml")
    assert cfg.margin == 0.01 and cfg.planner.validate_resolution == 0.01
    assert cfg.tolerances.timeout_scale == 1.2 and cfg.tolerances.timeout_margin == 0.5
    lim = cfg.timing_limits(Kinematics(load_robot_model()))
    # the arm's own limits (URDF velocity; datasheet acceleration and jerk) times the margins
    np.testing.assert_allclose(lim.max_velocity, cfg.velocity_scale * URDF_VELOCITY)
    np.testing.assert_allclose(lim.acceleration, cfg.acceleration_scale * np.array(ARM_ACCELERATION_LIMITS))
    np.testing.assert_allclose(lim.jerk, cfg.jerk_scale * np.array(ARM_JERK_LIMITS))
    defaults = MotionConfig()  # the code's defaults mirror the described file's
    assert (cfg.velocity_scale, cfg.acceleration_scale, cfg.jerk_scale, cfg.blend, cfg.blend_step) == (
        defaults.velocity_scale, defaults.acceleration_scale, defaults.jerk_scale, defaults.blend, defaults.blend_step)
    assert [o.name for o in cfg.fixtures()][:2] == ["table", "bin_floor"]
    with pytest.raises(ValueError, match="unknown motion parameter\\(s\\) marign"):
        MotionConfig.from_dict({"marign": 0.02})


def test_the_urdf_velocity_limits_are_the_datasheet_ones():
    """The velocity limits are read from the URDF (the one place they are written); they must
    be Franka's datasheet values, beside which brain_common.robot gives acceleration and jerk."""
    np.testing.assert_allclose(URDF_VELOCITY, (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61))


# -- blending: one motion through a chain of paths -----------------------------------------------
FAST = TimingLimits(URDF_VELOCITY, 0.6 * np.array(ARM_ACCELERATION_LIMITS),
                    0.2 * np.array(ARM_JERK_LIMITS), velocity_scale=0.9)


def _chain():
    """A planned path with a corner, then a dense straight piece (a descent's IK samples)."""
    a = HOME
    b = HOME + np.array([0.7, 0.3, -0.2, 0.5, 0.1, -0.3, 0.6])
    c = b + np.array([0.1, -0.4, 0.0, 0.3, 0.0, 0.2, -0.2])
    s = np.linspace(0.0, 1.0, 25)[:, None]
    descent = c + s * np.array([0.0, 0.12, 0.0, -0.1, 0.0, 0.08, 0.0])
    return [np.array([a, b, c]), descent]


@pytest.mark.parametrize("limits", [LIMITS, FAST])
def test_a_blended_chain_stays_within_limits_at_every_sample(limits):
    pieces = _chain()
    bl = parameterize_blended(pieces, limits, dt=0.01)
    tr = bl.trajectory
    assert not bl.stops and tr.times[0] == 0 and np.all(np.diff(tr.times) > 0)
    assert np.all(np.abs(tr.velocities) <= limits.max_velocity + 1e-9)
    assert np.all(np.abs(tr.accelerations) <= limits.acceleration + 1e-9)
    assert np.all(np.abs(sampled_jerk(tr)) <= limits.jerk + 1e-9)
    assert limits.excess(tr) <= 1.0
    # at rest at both ends, exactly at the chain's start and end
    np.testing.assert_array_equal(tr.positions[0], pieces[0][0])
    np.testing.assert_array_equal(tr.positions[-1], pieces[-1][-1])
    np.testing.assert_array_equal(tr.velocities[[0, -1]], 0.0)


def test_a_blended_chain_passes_every_waypoint_without_stopping_and_is_faster():
    pieces = _chain()
    bl = parameterize_blended(pieces, FAST, dt=0.01)
    tr = bl.trajectory
    # through every required waypoint: the corner, the junction, every sample of the descent
    # (within what the arm moves in half a sample period at its speed limit)
    tol = float(np.max(FAST.max_velocity)) * 0.01 / 2 + 1e-6
    for wp in [*pieces[0], *pieces[1]]:
        assert float(np.min(np.max(np.abs(tr.positions - wp), axis=1))) <= tol
    # no stop in between: at the corner and the junction the arm is moving
    for wp in (pieces[0][1], pieces[1][0]):
        i = int(np.argmin(np.linalg.norm(tr.positions - wp, axis=1)))
        assert np.max(np.abs(tr.velocities[i])) > 0.1
    # the junction time is when it passes the descent's first waypoint, and the pieces split there
    j = bl.junctions[0]
    i = int(np.argmin(np.abs(tr.times - j)))
    assert np.max(np.abs(tr.positions[i] - pieces[1][0])) <= tol
    assert bl.piece_of_sample[i - 1] == 0 and bl.piece_of_sample[i] == 1
    # and between the waypoints it stays close to the verified segments (re-verified by the planner)
    dense = np.vstack([np.linspace(pieces[0][k], pieces[0][k + 1], 200) for k in range(2)] + [pieces[1]])
    dev = max(float(np.min(np.linalg.norm(dense - q, axis=1))) for q in tr.positions)
    assert dev < 0.05
    stopping = concatenate([parameterize_segments(pieces[0], FAST), parameterize_smooth(pieces[1], FAST)])
    assert stopping.stops and stopping.junctions == (pytest.approx(parameterize_segments(pieces[0], FAST).duration),)


def test_a_chain_must_join_up():
    a, b = _chain()
    with pytest.raises(TimingError, match="path 1 does not start where path 0 ends"):
        chain_pieces([a, b + 0.01])
    with pytest.raises(TimingError, match="chain is empty"):
        chain_pieces([])


# -- the monitor ------------------------------------------------------------------------------
@pytest.fixture
def traj():
    return parameterize_segments(np.array([HOME, HOME + np.array([0.4, 0.0, 0.0, 0.2, 0.0, 0.0, 0.3])]), LIMITS)


def run(monitor, traj, offset=None, until=None, rate=120.0):
    """Feed the monitor states that follow the trajectory (plus offset(t)) from t = -0.2 s."""
    t = monitor.start_time - 0.2
    end = until if until is not None else monitor.deadline + 1.0
    while t <= end:
        q = traj.sample(t - monitor.start_time)
        if offset is not None:
            q = q + offset(t - monitor.start_time)
        r = monitor.update(t, q)
        if r is not None:
            return r
        t += 1.0 / rate
    return None


def test_monitor_success_on_a_followed_trajectory(traj):
    m = TrajectoryMonitor(traj, NAMES, start_time=10.0)
    # lagging a little while moving (within the path tolerance), settled at the end
    r = run(m, traj, offset=lambda t: 0.02 * math.sin(math.pi * min(max(t, 0.0), traj.duration) / traj.duration))
    assert r.code is ExecutionCode.SUCCEEDED
    assert traj.duration <= r.time <= traj.duration + 0.05
    assert 0.01 < r.max_error <= 0.021


def test_monitor_path_violation_names_the_joint(traj):
    m = TrajectoryMonitor(traj, NAMES, start_time=0.0)
    r = run(m, traj, offset=lambda t: np.eye(7)[1] * (0.3 if t > 0.5 else 0.0))
    assert r.code is ExecutionCode.PATH_TOLERANCE_VIOLATED
    assert r.message.startswith("panda_joint2 is 0.300 rad from the trajectory at 0.5")


def test_monitor_times_out_short_of_the_goal(traj):
    m = TrajectoryMonitor(traj, NAMES, start_time=0.0)
    stuck = np.eye(7)[3] * 0.05  # 0.05 rad short on joint 4 at the end: within path, beyond goal tolerance
    r = run(m, traj, offset=lambda t: stuck * min(max(t, 0.0) / traj.duration, 1.0))
    assert r.code is ExecutionCode.GOAL_TOLERANCE_VIOLATED
    assert r.time == pytest.approx(1.2 * traj.duration + 0.5, abs=0.01)
    assert "panda_joint4 is still 0.0500 rad from the goal" in r.message


def test_monitor_nan_is_a_fault(traj):
    m = TrajectoryMonitor(traj, NAMES, start_time=0.0)
    q = traj.sample(0.1)
    q[2] = math.nan
    r = m.update(0.1, q)
    assert r.code is ExecutionCode.FAULT and "panda_joint3" in r.message
    assert m.update(0.2, traj.sample(0.2)) is r  # a result is final


def test_monitor_timeout_without_states(traj):
    m = TrajectoryMonitor(traj, NAMES, start_time=5.0)
    assert m.check_timeout(5.0 + traj.duration) is None
    r = m.check_timeout(5.0 + 1.2 * traj.duration + 0.6)
    assert r.code is ExecutionCode.FAULT and "no joint state" in r.message


def test_start_check_and_joint_state_parsing():
    assert start_violation(HOME + 0.005, HOME, NAMES, 0.01) is None
    why = start_violation(HOME + np.eye(7)[4] * 0.05, HOME, NAMES, 0.01)
    assert why.startswith("the arm is not at the trajectory's start: panda_joint5 is 0.0500 rad away")
    names = [*NAMES, "panda_finger_joint1"]
    merger = JointStateMerger(NAMES)
    assert merger.update(names[::-1], [0.04, *HOME[::-1]])
    np.testing.assert_array_equal(merger.positions(), HOME)
    merger = JointStateMerger(NAMES)
    assert merger.update(NAMES[:6], HOME[:6]) and merger.positions() is None and merger.missing() == ["panda_joint7"]
    with pytest.raises(ValueError, match="panda_joint1 = nan"):
        merger.update(NAMES, [math.nan, *HOME[1:]])
    with pytest.raises(ValueError, match="timeout_scale must be >= 1"):
        Tolerances(timeout_scale=0.5)


def test_partial_joint_states_are_merged_by_name_not_faults():
    """A gripper driver publishing only the fingers, an arm driver publishing the arm: each
    message updates its joints; only a non-finite arm joint is a fault, and that joint is
    unknown until reported again."""
    merger = JointStateMerger(NAMES)
    fingers = ["panda_finger_joint1", "panda_finger_joint2"]
    assert not merger.update(fingers, [0.04, 0.04])  # no news about the arm, and no error
    assert merger.positions() is None and merger.missing() == list(NAMES)
    assert merger.update(NAMES, HOME)
    assert not merger.update(fingers, [0.01, 0.01])
    np.testing.assert_array_equal(merger.positions(), HOME)
    assert merger.update(["panda_joint2"], [-0.4])  # a subset of the arm updates that subset
    np.testing.assert_array_equal(merger.positions(), HOME + np.eye(7)[1] * 0.1)
    with pytest.raises(ValueError, match=r"panda_joint3 = nan \(not finite\)"):
        merger.update(["panda_joint3", *fingers], [math.nan, 0.0, 0.0])
    assert merger.positions() is None and merger.missing() == ["panda_joint3"]
    with pytest.raises(ValueError, match="names panda_joint3 but has no position for it"):
        merger.update(["panda_joint3"], [])
    assert merger.update(["panda_joint3"], [HOME[2]])
    np.testing.assert_array_equal(merger.positions(), HOME + np.eye(7)[1] * 0.1)


def test_trajectory_sample_is_hermite_between_points():
    tr = Trajectory(np.array([0.0, 1.0]), np.array([[0.0], [1.0]]), np.zeros((2, 1)), np.zeros((2, 1)))
    assert tr.sample(0.5)[0] == pytest.approx(0.5)
    assert tr.sample(0.25)[0] == pytest.approx(0.15625)


def _lift_then_turn():
    """A straight lift (joints 2, 4, 6) and then a wrist turn (joint 7): a right-angle corner."""
    s = np.linspace(0.0, 1.0, 21)[:, None]
    lift = HOME + s * np.array([0.0, -0.15, 0.0, 0.25, 0.0, 0.1, 0.0])
    turn = lift[-1] + s * np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.2])
    return [lift, turn]


@pytest.mark.parametrize("limits", [LIMITS, FAST])
def test_a_rounded_corner_is_faster_within_limits_and_leaves_the_pieces_only_near_the_junction(limits):
    pieces = _lift_then_turn()
    sharp = parameterize_blended(pieces, limits, dt=0.01)
    corner = 0.15
    round_ = parameterize_blended(pieces, limits, dt=0.01, corner=corner)
    tr = round_.trajectory
    assert round_.trajectory.duration < sharp.trajectory.duration
    assert limits.excess(tr) <= 1.0 and np.all(np.abs(sampled_jerk(tr)) <= limits.jerk + 1e-9)
    np.testing.assert_array_equal(tr.positions[[0, -1]], [pieces[0][0], pieces[1][-1]])
    # the corner is passed moving (the sharp one nearly stops there)
    J = pieces[1][0]
    i = int(np.argmin(np.max(np.abs(tr.positions - J), axis=1)))
    k = int(np.argmin(np.max(np.abs(sharp.trajectory.positions - J), axis=1)))
    assert np.max(np.abs(tr.velocities[i])) > 2 * np.max(np.abs(sharp.trajectory.velocities[k]))
    # outside its window the motion stays on the pieces; the window is reported and bounded
    (a, b), = round_.corner_windows
    assert a < i < b
    dense = np.vstack(pieces)
    tol = float(np.max(limits.max_velocity)) * 0.01 + 1e-6
    for n, q in enumerate(tr.positions):
        off = float(np.min(np.max(np.abs(dense - q), axis=1)))
        if n < a or n > b:
            assert off <= 0.02 + tol, (n, off)
        assert np.max(np.abs(q - J)) >= corner + 0.05 or a <= n <= b  # near the corner: inside the window
    # at most half of either piece is left out: the first half of the lift is kept straight
    for q in pieces[0][:10]:
        assert float(np.min(np.max(np.abs(tr.positions - q), axis=1))) <= tol


class _OnPaths:
    """A stand-in collision model (first_collision / explain): every configuration farther
    than `off` rad (every joint) from the dense paths collides, or none when paths is None."""

    def __init__(self, paths=None, off: float = 0.02):
        from planner.motion.planner import densify

        self.dense = None if paths is None else np.vstack([densify(p, 0.005) for p in paths])
        self.off = off

    def first_collision(self, Q) -> int:
        if self.dense is None:
            return -1
        d = np.array([np.min(np.max(np.abs(self.dense - q), axis=1)) for q in np.asarray(Q)])
        bad = np.flatnonzero(d > self.off)
        return int(bad[0]) if bad.size else -1

    def explain(self, q):
        return []


def test_the_planner_keeps_a_rounded_corner_only_where_it_is_free_in_the_models_of_both_pieces():
    from planner.motion.collision import CollisionModel
    from planner.motion.planner import MotionPlanner, PlanCode, PlanResult

    kin = Kinematics(load_robot_model())
    planner = MotionPlanner(kin, CollisionModel(kin, []))
    pieces = _lift_then_turn()
    plans = [PlanResult(PlanCode.SUCCESS, "", path=p) for p in pieces]
    free = planner.time_parameterize_chain(plans, FAST, collisions=[_OnPaths(), _OnPaths()], corner=0.15)
    assert free.corner_windows and not free.stops
    # The turn's model forbids leaving the paths by more than 2 cm-ish (0.02 rad); the rounded
    # corner's samples before the junction belong to the lift, whose model allows it: checked
    # in both, the wide corner is refused and a narrower one (half, then a quarter) is taken.
    narrower = planner.time_parameterize_chain(plans, FAST, collisions=[_OnPaths(), _OnPaths(pieces)],
                                               corner=0.15)
    assert narrower.corner_windows and narrower.trajectory.duration > free.trajectory.duration
    a, b = narrower.corner_windows[0]
    assert _OnPaths(pieces).first_collision(narrower.trajectory.positions[a:b + 1]) == -1
    # Forbidding all but a hair of departure: no corner is rounded, the chain goes through the junction.
    held = planner.time_parameterize_chain(plans, FAST, collisions=[_OnPaths(), _OnPaths(pieces, off=0.004)],
                                           corner=0.15)
    assert not held.corner_windows and held.trajectory.duration > narrower.trajectory.duration
    assert planner.time_parameterize_chain(plans, FAST, collisions=[_OnPaths(), _OnPaths()]).corner_windows == ()
