"""Deployment: launch/graph.yaml with robot configurations, and launch/armbrain.launch.py.

The graph -> node list translation (armbrain.graph.plan_nodes) is shared by the pip
launcher and the ros2 launch file; these tests check the translation on the real
description (launch/graph.yaml, config/robots/), bad input, and that the launch file
starts the same nodes with the same parameters and remappings as `armbrain launch`.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from armbrain import cli
from armbrain.graph import (
    GraphError,
    load_graph,
    plan_nodes,
    resolve_arguments,
    resolve_nodes,
)
from armbrain.respawn import RespawnPolicy
from brain_common.cell import load_cell
from conftest import ROOT

GRAPH = ROOT / "launch" / "graph.yaml"
ROBOTS = ROOT / "config" / "robots"
LAUNCH_FILE = ROOT / "launch" / "armbrain.launch.py"
SIM_LAUNCH_FILE = ROOT / "launch" / "sim.launch.py"
PACKAGES = {  # package -> its source directory (what the editable install's share dir points to)
    "armbrain": ROOT / "ros2_ws" / "src" / "armbrain",
    "armbrain_sim": ROOT / "sim",
    "perception": ROOT / "ros2_ws" / "src" / "perception",
    "grasping": ROOT / "ros2_ws" / "src" / "grasping",
    "planner": ROOT / "ros2_ws" / "src" / "planner",
}
REALSENSE = {
    "camera/color/image_raw": "/camera/camera/color/image_raw",
    "camera/depth/image_raw": "/camera/camera/aligned_depth_to_color/image_raw",
    "camera/camera_info": "/camera/camera/color/camera_info",
}
FRANKA = {
    "joint_states": "/joint_states",
    "arm_controller/joint_trajectory": "/panda_arm_controller/joint_trajectory",
    "gripper_controller/commands": "/panda_gripper_controller/commands",
}


def share(package: str) -> Path:
    if package not in PACKAGES:
        raise GraphError(f"package '{package}' is not installed")
    return PACKAGES[package]


def config(package: str, name: str) -> Path:
    return PACKAGES[package] / "config" / name


def plan(given: dict[str, str] | None = None, select: list[str] | None = None, graph_path: Path = GRAPH):
    g = load_graph(graph_path)
    return plan_nodes(g, resolve_arguments(g, given or {}), select, share)


def by_name(nodes) -> dict:
    return {n.name: n for n in nodes}


# -- the description itself -----------------------------------------------------------

def test_default_graph_is_the_simulated_panda_without_remappings():
    nodes = plan()
    assert [n.name for n in nodes] == ["sim_bridge", "grasping", "perception", "planner"]
    sb, gr, pc, pl = nodes
    assert (sb.package, sb.executable) == ("armbrain_sim", "sim_bridge")
    cell = {"cell_file": str((ROBOTS / "panda_sim.yaml").resolve())}  # every node reads the one Cell
    # Each node declares its own parameters from config/<node>.params.yaml: the graph passes
    # no parameters file of defaults, only the cell and its own values.
    assert sb.parameters == (cell,
                             {"scenario": "one_cube.yaml", "seed": 0, "real_time_factor": 0.0, "max_lead": 0.8})
    assert pc.parameters == (cell, {"use_sim_time": True})
    assert gr.parameters == (cell, {"use_sim_time": True})
    assert pl.parameters == (cell, {"use_sim_time": True})
    # The camera-topic remappings of the graph map every name to itself by default: dropped.
    assert all(n.remappings == () for n in nodes)
    assert all(n.required for n in nodes)
    # The brain's nodes are restarted when they die, with backoff and a limit; the world is not.
    assert sb.respawn is None
    assert gr.respawn == pc.respawn == pl.respawn == RespawnPolicy(delay=1.0, max_delay=8.0, limit=5, window=60.0)


def test_default_command_lines_are_those_of_the_graph_before_robot_configs():
    """`armbrain launch` with default arguments: the same processes, parameters and
    topics as before robot configurations and camera arguments existed, plus the cell file."""
    g = load_graph(GRAPH)
    resolved = resolve_nodes(g, resolve_arguments(g, {}), None, share, lambda p, e: f"/opt/{p}/{e}", "py")
    cell = ("-p", f"cell_file:='{(ROBOTS / 'panda_sim.yaml').resolve()}'")
    assert [r.command for r in resolved] == [
        ("/opt/armbrain_sim/sim_bridge", "--ros-args", "-r", "__node:=sim_bridge",
         *cell,
         "-p", "scenario:='one_cube.yaml'", "-p", "seed:=0", "-p", "real_time_factor:=0.0", "-p", "max_lead:=0.8"),
        ("/opt/grasping/grasping", "--ros-args", "-r", "__node:=grasping",
         *cell, "-p", "use_sim_time:=true"),
        ("/opt/perception/perception", "--ros-args", "-r", "__node:=perception",
         *cell, "-p", "use_sim_time:=true"),
        ("/opt/planner/planner", "--ros-args", "-r", "__node:=planner",
         *cell, "-p", "use_sim_time:=true"),
    ]
    assert [r.env for r in resolved] == [{}, {}, {}, {}]


def test_foxglove_bridge_is_optional_and_off_by_default():
    assert "foxglove_bridge" not in by_name(plan())
    fox = by_name(plan({"foxglove": "true", "foxglove_host": "0.0.0.0", "foxglove_port": "9001"}))["foxglove_bridge"]
    assert (fox.package, fox.executable, fox.required, fox.respawn) == ("armbrain", "foxglove_bridge", False, None)
    cell = {"cell_file": str((ROBOTS / "panda_sim.yaml").resolve())}
    assert fox.parameters == (cell, {"use_sim_time": True, "host": "0.0.0.0", "port": 9001})
    # Its own parameters are described once, and the graph sets only declared ones.
    from brain_common.params import load_param_specs

    specs = load_param_specs(config("armbrain", "foxglove_bridge.params.yaml"), "foxglove_bridge")
    assert {"host", "port", "cell_file"} <= set(specs)
    assert (specs["host"].default, specs["port"].default) == ("127.0.0.1", 8765)
    args = load_graph(GRAPH).arguments  # the launch arguments' defaults are the node's
    assert (args["foxglove_host"].default, args["foxglove_port"].default) == ("127.0.0.1", "8765")
    with pytest.raises(GraphError, match="launch argument foxglove:=yes is not valid; choices: true, false"):
        plan({"foxglove": "yes"})


def test_sim_false_expects_real_drivers_on_wall_clock_time():
    nodes = by_name(plan({"sim": "false"}))
    assert list(nodes) == ["grasping", "perception", "planner"]
    assert all(n.parameters[-1] == {"use_sim_time": False} for n in nodes.values())


def test_camera_topic_arguments_remap_every_node_the_sim_bridge_included():
    nodes = plan({"camera_color_topic": "/cam/rgb", "camera_info_topic": "/cam/info"})
    expected = (("camera/color/image_raw", "/cam/rgb"), ("camera/camera_info", "/cam/info"))
    assert {n.name: n.remappings for n in nodes} == dict.fromkeys(
        ["sim_bridge", "grasping", "perception", "planner"], expected)


def test_franka_example_sets_arguments_topics_and_its_cell():
    g = load_graph(GRAPH)
    args = resolve_arguments(g, {"robot_config": "franka_example.yaml"})
    assert {k: args[k] for k in ("sim", "use_sim_time", "camera_color_topic", "camera_depth_topic")} == {
        "sim": "false", "use_sim_time": "false",
        "camera_color_topic": "/camera/camera/color/image_raw",
        "camera_depth_topic": "/camera/camera/aligned_depth_to_color/image_raw"}
    nodes = by_name(plan_nodes(g, args, None, share))
    assert list(nodes) == ["grasping", "perception", "planner"]  # real drivers: no sim bridge
    for n in nodes.values():
        assert dict(n.remappings) == {**REALSENSE, **FRANKA}, n.name
    # Every node reads the cell (camera mount, bin, gripper, clearances) from the robot's file.
    cell = {"cell_file": str((ROBOTS / "franka_example.yaml").resolve())}
    assert nodes["perception"].parameters == (cell, {"use_sim_time": False})
    assert nodes["planner"].parameters == (cell, {"use_sim_time": False})
    mount = load_cell(ROBOTS / "franka_example.yaml").camera
    assert mount.position == (1.10, -0.30, 0.65) and mount.frame == "camera_color_optical_frame"
    assert abs(sum(v * v for v in mount.orientation) - 1.0) < 1e-4, "camera orientation must be a unit quaternion"


def test_command_line_wins_over_the_robot_configuration():
    nodes = by_name(plan({"robot_config": "franka_example", "camera_color_topic": "/cam/rgb", "sim": "true"}))
    assert "sim_bridge" in nodes
    assert dict(nodes["perception"].remappings)["camera/color/image_raw"] == "/cam/rgb"
    # use_sim_time defaults to $(arg sim), which is now true
    assert nodes["perception"].parameters[-1] == {"use_sim_time": True}


@pytest.mark.parametrize("path", sorted(ROBOTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_robot_configuration_resolves_with_valid_parameters_files(path):
    for given in ({"robot_config": path.name}, {"robot_config": str(path)}):
        nodes = plan(given)  # plan_nodes checks every parameters file
        assert {"perception", "grasping", "planner"} <= {n.name for n in nodes}


def test_panda_sim_is_the_default_graph():
    assert plan({"robot_config": "panda_sim.yaml"}) == plan()


# -- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize(("given", "message"), [
    ({"sim": "maybe"}, "launch argument sim:=maybe is not valid; choices: true, false"),
    ({"robot_config": "nope.yaml"},
     f"launch argument robot_config:=nope.yaml: no such robot configuration in {ROBOTS}; "
     "choices: franka_example.yaml, panda_sim.yaml (or a path to a file)"),
    ({"robot_config": "/nonexistent/cell.yaml"},
     "launch argument robot_config:=/nonexistent/cell.yaml: /nonexistent/cell.yaml does not exist; "
     "choices: franka_example.yaml, panda_sim.yaml (or a path to a file)"),
    ({"robot_config": ""}, "launch argument robot_config:= is empty; choices: franka_example.yaml, panda_sim.yaml"),
    ({"camera": "/x"}, "unknown launch argument 'camera'; valid arguments: camera_color_topic, "),
])
def test_bad_arguments_fail_with_the_valid_choices(given, message):
    with pytest.raises(GraphError) as e:
        resolve_arguments(load_graph(GRAPH), given)
    assert str(e.value).startswith(message)


def write_robot(tmp_path: Path, text: str, name: str = "cell.yaml") -> dict[str, str]:
    (tmp_path / name).write_text(text)
    return {"robot_config": str(tmp_path / name)}


@pytest.mark.parametrize(("text", "message"), [
    ("arguments: {sim: maybe}", "launch argument sim:=maybe (set by robot config cell.yaml) is not valid; "
                                "choices: true, false"),
    ("arguments: {colour: red}", "cell.yaml: arguments.colour: not an argument of graph.yaml; valid: "),
    ("arguments: {robot_config: other.yaml}", "cell.yaml: arguments.robot_config: a robot configuration "
                                              "cannot choose another one"),
    ("remappings: {camera/color/image_raw: /rgb}",
     "cell.yaml: remappings.camera/color/image_raw: camera/color/image_raw is remapped by graph.yaml; "
     "set the argument camera_color_topic instead"),
    ("parameters: {percepton: [x.yaml]}", "cell.yaml: parameters.percepton: no node 'percepton' in graph.yaml; "
                                          "nodes: sim_bridge, grasping, perception, planner"),
    ("topics: {}", "cell.yaml: unknown key(s) ['topics']; valid: description, arguments, remappings, parameters"),
    ("- sim", "cell.yaml: expected a mapping with description, arguments, remappings, parameters"),
])
def test_invalid_robot_configurations_name_file_and_field(tmp_path, text, message):
    with pytest.raises(GraphError) as e:
        plan(write_robot(tmp_path, text))
    assert message in str(e.value)


def test_missing_or_broken_extrinsics_file_fails_before_anything_starts(tmp_path):
    given = write_robot(tmp_path, "parameters: {perception: [cell/extrinsics.yaml]}")
    with pytest.raises(GraphError, match=r"^node perception: parameters file .*cell/extrinsics.yaml does not exist$"):
        plan(given)
    (tmp_path / "cell").mkdir()
    (tmp_path / "cell" / "extrinsics.yaml").write_text("perception:\n  camera_position: [1, 0, 0.5]\n")
    with pytest.raises(GraphError, match="'perception' must contain a 'ros__parameters' mapping"):
        plan(given)


def test_graph_robot_config_section_is_checked(tmp_path):
    g = tmp_path / "g.yaml"
    g.write_text("robot_config: {argument: robot, directory: robots}\nnodes: []\n")
    with pytest.raises(GraphError, match=r"g.yaml: robot_config.argument: no argument 'robot' is declared"):
        load_graph(g)


# -- armbrain launch: the options docker-compose.yml uses -----------------------------

def test_enabled_only_leaves_out_nodes_whose_condition_is_false(capsys):
    code = cli.main(["launch", "--graph", str(GRAPH), "--enabled-only", "sim_bridge",
                     "robot_config:=franka_example.yaml"])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "armbrain launch: sim_bridge not started: its condition (if: $(arg sim)) is false for these arguments",
        "armbrain launch: nothing to start"]


def test_dry_run_prints_the_command_lines_and_starts_nothing(capsys):
    assert cli.main(["launch", "--graph", str(GRAPH), "--dry-run", "--enabled-only", "sim_bridge", "perception",
                     "robot_config:=franka_example.yaml"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("armbrain launch: sim_bridge not started")
    assert len(lines) == 2 and lines[1].startswith("perception: ")
    assert "cell_file:=" in lines[1] and "franka_example.yaml" in lines[1]
    assert "-r arm_controller/joint_trajectory:=/panda_arm_controller/joint_trajectory" in lines[1]


def test_list_shows_the_robot_configurations(capsys):
    assert cli.main(["launch", "--graph", str(GRAPH), "--list"]) == 0
    out = capsys.readouterr().out
    assert f"(choices: franka_example.yaml, panda_sim.yaml in {ROBOTS}, or a path)" in out


# -- launch/armbrain.launch.py -------------------------------------------------------

def parse_command(command: tuple[str, ...]) -> dict:
    """What a node command line of the pip launcher starts: program, node name,
    parameters files (in order), inline values (-p) and remappings (-r)."""
    out = {"program": command[0], "name": None, "files": [], "values": {}, "remaps": []}
    i = command.index("--ros-args") + 1
    while i < len(command):
        flag, value = command[i], command[i + 1]
        if flag == "--params-file":
            out["files"].append(value)
        elif flag == "-p":
            k, _, v = value.partition(":=")
            out["values"][k] = yaml.safe_load(v)
        elif value.startswith("__node:="):
            out["name"] = value.removeprefix("__node:=")
        else:
            out["remaps"].append(tuple(value.split(":=", 1)))
        i += 2
    return out


def pip_launcher_graph(given: dict[str, str], select: list[str] | None = None) -> list[dict]:
    g = load_graph(GRAPH)
    nodes = resolve_nodes(g, resolve_arguments(g, given), select, cli.share_dir,
                          lambda pkg, exe: f"{pkg}/{exe}", sys.executable)
    return [parse_command(n.command) for n in nodes]


def as_launched(kwargs: dict) -> dict:
    """The same view of a launch_ros Node's constructor arguments."""
    files = [p for p in kwargs["parameters"] if isinstance(p, str)]
    values = {k: v for p in kwargs["parameters"] if isinstance(p, dict) for k, v in p.items()}
    program = f"{kwargs['package']}/{kwargs['executable']}"  # launch/graph.yaml has no script nodes
    return {"program": program, "name": kwargs["name"], "files": files, "values": values,
            "remaps": [tuple(r) for r in kwargs["remappings"]]}


class _Recorded:
    """Stand-in for a launch action: keeps its constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


def stand_in_launch_modules() -> dict[str, types.ModuleType]:
    """The few names of `launch` and `launch_ros` the launch files use. The real packages
    are not installable here (not on PyPI); this is the smallest stand-in that lets the
    adapter run: actions record their arguments, nothing is executed."""
    def module(name: str, **attrs) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        return m

    class LaunchDescription:
        def __init__(self, entities) -> None:
            self.entities = list(entities)

    class LaunchContext:
        def __init__(self) -> None:
            self.launch_configurations: dict[str, str] = {}

    classes = {n: type(n, (_Recorded,), {}) for n in (
        "DeclareLaunchArgument", "OpaqueFunction", "Shutdown", "IncludeLaunchDescription",
        "PythonLaunchDescriptionSource", "Node")}
    return {
        "launch": module("launch"),
        "launch.actions": module("launch.actions", **{n: classes[n] for n in (
            "DeclareLaunchArgument", "OpaqueFunction", "Shutdown", "IncludeLaunchDescription")}),
        "launch.launch_context": module("launch.launch_context", LaunchContext=LaunchContext),
        "launch.launch_description": module("launch.launch_description", LaunchDescription=LaunchDescription),
        "launch.launch_description_sources": module("launch.launch_description_sources",
                                                    PythonLaunchDescriptionSource=classes[
                                                        "PythonLaunchDescriptionSource"]),
        "launch_ros": module("launch_ros"),
        "launch_ros.actions": module("launch_ros.actions", Node=classes["Node"]),
    }


def load_launch_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_stand_in(description, given: dict[str, str]) -> list:
    """Visit the description as ros2 launch does: the command line's arguments are set
    first, then each entity in order (a declaration sets its default if unset, an
    OpaqueFunction returns the actions it creates)."""
    context = sys.modules["launch.launch_context"].LaunchContext()
    context.launch_configurations.update(given)
    created = []
    for entity in description.entities:
        kind = type(entity).__name__
        if kind == "DeclareLaunchArgument":
            context.launch_configurations.setdefault(entity.args[0], entity.kwargs["default_value"])
        elif kind == "OpaqueFunction":
            created += entity.kwargs["function"](context)
    return created


@pytest.fixture
def stand_in(monkeypatch):
    for name, module in stand_in_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return load_launch_file(LAUNCH_FILE, "armbrain_launch_file_under_test")


CASES = [
    ({}, None),
    ({"sim": "false"}, None),
    ({"robot_config": "franka_example.yaml", "camera_info_topic": "/cam/info"}, None),
    ({"scenario": "clutter.yaml", "seed": "7", "camera_color_topic": "/rgb"}, None),
    ({"sim": "false"}, ["sim_bridge", "perception"]),
    ({"foxglove": "true", "foxglove_port": "9001"}, None),
]


@pytest.mark.parametrize(("given", "select"), CASES)
def test_launch_file_starts_the_pip_launchers_graph(stand_in, given, select):
    launch_args = dict(given, nodes=",".join(select or []))
    nodes = run_stand_in(stand_in.generate_launch_description(), launch_args)
    assert [as_launched(n.kwargs) for n in nodes] == pip_launcher_graph(given, select)
    planned = by_name(plan(given, select))
    for n in nodes:  # as `armbrain launch`: a required node's (final) exit stops the graph
        policy = planned[n.kwargs["name"]].respawn
        assert n.kwargs["respawn"] is (policy is not None)
        if not planned[n.kwargs["name"]].required:  # an optional node's exit leaves the others running
            assert "on_exit" not in n.kwargs
        elif policy is None:
            assert type(n.kwargs["on_exit"]).__name__ == "Shutdown"
            assert "respawn_max_retries" not in n.kwargs
        else:  # launch_ros: the first delay, the limit; the final exit stops the launch
            assert (n.kwargs["respawn_delay"], n.kwargs["respawn_max_retries"]) == (policy.delay, policy.limit)
            assert type(n.kwargs["on_exit"]).__name__ == "GiveUp"


def test_launch_file_gives_up_on_a_respawned_node_after_its_last_retry(stand_in):
    nodes = {n.kwargs["name"]: n for n in run_stand_in(stand_in.generate_launch_description(), {})}
    give_up = nodes["perception"].kwargs["on_exit"]
    # launch_ros calls on_exit at every exit: the first respawn_max (5) are respawned.
    assert [give_up(None, None) for _ in range(5)] == [None] * 5
    (shutdown,) = give_up(None, None)
    assert type(shutdown).__name__ == "Shutdown"
    assert shutdown.kwargs["reason"] == ("giving up on perception: it exited after 5 restart(s) (respawn_max in "
                                         "graph.yaml); required node perception exited")


def test_launch_file_declares_every_graph_argument_with_its_description(stand_in):
    description = stand_in.generate_launch_description()
    declared = {e.args[0]: e.kwargs for e in description.entities if type(e).__name__ == "DeclareLaunchArgument"}
    g = load_graph(GRAPH)
    assert list(declared) == [*g.arguments, "nodes", "discovery_range"]
    assert declared["sim"]["description"].endswith("(choices: true, false)")
    assert "franka_example.yaml, panda_sim.yaml" in declared["robot_config"]["description"]
    assert declared["discovery_range"]["default_value"] == "LOCALHOST"
    # The command line is read before the declarations apply their defaults.
    assert type(description.entities[0]).__name__ == "OpaqueFunction"


def test_launch_file_environment_is_the_pip_launchers(stand_in, monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    nodes = run_stand_in(stand_in.generate_launch_description(), {})
    env = nodes[0].kwargs["additional_env"]
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(cli.share_dir("armbrain") / "config" / "fastdds_shm.xml")
    nodes = run_stand_in(stand_in.generate_launch_description(), {"discovery_range": "SUBNET"})
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in nodes[0].kwargs["additional_env"]  # inherited as is


@pytest.mark.parametrize(("given", "message"), [
    ({"sim": "maybe"}, "launch argument sim:=maybe is not valid; choices: true, false"),
    ({"robot_config": "missing.yaml"}, "no such robot configuration in"),
    ({"nodes": "percepton"}, "unknown node 'percepton'; nodes in graph.yaml: sim_bridge, grasping, perception"),
    ({"discovery_range": "LAN"}, "discovery range 'LAN' is not valid; choices: LOCALHOST, SUBNET"),
])
def test_launch_file_bad_arguments_fail_with_the_valid_choices(stand_in, given, message):
    with pytest.raises(GraphError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_stand_in(stand_in.generate_launch_description(), given)


def test_sim_launch_file_is_the_sim_bridge_of_the_same_graph(monkeypatch):
    for name, module in stand_in_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    sim = load_launch_file(SIM_LAUNCH_FILE, "armbrain_sim_launch_file_under_test")
    (include,) = sim.generate_launch_description().entities
    (source,) = include.args
    assert source.args == (str(LAUNCH_FILE),)
    assert dict(include.kwargs["launch_arguments"]) == {"nodes": "sim_bridge"}


def test_real_launch_file_starts_the_pip_launchers_graph(tmp_path):
    """With the real launch/launch_ros (a machine with ROS 2 and the workspace sourced)."""
    pytest.importorskip("launch_ros", reason="launch/launch_ros are not installed: they are not on PyPI; this "
                                             "test runs where ROS 2 Jazzy/Kilted is installed and sourced")
    from launch.launch_context import LaunchContext
    from launch_ros.actions import Node

    module = load_launch_file(LAUNCH_FILE, "armbrain_launch_file_real")
    for given, select in CASES:
        context = LaunchContext()
        for k, v in dict(given, nodes=",".join(select or [])).items():
            context.launch_configurations[k] = v
        nodes = []
        for entity in module.generate_launch_description().entities:
            nodes += [a for a in entity.visit(context) or [] if isinstance(a, Node)]
        launched = []
        for n in nodes:
            n._perform_substitutions(context)  # names, parameters files (dicts written out), remappings
            files, values = [], {}
            for arg, is_file in n._Node__expanded_parameter_arguments:
                text = Path(arg).read_text()
                if Path(arg).name.startswith("launch_params_"):  # an inline mapping, written by launch_ros
                    (section,) = yaml.safe_load(text).values()
                    values.update(section["ros__parameters"])
                else:
                    assert is_file
                    files.append(arg)
            launched.append({"program": f"{n.node_package}/{n.node_executable}", "name": n.node_name.lstrip("/"),
                             "files": files, "values": values,
                             "remaps": [tuple(r) for r in n.expanded_remapping_rules or []]})
        assert launched == pip_launcher_graph(given, select), (given, select)


# -- a real node, over real DDS --------------------------------------------------------

@pytest.mark.integration
def test_robot_configuration_and_topic_arguments_reach_a_running_node(tmp_path, launch, ros_context):
    """A graph like launch/graph.yaml in miniature: one node, a topic argument remapped
    for every node, and a robot configuration that remaps another topic. The node (the
    objects echo of the tests) must then listen and publish on the cell's names."""
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from brain_interfaces.msg import DetectedObject, DetectedObjectArray
    from conftest import TESTS, Spinner, wait_for

    (tmp_path / "robots").mkdir()
    (tmp_path / "robots" / "cell.yaml").write_text(
        'arguments: {in_topic: /cell/objects_in}\nremappings: {objects_out: /cell/objects_out}\n')
    graph = tmp_path / "graph.yaml"
    graph.write_text(f"""
arguments:
  robot_config: {{default: none.yaml}}
  in_topic: {{default: objects_in}}
remappings: {{objects_in: "$(arg in_topic)"}}
robot_config: {{argument: robot_config, directory: robots}}
nodes:
  - {{name: objects_echo, script: {TESTS / "nodes" / "objects_echo.py"}}}
""")
    (tmp_path / "robots" / "none.yaml").write_text("description: no remapping\n")
    run = launch(graph, "robot_config:=cell")
    node = Node("deployment_test_client", context=ros_context)
    spinner = Spinner(node, ros_context)
    try:
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        received = []
        node.create_subscription(DetectedObjectArray, "/cell/objects_out", received.append, qos)
        pub = node.create_publisher(DetectedObjectArray, "/cell/objects_in", qos)
        wait_for(lambda: pub.get_subscription_count() > 0 and node.count_publishers("/cell/objects_out") > 0,
                 30, f"the echo node on the cell's topics; launcher output:\n{run.output}")
        assert node.count_publishers("/objects_out") == 0 and node.count_subscribers("/objects_in") == 0
        pub.publish(DetectedObjectArray(objects=[DetectedObject(id="obj_7", label="red cube")]))
        wait_for(lambda: received, 10, "the echoed objects on /cell/objects_out")
        assert [(o.id, o.label) for o in received[0].objects] == [("obj_7", "red cube")]
    finally:
        spinner.close()
        node.destroy_node()
    assert run.stop() == 0
