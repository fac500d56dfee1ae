"""planner.motion collision model: sphere cover, obstacles, margin, attached objects, self-collision."""

import math

import numpy as np
import pybullet as p
import pytest

from brain_common.kinematics import Kinematics
from brain_common.robot_model import load_robot_model
from planner.motion.collision import (
    SELF_COLLISION_PAIRS,
    AttachedObject,
    CollisionModel,
    Obstacle,
    bin_obstacles,
    robot_spheres,
    table_obstacle,
)
from planner.motion.sphere_fit import link_hull_points

HOME = np.array((0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.785))


@pytest.fixture(scope="module")
def kin():
    return Kinematics(load_robot_model())


@pytest.fixture(scope="module")
def fixtures_model(kin):
    return CollisionModel(kin, [table_obstacle(), *bin_obstacles()], margin=0.01)


def test_sphere_cover_contains_every_link_hull(kin):
    model = kin.model
    spheres = robot_spheres(model)
    assert set(spheres) == {lk for lk in model.geometry}
    for name, (frame, C, r) in spheres.items():
        link = model.link(name)
        assert frame == link.frame
        pts = link_hull_points(model, link)  # mesh vertices (fingers: at both ends of their travel)
        d = np.linalg.norm(pts[:, None, :] - C[None], axis=-1) - r[None]
        assert d.min(axis=1).max() <= 0.0, f"{name}: a hull vertex lies outside its spheres"


def test_home_is_free_and_explains_nothing(fixtures_model):
    assert fixtures_model.is_free(HOME)
    assert fixtures_model.explain(HOME) == []


def test_box_at_the_fingers_collides_and_is_named(kin, fixtures_model):
    T = kin.fk(HOME)
    cube = Obstacle.box("red_cube", (0.04, 0.04, 0.04), T[:3, 3])
    cm = fixtures_model.with_obstacles([*fixtures_model.obstacles, cube])
    assert not cm.is_free(HOME)
    contacts = cm.explain(HOME)
    assert {c.other for c in contacts} == {"red_cube"}
    assert {"panda_leftfinger", "panda_rightfinger"} <= {c.link for c in contacts}
    assert "panda_leftfinger touches red_cube" in " ".join(str(c) for c in contacts)
    assert cm.without(["red_cube"]).is_free(HOME)


def test_margin_is_exact_on_the_sphere_model(kin):
    """A box below the hand: free with a margin just under its clearance, in collision just over."""
    T = kin.fk(HOME)
    box = Obstacle.box("plate", (0.3, 0.3, 0.02), T[:3, 3] - [0.0, 0.0, 0.08])
    probe = CollisionModel(kin, [box], margin=0.5)
    clearance = min(c.distance for c in probe.explain(HOME))
    assert 0.0 < clearance < 0.08
    assert CollisionModel(kin, [box], margin=clearance - 1e-4).is_free(HOME)
    assert not CollisionModel(kin, [box], margin=clearance + 1e-4).is_free(HOME)


def test_table_collision_and_the_base_on_the_table(kin):
    cm = CollisionModel(kin, [table_obstacle()], margin=0.0)
    assert cm.is_free(HOME)  # link0 stands on the table: not a collision
    q = HOME.copy()
    q[1], q[3] = 1.2, -1.0  # lean forward and down into the table
    assert not cm.is_free(q)
    assert any(c.other == "table" for c in cm.explain(q))


def test_cylinder(kin):
    T = kin.fk(HOME)
    can = Obstacle.cylinder("can", 0.06, 0.10, T[:3, 3] + [0.0, 0.0, 0.0])
    cm = CollisionModel(kin, [can], margin=0.0)
    assert not cm.is_free(HOME)
    far = Obstacle.cylinder("can", 0.06, 0.10, T[:3, 3] + [0.3, 0.3, 0.0])
    assert CollisionModel(kin, [far], margin=0.0).is_free(HOME)


def test_attached_object_moves_with_the_hand(kin):
    T = kin.fk(HOME)
    held = Obstacle.box("red_cube", (0.05, 0.05, 0.05), T[:3, 3])
    attached = AttachedObject(held, np.eye(4))  # centred between the pads
    # a post that only a held object 5 cm below the grasp frame would hit
    post = Obstacle.box("post", (0.05, 0.05, 0.05), T[:3, 3] - [0.0, 0.0, 0.07])
    free_hand = CollisionModel(kin, [post], margin=0.0)
    assert free_hand.is_free(HOME)
    T_go = np.eye(4)
    T_go[2, 3] = 0.05  # grasp frame z points down: 5 cm further down
    carrying = free_hand.with_attached([AttachedObject(held, T_go)])
    assert not carrying.is_free(HOME)
    assert any(c.link == "attached:red_cube" and c.other == "post" for c in carrying.explain(HOME))
    # the held object's own obstacle is dropped, and it may touch the fingers
    cm = CollisionModel(kin, [held], margin=0.0).with_attached([attached])
    assert [o.name for o in cm.obstacles] == [] and cm.is_free(HOME)
    # it moves with the hand: rotate joint 1 and it is elsewhere
    q = HOME.copy()
    q[0] = 1.0
    assert carrying.is_free(q)


def test_self_collision_pairs_are_checked(kin):
    cm = CollisionModel(kin, [], margin=0.0)
    rng = np.random.default_rng(0)
    Q = rng.uniform(kin.lower, kin.upper, (400, 7))
    hits = cm.in_collision(Q)
    assert 0 < hits.mean() < 0.9
    q = Q[np.flatnonzero(hits)[0]]
    pairs = {frozenset(pr) for pr in SELF_COLLISION_PAIRS}
    assert all(frozenset((c.link, c.other)) in pairs for c in cm.explain(q)) and cm.explain(q)
    # no pair check: nothing collides in an empty world
    assert not CollisionModel(kin, [], margin=0.0, self_collision_pairs=()).in_collision(Q).any()


def test_batch_paths_agree_with_the_unpruned_explain(kin):
    obs = [table_obstacle(), *bin_obstacles(), Obstacle.box("wall", (0.1, 0.3, 0.3), (0.5, 0, 0.15)),
           Obstacle.cylinder("c1", 0.05, 0.08, (0.4, -0.2, 0.04)),
           Obstacle.box("b2", (0.05, 0.05, 0.05), (0.6, 0.2, 0.025), 0.3)]
    cm = CollisionModel(kin, obs, margin=0.01)
    rng = np.random.default_rng(1)
    Q = np.vstack([rng.uniform(kin.lower, kin.upper, (300, 7)),
                   np.clip(HOME + rng.normal(0, 0.4, (300, 7)), kin.lower, kin.upper)])
    big = cm.in_collision(Q)  # one batch
    small = np.concatenate([cm.in_collision(Q[i:i + 20]) for i in range(0, len(Q), 20)])  # many small batches
    explained = np.array([bool(cm.explain(q)) for q in Q])
    np.testing.assert_array_equal(big, small)
    np.testing.assert_array_equal(small, explained)
    assert 0.1 < big.mean() < 0.9


def test_spheres_are_conservative_against_pybullet_meshes(kin):
    """Wherever the sphere model says free (no margin), PyBullet's meshes touch nothing."""
    obs = [Obstacle.box("wall", (0.1, 0.3, 0.3), (0.5, 0, 0.15)),
           Obstacle.cylinder("can", 0.06, 0.1, (0.4, -0.25, 0.05))]
    cm = CollisionModel(kin, obs, margin=0.0, self_collision_pairs=())
    c = p.connect(p.DIRECT)
    try:
        robot = p.loadURDF(kin.model.urdf_path, useFixedBase=True, physicsClientId=c)
        for f in (9, 10):
            p.resetJointState(robot, f, 0.02, physicsClientId=c)
        bodies = [p.createMultiBody(0, p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.05, 0.15, 0.15],
                                                              physicsClientId=c), basePosition=[0.5, 0, 0.15],
                                    physicsClientId=c),
                  p.createMultiBody(0, p.createCollisionShape(p.GEOM_CYLINDER, radius=0.03, height=0.1,
                                                              physicsClientId=c), basePosition=[0.4, -0.25, 0.05],
                                    physicsClientId=c)]
        rng = np.random.default_rng(2)
        Q = np.clip(HOME + rng.normal(0, 0.5, (600, 7)), kin.lower, kin.upper)
        free = ~cm.in_collision(Q)
        mesh_hits = 0
        for q in Q[free]:
            for j in range(7):
                p.resetJointState(robot, j, q[j], physicsClientId=c)
            for b in bodies:
                mesh_hits += bool(p.getClosestPoints(robot, b, 0.0, physicsClientId=c))
        assert free.sum() > 100 and mesh_hits == 0
    finally:
        p.disconnect(physicsClientId=c)


def test_invalid_configurations_are_in_collision(fixtures_model, kin):
    Q = np.array([HOME, HOME, HOME])
    Q[1, 2] = math.nan
    Q[2, 3] = 0.5  # joint 4 must be <= 0
    np.testing.assert_array_equal(fixtures_model.in_collision(Q), [False, True, True])
    assert fixtures_model.in_collision(np.zeros((0, 7))).shape == (0,)


def test_obstacle_validation():
    with pytest.raises(ValueError, match="shape must be one of box, cylinder"):
        Obstacle("x", "sphere", (1, 1, 1), np.eye(4))
    with pytest.raises(ValueError, match="size must be 3 positive"):
        Obstacle("x", "box", (1, -1, 1), np.eye(4))
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError, match="not a rotation"):
        Obstacle("x", "box", (1, 1, 1), bad)
    kin = Kinematics(load_robot_model())
    with pytest.raises(ValueError, match="two obstacles are named 'a'"):
        CollisionModel(kin, [Obstacle.box("a", (1, 1, 1), (0, 0, 0)), Obstacle.box("a", (1, 1, 1), (1, 0, 0))])
    with pytest.raises(ValueError, match="margin must be"):
        CollisionModel(kin, [], margin=-0.1)


def test_wrist_lookup_table_matches_exact_checks(kin):
    cm = CollisionModel(kin, [], margin=0.0)
    exact = CollisionModel(kin, [], margin=0.0)
    exact._near_lut = None  # the exact sphere pairs everywhere
    Q = np.random.default_rng(4).uniform(kin.lower, kin.upper, (3000, 7))
    np.testing.assert_array_equal(cm.in_collision(Q), exact.in_collision(Q))


def test_large_attached_object_stays_cheap_and_exact(kin):
    big = Obstacle.box("tray", (0.3, 0.3, 0.3), (0.5, 0.0, 0.15))
    cm = CollisionModel(kin, [table_obstacle()], margin=0.01).with_attached([AttachedObject(big, np.eye(4))])
    Q = np.random.default_rng(5).uniform(kin.lower, kin.upper, (200, 7))
    explained = np.array([bool(cm.explain(q)) for q in Q])
    np.testing.assert_array_equal(cm.in_collision(Q), explained)
    np.testing.assert_array_equal(np.concatenate([cm.in_collision(Q[i:i + 20]) for i in range(0, 200, 20)]),
                                  explained)
    names, centres, radii = cm.world_spheres(Q[0])
    tray = np.array([n == "attached:tray" for n in names])
    assert 8 <= tray.sum() <= 64  # at most 4 cells per axis
    assert centres.shape == (len(names), 3) and np.all(radii[tray] > 0.05)  # 7.5 cm cells: r = 6.5 cm


def test_per_obstacle_margin(kin):
    """A grasp approach may come closer to the table than to anything else."""
    T = kin.fk(HOME)
    plate = Obstacle.box("plate", (0.3, 0.3, 0.02), T[:3, 3] - [0.0, 0.0, 0.08])
    clearance = min(c.distance for c in CollisionModel(kin, [plate], margin=0.5).explain(HOME))
    cm = CollisionModel(kin, [plate, table_obstacle()], margin=clearance + 0.01)
    assert not cm.is_free(HOME)
    relaxed = cm.with_margins({"plate": clearance - 0.001})
    assert relaxed.is_free(HOME) and relaxed.obstacle_margin("table") == cm.margin
    assert not relaxed.with_margins({"plate": clearance + 0.001}).is_free(HOME)
    with pytest.raises(ValueError, match="margin for 'plate' must be"):
        cm.with_margins({"plate": -1.0})
