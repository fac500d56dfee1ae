"""The bin is a fixture every node is configured with (like a calibration): the simulator's
default scene, perception, grasping and the planner must describe the same bin."""

import yaml

from armbrain_sim.scene import BinSetup
from conftest import ROOT

SRC = ROOT / "ros2_ws" / "src"


def params(package: str) -> dict:
    data = yaml.safe_load((SRC / package / "config" / f"{package}.yaml").read_text())
    return data[package]["ros__parameters"]


def test_every_node_describes_the_simulated_default_bin():
    sim = BinSetup()
    inner = list(sim.inner_size)
    outer = [v + 2 * sim.wall_thickness for v in inner]
    p = params("perception")
    assert p["bin_center"] == [sim.x, sim.y] and p["bin_size"] == outer
    assert (p["bin_wall_height"], p["bin_wall_thickness"]) == (sim.wall_height, sim.wall_thickness)
    g = params("grasping")
    assert [g["bin_x"], g["bin_y"]] == [sim.x, sim.y] and g["bin_inner_size"] == inner
    assert (g["bin_wall_height"], g["bin_wall_thickness"]) == (sim.wall_height, sim.wall_thickness)
    m = params("planner")["motion"]
    assert m["bin_center"] == [sim.x, sim.y] and m["bin_inner_size"] == inner and m["bin_yaw"] == sim.yaw
    assert (m["bin_wall_height"], m["bin_wall_thickness"]) == (sim.wall_height, sim.wall_thickness)
