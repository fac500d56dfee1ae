"""ros2 launch file of the armbrain node graph: the same graph as `armbrain launch`.

    ros2 launch launch/armbrain.launch.py                            # simulated Panda (default)
    ros2 launch launch/armbrain.launch.py robot_config:=franka_example.yaml
    ros2 launch launch/armbrain.launch.py nodes:=perception,planner  # only these nodes
    ros2 launch launch/armbrain.launch.py --show-args

(or `ros2 launch armbrain armbrain.launch.py ...` after `colcon build`, which installs
this file, graph.yaml and config/robots/ into the armbrain share directory.)

This file is a thin adapter. The graph is described once, in graph.yaml next to this
file; armbrain.graph reads it, checks the arguments (unknown values fail here with the
valid choices listed), applies the robot configuration and computes the node list
(`plan_nodes`), exactly as for `armbrain launch`. Each planned node becomes a
launch_ros Node with the same name, parameters (files, then inline values) and
remappings, and the same process environment (armbrain.launcher.ros_environment:
ROS_AUTOMATIC_DISCOVERY_RANGE, the Fast DDS shared-memory profile).

Respawn: a node with `respawn: true` in graph.yaml is given launch_ros's `respawn`,
`respawn_delay` (the first delay) and `respawn_max_retries` (graph.yaml's
`respawn_max`). launch_ros has no backoff and counts retries over the whole launch, not
within `respawn_window`, so under ros2 launch the delay stays `respawn_delay` and the
limit never resets; the exit after the last retry is final, as in `armbrain launch`:
for a required node it stops the launch, naming the node (GiveUp below).

Launch arguments: every argument of graph.yaml, plus `nodes` (which nodes to start)
and `discovery_range`, the two options of `armbrain launch` that are not graph
arguments. A robot configuration may set defaults for the graph's arguments; a value
given on the command line wins. To tell the two apart, the arguments given on the
command line (or by an including launch file) are read before this file's
DeclareLaunchArgument actions apply the declared defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch_ros.actions import Node

from armbrain.graph import (
    Graph,
    PlannedNode,
    available_robot_configs,
    load_graph,
    plan_nodes,
    resolve_arguments,
    share_dir,
)
from armbrain.launcher import DEFAULT_DISCOVERY_RANGE, VALID_DISCOVERY_RANGES, ros_environment

GRAPH = Path(__file__).with_name("graph.yaml")
# Options of `armbrain launch` that are not graph arguments: name -> (default, description).
LAUNCH_OPTIONS = {
    "nodes": ("", "comma-separated names of the nodes to start, even if their condition is false "
                  "(empty: every enabled node), as `armbrain launch NODE ...`"),
    "discovery_range": (DEFAULT_DISCOVERY_RANGE, "ROS_AUTOMATIC_DISCOVERY_RANGE of the nodes; choices: "
                        + ", ".join(VALID_DISCOVERY_RANGES) + " (LOCALHOST: no DDS traffic leaves the machine)"),
}


def argument_description(graph: Graph, name: str) -> str:
    spec = graph.arguments[name]
    text = spec.description
    if spec.choices:
        text += f" (choices: {', '.join(spec.choices)})"
    if graph.robot is not None and name == graph.robot.argument:
        text += f" (choices: {', '.join(available_robot_configs(graph))} in {graph.robot.directory}, or a path)"
    return text


class GiveUp:
    """on_exit of a required respawned node: launch_ros calls it at every exit of the
    process; the exit after the last allowed retry stops the launch, naming the node."""

    def __init__(self, node: PlannedNode) -> None:
        assert node.respawn is not None
        self.name, self.limit, self.exits = node.name, node.respawn.limit, 0

    def __call__(self, _event, _context) -> list | None:
        self.exits += 1
        if self.exits <= self.limit:
            return None
        return [Shutdown(reason=f"giving up on {self.name}: it exited after {self.limit} restart(s) "
                                f"(respawn_max in graph.yaml); required node {self.name} exited")]


def node_action(node: PlannedNode, env: dict[str, str]) -> Node:
    """One planned node as a launch_ros Node (nothing else is decided here)."""
    common = {
        "name": node.name,
        "parameters": [str(p) if isinstance(p, Path) else dict(p) for p in node.parameters],
        "remappings": list(node.remappings),
        "additional_env": {**env, **node.env},
        "respawn": node.respawn is not None,
        "output": "screen",
    }
    if node.respawn is not None:
        common["respawn_delay"] = node.respawn.delay
        common["respawn_max_retries"] = node.respawn.limit
    if node.required:  # as `armbrain launch`: its (final) exit stops the graph
        common["on_exit"] = (Shutdown(reason=f"required node {node.name} exited") if node.respawn is None
                             else GiveUp(node))
    if node.script is not None:
        return Node(executable=sys.executable, arguments=[str(node.script)], **common)
    return Node(package=node.package, executable=node.executable, **common)


def node_actions(graph: Graph, given: dict[str, str], options: dict[str, str]) -> list[Node]:
    """The graph's nodes for the arguments given on the command line (`given`, graph
    arguments only) and the values of LAUNCH_OPTIONS. Raises armbrain.graph.GraphError
    (ros2 launch prints its message and exits non-zero) before any node starts."""
    args = resolve_arguments(graph, given)
    select = [n.strip() for n in options["nodes"].replace(" ", ",").split(",") if n.strip()]
    planned = plan_nodes(graph, args, select, share_dir)
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
    profile = share_dir("armbrain") / "config" / "fastdds_shm.xml"
    full = ros_environment(dict(os.environ), domain, options["discovery_range"], profile)
    env = {k: v for k, v in full.items() if os.environ.get(k) != v}
    return [node_action(n, env) for n in planned]


def generate_launch_description() -> LaunchDescription:
    graph = load_graph(GRAPH)
    given: dict[str, str] = {}

    def remember_given(context: LaunchContext) -> list:
        given.update({k: v for k, v in context.launch_configurations.items() if k in graph.arguments})
        return []

    def start_nodes(context: LaunchContext) -> list:
        options = {k: context.launch_configurations[k] for k in LAUNCH_OPTIONS}
        return node_actions(graph, dict(given), options)

    declared = [DeclareLaunchArgument(name, default_value=spec.default or "",
                                      description=argument_description(graph, name))
                for name, spec in graph.arguments.items()]
    declared += [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, (default, description) in LAUNCH_OPTIONS.items()]
    return LaunchDescription([OpaqueFunction(function=remember_given), *declared,
                              OpaqueFunction(function=start_nodes)])
