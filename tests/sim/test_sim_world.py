"""Headless PyBullet tests of the world (armbrain_sim.world) and the ground-truth oracle."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pybullet as p
import pytest

from armbrain_sim.oracle import run_oracle
from armbrain_sim.scenario import load_scenario
from armbrain_sim.scene import (
    ALL_OBJECTS,
    HOME_ARM,
    BinSetup,
    CameraSetup,
    LightSetup,
    ObjectInstance,
    Perturbations,
    SceneInstance,
    SuccessRule,
    TableSetup,
)
from armbrain_sim.world import SimWorld
from brain_common.kinematics import top_down_rotation, transform_from_position_rotation
from brain_common.robot import ARM_JOINTS, FINGER_JOINTS
from conftest import ROOT

pytestmark = pytest.mark.sim

SCENARIOS = ROOT / "sim" / "scenarios"


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) T_base_optical of a camera at eye looking at target (optical: z forward, y down)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, np.cross(z, x), z, eye
    return T


RED_CUBE = ObjectInstance("red_cube", "box", (0.05, 0.05, 0.05), (0.85, 0.1, 0.1), "red", 0.0625, (0.5, -0.1), 0.3)
BLUE_CYL = ObjectInstance("blue_cyl", "cylinder", (0.04, 0.04, 0.07), (0.1, 0.25, 0.85), "blue", 0.05, (0.6, 0.15), 0.0)
GREEN_BOX = ObjectInstance("green_box", "box", (0.04, 0.07, 0.03), (0.1, 0.7, 0.15), "green", 0.05, (0.4, -0.3),
                           -0.5)
RED_TO_BIN = SuccessRule("red_cube")


def make_scene(objects=(RED_CUBE, BLUE_CYL, GREEN_BOX), *, seed: int = 0, camera_T=None, width: int = 160,
               height: int = 120, perturbations: Perturbations | None = None, bin_x: float = 0.45,
               success=(RED_TO_BIN,)) -> SceneInstance:
    T = look_at((1.05, 0.0, 0.55), (0.45, 0.0, 0.0)) if camera_T is None else camera_T
    return SceneInstance(
        scenario_name="hand_made", seed=seed,
        camera=CameraSetup(width, height, 50.0, 0.05, 3.0, T, T, "tiny"),
        light=LightSetup(), table=TableSetup(), bin=BinSetup(x=bin_x), objects=tuple(objects),
        perturbations=perturbations or Perturbations(), goal="put the red cube in the bin", success=tuple(success))


@pytest.fixture
def world():
    w = SimWorld(make_scene(), renderer="tiny")
    yield w
    w.close()


def test_builds_the_scene(world: SimWorld) -> None:
    poses = world.object_poses()
    assert set(poses) == {"red_cube", "blue_cyl", "green_box"}
    for o in (RED_CUBE, BLUE_CYL, GREEN_BOX):
        pos, quat = poses[o.name]
        np.testing.assert_allclose(pos, [*o.position, o.size[2] / 2.0], atol=1e-9)
        assert p.getEulerFromQuaternion(quat)[2] == pytest.approx(o.yaw, abs=1e-9)
        info = p.getDynamicsInfo(world.object_ids[o.name], -1, physicsClientId=world.client_id)
        assert info[0] == pytest.approx(o.mass)
        assert info[1] == pytest.approx(1.0)  # lateral friction
        rgba = p.getVisualShapeData(world.object_ids[o.name], physicsClientId=world.client_id)[0][7]
        np.testing.assert_allclose(rgba, [*o.rgb, 1.0], atol=1e-6)
    # Resting objects stay put (they start exactly on the table top at z = 0).
    world.step(120)
    for o in (RED_CUBE, BLUE_CYL, GREEN_BOX):
        np.testing.assert_allclose(world.object_poses()[o.name].position, [*o.position, o.size[2] / 2.0], atol=1e-3)
    assert world.time == pytest.approx(0.5)
    assert world.dt == pytest.approx(1.0 / 240.0)

    js = world.joint_state()
    assert js.names == (*ARM_JOINTS, *FINGER_JOINTS)
    np.testing.assert_allclose(js.positions[:7], HOME_ARM, atol=1e-3)
    assert world.gripper_opening() == pytest.approx(0.08, abs=1e-3)
    limits = world.joint_limits()
    assert limits["panda_joint4"] == pytest.approx((-3.1416, 0.0, 2.175, 87.0))
    assert limits["panda_joint7"].max_effort == 12.0
    assert limits["panda_finger_joint1"] == pytest.approx((0.0, 0.04, 0.2, 20.0))


def test_arm_reaches_target_configuration(world: SimWorld) -> None:
    target = np.array(HOME_ARM) + np.array([0.4, 0.3, -0.3, 0.4, 0.3, -0.3, -0.5])
    world.set_arm_targets(target)
    world.step(round(2.0 / world.dt))
    js = world.joint_state()
    assert np.max(np.abs(js.positions[:7] - target)) < 1e-3
    assert np.max(np.abs(js.velocities[:7])) < 1e-2
    # The velocity limit is respected on the way (joint 1: 2.175 rad/s).
    world.set_arm_targets(target - [1.0, 0, 0, 0, 0, 0, 0])
    world.step(12)
    assert abs(world.joint_state().velocities[0]) <= 2.175 + 1e-3


def test_gripper_closes_on_a_5cm_cube(world: SimWorld) -> None:
    cube = world.object_poses()["red_cube"].position
    psi = RED_CUBE.yaw + math.pi / 2.0  # fingers close along the cube's x axis
    R = top_down_rotation(psi)
    q_pre = world.kinematics.ik(transform_from_position_rotation(cube + np.array([0.0, 0.0, 0.1]), R), HOME_ARM).q
    q_grasp = world.kinematics.ik(transform_from_position_rotation(cube, R), q_pre).q
    assert q_pre is not None and q_grasp is not None
    world.set_arm_targets(q_pre)
    world.step(480)
    for s in np.linspace(0.0, 1.0, 120):  # straight down over 0.5 s
        world.set_arm_targets(q_pre + s * (q_grasp - q_pre))
        world.step()
    world.step(120)
    np.testing.assert_allclose(world.grasp_pose()[:3, 3], cube, atol=2e-3)
    world.set_gripper_opening(0.0, 20.0)
    world.step(240)
    assert world.gripper_opening() == pytest.approx(0.05, abs=0.003)
    fingers = world.joint_state().positions[7:]
    assert fingers[0] == pytest.approx(fingers[1], abs=5e-4)  # geared: symmetric
    np.testing.assert_allclose(world.object_poses()["red_cube"].position, cube, atol=3e-3)
    # Lift: the friction grasp holds the cube.
    world.set_arm_targets(q_pre)
    world.step(480)
    lifted = world.object_poses()["red_cube"].position
    assert lifted[2] == pytest.approx(cube[2] + 0.1, abs=0.01)


@pytest.mark.parametrize("renderer", ["tiny", "egl"])
def test_render_depth_and_intrinsics_match_geometry(renderer: str) -> None:
    # Looking obliquely at the bare table, rolled so that the principal point shows in u and v.
    T = look_at((0.9, -0.5, 0.7), (0.5, 0.1, 0.0))
    roll = math.radians(30)
    T[:3, :3] = T[:3, :3] @ np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0],
                                      [0, 0, 1]])
    scene = make_scene(objects=(), camera_T=T, width=160, height=120, bin_x=5.0)
    try:
        world = SimWorld(scene, renderer=renderer)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with world:
        assert world.renderer_name == renderer
        frame = world.render()
    H, W = frame.depth.shape
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8 and frame.depth.dtype == np.float32
    f = H / 2.0 / math.tan(math.radians(50.0) / 2.0)
    assert frame.K[0, 0] == pytest.approx(f) and frame.K[1, 1] == pytest.approx(f)
    np.testing.assert_allclose(frame.T_base_optical, T)
    # Ray/plane intersection with the table top (z = 0) for every pixel.
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.linalg.inv(frame.K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])  # z = 1: depth = scale
    dirs = T[:3, :3] @ rays
    depth = -T[2, 3] / dirs[2]
    hits = T[:3, 3, None] + depth * dirs
    on_table = ((hits[0] > 0.3) & (hits[0] < 0.9) & (np.abs(hits[1]) < 0.55) & (depth > 0)
                & (np.hypot(hits[0], hits[1]) > 0.3))  # away from the table edges and the robot
    assert on_table.sum() > 2000
    err = frame.depth.ravel()[on_table] - depth[on_table]
    assert np.max(np.abs(err)) < 0.002
    centre = (H // 2) * W + W // 2
    assert on_table[centre] and abs(frame.depth.ravel()[centre] - depth[centre]) < 0.002
    # Rays that pass the table's far edges (away from the robot) have no return.
    beyond = (depth > 0) & ((hits[0] > 1.0) | (hits[1] < -0.65))
    assert beyond.sum() > 100 and np.all(np.isnan(frame.depth.ravel()[beyond]))


def test_render_shows_objects_where_they_are() -> None:
    with SimWorld(make_scene(width=320, height=240), renderer="tiny") as world:
        frame = world.render()
    T_optical_base = np.linalg.inv(frame.T_base_optical)
    for o in (RED_CUBE, BLUE_CYL, GREEN_BOX):
        top = T_optical_base @ [*o.position, o.size[2], 1.0]
        u, v = (frame.K @ (top[:3] / top[2]))[:2]
        r, g, b = frame.rgb[round(v), round(u)].astype(int)
        channel = int(np.argmax(o.rgb))
        assert [r, g, b][channel] > 1.5 * max(c for k, c in enumerate([r, g, b]) if k != channel), o.name
        assert frame.depth[round(v), round(u)] == pytest.approx(top[2], abs=0.005)


def test_visible_pixels_count_what_the_camera_sees_and_nothing_hidden() -> None:
    """A small cube right behind a tall box (from the camera) has no pixel in view; the others do."""
    tall = ObjectInstance("tall", "box", (0.05, 0.12, 0.15), (0.5, 0.5, 0.5), "", 0.2, (0.55, 0.0), 0.0)
    hidden = ObjectInstance("hidden", "box", (0.02, 0.02, 0.02), (0.85, 0.1, 0.1), "red", 0.01, (0.50, 0.0), 0.0)
    with SimWorld(make_scene((RED_CUBE, tall, hidden), width=320, height=240), renderer="tiny") as world:
        px = world.visible_pixels()
    assert set(px) == {"red_cube", "tall", "hidden"}
    assert px["hidden"] == 0 and px["tall"] > 500 and px["red_cube"] > 100, px


def test_perturbations_change_images_reproducibly() -> None:
    pert = Perturbations(brightness_gain=1.2, hue_shift_deg=20.0, rgb_noise_sigma=4.0, depth_noise_sigma=0.003,
                         depth_dropout=0.2)
    with SimWorld(make_scene(), renderer="tiny") as clean_world:
        clean = clean_world.render()
    with SimWorld(make_scene(perturbations=pert, seed=7), renderer="tiny") as w:
        a1, a2 = w.render(), w.render()
        w.reset(make_scene(perturbations=pert, seed=7))
        b1 = w.render()
        w.reset(make_scene(perturbations=pert, seed=8))
        c1 = w.render()
    # Same seed: identical frames (after a reset too); another frame or seed: new noise.
    assert np.array_equal(a1.rgb, b1.rgb) and np.array_equal(a1.depth, b1.depth, equal_nan=True)
    assert not np.array_equal(a1.rgb, a2.rgb) and not np.array_equal(a1.rgb, c1.rgb)
    # Dropout removes ~20 % of the returns; depth noise ~3 mm.
    valid = ~np.isnan(clean.depth)
    dropped = np.isnan(a1.depth[valid]).mean()
    assert dropped == pytest.approx(0.2, abs=0.02)
    noise = (a1.depth - clean.depth)[valid & ~np.isnan(a1.depth)]
    assert noise.std() == pytest.approx(0.003, rel=0.1) and abs(noise.mean()) < 5e-4
    # Brighter (gain 1.2; clipping and noise aside), and hues rotated by ~20 degrees.
    assert a1.rgb.mean() > 1.1 * clean.rgb.mean()
    h_clean = cv2.cvtColor(clean.rgb, cv2.COLOR_RGB2HSV_FULL)[..., 0].astype(float) * 360.0 / 256.0
    h_pert = cv2.cvtColor(a1.rgb, cv2.COLOR_RGB2HSV_FULL)[..., 0].astype(float) * 360.0 / 256.0
    saturated = cv2.cvtColor(clean.rgb, cv2.COLOR_RGB2HSV)[..., 1] > 150
    shift = (h_pert - h_clean + 180.0) % 360.0 - 180.0
    assert saturated.sum() > 100 and np.median(shift[saturated]) == pytest.approx(20.0, abs=3.0)


def test_check_success_rules(world: SimWorld) -> None:
    scene = dataclasses.replace(world.scene, success=(
        SuccessRule("red_cube", "bin"), SuccessRule("blue_cyl", "object", target_object="green_box"),
        SuccessRule("green_box", "position", position=(0.4, -0.3))))
    world.reset(scene)
    world.step(10)
    results = world.check_success()
    assert [r.ok for r in results] == [False, False, True]
    assert "not over the bin" in results[0].reason and "from green_box" in results[1].reason

    def put(name: str, xyz) -> None:
        p.resetBasePositionAndOrientation(world.object_ids[name], xyz, [0, 0, 0, 1], physicsClientId=world.client_id)

    b = scene.bin
    put("red_cube", [b.x + 0.03, b.y - 0.02, b.floor_thickness + 0.026])
    put("blue_cyl", [0.4, -0.3, 0.03 + 0.036])  # on top of the green box
    world.step(240)
    results = world.check_success()
    assert [r.ok for r in results] == [True, True, True], [r.reason for r in results]
    # Held above the bin is not in it.
    put("red_cube", [b.x, b.y, 0.2])
    world.step(1)
    assert not world.check_success()[0].ok
    # Object "*": every object of the episode, one result each.
    world.reset(dataclasses.replace(world.scene, success=(SuccessRule(ALL_OBJECTS, "bin"),)))
    put("red_cube", [b.x - 0.05, b.y, b.floor_thickness + 0.026])
    world.step(240)
    results = world.check_success()
    assert [r.rule.object for r in results] == [o.name for o in scene.objects]
    assert [r.ok for r in results] == [o.name == "red_cube" for o in scene.objects], [r.reason for r in results]


@pytest.mark.parametrize("seed", [3, 11])
def test_oracle_picks_and_places_one_cube(seed: int) -> None:
    scene = load_scenario(SCENARIOS / "one_cube.yaml").sample(seed)
    with SimWorld(scene, renderer="tiny") as world:
        result = run_oracle(world)
        assert result.success, result.reason
        assert 3.0 < result.sim_seconds < 30.0
        assert result.sim_seconds == pytest.approx(world.time)
        pos = world.object_poses()["red_cube"].position
        assert abs(pos[0] - scene.bin.x) < 0.1 and abs(pos[1] - scene.bin.y) < 0.1


def test_same_seed_same_poses_after_reset() -> None:
    scenario = load_scenario(SCENARIOS / "multi_color.yaml")
    with SimWorld(scenario.sample(5), renderer="tiny") as world:
        fresh = {k: v.position.copy() for k, v in world.object_poses().items()}
        world.set_arm_targets(np.array(HOME_ARM) + 0.3)
        world.step(240)
        world.reset(scenario.sample(6))
        world.step(60)
        world.reset(scenario.sample(5))
        assert world.time == 0.0
        again = world.object_poses()
        for name, pos in fresh.items():
            np.testing.assert_array_equal(again[name].position, pos)
        np.testing.assert_allclose(world.joint_state().positions[:7], HOME_ARM, atol=1e-12)
        world.step(100)
        after_a = {k: v.position.copy() for k, v in world.object_poses().items()}
    with SimWorld(scenario.sample(5), renderer="tiny") as other:
        other.step(100)
        for name, pos in after_a.items():
            np.testing.assert_array_equal(other.object_poses()[name].position, pos)


def _bridge_gripper_force() -> float:
    from brain_common.params import load_param_specs

    return float(load_param_specs(ROOT / "sim" / "config" / "sim_bridge.params.yaml",
                                  "sim_bridge")["gripper_force"].default)


TINY_CUBE = ObjectInstance("red_cube", "box", (0.02, 0.02, 0.02), (0.85, 0.1, 0.1), "red", 0.004, (0.5, -0.1), 0.3)
HEAVY_CUBE = ObjectInstance("red_cube", "box", (0.05, 0.05, 0.05), (0.85, 0.1, 0.1), "red", 2.0, (0.5, -0.1), 0.3)


@pytest.mark.parametrize("obj", [TINY_CUBE, HEAVY_CUBE], ids=["2cm_4g", "5cm_2kg"])
def test_the_bridge_grip_holds_a_4g_2cm_cube_and_a_2kg_cube(obj: ObjectInstance) -> None:
    """Closed on with the bridge's gripper_force, with the fingertips 12 mm above the table
    (the grasping node's table_clearance) on the small cube: it stays between the pads (no
    squeeze-out) and comes up with a 10 cm lift, as does the 2 kg cube."""
    w = SimWorld(make_scene(objects=(obj,)), renderer="tiny")
    try:
        centre = w.object_poses()["red_cube"].position
        grasp = centre.copy()
        grasp[2] = max(obj.size[2] - 0.025, 0.012 + 0.0072)  # grasping: top - grasp_depth, tips 12 mm up
        psi = obj.yaw + math.pi / 2.0
        pre = w.kinematics.ik(transform_from_position_rotation(grasp + np.array([0.0, 0.0, 0.1]),
                                                               top_down_rotation(psi)), np.array(HOME_ARM))
        assert pre.success
        q_pre = pre.q
        down = w.kinematics.ik(transform_from_position_rotation(grasp, top_down_rotation(psi)), q_pre)
        assert down.success
        q_grasp = down.q
        w.set_gripper_opening(obj.size[0] + 0.02, _bridge_gripper_force())
        w.set_arm_targets(q_pre)
        w.step(480)
        for s in np.linspace(0.0, 1.0, 120):
            w.set_arm_targets(q_pre + s * (q_grasp - q_pre))
            w.step()
        w.step(120)
        w.set_gripper_opening(0.0, _bridge_gripper_force())
        w.step(240)
        assert w.gripper_opening() == pytest.approx(obj.size[0], abs=0.004)
        for s in np.linspace(0.0, 1.0, 240):  # up 10 cm over 1 s
            w.set_arm_targets(q_grasp + s * (q_pre - q_grasp))
            w.step()
        w.step(120)
        assert w.object_poses()["red_cube"].position[2] == pytest.approx(centre[2] + 0.1, abs=0.01)
        assert w.gripper_opening() == pytest.approx(obj.size[0], abs=0.004)
    finally:
        w.close()


def test_the_egl_shadow_map_pass_is_off_and_changes_the_image_only_faintly(tmp_path) -> None:
    """egl_shadows.py clears the plugin's useShadowMap: the same image but for the faint shadows."""
    import importlib.util

    from armbrain_sim.egl_shadows import set_shadow_map

    assert set_shadow_map(str(tmp_path / "missing.so"), on=False)[0] is False  # no file: says why, no change
    (tmp_path / "not_elf.so").write_bytes(b"not an ELF file")
    assert set_shadow_map(str(tmp_path / "not_elf.so"), on=False) == (
        False, f"no useShadowMap data symbol in {tmp_path / 'not_elf.so'}")
    try:
        world = SimWorld(make_scene(width=320, height=240), renderer="egl")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    plugin = importlib.util.find_spec("eglRenderer").origin
    with world:
        assert world.renderer_note == "shadow-map pass off"
        off = world._render_raw()  # rendered now (render() would show a still scene's last picture)
        assert set_shadow_map(plugin, on=True) == (True, "shadow-map pass on")
        on = world._render_raw()
        assert set_shadow_map(plugin, on=False) == (True, "shadow-map pass off")
        again = world._render_raw()
    np.testing.assert_array_equal(again[0], off[0])  # the switch is what changed the image
    np.testing.assert_allclose(off[1], on[1], atol=1e-3, equal_nan=True)
    diff = np.abs(off[0].astype(int) - on[0].astype(int))
    assert diff.any()  # the flag does switch the pass
    assert diff.mean() < 1.0 and np.mean(diff.max(axis=2) > 30) < 0.01


def test_a_still_scene_shows_the_last_picture_again_and_a_moved_one_is_rendered_anew() -> None:
    with SimWorld(make_scene(), renderer="tiny") as w:
        w.step(240)  # let the objects settle
        first = w.render()
        assert w.renders_reused == 0
        again = w.render()  # nothing moved
        assert w.renders_reused == 1
        np.testing.assert_array_equal(again.rgb, first.rgb)
        np.testing.assert_array_equal(again.depth, first.depth)
        again.depth[:] = 0.0  # a caller's change does not reach the kept picture
        assert np.array_equal(w.render().depth, first.depth, equal_nan=True) and w.renders_reused == 2
        cube = w.object_ids["red_cube"]
        pos, quat = p.getBasePositionAndOrientation(cube, physicsClientId=w._client)
        p.resetBasePositionAndOrientation(cube, [pos[0], pos[1] + 0.05, pos[2]], quat, physicsClientId=w._client)
        moved = w.render()
        assert w.renders_reused == 2 and not np.array_equal(moved.rgb, first.rgb)
        w.set_gripper_opening(0.0)
        w.step(60)  # the fingers close: the robot moved
        w.render()
        assert w.renders_reused == 2
        w.reset(make_scene())  # a new scene is always rendered
        w.render()
        assert w.renders_reused == 2


def test_the_arm_tracks_a_fast_trajectory_when_its_velocity_is_fed_forward(world: SimWorld) -> None:
    """What the sim bridge's controller does (JointPath.sample and sample_velocity every physics
    step): a 2 rad/s swing of every joint is followed within 0.01 rad. Commanded as positions
    alone, PyBullet's motor lags it by several hundredths of a radian."""
    from armbrain_sim.trajectory import JointPath

    q0 = np.array(HOME_ARM)
    swing = np.array([0.6, 0.4, 0.6, 0.4, 0.6, 0.6, 0.6])
    times = np.linspace(0.0, 1.2, 13)
    s = (1 - np.cos(np.pi * times / 1.2)) / 2  # rest to rest
    ds = np.pi / 1.2 * np.sin(np.pi * times / 1.2) / 2
    path = JointPath(times, q0 + np.outer(s, swing), np.outer(ds, swing))
    assert np.max(path.velocities) == pytest.approx(0.6 * np.pi / 2.4)  # the fastest joint, ~0.8 rad/s

    def worst(feed_forward: bool, speed: float) -> float:
        p_fast = JointPath(path.times / speed, path.positions, path.velocities * speed)
        for _ in range(240):
            world.set_arm_targets(q0)
            world.step()
        err, n = 0.0, int(p_fast.duration * 240) + 1
        for k in range(n):
            t = k / 240.0
            world.set_arm_targets(p_fast.sample(t), p_fast.sample_velocity(t) if feed_forward else None)
            world.step()
            err = max(err, float(np.max(np.abs(world.joint_state().positions[:7] - p_fast.sample(t + 1 / 240.0)))))
        return err

    assert worst(True, 2.5) < 0.01  # ~2 rad/s
    assert worst(False, 2.5) > 0.03
