"""armbrain_sim.scenario: scenario files -> validated Scenario -> seeded SceneInstance (no PyBullet)."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import numpy as np
import pytest
from transforms3d.axangles import mat2axangle

from armbrain_sim.scenario import (
    MIN_GAP,
    PALETTE,
    REACH_RADIUS,
    SIDE_RANGE,
    Scenario,
    ScenarioError,
    load_scenario,
    load_scenarios,
)
from armbrain_sim.scene import ALL_OBJECTS, MAX_GRIPPER_OPENING, ObjectInstance, SceneInstance
from conftest import ROOT

SCENARIO_DIR = ROOT / "sim" / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.rglob("*.yaml"))
SEEDS = range(21)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def same(a, b) -> bool:
    """Deep equality that also compares numpy arrays (SceneInstance holds (4, 4) poses)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- an independent footprint check (densely sampled outlines, no code shared with the module) --

def outline(o: ObjectInstance, n: int = 400) -> np.ndarray:
    """(n, 2) points on the object's footprint outline, base frame."""
    if o.shape == "cylinder":
        a = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
        return np.array(o.position) + o.size[0] / 2 * np.column_stack([np.cos(a), np.sin(a)])
    hx, hy = o.size[0] / 2, o.size[1] / 2
    corners = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy], [hx, hy]])
    u = np.linspace(0.0, 1.0, n // 4, endpoint=False)
    pts = np.concatenate([corners[i] + np.outer(u, corners[i + 1] - corners[i]) for i in range(4)])
    c, s = math.cos(o.yaw), math.sin(o.yaw)
    return pts @ np.array([[c, s], [-s, c]]) + np.array(o.position)


def inside(o: ObjectInstance, pts: np.ndarray) -> np.ndarray:
    """Which points lie inside the object's footprint."""
    d = pts - np.array(o.position)
    if o.shape == "cylinder":
        return np.linalg.norm(d, axis=1) < o.size[0] / 2
    c, s = math.cos(o.yaw), math.sin(o.yaw)
    local = d @ np.array([[c, -s], [s, c]])
    return (np.abs(local[:, 0]) < o.size[0] / 2) & (np.abs(local[:, 1]) < o.size[1] / 2)


def clearance(a: ObjectInstance, b: ObjectInstance) -> float:
    """Free distance between the footprints (to ~1 mm), or -1 if they overlap."""
    bound = math.dist(a.position, b.position) - math.hypot(*a.size[:2]) / 2 - math.hypot(*b.size[:2]) / 2
    if bound >= MIN_GAP:
        return bound  # far apart: the bounding circles are clear already
    pa, pb = outline(a), outline(b)
    if inside(a, pb).any() or inside(b, pa).any():
        return -1.0
    return float(np.min(np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=2)))


def check_scene(scene: SceneInstance) -> None:
    t = scene.table
    x_lo, x_hi = t.x - t.size[0] / 2, t.x + t.size[0] / 2
    y_lo, y_hi = t.y - t.size[1] / 2, t.y + t.size[1] / 2
    b = scene.bin
    bin_outer = dataclasses.replace(
        scene.objects[0], shape="box", position=(b.x, b.y), yaw=b.yaw,
        size=(b.inner_size[0] + 2 * b.wall_thickness, b.inner_size[1] + 2 * b.wall_thickness, b.wall_height))
    for o in scene.objects:
        pts = outline(o)
        assert pts[:, 0].min() >= x_lo and pts[:, 0].max() <= x_hi, (o.name, "off the table in x")
        assert pts[:, 1].min() >= y_lo and pts[:, 1].max() <= y_hi, (o.name, "off the table in y")
        assert clearance(o, bin_outer) >= MIN_GAP - 1e-3, (o.name, "in or at the bin")
        assert all(SIDE_RANGE[0] <= s <= SIDE_RANGE[1] for s in o.size), o.size
        assert o.mass > 0
    for i, a in enumerate(scene.objects):
        for b2 in scene.objects[i + 1:]:
            assert clearance(a, b2) >= MIN_GAP - 1e-3, (scene.scenario_name, scene.seed, a.name, b2.name)
    assert len({o.name for o in scene.objects}) == len(scene.objects)


# -- shipped scenarios -------------------------------------------------------------------------

def test_the_shipped_set_is_complete():
    names = {p.relative_to(SCENARIO_DIR).as_posix() for p in SHIPPED}
    assert names == {
        "one_cube.yaml", "multi_color.yaml", "mixed_shapes.yaml", "clutter.yaml", "demo.yaml", "clear_table.yaml",
        *(f"perturbations/{n}.yaml" for n in ("brightness", "colour_cast", "hue_shift", "rgb_noise", "depth_noise",
                                               "depth_dropout", "camera_bump", "distractors")),
        "world/camera_side.yaml", "world/camera_high_front.yaml",
        *(f"world/objects_{n}.yaml" for n in ("small", "large", "light_heavy")),
        *(f"world/{n}.yaml" for n in ("bin_moved", "bin_nudged", "bin_rotated", "bin_resized", "table_dark",
                                      "table_white", "table_grey", "table_wood_tinted", "cube_by_bin_wall")),
        *(f"language/{n}.yaml" for n in ("size_biggest", "size_small_cylinder", "left_of", "next_to_bin",
                                         "nearest_to", "leftmost", "sequence", "count")),
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(SCENARIO_DIR).as_posix())
def test_shipped_scenario_samples_valid_scenes(path: Path):
    scenario = load_scenario(path)
    assert scenario.path == path
    assert scenario.goal and scenario.success
    for seed in SEEDS:
        scene = scenario.sample(seed)
        assert scene.seed == seed and scene.scenario_name == scenario.name
        check_scene(scene)
        for o in scene.objects:
            # Graspable with the 8 cm gripper: some horizontal width <= 6 cm; the world/ suites
            # probe the range up to grasping's limit, 8 cm less its 8 mm of least slack.
            slack = 0.008 if path.parent.name == "world" else 0.02
            assert min(o.size[0], o.size[1]) <= MAX_GRIPPER_OPENING - slack + 1e-9, (o.name, o.size)
            if not o.distractor:
                spec = next(s for s in scenario.objects if s.name == o.name)
                if spec.position is None:
                    assert REACH_RADIUS[0] <= math.hypot(*o.position) <= REACH_RADIUS[1]
        for rule in scene.success:
            if rule.object != ALL_OBJECTS:
                scene.object_named(rule.object)


def test_one_cube_is_a_red_5cm_cube_going_to_the_bin():
    scenario = load_scenario(SCENARIO_DIR / "one_cube.yaml")
    scene = scenario.sample(3)
    (cube,) = scene.objects
    assert (cube.shape, cube.size, cube.colour_name, cube.rgb) == ("box", (0.05, 0.05, 0.05), "red", PALETTE["red"])
    assert cube.mass == pytest.approx(500.0 * 0.05**3)
    assert scene.goal == "put the red cube in the bin"
    assert [(r.object, r.target) for r in scene.success] == [(cube.name, "bin")]
    assert scene.camera.width == 640 and scene.camera.height == 480 and scene.camera.fov_y_deg == 50.0
    assert (scene.camera.near, scene.camera.far, scene.camera.renderer) == (0.05, 3.0, "auto")


def test_multi_color_cubes_differ_in_colour_and_the_goal_names_one():
    scene = load_scenario(SCENARIO_DIR / "multi_color.yaml").sample(0)
    colours = [o.colour_name for o in scene.objects]
    assert 3 <= len(colours) <= 4 and len(set(colours)) == len(colours)
    target = scene.object_named(scene.success[0].object)
    assert f"{target.colour_name} cube" in scene.goal


def test_mixed_shapes_has_boxes_and_cylinders():
    scene = load_scenario(SCENARIO_DIR / "mixed_shapes.yaml").sample(0)
    assert {o.shape for o in scene.objects} == {"box", "cylinder"}
    for o in scene.objects:
        if o.shape == "cylinder":
            assert o.size[0] == o.size[1]


def test_clutter_distractor_count_range_and_colours():
    scenario = load_scenario(SCENARIO_DIR / "clutter.yaml")
    counts = set()
    for seed in SEEDS:
        scene = scenario.sample(seed)
        distractors = [o for o in scene.objects if o.distractor]
        counts.add(len(distractors))
        assert scene.extra["distractor_count"] == len(distractors)
        assert [o.name for o in distractors] == [f"distractor_{k}" for k in range(len(distractors))]
        for d in distractors:
            assert d.colour_name in PALETTE and d.colour_name != "red"
            assert d.rgb == PALETTE[d.colour_name]
            assert all(0.03 <= s <= 0.06 for s in d.size)
            assert 0.3 <= d.position[0] <= 0.7 and -0.3 <= d.position[1] <= 0.3
    assert counts == {3, 4, 5}


def test_load_scenarios_reads_a_directory_recursively_sorted():
    scenarios = load_scenarios(SCENARIO_DIR)
    assert [s.path for s in scenarios] == SHIPPED
    assert len({s.name for s in scenarios}) == len(scenarios) == 36
    assert [s.name for s in load_scenarios(SCENARIO_DIR / "one_cube.yaml")] == ["one_cube"]


# -- seeding -------------------------------------------------------------------------------------

def test_same_seed_same_scene_even_from_a_fresh_load():
    path = SCENARIO_DIR / "clutter.yaml"
    a, b = load_scenario(path), load_scenario(path)
    for seed in (0, 7, 123456789):
        first = a.sample(seed)
        a.sample(seed + 1)  # sampling keeps no state between calls
        assert same(first, a.sample(seed))
        assert same(first, b.sample(seed))


def test_different_seeds_give_different_poses():
    scenario = load_scenario(SCENARIO_DIR / "one_cube.yaml")
    poses = {(scenario.sample(s).objects[0].position, scenario.sample(s).objects[0].yaw) for s in SEEDS}
    assert len(poses) == len(SEEDS)


def test_sampling_leaves_the_global_generators_alone():
    np.random.seed(5)
    random.seed(5)
    np_state, py_state = np.random.get_state(), random.getstate()
    load_scenario(SCENARIO_DIR / "clutter.yaml").sample(1)
    assert same(np.random.get_state(), np_state) and random.getstate() == py_state


def test_perturbations_and_distractors_leave_the_layout_of_a_seed_unchanged():
    base = load_scenario(SCENARIO_DIR / "one_cube.yaml")
    # world/camera_*: other camera mounts, with one_cube's objects (kept in each camera's view).
    # (The other world/ suites change the objects or move them clear of a moved bin.)
    for variant in sorted([*(SCENARIO_DIR / "perturbations").glob("*.yaml"),
                           *(SCENARIO_DIR / "world").glob("camera_*.yaml")]):
        perturbed = load_scenario(variant)
        for seed in range(5):
            assert base.sample(seed).objects[0] == perturbed.sample(seed).objects[0], variant.name


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed(seed):
    with pytest.raises(ScenarioError, match=r"seed: .* an integer >= 0"):
        load_scenario(SCENARIO_DIR / "one_cube.yaml").sample(seed)


def test_integer_like_numpy_seed_is_accepted():
    s = load_scenario(SCENARIO_DIR / "one_cube.yaml")
    assert same(s.sample(np.int64(4)), s.sample(4))


# -- ranges --------------------------------------------------------------------------------------

def test_perturbation_ranges_are_respected_and_drawn_per_seed():
    cases = {
        "brightness": (lambda p: [p.brightness_gain], 0.6, 1.4),
        "colour_cast": (lambda p: list(p.colour_cast), 0.85, 1.15),
        "hue_shift": (lambda p: [p.hue_shift_deg], -10.0, 10.0),
    }
    for name, (get, lo, hi) in cases.items():
        scenario = load_scenario(SCENARIO_DIR / "perturbations" / f"{name}.yaml")
        values = [get(scenario.sample(seed).perturbations) for seed in SEEDS]
        flat = [v for vs in values for v in vs]
        assert all(lo <= v <= hi for v in flat), name
        assert len(set(flat)) == len(flat), name  # drawn, not fixed
    fixed = {"rgb_noise": ("rgb_noise_sigma", 5.0), "depth_noise": ("depth_noise_sigma", 0.002),
             "depth_dropout": ("depth_dropout", 0.05)}
    for name, (field, value) in fixed.items():
        scene = load_scenario(SCENARIO_DIR / "perturbations" / f"{name}.yaml").sample(2)
        assert getattr(scene.perturbations, field) == value
        assert dataclasses.replace(scene.perturbations, **{field: 0.0}) == type(scene.perturbations)()


def test_object_region_and_yaw_ranges_are_respected(tmp_path):
    p = write(tmp_path, """
objects:
  - {colour: blue, size: [0.03, 0.05, 0.04], region: {x: [0.5, 0.6], y: [-0.2, -0.1]}, yaw_deg: [10, 20]}
  - {shape: cylinder, diameter: 0.04, height: 0.06, colour: [0.2, 0.4, 0.6], mass: 0.3,
     position: [0.45, 0.15], yaw_deg: 90}
""")
    scenario = load_scenario(p)
    for seed in SEEDS:
        box, cyl = scenario.sample(seed).objects
        assert 0.5 <= box.position[0] <= 0.6 and -0.2 <= box.position[1] <= -0.1
        assert math.radians(10) <= box.yaw <= math.radians(20)
        assert (cyl.position, cyl.yaw, cyl.mass, cyl.size) == ((0.45, 0.15), math.radians(90), 0.3, (0.04, 0.04, 0.06))
        assert (cyl.colour_name, cyl.rgb, cyl.name) == ("", (0.2, 0.4, 0.6), "cylinder")
        assert box.name == "blue_box"


def test_distractor_count_range_from_yaml(tmp_path):
    p = write(tmp_path, """
objects: [{name: target, colour: green, size: 0.05}]
distractors: {count: [0, 2], shapes: [cylinder], size: 0.04, colours: [white, black]}
""")
    scenario = load_scenario(p)
    counts = set()
    for seed in SEEDS:
        ds = [o for o in scenario.sample(seed).objects if o.distractor]
        counts.add(len(ds))
        assert all(d.shape == "cylinder" and d.size == (0.04, 0.04, 0.04) for d in ds)
        assert all(d.colour_name in ("white", "black") for d in ds)
    assert counts == {0, 1, 2}


def test_default_names_are_unique(tmp_path):
    p = write(tmp_path, """
objects:
  - {colour: red, size: 0.04}
  - {colour: red, size: 0.04}
  - {name: red_box_3, colour: blue, size: 0.04}
  - {colour: red, size: 0.04}
""")
    assert [o.name for o in load_scenario(p).sample(0).objects] == ["red_box", "red_box_2", "red_box_3", "red_box_4"]


# -- camera ----------------------------------------------------------------------------------

def rotation_angle_deg(R: np.ndarray) -> float:
    return abs(math.degrees(mat2axangle(R)[1])) if not np.allclose(R, np.eye(3)) else 0.0


def test_default_camera_looks_at_the_workspace_in_the_optical_convention():
    scene = load_scenario(SCENARIO_DIR / "one_cube.yaml").sample(0)
    T = scene.camera.T_base_optical_nominal
    assert np.array_equal(T, scene.camera.T_base_optical)  # no jitter configured
    np.testing.assert_allclose(T[:3, 3], [1.05, 0.0, 0.55])
    forward = np.array([0.45, 0.0, 0.0]) - T[:3, 3]
    np.testing.assert_allclose(T[:3, 2], forward / np.linalg.norm(forward), atol=1e-12)  # z forward
    np.testing.assert_allclose(T[:3, 0], [0.0, 1.0, 0.0], atol=1e-12)  # x right: looking back at the robot, +y
    assert T[2, 1] < 0  # y down
    np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-12)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)


def test_rpy_pose_matches_the_equivalent_look_at(tmp_path):
    pitch = math.degrees(math.atan2(0.55, 0.6))
    p = write(tmp_path, f"""
camera: {{position: [1.05, 0.0, 0.55], rpy_deg: [0, {pitch!r}, 180], resolution: [320, 240], fov_deg: 60,
          near: 0.1, far: 2.0, renderer: tiny}}
objects: [{{colour: red, size: 0.05}}]
""")
    cam = load_scenario(p).sample(0).camera
    reference = load_scenario(SCENARIO_DIR / "one_cube.yaml").sample(0).camera
    np.testing.assert_allclose(cam.T_base_optical_nominal, reference.T_base_optical_nominal, atol=1e-12)
    assert (cam.width, cam.height, cam.fov_y_deg, cam.near, cam.far, cam.renderer) == (320, 240, 60.0, 0.1, 2.0,
                                                                                       "tiny")


def test_camera_jitter_has_exactly_the_configured_magnitude():
    scenario = load_scenario(SCENARIO_DIR / "perturbations" / "camera_bump.yaml")
    directions = set()
    for seed in SEEDS:
        cam = scenario.sample(seed).camera
        T, N = cam.T_base_optical, cam.T_base_optical_nominal
        assert np.linalg.norm(T[:3, 3] - N[:3, 3]) == pytest.approx(0.02, abs=1e-12)
        assert rotation_angle_deg(N[:3, :3].T @ T[:3, :3]) == pytest.approx(2.0, abs=1e-9)
        np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-12)
        assert not T.flags.writeable and not N.flags.writeable
        directions.add(tuple(np.round(T[:3, 3] - N[:3, 3], 9)))
    assert len(directions) == len(SEEDS)


def test_camera_jitter_range_is_drawn_per_seed(tmp_path):
    p = write(tmp_path, """
objects: [{colour: red, size: 0.05}]
perturbations: {camera_jitter: {position_m: [0.01, 0.03], angle_deg: [1, 3]}}
""")
    scenario = load_scenario(p)
    shifts, angles = [], []
    for seed in SEEDS:
        scene = scenario.sample(seed)
        T, N = scene.camera.T_base_optical, scene.camera.T_base_optical_nominal
        shifts.append(float(np.linalg.norm(T[:3, 3] - N[:3, 3])))
        angles.append(rotation_angle_deg(N[:3, :3].T @ T[:3, :3]))
        assert shifts[-1] == pytest.approx(scene.extra["camera_jitter"]["position_m"], abs=1e-12)
        assert angles[-1] == pytest.approx(scene.extra["camera_jitter"]["angle_deg"], abs=1e-9)
    assert all(0.01 <= s <= 0.03 for s in shifts) and len(set(shifts)) == len(shifts)
    assert all(1.0 - 1e-9 <= a <= 3.0 + 1e-9 for a in angles)


# -- light, table, bin -----------------------------------------------------------------------

def test_light_table_and_bin_from_yaml(tmp_path):
    p = write(tmp_path, """
light: {direction: [0, 0, 1], colour: [1.0, 0.9, 0.8], ambient: 0.5, diffuse: 0.4, specular: 0.1}
table: {colour: white}
bin: {x: 0.4, y: -0.4, yaw_deg: 90, inner_size: [0.25, 0.15], wall_height: 0.05, colour: blue}
objects: [{colour: red, size: 0.05}]
""")
    scene = load_scenario(p).sample(0)
    assert scene.light.direction == (0.0, 0.0, 1.0) and scene.light.colour == (1.0, 0.9, 0.8)
    assert (scene.light.ambient, scene.light.diffuse, scene.light.specular) == (0.5, 0.4, 0.1)
    assert scene.table.rgb == PALETTE["white"]
    b = scene.bin
    assert (b.x, b.y, b.yaw, b.inner_size, b.wall_height, b.rgb) == (0.4, -0.4, math.radians(90), (0.25, 0.15),
                                                                     0.05, PALETTE["blue"])
    check_scene(scene)


def test_palette_colours_are_distinct():
    assert set(PALETTE) == {"red", "green", "blue", "yellow", "orange", "purple", "cyan", "white", "black"}
    rgbs = list(PALETTE.values())
    assert all(0.0 <= c <= 1.0 for rgb in rgbs for c in rgb)
    assert min(math.dist(a, b) for i, a in enumerate(rgbs) for b in rgbs[i + 1:]) > 0.3


# -- errors ----------------------------------------------------------------------------------

CUBE = "{colour: red, size: 0.05}"

ERRORS = {
    "unknown top key": ("objectz: []", "objectz: unknown key (did you mean 'objects'?); valid keys: name, "
                                       "description, goal, camera"),
    "unknown object key": ("objects: [{colour: red, size: 0.05, color: red}]",
                           "objects[0].color: unknown key (did you mean 'colour'?); valid keys: name, shape, size"),
    "bad shape": (f"objects: [{CUBE}, {{shape: sphere, colour: red, size: 0.05}}]",
                  "objects[1].shape: 'sphere' is not valid; choices: box, cylinder"),
    "size too big": ("objects: [{colour: red, size: [0.05, 0.1, 0.05]}]",
                     "objects[0].size[1]: 0.1 is out of range; allowed: 0.02..0.08 m"),
    "size too small": ("objects: [{colour: red, size: 0.01}]",
                       "objects[0].size: 0.01 is out of range; allowed: 0.02..0.08 m"),
    "cylinder with size": ("objects: [{shape: cylinder, colour: red, size: 0.05}]",
                           "objects[0].size: only for shape: box"),
    "cylinder without height": ("objects: [{shape: cylinder, colour: red, diameter: 0.05}]",
                                "objects[0].height: missing; a cylinder needs diameter and height, each 0.02..0.08 m"),
    "unknown colour": ("objects: [{colour: pink, size: 0.05}]",
                       "objects[0].colour: 'pink' is not a palette colour; choices: red, green, blue"),
    "rgb out of range": ("objects: [{colour: [1.0, 0.5, 255], size: 0.05}]",
                         "objects[0].colour[2]: 255 is out of range; allowed: 0..1"),
    "missing colour": ("objects: [{size: 0.05}]", "objects[0].colour: missing"),
    "no objects": ("objects: []", "objects: expected a list of at least one object"),
    "off the table": ("objects: [{colour: red, size: 0.05, position: [0.97, 0.0]}]",
                      "objects[0].position: 'red_box' at x 0.97, y 0 m is not fully on the table "
                      "(x -0.05..0.95 m, y -0.6..0.6 m)"),
    "fixed poses overlap": ("objects:\n  - {name: a, colour: red, size: 0.05, position: [0.5, 0.0]}\n"
                            "  - {name: b, colour: blue, size: 0.05, position: [0.53, 0.0]}",
                            "objects[1].position: 'b' at x 0.53, y 0 m overlaps objects[0] 'a'; "
                            "at least 0.01 m of gap is needed"),
    "fixed poses too close": ("objects:\n  - {name: a, colour: red, size: 0.05, position: [0.5, 0.0]}\n"
                              "  - {name: b, colour: blue, size: 0.05, position: [0.555, 0.0]}",
                              "objects[1].position: 'b' at x 0.555, y 0 m is only 0.005 m from objects[0] 'a'"),
    "in the bin": ("objects: [{colour: red, size: 0.05, position: [0.45, 0.42]}]",
                   "objects[0].position: 'red_box' at x 0.45, y 0.42 m overlaps the bin's footprint"),
    "on the robot base": ("objects: [{colour: red, size: 0.05, position: [0.1, 0.0]}]",
                          "objects[0].position: 'red_box' at x 0.1, y 0 m is inside the robot base's keep-out"),
    "region inside the bin": ("objects: [{colour: red, size: 0.05, region: {x: [0.4, 0.5], y: [0.38, 0.46]}}]",
                              "objects[0].region: no place in x 0.4..0.5 m, y 0.38..0.46 m where 'red_box' fits"),
    "position and region": ("objects: [{colour: red, size: 0.05, position: [0.5, 0], region: {x: [0, 1], "
                            "y: [0, 1]}}]", "objects[0].region: give either position"),
    "fixed position random yaw": ("objects: [{colour: red, size: 0.05, position: [0.5, 0], yaw_deg: [0, 90]}]",
                                  "objects[0].yaw_deg: [0, 90] is not a number"),
    "duplicate names": ("objects: [{name: a, colour: red, size: 0.05}, {name: a, colour: blue, size: 0.05}]",
                        "objects[1].name: 'a' is already the name of objects[0]"),
    "reserved name": ("objects: [{name: distractor_0, colour: red, size: 0.05}]",
                      "objects[0].name: 'distractor_0': names starting with 'distractor_' are reserved"),
    "mass out of range": ("objects: [{colour: red, size: 0.05, mass: 5}]",
                          "objects[0].mass: 5 is out of range; allowed: 0.005..2 kg"),
    "success unknown object": (f"objects: [{CUBE}]\nsuccess: [{{object: blue_cube}}]",
                               "success[0].object: 'blue_cube' is not an object of this scenario; objects: red_box"),
    "success all objects not to the bin": (f"objects: [{CUBE}]\nsuccess: [{{object: '*', target: position, "
                                           f"position: [0.4, 0.0]}}]",
                                           "success[0]: object: '*' (every object, distractors included) takes "
                                           "target: bin and z_tolerance only"),
    "success bad target": (f"objects: [{CUBE}]\nsuccess: [{{object: red_box, target: shelf}}]",
                           "success[0].target: 'shelf' is not valid; choices: bin, object, position"),
    "success unknown target object": (f"objects: [{CUBE}]\nsuccess: [{{object: red_box, target: object, "
                                      f"target_object: red_box}}]",
                                      "success[0].target_object: 'red_box' is not another object of this scenario"),
    "success position off table": (f"objects: [{CUBE}]\nsuccess: [{{object: red_box, target: position, "
                                   f"position: [2.0, 0.0]}}]", "success[0].position: [2, 0] is not on the table"),
    "camera look_at and rpy": (f"camera: {{look_at: [0, 0, 0], rpy_deg: [0, 0, 0]}}\nobjects: [{CUBE}]",
                               "camera.look_at: give either camera.look_at (+ up) or camera.rpy_deg, not both"),
    "camera up along view": (f"camera: {{position: [0.45, 0, 1.0], look_at: [0.45, 0, 0]}}\nobjects: [{CUBE}]",
                             "camera.up: [0.0, 0.0, 1.0] is parallel to the view direction"),
    "bad renderer": (f"camera: {{renderer: opengl}}\nobjects: [{CUBE}]",
                     "camera.renderer: 'opengl' is not valid; choices: auto, egl, tiny"),
    "far before near": (f"camera: {{near: 0.5, far: 0.2}}\nobjects: [{CUBE}]",
                        "camera.far: 0.2 m must be greater than camera.near (0.5 m)"),
    "bin off the table": (f"bin: {{x: 0.45, y: 0.55}}\nobjects: [{CUBE}]", "bin: the bin (centre x 0.45, y 0.55 m) "
                                                                           "is not fully on the table"),
    "perturbation out of range": (f"objects: [{CUBE}]\nperturbations: {{depth_dropout: 1.5}}",
                                  "perturbations.depth_dropout: 1.5 is out of range; allowed: 0..0.9 (fraction)"),
    "perturbation range reversed": (f"objects: [{CUBE}]\nperturbations: {{brightness_gain: [1.4, 0.6]}}",
                                    "perturbations.brightness_gain: range [1.4, 0.6] has lo > hi"),
    "colour cast not rgb": (f"objects: [{CUBE}]\nperturbations: {{colour_cast: [0.9, 1.1]}}",
                            "perturbations.colour_cast: expected [r, g, b] gains"),
    "unknown jitter key": (f"objects: [{CUBE}]\nperturbations: {{camera_jitter: {{angle: 2}}}}",
                           "perturbations.camera_jitter.angle: unknown key (did you mean 'angle_deg'?)"),
    "distractor colour of a named object": (f"objects: [{CUBE}]\ndistractors: {{count: 2, colours: [blue, red]}}",
                                            "distractors.colours[1]: 'red' is a named object's colour"),
    "too many distractors": (f"objects: [{CUBE}]\ndistractors: {{count: [2, 50]}}",
                             "distractors.count[1]: 50 is out of range; allowed: 0..20"),
    "not yaml": ("objects: [a, b", "not valid YAML"),
    "not a mapping": ("- a\n- b", "a scenario file is a mapping with keys name, description"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_invalid_scenario_fails_at_load_naming_file_field_and_allowed_values(tmp_path, case):
    text, expected = ERRORS[case]
    p = write(tmp_path, text + "\n", name="bad.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    message = str(info.value)
    assert message.startswith(f"{p}: "), message
    assert expected in message, message


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read the scenario file"):
        load_scenario(tmp_path / "missing.yaml")


def test_impossible_seed_names_scenario_seed_and_object(tmp_path):
    region = "{x: [0.45, 0.5], y: [0.0, 0.05]}"
    p = write(tmp_path, f"""
name: crowded
objects:
  - {{colour: red, size: 0.05, region: {region}}}
  - {{colour: blue, size: 0.05, region: {region}}}
""")
    scenario = load_scenario(p)  # each object fits on its own: the file is valid
    with pytest.raises(ScenarioError) as info:
        scenario.sample(0)
    assert str(info.value).startswith(f"{p}: scenario 'crowded', seed 0: cannot place objects[1] 'blue_box' "
                                      f"in the region x 0.45..0.5 m, y 0..0.05 m")


def test_impossible_distractors_name_scenario_seed_and_distractor(tmp_path):
    p = write(tmp_path, """
name: packed
objects: [{colour: red, size: 0.05, position: [0.5, 0.0]}]
distractors: {count: 6, size: 0.06, region: {x: [0.55, 0.65], y: [-0.05, 0.05]}}
""", "packed.yaml")
    scenario = load_scenario(p)
    with pytest.raises(ScenarioError, match=r"packed.yaml: scenario 'packed', seed 4: cannot place distractor_\d "
                                            r"\(of 6 distractors\)"):
        scenario.sample(4)


def test_load_scenarios_errors(tmp_path):
    with pytest.raises(ScenarioError, match=r"no \*\.yaml scenario files"):
        load_scenarios(tmp_path)
    write(tmp_path, f"name: same\nobjects: [{CUBE}]\n", "a.yaml")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", f"name: same\nobjects: [{CUBE}]\n", "b.yaml")
    with pytest.raises(ScenarioError, match=r"b\.yaml: name: 'same' is already the name of .*a\.yaml"):
        load_scenarios(tmp_path)


def test_scenario_name_defaults_to_the_file_stem(tmp_path):
    s = load_scenario(write(tmp_path, f"objects: [{CUBE}]\n", "my_scene.yaml"))
    assert isinstance(s, Scenario) and s.name == "my_scene" and s.goal == "" and s.success == ()
