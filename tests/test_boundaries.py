"""Architecture rules that code review alone would let slip (DESIGN.md, CONVENTIONS.md).

- The brain (perception, planner, grasping) never reads simulator ground truth: it does
  not import the sim package nor use any sim/ topic or service.
- Pure cores (`core/` and `motion/` packages, except their ROS adapters) import no rclpy
  and no message packages, so they are testable without a ROS graph.
"""

import ast
from pathlib import Path

import pytest

from conftest import ROOT

BRAIN = [ROOT / "ros2_ws" / "src" / p for p in ("perception", "planner", "grasping")]
ROS_MODULES = ("rclpy", "brain_interfaces", "sensor_msgs", "std_msgs", "geometry_msgs", "trajectory_msgs",
               "visualization_msgs", "builtin_interfaces", "rosgraph_msgs", "std_srvs", "action_msgs")
ADAPTER_NAMES = ("execution.py", "conversions.py")  # ROS adapters allowed inside core-like packages


def python_files(roots):
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            if "build" not in f.parts and ".egg-info" not in str(f):
                yield f


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module.split(".")[0])
    return mods


@pytest.mark.parametrize("path", list(python_files(BRAIN)), ids=lambda p: str(p.relative_to(ROOT)))
def test_brain_never_touches_ground_truth(path):
    assert "armbrain_sim" not in imported_modules(path), f"{path} imports the simulator"
    text = path.read_text()
    for name in ("sim/ground_truth", "sim/reset", "sim/check_success"):
        assert name not in text, f"{path} refers to {name}, which is for scoring only"


def core_files():
    for root in BRAIN:
        for pkg in ("core", "motion"):
            for d in root.glob(f"*/{pkg}"):
                yield from (f for f in python_files([d]) if f.name not in ADAPTER_NAMES)


@pytest.mark.parametrize("path", list(core_files()) or [None], ids=lambda p: str(p.relative_to(ROOT)) if p else "none")
def test_pure_cores_import_no_ros(path):
    if path is None:
        pytest.skip("no core package exists yet")
    ros = imported_modules(path) & set(ROS_MODULES)
    assert not ros, f"{path} is pure core but imports {sorted(ros)}"
