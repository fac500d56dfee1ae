"""planner.motion.exact: the hand's convex hulls judge what its spheres flag near obstacles."""

import numpy as np
import pytest

from brain_common.cell import default_cell
from brain_common.kinematics import Kinematics, top_down_rotation
from brain_common.robot_model import load_robot_model
from planner.motion.collision import CollisionModel, Obstacle, bin_obstacles, table_obstacle
from planner.motion.exact import HAND_LINKS, ExactHand
from planner.motion.planner import MotionPlanner

HOME = np.array((0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785))
CONTACT = default_cell().clearances.contact


@pytest.fixture(scope="module")
def kin():
    return Kinematics(load_robot_model())


@pytest.fixture(scope="module")
def exact(kin):
    ex = ExactHand(kin.model)
    yield ex
    ex.close()


def _slab_below_fingertips(kin, gap):
    """A wide 2 cm slab whose top is `gap` m below the grasp frame, under the home pose."""
    T = kin.fk(HOME)
    return Obstacle.box("slab", (0.3, 0.3, 0.02), (T[0, 3], T[1, 3], T[2, 3] - gap - 0.01))


def test_distances_follow_the_geometry(kin, exact):
    """Moving the slab down by 1 cm moves every hand link's distance by 1 cm; the fingertips
    (7.2 mm beyond the grasp frame in the mesh) touch it when it is that close."""
    F = kin.frames(HOME)
    assert exact.links == HAND_LINKS

    def nearest(gap):
        ob = _slab_below_fingertips(kin, gap)
        return min(exact.distance(F, lk, ob.shape, ob.size, ob.pose, 0.2) for lk in exact.links)

    d1, d2, d3 = nearest(0.03), nearest(0.04), nearest(0.0)
    assert d2 - d1 == pytest.approx(0.01, abs=2e-4)
    assert 0.03 - 0.0072 - 0.002 < d1 < 0.03 - 0.0072 + 1e-4  # the tip, and at most 2 mm more (finger hull)
    assert d3 < 0.0  # penetrating
    # Far objects: the search stops at `within`.
    ob = _slab_below_fingertips(kin, 0.5)
    assert exact.distance(F, "panda_hand", ob.shape, ob.size, ob.pose, 0.05) == 0.05
    cyl = Obstacle.cylinder("can", 0.06, 0.1, (kin.fk(HOME)[0, 3], 0.0, kin.fk(HOME)[2, 3] - 0.007 - 0.02 - 0.05))
    assert exact.distance(F, "panda_leftfinger", cyl.shape, cyl.size, cyl.pose, 0.2) == pytest.approx(0.02, abs=2.5e-3)


def _beside_the_bin_wall(kin):
    """A top-down grasp of a 5 cm cube standing 1.5 cm from the bin's near wall, closing
    along the wall (the hand's thin side towards it), 13 mm off centre towards the wall (one
    of grasp synthesis's shifted grasps): its configuration, and the world."""
    b = default_cell().bin
    y = b.y - b.inner_size[1] / 2.0 - b.wall_thickness - 0.015 - 0.025
    T = np.eye(4)
    T[:3, :3] = top_down_rotation(np.pi / 2.0)  # closing along x, parallel to the wall
    T[:3, 3] = (b.x, y + 0.0132, 0.025)
    res = kin.ik(T, HOME, restarts=8)
    assert res.success
    return res.q, [table_obstacle(), *bin_obstacles()]


def test_a_grasp_beside_the_bin_wall_is_free_only_with_the_exact_hand(kin, exact):
    q, world = _beside_the_bin_wall(kin)
    spheres = CollisionModel(kin, world, margin=CONTACT)
    refined = CollisionModel(kin, world, margin=CONTACT, exact=exact)
    flagged = spheres.explain(q)
    assert flagged and {c.link for c in flagged} <= set(HAND_LINKS)  # the spheres touch the wall...
    assert not spheres.is_free(q)
    assert refined.is_free(q)  # ...the hulls keep the margin
    assert refined.first_collision(np.array([HOME, q])) == -1
    # The raw batch check (the free-motion planners' judge) is unchanged.
    assert refined.in_collision(q[None])[0]
    # Derived models keep the narrow phase.
    assert refined.with_margins({"table": 0.0}).without(["table"]).is_free(q)


def test_the_exact_hand_confirms_real_contacts_and_leaves_other_links_alone(kin, exact):
    # The hand pushed 1 cm into the slab stays in collision.
    world = [_slab_below_fingertips(kin, -0.01)]
    assert not CollisionModel(kin, world, margin=CONTACT, exact=exact).is_free(HOME)
    # A slab through the forearm (link 5): not the hand's to judge.
    F = kin.frames(HOME)
    p5 = F[5][:3, 3]
    arm = [Obstacle.box("bar", (0.05, 0.05, 0.05), p5)]
    model = CollisionModel(kin, arm, margin=CONTACT, exact=exact)
    assert any(c.link == "panda_link5" for c in model.explain(HOME))
    assert not model.is_free(HOME)
    assert model.first_collision(np.array([HOME, HOME])) == 0
    # Outside the joint limits stays in collision.
    q = HOME.copy()
    q[3] = 1.0
    assert not model.with_obstacles([]).is_free(q)


def test_a_straight_descent_beside_the_wall_is_planned_with_the_exact_hand(kin, exact):
    q, world = _beside_the_bin_wall(kin)
    T = kin.fk(q)
    T_pre = T.copy()
    T_pre[2, 3] += 0.10
    start = kin.ik(T_pre, q, restarts=4)
    assert start.success
    spheres = CollisionModel(kin, world, margin=CONTACT)
    refined = CollisionModel(kin, world, margin=CONTACT, exact=exact)
    blocked = MotionPlanner(kin, spheres).plan_cartesian(start.q, T, spheres)
    assert not blocked.success and "bin_wall" in blocked.message
    planned = MotionPlanner(kin, refined).plan_cartesian(start.q, T, refined)
    assert planned.success, planned.message
    # Every waypoint keeps the contact margin by the exact measure.
    for qq in planned.path:
        F = kin.frames(qq)
        for ob in world:
            for lk in HAND_LINKS:
                assert exact.distance(F, lk, ob.shape, ob.size, ob.pose, 0.05) >= CONTACT
