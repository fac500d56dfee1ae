"""planner.motion planning: RRT-Connect and shortcutting on a 2-D point robot, the arm planner's
verified paths, straight-line segments, and typed failures."""

import math

import numpy as np
import pytest

from brain_common.kinematics import Kinematics, rotation_angle, top_down_rotation, transform_from_position_rotation
from brain_common.robot_model import load_robot_model
from planner.motion.collision import CollisionModel, Obstacle, bin_obstacles, table_obstacle
from planner.motion.planner import MotionPlanner, PlanCode, PlannerConfig, densify, interpolate
from planner.motion.rrt import make_segments_free, path_length, reduce_vertices, rrt_connect, shortcut
from planner.motion.timing import TimingLimits

HOME = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))


# -- a 2-D point robot in the unit square with a wall that has a gap at the top ------------
def wall_collision(Q):
    Q = np.atleast_2d(Q)
    in_wall = (np.abs(Q[:, 0] - 0.5) < 0.05) & (Q[:, 1] < 0.8)
    outside = np.any((Q < 0) | (Q > 1), axis=1)
    return in_wall | outside


def toy_callables(rng):
    return (lambda: rng.uniform(0, 1, 2),
            lambda q, Q: np.linalg.norm(Q - q, axis=1),
            lambda a, b: interpolate(a, b, 0.01),
            wall_collision)


def test_rrt_connect_finds_a_free_path_around_the_wall():
    rng = np.random.default_rng(0)
    start, goal = np.array([0.1, 0.1]), np.array([0.9, 0.1])
    path = rrt_connect(start, goal, *toy_callables(rng), max_time=2.0, max_extension=0.3, node_spacing=3)
    assert path is not None
    np.testing.assert_array_equal(path[0], start)
    np.testing.assert_array_equal(path[-1], goal)
    dense = densify(np.array(path), 0.01)
    assert not wall_collision(dense).any()
    assert np.max(dense[:, 1]) >= 0.8  # it had to go over the wall's top


def test_rrt_connect_direct_line_when_free():
    rng = np.random.default_rng(1)
    path = rrt_connect(np.array([0.1, 0.9]), np.array([0.9, 0.9]), *toy_callables(rng))
    assert len(path) == 2


def test_rrt_connect_gives_up_in_time_when_enclosed():
    rng = np.random.default_rng(2)
    enclosed = lambda Q: wall_collision(Q) | (np.atleast_2d(Q)[:, 0] > 0.6)  # noqa: E731 (the goal side is walled)
    fns = toy_callables(rng)[:3]
    path = rrt_connect(np.array([0.1, 0.1]), np.array([0.9, 0.1]), *fns, enclosed, max_time=0.2)
    assert path is None  # it gives up (its max_time budget) instead of searching forever


def test_shortcut_and_reduce_shorten_and_stay_free():
    rng = np.random.default_rng(3)
    path = rrt_connect(np.array([0.1, 0.1]), np.array([0.9, 0.1]), *toy_callables(rng), max_extension=0.2,
                       node_spacing=2)
    free = make_segments_free(wall_collision, 0.05)
    fine = make_segments_free(wall_collision, 0.005)
    reduced = reduce_vertices(path, free, fine)
    short = shortcut(reduced, free, fine, rng, rounds=30, batch=8)
    assert path_length(short) <= path_length(reduced) <= path_length(path) + 1e-9
    assert not wall_collision(densify(np.array(short), 0.005)).any()
    # the shortest way over the top corner is ~ 2 * hypot(0.4, 0.7) = 1.61
    assert path_length(short) < 1.9


# -- the arm -------------------------------------------------------------------------------
def top_down(x, y, z, yaw=0.0):
    return transform_from_position_rotation((x, y, z), top_down_rotation(yaw))


@pytest.fixture(scope="module")
def kin():
    return Kinematics(load_robot_model())


@pytest.fixture(scope="module")
def wall_world(kin):
    cm = CollisionModel(kin, [table_obstacle(), Obstacle.box("wall", (0.1, 0.3, 0.3), (0.5, 0, 0.15))], margin=0.01)
    qs = kin.ik(top_down(0.5, -0.35, 0.1), HOME, validate=cm.is_free).q
    qg = kin.ik(top_down(0.5, 0.35, 0.1), HOME, validate=cm.is_free).q
    return cm, qs, qg


@pytest.mark.parametrize("seed", range(3))
def test_box_wall_path_is_verified(kin, wall_world, seed):
    cm, qs, qg = wall_world
    planner = MotionPlanner(kin, cm, rng=np.random.default_rng(seed))
    res = planner.plan_to_configuration(qs, qg)
    assert res.success, res.message
    np.testing.assert_array_equal(res.path[0], qs)
    np.testing.assert_array_equal(res.path[-1], qg)
    assert not cm.in_collision(densify(res.path, 0.01)).any()
    assert res.length < 4.0
    assert res.timings["total"] < 2.0


def test_validation_rejects_a_path_through_the_wall(kin, wall_world):
    cm, qs, qg = wall_world
    planner = MotionPlanner(kin, cm)
    ok, index, contacts = planner.validate_path(np.array([qs, qg]))
    assert not ok and index > 0
    assert any(c.other == "wall" for c in contacts)
    # a path that is free at 0.2 rad steps but not at 0.01: it is still rejected
    dense = densify(np.array([qs, qg]), 0.01)
    bad = cm.in_collision(dense)
    assert bad.any()


def test_start_in_collision_names_links_and_obstacle(kin):
    T = kin.fk(HOME)
    cube = Obstacle.box("red_cube", (0.05, 0.05, 0.05), T[:3, 3])
    cm = CollisionModel(kin, [table_obstacle(), cube], margin=0.01)
    res = MotionPlanner(kin, cm).plan_to_configuration(HOME, HOME + 0.1)
    assert res.code is PlanCode.START_IN_COLLISION and res.path is None
    assert "red_cube" in res.message and "finger" in res.message
    assert {c.other for c in res.contacts} == {"red_cube"}


def test_goal_in_collision(kin):
    T = kin.fk(HOME)
    cube = Obstacle.box("blue_cube", (0.05, 0.05, 0.05), T[:3, 3])
    cm = CollisionModel(kin, [table_obstacle()], margin=0.01)
    q0 = HOME.copy()
    q0[0] = 0.8
    res = MotionPlanner(kin, cm.with_obstacles([table_obstacle(), cube])).plan_to_configuration(q0, HOME)
    assert res.code is PlanCode.GOAL_IN_COLLISION and "blue_cube" in res.message


def test_pose_goals_unreachable_and_in_collision_are_typed_and_fast(kin):
    cm = CollisionModel(kin, [table_obstacle()], margin=0.01)
    planner = MotionPlanner(kin, cm)
    res = planner.plan_to_pose(HOME, top_down(1.5, 0.0, 0.2))
    assert res.code is PlanCode.NO_IK and "unreachable" in res.message
    res = planner.plan_to_pose(HOME, top_down(0.5, 0.0, -0.05))  # inside the table
    assert res.code is PlanCode.GOAL_IN_COLLISION and "table" in res.message


def test_invalid_input(kin, wall_world):
    cm, qs, _ = wall_world
    planner = MotionPlanner(kin, cm)
    assert planner.plan_to_configuration(qs, np.zeros(6)).code is PlanCode.INVALID_INPUT
    q = qs.copy()
    q[3] = 0.5
    res = planner.plan_to_configuration(qs, q)
    assert res.code is PlanCode.INVALID_INPUT and "panda_joint4 = 0.5000 rad is outside its limits" in res.message
    start = qs.copy()
    start[3] = kin.upper[3] + 0.05  # a start well past a limit is refused too
    res = planner.plan_to_configuration(start, qs)
    assert res.code is PlanCode.INVALID_INPUT and "start: panda_joint4" in res.message


def test_a_measured_start_a_hair_past_a_limit_plans_from_the_limit(kin, wall_world):
    cm, qs, _ = wall_world
    planner = MotionPlanner(kin, cm)
    start = qs.copy()
    start[1] = kin.lower[1] - 2e-5  # the arm resting against joint 2's lower limit, as measured
    res = planner.plan_to_configuration(start, qs)
    assert res.success, res.message
    assert res.path[0][1] == kin.lower[1]
    # timed, it stays within the limits (an interpolant overshooting the limit is clipped)
    traj = planner.time_parameterize(res, TimingLimits(kin.model.velocity, np.full(7, 7.5), np.full(7, 50.0), 0.8))
    assert np.all(traj.positions >= kin.lower) and np.all(traj.positions <= kin.upper)


def test_no_path_to_an_enclosed_goal_is_time_bounded(kin):
    cm = CollisionModel(kin, [table_obstacle()], margin=0.01)
    qg = kin.ik(top_down(0.5, 0.0, 0.15), HOME).q
    box = [Obstacle.box(f"w{i}", s, c) for i, (s, c) in enumerate([
        ((0.02, 0.3, 0.4), (0.36, 0, 0.2)), ((0.02, 0.3, 0.4), (0.64, 0, 0.2)),
        ((0.3, 0.02, 0.4), (0.5, 0.14, 0.2)), ((0.3, 0.02, 0.4), (0.5, -0.14, 0.2)),
        ((0.3, 0.3, 0.02), (0.5, 0, 0.41))])]
    closed = cm.with_obstacles([table_obstacle(), *box])
    # the goal inside a closed box: the wrist pokes through the lid, so it is in collision...
    planner = MotionPlanner(kin, closed, PlannerConfig(max_plan_time=0.1, attempts=2))
    res = planner.plan_to_configuration(HOME, qg)
    assert res.code in (PlanCode.GOAL_IN_COLLISION, PlanCode.NO_PATH)


def test_cartesian_straight_line_down(kin):
    cm = CollisionModel(kin, [table_obstacle(), *bin_obstacles()], margin=0.01)
    planner = MotionPlanner(kin, cm)
    q0 = kin.ik(top_down(0.5, 0.1, 0.2, 0.3), HOME).q
    T1 = top_down(0.5, 0.1, 0.05, 0.3)
    res = planner.plan_cartesian(q0, T1)
    assert res.success, res.message
    T0 = kin.fk(q0)
    for q in densify(res.path, 0.01):
        T = kin.fk(q)
        assert np.linalg.norm(T[:2, 3] - T0[:2, 3]) < 2e-3  # on the vertical line
        assert rotation_angle(T[:3, :3], T0[:3, :3]) < math.radians(1.0)
    np.testing.assert_allclose(kin.fk(res.path[-1])[:3, 3], T1[:3, 3], atol=1e-3)
    # into the table: blocked, and says so
    res = planner.plan_cartesian(q0, top_down(0.5, 0.1, -0.02, 0.3))
    assert res.code is PlanCode.NO_PATH and "table" in res.message


def test_planner_config_validation():
    with pytest.raises(ValueError, match=r"validate_resolution must be <= 0\.01"):
        PlannerConfig(validate_resolution=0.05)
    with pytest.raises(ValueError, match=r"plan_resolution must be a finite number > 0"):
        PlannerConfig(plan_resolution=0.0)


def test_pick_sequence_approach_lift_transfer_and_timing(kin):
    """The stages the task layer chains: pre-grasp, straight approach (the target ignored,
    the fingers may come close to the table), lift carrying the object (which may leave
    its support), transfer to the bin, each timed and re-verified."""
    from planner.motion.collision import AttachedObject
    from planner.motion.timing import TimingLimits

    cube = Obstacle.box("red_cube", (0.05, 0.05, 0.05), (0.5, 0.1, 0.025), 0.3)
    world = CollisionModel(kin, [table_obstacle(), *bin_obstacles(), cube], margin=0.01)
    planner = MotionPlanner(kin, world, rng=np.random.default_rng(0))
    limits = TimingLimits(kin.model.velocity, np.full(7, 2.0), np.full(7, 50.0), 0.5)
    pre = planner.plan_to_pose(HOME, top_down(0.5, 0.1, 0.15, 0.3))
    assert pre.success, pre.message
    blocked = planner.plan_cartesian(pre.path[-1], top_down(0.5, 0.1, 0.025, 0.3))
    assert blocked.code is PlanCode.NO_PATH and "red_cube" in blocked.message
    approach = planner.plan_cartesian(pre.path[-1], top_down(0.5, 0.1, 0.025, 0.3),
                                      world.without(["red_cube"]).with_margins({"table": 0.0}))
    assert approach.success, approach.message
    T_grasp = kin.fk(approach.path[-1])
    held = AttachedObject(cube, np.linalg.inv(T_grasp) @ cube.pose, touch_obstacles=("table",))
    lift = planner.plan_cartesian(approach.path[-1], top_down(0.5, 0.1, 0.2, 0.3),
                                  world.with_attached([held]).with_margins({"table": 0.0}))
    assert lift.success, lift.message
    carrying = world.with_attached([AttachedObject(cube, held.T_grasp_object)])
    transfer = planner.plan_to_pose(lift.path[-1], top_down(0.45, 0.42, 0.2), carrying)
    assert transfer.success, transfer.message
    for plan in (pre, approach, lift, transfer):
        traj = planner.time_parameterize(plan, limits)
        np.testing.assert_allclose(traj.positions[0], plan.path[0])
        np.testing.assert_allclose(traj.positions[-1], plan.path[-1])
        assert np.all(np.abs(traj.velocities) <= limits.max_velocity * 1.001)
