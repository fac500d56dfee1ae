"""brain_common.cell: the work cell described once, validated, and read by everything.

One fact, one place: the cell lives in the robot configuration's `cell` section; no node
parameters file restates it, and the simulator's defaults, perception's priors, grasping's
and the planner's fixtures all equal it.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from brain_common.cell import cell_from_dict, check_cell, default_cell, default_cell_path, load_cell
from brain_common.palette import PALETTE
from conftest import ROOT

ROBOTS = ROOT / "config" / "robots"
SRC = ROOT / "ros2_ws" / "src"
NODE_PARAMS = [SRC / "perception" / "config" / "perception.params.yaml",
               SRC / "grasping" / "config" / "grasping.params.yaml",
               SRC / "planner" / "config" / "planner.params.yaml", ROOT / "sim" / "config" / "sim_bridge.params.yaml"]
CELL_WORDS = ("bin_center", "bin_x", "bin_y", "bin_yaw", "bin_inner", "bin_size", "bin_wall", "bin_floor",
              "table_center", "table_size", "table_rgb", "camera_position", "camera_orientation", "palette",
              "max_opening", "robot_exclusion", "min_static_clearance", "contact_margin", "base_frame", "camera_frame")


def raw_cell(name: str = "panda_sim.yaml") -> dict:
    return yaml.safe_load((ROBOTS / name).read_text())["cell"]


def test_default_cell_is_the_sim_robot_configuration():
    assert default_cell_path().resolve() == (ROBOTS / "panda_sim.yaml").resolve()
    c = default_cell()
    assert (c.bin.x, c.bin.y, c.bin.inner_size, c.bin.outer_size) == (0.45, 0.42, (0.36, 0.20), (0.38, 0.22))
    assert c.table.bounds() == pytest.approx((-0.05, 0.95, -0.6, 0.6))
    assert c.clearances.contact == 0.003 and c.gripper.max_opening == 0.08


@pytest.mark.parametrize("name", sorted(p.name for p in ROBOTS.glob("*.yaml")))
def test_every_robot_configuration_describes_a_valid_cell(name):
    cell = load_cell(ROBOTS / name)
    assert check_cell(cell) is cell
    T = cell.camera.T_base_optical()
    assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-4)
    # the camera looks down at the table in front of the robot
    view = T[:3, 2]
    assert view[2] < -0.3 and T[2, 3] > 0.2


def test_look_at_gives_the_optical_frame():
    c = default_cell().camera
    T = c.T_base_optical()
    view = np.array([0.45, 0.0, 0.0]) - np.array(c.position)
    assert np.allclose(T[:3, 2], view / np.linalg.norm(view))
    assert T[:3, 0] @ [0, 0, 1] == pytest.approx(0.0, abs=1e-12)  # image x stays horizontal
    assert T[:3, 1][2] < 0  # image y (down) points down in the world


@pytest.mark.parametrize(("path", "value", "message"), [
    (("bin", "inner_size"), [0.36, -0.2], r"cell bin.inner_size\[1\] = -0.2 must be > 0 m"),
    (("bin", "center"), [0.45, 0.55], r"bin \(centre x 0.450, y 0.550 m, outer 0.380 x 0.220 m\) is not fully on "
                                      r"the table \(x -0.05..0.95 m, y -0.60..0.60 m\)"),
    (("bin", "center"), [0.15, 0.05], r"reaches into the robot base's keep-out circle \(radius 0.12 m\)"),
    (("bin", "floor_thickness"), 0.08, r"bin.floor_thickness = 0.08 m must be below bin.wall_height = 0.06 m"),
    (("table", "paint"), [1.2, 0, 0], r"table.paint = \[1.2, 0.0, 0.0\] must be \[r, g, b\] each in 0..1"),
    (("table", "center"), [2.0, 0.0], r"must hold the robot base at x = 0, y = 0"),
    (("camera", "orientation"), [0, 0, 0, 2], r"must be a unit quaternion"),
    (("gripper", "grip_margin"), 0.09, r"gripper.grip_margin = 0.09 m must be below gripper.max_opening"),
    (("clearances", "neighbour"), 0.001, r"clearances.neighbour = 0.001 m must be >= clearances.contact"),
    (("clearances", "motion"), "far", r"cell.clearances.motion = 'far' must be a number"),
    (("bin", "colour"), "red", r"cell.bin.colour is not a known key; valid: center, yaw_deg, inner_size"),
    (("home",), [0.0, -0.5, 0.0], r"cell.home = \[0.0, -0.5, 0.0\] must be a list of 7 numbers"),
    (("home",), [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, float("nan")], r"cell home\[6\] = nan must be a finite number"),
])
def test_bad_cells_are_refused_naming_the_value(path, value, message):
    raw = raw_cell()
    if path == ("camera", "orientation"):
        raw["camera"].pop("look_at")
    if len(path) == 1:
        raw[path[0]] = value
    else:
        raw[path[0]][path[1]] = value
    with pytest.raises(ValueError, match=message):
        cell_from_dict(raw, "my_cell.yaml")


def test_camera_needs_exactly_one_orientation_source():
    raw = raw_cell()
    raw["camera"]["orientation"] = [0, 0, 0, 1]
    with pytest.raises(ValueError, match=r"give either orientation .* or look_at .*exactly one"):
        cell_from_dict(raw)
    raw = raw_cell()
    raw["camera"]["look_at"] = raw["camera"]["position"]
    with pytest.raises(ValueError, match=r"cell.camera.look_at: equals camera.position"):
        cell_from_dict(raw)


def test_missing_section_and_file_are_named(tmp_path):
    raw = raw_cell()
    del raw["clearances"]
    with pytest.raises(ValueError, match=r"x.yaml: cell.clearances is missing; it needs contact, neighbour"):
        cell_from_dict(raw, "x.yaml")
    with pytest.raises(ValueError, match="does not exist"):
        load_cell(tmp_path / "nope.yaml")
    (tmp_path / "r.yaml").write_text("description: no cell\n")
    with pytest.raises(ValueError, match="has no 'cell' section"):
        load_cell(tmp_path / "r.yaml")


@pytest.mark.parametrize("path", NODE_PARAMS, ids=lambda p: p.name)
def test_no_node_parameters_file_restates_the_cell(path):
    def keys(d):
        for k, v in d.items():
            yield k
            if isinstance(v, dict):
                yield from keys(v)
    restated = [k for k in keys(yaml.safe_load(path.read_text())) if k.startswith(CELL_WORDS)]
    assert not restated, f"{path} restates cell facts {restated}: they belong in config/robots/<cell>.yaml"


def test_the_sim_defaults_are_the_cell():
    from armbrain_sim.scenario import PALETTE as SIM_PALETTE
    from armbrain_sim.scene import MAX_GRIPPER_OPENING, BinSetup, TableSetup

    c = default_cell()
    b, t = BinSetup(), TableSetup()
    assert (b.x, b.y, b.yaw, b.inner_size, b.wall_height, b.wall_thickness, b.floor_thickness) == \
        dataclasses.astuple(c.bin)
    assert (t.x, t.y, t.size, t.thickness, t.rgb) == dataclasses.astuple(c.table)
    assert c.gripper.max_opening == MAX_GRIPPER_OPENING
    assert SIM_PALETTE is PALETTE


def test_the_sim_default_camera_is_the_cells_mount(tmp_path):
    from armbrain_sim.scenario import load_scenario

    p = tmp_path / "s.yaml"
    p.write_text("objects: [{name: a, shape: box, size: 0.05, colour: red}]\n")
    T = load_scenario(p).camera.T_base_optical_nominal
    assert np.allclose(T, default_cell().camera.T_base_optical(), atol=1e-12)


def test_perception_priors_are_the_cell():
    from perception.core import PALETTE as PERCEPTION_PALETTE
    from perception.core import PerceptionConfig

    c, p = default_cell(), PerceptionConfig()
    assert p.bin_center == (c.bin.x, c.bin.y) and p.bin_size == c.bin.outer_size and p.bin_yaw == c.bin.yaw
    assert (p.bin_wall_height, p.bin_wall_thickness) == (c.bin.wall_height, c.bin.wall_thickness)
    assert p.table_rgb == c.table.paint and p.robot_exclusion_radius == c.base_keepout_radius
    assert p.camera_position == c.camera.position and p.camera_quaternion == c.camera.orientation
    assert dict(PERCEPTION_PALETTE) == PALETTE


def test_planner_and_grasping_fixtures_are_the_cell():
    from grasping.core.scene import bin_obstacles as grasping_bin
    from planner.motion.collision import bin_obstacles
    from planner.motion.config import MotionConfig
    from planner.task.goals import COLOURS

    c = default_cell()
    mc = MotionConfig()
    assert mc.margin == c.clearances.motion
    table, *walls = mc.fixtures()
    assert table.size[:2] == c.table.size and table.pose[2, 3] == -c.table.thickness / 2
    assert {w.name for w in walls} == {o.name for o in bin_obstacles(c.bin)}
    floor = next(w for w in walls if w.name == "bin_floor")
    assert floor.size == (*c.bin.inner_size, c.bin.floor_thickness)
    assert len(grasping_bin(c.bin)) == 5
    assert tuple(COLOURS) == tuple(PALETTE)
    moved = dataclasses.replace(c.bin, x=0.4, y=-0.4, yaw=math.pi / 2)
    floor = next(w for w in mc.fixtures(moved) if w.name == "bin_floor")
    assert np.allclose(floor.pose[:2, 3], (0.4, -0.4))


def test_the_launcher_hands_every_node_its_cell(tmp_path):
    from armbrain.graph import CELL_PARAMETER, GraphError, load_graph, resolve_arguments, resolve_nodes

    graph = load_graph(ROOT / "launch" / "graph.yaml")
    args = resolve_arguments(graph, {})
    from armbrain.graph import share_dir

    nodes = resolve_nodes(graph, args, None, share_dir, lambda pkg, exe: exe, "python")
    for n in nodes:
        cmd = " ".join(n.command)
        assert f"{CELL_PARAMETER}:='{(ROBOTS / 'panda_sim.yaml').resolve()}'" in cmd, n.name
    bad = yaml.safe_load((ROBOTS / "panda_sim.yaml").read_text())
    bad["cell"]["bin"]["inner_size"] = [0.36, 0]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(GraphError, match=r"bad.yaml: cell bin.inner_size\[1\] = 0.0 must be > 0 m"):
        resolve_arguments(graph, {"robot_config": str(tmp_path / "bad.yaml")})


def test_deployment_docs_describe_a_new_cell_in_one_file():
    text = (ROOT / "docs" / "deployment.md").read_text()
    assert "cell:" in text and "config/robots/" in text
    for stale in ("bin_x", "bin_center", "perception.yaml` (`bin", "camera_extrinsics.yaml"):
        assert stale not in text, f"docs/deployment.md still tells to edit {stale}"


def test_robot_configs_directory_is_the_package_share():
    assert (SRC / "brain_common" / "robots").resolve() == ROBOTS.resolve()
    assert Path(default_cell_path()).name == "panda_sim.yaml"


def test_a_broken_bin_observation_is_no_bin():
    from brain_common.cell import perceived_bin

    prior = default_cell().bin
    b = perceived_bin(prior, 0.4, -0.4, 0.5, (0.25, 0.15), 0.0, 0.012)
    assert (b.x, b.inner_size, b.wall_height, b.wall_thickness, b.floor_thickness) == \
        (0.4, (0.25, 0.15), prior.wall_height, 0.012, prior.floor_thickness)  # unmeasured: the prior's
    assert perceived_bin(prior, float("nan"), -0.4, 0.5, (0.25, 0.15), 0.06, 0.01) is None
    assert perceived_bin(prior, 0.4, -0.4, 0.5, (0.25, 0.0), 0.06, 0.01) is None
    assert perceived_bin(prior, 0.4, -0.4, float("inf"), (0.25, 0.15), 0.06, 0.01) is None
