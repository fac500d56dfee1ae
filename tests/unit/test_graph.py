"""armbrain.graph: the node-graph description, without ROS."""

from pathlib import Path

import pytest

from armbrain.graph import (
    GraphError,
    ParameterFile,
    check_parameters_file,
    load_graph,
    resolve_arguments,
    resolve_nodes,
)
from armbrain.respawn import RespawnPolicy
from brain_common.runtime import params_files_from_args


def write(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GRAPH = """
arguments:
  sim: {default: "true", choices: ["true", "false"], description: simulated arm}
  scenario: {default: one_cube.yaml, description: scenario file}
  use_sim_time: {default: "$(arg sim)", description: follow /clock}
nodes:
  - name: sim_bridge
    package: armbrain_sim
    executable: sim_bridge
    parameters:
      - "armbrain_sim:config/sim_bridge.yaml"
      - {scenario: "$(arg scenario)", use_sim_time: "$(arg use_sim_time)", rate: 30, label: "true"}
    remappings: {camera/color/image_raw: /cam/color}
    if: "$(arg sim)"
  - name: perception
    package: perception
    executable: perception
    parameters: [{use_sim_time: "$(arg use_sim_time)"}]
    respawn: true
    respawn_delay: 2
"""


@pytest.fixture
def share(tmp_path):
    root = tmp_path / "share"
    (root / "armbrain_sim" / "config").mkdir(parents=True)
    (root / "armbrain_sim" / "config" / "sim_bridge.yaml").write_text(
        "sim_bridge:\n  ros__parameters:\n    rate: 10\n")
    return lambda pkg: root / pkg


def resolve(tmp_path, share, given=None, select=None):
    g = load_graph(write(tmp_path, GRAPH))
    args = resolve_arguments(g, given or {})
    return resolve_nodes(g, args, select, share, lambda pkg, exe: f"/opt/{pkg}/{exe}", "/usr/bin/python3")


def test_load_graph_reads_every_field(tmp_path):
    g = load_graph(write(tmp_path, GRAPH))
    assert g.node_names == ["sim_bridge", "perception"]
    sb, pc = g.nodes
    assert sb.parameters[0] == ParameterFile("armbrain_sim", "config/sim_bridge.yaml")
    assert sb.remappings == (("camera/color/image_raw", "/cam/color"),)
    assert sb.condition_if == "$(arg sim)" and sb.required and not sb.respawn
    assert pc.respawn == RespawnPolicy(delay=2.0, max_delay=30.0, limit=5, window=60.0)  # defaults but the delay
    assert g.arguments["sim"].choices == ("true", "false")


def test_resolve_builds_command_lines(tmp_path, share):
    sb, pc = resolve(tmp_path, share, {"scenario": "clutter.yaml"})
    assert sb.command == (
        "/opt/armbrain_sim/sim_bridge", "--ros-args", "-r", "__node:=sim_bridge",
        "--params-file", str(share("armbrain_sim") / "config" / "sim_bridge.yaml"),
        # substituted strings take their YAML type (bool), literals keep theirs
        "-p", "scenario:='clutter.yaml'", "-p", "use_sim_time:=true", "-p", "rate:=30",
        "-p", "label:='true'",
        "-r", "camera/color/image_raw:=/cam/color",
    )
    assert pc.command[-2:] == ("-p", "use_sim_time:=true")
    assert pc.respawn is not None and pc.respawn.delay == 2.0


def test_condition_and_argument_defaults_that_refer_to_arguments(tmp_path, share):
    nodes = resolve(tmp_path, share, {"sim": "false"})
    assert [n.name for n in nodes] == ["perception"]
    assert nodes[0].command[-1] == "use_sim_time:=false"
    # An explicit selection starts the named node even when its condition is false.
    assert [n.name for n in resolve(tmp_path, share, {"sim": "false"}, ["sim_bridge"])] == ["sim_bridge"]


@pytest.mark.parametrize(("given", "select", "message"), [
    ({"sim": "maybe"}, None, "launch argument sim:=maybe is not valid; choices: true, false"),
    ({"colour": "red"}, None, "unknown launch argument 'colour'; valid arguments: scenario, sim, use_sim_time"),
    ({}, ["planner"], "unknown node 'planner'; nodes in graph.yaml: sim_bridge, perception"),
])
def test_bad_arguments_and_names(tmp_path, share, given, select, message):
    with pytest.raises(GraphError) as e:
        resolve(tmp_path, share, given, select)
    assert str(e.value) == message


@pytest.mark.parametrize(("text", "message"), [
    ("nodes: {a: 1}", "graph.yaml: nodes: expected a list of nodes"),
    ("nodes:\n  - {name: x}", "graph.yaml: nodes[0] (x): needs 'package' and 'executable' (or 'script')"),
    ("nodes:\n  - {name: x, script: a.py, colour: red}",
     "graph.yaml: nodes[0] (x): unknown key(s) ['colour']; valid: "),
    ("nodes:\n  - {name: 'bad name', script: a.py}", "graph.yaml: nodes[0].name: 'bad name' is not a valid node name"),
    ("nodes:\n  - {name: x, script: a.py}\n  - {name: x, script: b.py}",
     "graph.yaml: nodes[1] (x): duplicate node name"),
    ("nodes:\n  - {name: x, script: a.py, parameters: [nocolon.yaml]}",
     "graph.yaml: nodes[0] (x).parameters[0]: 'nocolon.yaml' should be '<package>:<path in its share dir>'"),
    ("nodes:\n  - {name: x, script: a.py, if: '$(arg sim)'}",
     "graph.yaml: $(arg sim) is used but no argument 'sim' is declared"),
    ("arguments: {sim: {default: 'no', choices: ['true', 'false']}}",
     "graph.yaml: arguments.sim.default: 'no' is not one of ['true', 'false']"),
    ("nodes: [", "graph.yaml: not valid YAML"),
    ("launch: []", "graph.yaml: unknown top-level key(s) ['launch']; valid: arguments, nodes"),
])
def test_invalid_graph_descriptions_name_file_and_field(tmp_path, text, message):
    with pytest.raises(GraphError) as e:
        load_graph(write(tmp_path, text))
    assert str(e.value).startswith(str(tmp_path / message.split(":")[0]) + ":" + message.split(":", 1)[1])


def test_missing_graph_file(tmp_path):
    with pytest.raises(GraphError, match=r"cannot read graph description \(No such file or directory\)"):
        load_graph(tmp_path / "none.yaml")


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1,\n", "is not valid YAML at line 2"),
    ("- 1\n", "must map node names to {ros__parameters: {...}}; got list"),
    ("node:\n  rate: 3\n", "'node' must contain a 'ros__parameters' mapping"),
])
def test_bad_parameters_files(tmp_path, text, message):
    with pytest.raises(GraphError, match=message.replace("{", r"\{").replace("}", r"\}").replace("[", r"\[")):
        check_parameters_file(write(tmp_path, text, "p.yaml"))
    with pytest.raises(GraphError, match="does not exist"):
        check_parameters_file(tmp_path / "missing.yaml")
    check_parameters_file(write(tmp_path, "/**:\n  ros__parameters: {rate: 3}\n", "ok.yaml"))


def test_params_files_from_args():
    argv = ["node", "--params-file", "ignored.yaml", "--ros-args", "-p", "a:=1", "--params-file", "a.yaml",
            "--params-file", "b.yaml", "--", "--params-file", "user.yaml"]
    assert params_files_from_args(argv) == ["a.yaml", "b.yaml"]
