"""armbrain_sim.trajectory: the checks a trajectory must pass before the sim follows it."""

import numpy as np
import pytest

from armbrain_sim.trajectory import (
    JointLimits,
    TrajectoryError,
    check_gripper_command,
    check_trajectory,
)

NAMES = ("j1", "j2", "j3")
LIMITS = JointLimits(NAMES, np.array([-1.0, -2.0, 0.0]), np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
HERE = np.array([0.1, 0.2, 0.3])


def check(names=NAMES, times=(1.0, 2.0), positions=((0, 0, 1), (0.5, 1, 2)), velocities=None):
    velocities = velocities if velocities is not None else [[] for _ in times]
    return check_trajectory(names, times, positions, velocities, LIMITS, HERE)


def test_reorders_joints_and_inserts_start_point():
    path = check(names=("j3", "j1", "j2"), positions=((1, 0, 0), (2, 0.5, 1)))
    np.testing.assert_array_equal(path.times, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(path.positions, [HERE, [0, 0, 1], [0.5, 1, 2]])
    assert path.velocities is None and path.duration == 2.0


def test_linear_sampling_and_clamping():
    path = check()
    np.testing.assert_allclose(path.sample(0.5), (HERE + np.array([0, 0, 1])) / 2)
    np.testing.assert_allclose(path.sample(1.5), [0.25, 0.5, 1.5])
    np.testing.assert_array_equal(path.sample(-1), HERE)
    np.testing.assert_array_equal(path.sample(99), [0.5, 1, 2])


def test_hermite_sampling_hits_points_and_velocities():
    path = check(times=(0.0, 2.0), positions=((0, 0, 0), (1, 1, 1)), velocities=((0, 0, 0), (0, 0, 0)))
    np.testing.assert_allclose(path.sample(1.0), [0.5, 0.5, 0.5])  # symmetric S-curve
    eps = 1e-6
    np.testing.assert_allclose((path.sample(eps) - path.sample(0)) / eps, 0, atol=1e-5)  # starts at rest
    np.testing.assert_allclose(path.sample(0.5), [0.15625] * 3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": ("j1", "j2")}, "trajectory lacks joint(s) j3; expected exactly: j1, j2, j3"),
    ({"names": ("j1", "j2", "x")}, "unknown joint 'x'; expected exactly: j1, j2, j3"),
    ({"names": ("j1", "j1", "j2")}, "joint 'j1' appears twice in joint_names"),
    ({"times": (), "positions": ()}, "trajectory has no points"),
    ({"positions": ((0, 0, float("nan")), (0, 0, 1))}, "point 0: position of j3 is nan (not finite)"),
    ({"positions": ((0, 0, 1), (0, float("inf"), 1))}, "point 1: position of j2 is inf (not finite)"),
    ({"times": (1.0, 1.0)}, "point 1: time_from_start 1 s does not increase (point 0 is at 1 s)"),
    ({"times": (2.0, 1.0)}, "point 1: time_from_start 1 s does not increase (point 0 is at 2 s)"),
    ({"times": (-1.0, 1.0)}, "point 0: time_from_start -1 s is negative"),
    ({"positions": ((0, 0, 1), (0, 2.5, 1))}, "point 1: j2 = 2.5000 rad is outside its limits [-2.0000, 2.0000]"),
    ({"positions": ((0, 0, 1), (0, 0))}, "point 1 has 2 positions for 3 joints"),
    ({"velocities": ((0, 0, 0), ())}, "point 1 has 0 velocities for 3 joints (give all or none)"),
])
def test_bad_trajectories_are_named(kwargs, message):
    with pytest.raises(TrajectoryError) as e:
        check(**kwargs)
    assert str(e.value) == message


def test_points_on_the_limits_are_accepted():
    path = check(positions=((-1, -2, 0), (1, 2, 3)))
    np.testing.assert_array_equal(path.positions[-1], [1, 2, 3])


@pytest.mark.parametrize(("data", "message"), [
    ([], "gripper command needs exactly 1 value (opening in metres), got 0"),
    ([0.01, 0.02], "gripper command needs exactly 1 value (opening in metres), got 2"),
    ([0.09], "gripper opening 0.09 m is out of range; valid: 0 .. 0.08 m"),
    ([-0.01], "gripper opening -0.01 m is out of range; valid: 0 .. 0.08 m"),
    ([float("nan")], "gripper opening nan m is out of range; valid: 0 .. 0.08 m"),
])
def test_gripper_commands(data, message):
    with pytest.raises(TrajectoryError) as e:
        check_gripper_command(data, 0.08)
    assert str(e.value) == message
    assert check_gripper_command([0.05], 0.08) == 0.05
