"""brain_common.trajectory: one sampler of a timed joint trajectory, shared by the planner's
prediction (planner.motion.timing.Trajectory, the execution monitor) and the sim bridge's
controller (armbrain_sim.trajectory.JointPath), so the two agree exactly."""

import numpy as np
import pytest

import armbrain_sim.trajectory as sim_trajectory
import brain_common.trajectory as common_trajectory
import planner.motion.timing as planner_timing
from armbrain_sim.trajectory import JointLimits, check_trajectory
from brain_common.robot import ARM_JOINTS
from brain_common.trajectory import sample_joint_trajectory
from planner.motion.timing import TimingLimits, parameterize_segments

TIMES = np.array([0.0, 1.0, 3.0])
POSITIONS = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
VELOCITIES = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.0]])


def test_hermite_hits_the_points_with_their_velocities_and_clamps():
    for t, q in zip(TIMES, POSITIONS, strict=True):
        np.testing.assert_allclose(sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, t), q, atol=1e-12)
    eps = 1e-6
    slope = (sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, 1.0 + eps)
             - sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, 1.0 - eps)) / (2 * eps)
    np.testing.assert_allclose(slope[0], 0.5, atol=1e-5)
    # between rest points: the smoothstep 3 s^2 - 2 s^3, a quarter of the way -> 0.15625
    np.testing.assert_allclose(sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, 1.5)[1], 1.0 - 2 * 0.15625)
    np.testing.assert_array_equal(sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, -1.0), POSITIONS[0])
    np.testing.assert_array_equal(sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, 9.0), POSITIONS[-1])
    # clamped ends are copies: the caller may modify them
    sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, 9.0)[0] = 42.0
    assert POSITIONS[-1, 0] == 1.0


def test_linear_without_velocities():
    np.testing.assert_allclose(sample_joint_trajectory(TIMES, POSITIONS, None, 2.0), [1.0, 0.0])
    np.testing.assert_allclose(sample_joint_trajectory(TIMES, POSITIONS, None, 0.25), [0.25, 1.0])


def test_planner_and_sim_controller_call_the_same_function(monkeypatch):
    assert planner_timing.sample_joint_trajectory is common_trajectory.sample_joint_trajectory
    assert sim_trajectory.sample_joint_trajectory is common_trajectory.sample_joint_trajectory
    calls = []

    def spy(times, positions, velocities, t):
        calls.append(t)
        return common_trajectory.sample_joint_trajectory(times, positions, velocities, t)

    monkeypatch.setattr(planner_timing, "sample_joint_trajectory", spy)
    monkeypatch.setattr(sim_trajectory, "sample_joint_trajectory", spy)
    planner_timing.Trajectory(TIMES, POSITIONS, VELOCITIES, np.zeros_like(POSITIONS)).sample(0.5)
    sim_trajectory.JointPath(TIMES, POSITIONS, VELOCITIES).sample(0.7)
    assert calls == [0.5, 0.7]


def test_planner_prediction_equals_the_sim_controller_exactly():
    """A planned trajectory, handed to the sim bridge's checks as a JointTrajectory's
    fields would be, is sampled to the same bits on both sides at every time."""
    rng = np.random.default_rng(3)
    lo, hi = np.full(7, -2.0), np.full(7, 2.0)
    path = rng.uniform(lo, hi, (4, 7))
    traj = parameterize_segments(path, TimingLimits(np.full(7, 2.0), np.full(7, 5.0), np.full(7, 50.0), 0.8),
                                 dt=0.02)
    sim_path = check_trajectory(ARM_JOINTS, traj.times, traj.positions, traj.velocities,
                                JointLimits(ARM_JOINTS, lo, hi, np.full(7, 2.0)), current=path[0])
    for t in np.concatenate([rng.uniform(-0.1, traj.duration + 0.1, 500), traj.times]):
        np.testing.assert_array_equal(traj.sample(t), sim_path.sample(t))


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.9, 3.0])
def test_planner_and_sim_sample_like_the_function(t):
    expected = sample_joint_trajectory(TIMES, POSITIONS, VELOCITIES, t)
    np.testing.assert_array_equal(
        planner_timing.Trajectory(TIMES, POSITIONS, VELOCITIES, np.zeros_like(POSITIONS)).sample(t), expected)
    np.testing.assert_array_equal(sim_trajectory.JointPath(TIMES, POSITIONS, VELOCITIES).sample(t), expected)


@pytest.mark.parametrize("velocities", [VELOCITIES, None])
def test_the_feed_forward_velocity_is_the_derivative_of_the_sampled_positions(velocities):
    from brain_common.trajectory import sample_joint_trajectory_velocity

    eps = 1e-6
    for t in np.linspace(0.01, 2.99, 57):
        numeric = (sample_joint_trajectory(TIMES, POSITIONS, velocities, t + eps)
                   - sample_joint_trajectory(TIMES, POSITIONS, velocities, t - eps)) / (2 * eps)
        np.testing.assert_allclose(sample_joint_trajectory_velocity(TIMES, POSITIONS, velocities, t), numeric,
                                   atol=1e-5)
    for t in (-1.0, 0.0, 3.0, 4.0):  # at rest before and after
        np.testing.assert_array_equal(sample_joint_trajectory_velocity(TIMES, POSITIONS, velocities, t), [0.0, 0.0])
