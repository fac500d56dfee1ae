"""The `armbrain` operator command.

    armbrain launch [NODE ...] [name:=value ...] [--graph FILE] [--domain-id N]
                    [--discovery-range RANGE] [--enabled-only] [--dry-run] [--list]
    armbrain task "<goal>" [--json] [--timeout S] [--cancel-wait S] [--domain-id N]
    armbrain objects [--json] [--timeout S] [--domain-id N]
    armbrain estop [--release | --status] [--reason TEXT] [--timeout S] [--domain-id N]
    armbrain health [--json] [--timeout S] [--domain-id N]
    armbrain console [--host H] [--port P] [--require-token] [--token T] [--domain-id N]
    armbrain run --scenario FILE_OR_DIR [--episodes N] [--seed S] [--workers W]
                 [--report DIR] [--json PATH] [--record] [--deadline SIM_S] [--ray [ADDRESS]]
    armbrain compare A.json B.json [--alpha 0.05] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import armbrain.compare as compare
import armbrain.console.app as console
import armbrain.ray_campaign as ray_campaign
import armbrain.runner as runner
from armbrain.graph import (
    Graph,
    GraphError,
    available_robot_configs,
    check_selection,
    default_graph_path,
    load_graph,
    node_enabled,
    resolve_arguments,
    resolve_nodes,
    share_dir,
)
from armbrain.launcher import DEFAULT_DISCOVERY_RANGE, VALID_DISCOVERY_RANGES, Launcher, ros_environment
from armbrain.operator import CANCEL_WAIT, domain_from, run_objects, run_task
from armbrain.safety import run_estop, run_health


def find_executable(package: str, executable: str) -> str:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    candidates = [Path(p) / "lib" / package / executable for p in prefixes]
    candidates.append(Path(sys.prefix) / "bin" / executable)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise GraphError(f"executable '{executable}' of package '{package}' not found "
                     f"(looked in {', '.join(str(c.parent) for c in candidates)}); run 'make setup'")


def _split_launch_words(words: list[str]) -> tuple[list[str], dict[str, str]]:
    nodes, args = [], {}
    for w in words:
        if ":=" in w:
            name, _, value = w.partition(":=")
            if not name:
                raise GraphError(f"launch argument {w!r} has no name; write name:=value")
            args[name] = value
        else:
            nodes.append(w)
    return nodes, args


def _describe(graph: Graph) -> str:
    lines = [f"graph {graph.path}", "arguments:"]
    for a in graph.arguments.values():
        choices = f" (choices: {', '.join(a.choices)})" if a.choices else ""
        if graph.robot is not None and a.name == graph.robot.argument:
            choices = (f" (choices: {', '.join(available_robot_configs(graph)) or 'none'} in "
                       f"{graph.robot.directory}, or a path)")
        default = "required" if a.default is None else f"default {a.default!r}"
        lines.append(f"  {a.name}: {a.description} [{default}]{choices}")
    lines.append("nodes:")
    for n in graph.nodes:
        what = f"{n.package}/{n.executable}" if n.script is None else str(n.script)
        cond = f" if {n.condition_if}" if n.condition_if else ""
        cond += f" unless {n.condition_unless}" if n.condition_unless else ""
        lines.append(f"  {n.name}: {what}{cond}")
    return "\n".join(lines)


def cmd_launch(opts: argparse.Namespace) -> int:
    graph = load_graph(opts.graph or default_graph_path())
    if opts.list:
        print(_describe(graph))
        return 0
    selected, given = _split_launch_words(opts.words)
    args = resolve_arguments(graph, given)
    os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    if opts.enabled_only and selected:
        check_selection(graph, selected)
        disabled = [n for n in graph.nodes if n.name in selected and not node_enabled(n, args)]
        selected = [s for s in selected if s not in {n.name for n in disabled}]
        for n in disabled:
            cond = " ".join(f"{k}: {v}" for k, v in (("if", n.condition_if), ("unless", n.condition_unless)) if v)
            print(f"armbrain launch: {n.name} not started: its condition ({cond}) is false for these arguments",
                  flush=True)
        if disabled and not selected:
            print("armbrain launch: nothing to start", flush=True)
            return 0
    nodes = resolve_nodes(graph, args, selected, share_dir, find_executable, sys.executable)
    if not nodes:
        raise GraphError("no node to start: every node's condition is false for these arguments")
    if opts.dry_run:
        for n in nodes:
            env = "".join(f"{k}={shlex.quote(v)} " for k, v in n.env.items())
            print(f"{n.name}: {env}{shlex.join(n.command)}")
        return 0
    domain = opts.domain_id if opts.domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
    profile = share_dir("armbrain") / "config" / "fastdds_shm.xml"
    env = ros_environment(dict(os.environ), domain, opts.discovery_range, profile)
    launcher = Launcher(nodes, env, stop_timeout=opts.stop_timeout)
    launcher.log(f"graph {graph.path.name}, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, "
                 f"discovery {env['ROS_AUTOMATIC_DISCOVERY_RANGE']}, "
                 + ", ".join(f"{k}:={v}" for k, v in args.items()))
    return launcher.run()


def _domain_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of the graph (default: $ROS_DOMAIN_ID or 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="armbrain", description="armbrain operator command")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("launch", help="start the node graph (one process per node)",
                       description="Start the armbrain node graph described in launch/graph.yaml. "
                                   "Words of the form name:=value are launch arguments; other "
                                   "words select nodes to start (default: all enabled nodes).")
    p.add_argument("words", nargs="*", metavar="NODE|name:=value")
    p.add_argument("--graph", type=Path, help="graph description (default: launch/graph.yaml)")
    p.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID for every node (default: $ROS_DOMAIN_ID or 0)")
    p.add_argument("--discovery-range", default=DEFAULT_DISCOVERY_RANGE, choices=VALID_DISCOVERY_RANGES,
                   help="ROS_AUTOMATIC_DISCOVERY_RANGE (default LOCALHOST: no traffic leaves the machine)")
    p.add_argument("--stop-timeout", type=float, default=5.0,
                   help="seconds a node gets to exit after SIGINT, then after SIGTERM")
    p.add_argument("--enabled-only", action="store_true",
                   help="with NODE names: leave out those whose condition (if/unless) is false for these "
                        "arguments, and exit 0 when none is left (one container per node: docker-compose.yml)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command line of every node that would start (after all checks) and exit")
    p.add_argument("--list", action="store_true", help="print the graph's arguments and nodes and exit")
    p.set_defaults(func=cmd_launch)

    t = sub.add_parser("task", help="give the brain a goal and follow it to the end",
                       description="Send a goal (see docs/goals.md) to the planner, show live progress and the "
                                   "result. Ctrl-C cancels the goal (the arm stops and holds) and waits up to "
                                   "--cancel-wait seconds for its result; a second Ctrl-C leaves at once. "
                                   "Exit codes: 0 success; 1 the task failed or was refused (the message says "
                                   "why); 2 bad usage; 3 no planner answers, or the planner went away during the "
                                   "goal, or did not end it within --cancel-wait after --timeout; 130 canceled "
                                   "(Ctrl-C).")
    t.add_argument("goal", help='e.g. "put the red cube in the bin"')
    t.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    t.add_argument("--timeout", type=float, default=600.0, help="seconds before the goal is canceled")
    t.add_argument("--cancel-wait", type=float, default=CANCEL_WAIT,
                   help="seconds to wait for a canceled goal's result before leaving without it "
                        "(default %(default)g)")
    _domain_argument(t)
    t.set_defaults(func=cmd_task)

    o = sub.add_parser("objects", help="list what perception currently sees",
                       description="Print the latest perception/objects: id, label, position, size.")
    o.add_argument("--json", action="store_true", help="print as JSON")
    o.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for perception")
    _domain_argument(o)
    o.set_defaults(func=cmd_objects)

    e = sub.add_parser("estop", help="engage (or release) the protective stop of the whole graph",
                       description="Engage the e-stop: the arm holds where it is, the running task ends ESTOPPED, "
                                   "goals are refused until it is released. A software stop of the brain and the "
                                   "controller it commands; it does not replace the robot's hardware emergency "
                                   "stop (docs/safety.md). Exit codes: 0 every node honouring it acknowledged; "
                                   "1 some did not within --timeout; 3 no node honours it (no graph?).")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--release", action="store_true", help="release the stop (nothing moves by itself)")
    mode.add_argument("--status", action="store_true", help="print the state, change nothing")
    e.add_argument("--reason", default="", help="why (shown in every node's log, results and /diagnostics)")
    e.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the nodes' acknowledgement")
    _domain_argument(e)
    e.set_defaults(func=cmd_estop)

    h = sub.add_parser("health", help="the latest /diagnostics of every node",
                       description="Listen to /diagnostics for --timeout seconds and print each node's level "
                                   "(OK, WARN, ERROR) and message. Exit codes: 0 all OK, 1 some node is not OK, "
                                   "3 nothing on /diagnostics.")
    h.add_argument("--json", action="store_true", help="print as JSON, with every key/value")
    h.add_argument("--timeout", type=float, default=4.0,
                   help="seconds to listen (nodes publish once a second; DDS discovery of this process comes first)")
    _domain_argument(h)
    h.set_defaults(func=cmd_health)

    w = sub.add_parser("console", help="the operator console in the browser (docs/console.md)",
                       description=console.__doc__.split("\n\n", 2)[2],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    console.add_arguments(w)
    _domain_argument(w)
    w.set_defaults(func=cmd_console)

    r = sub.add_parser("run", help="evaluate the brain over seeded sim episodes (headless campaign)",
                       description=runner.__doc__.split("\n\n", 2)[2],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    runner.add_arguments(r)
    ray_campaign.add_arguments(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="did a change make the brain better? two campaign results side by side",
                       description=compare.__doc__.split("\n\n", 2)[2],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_arguments(c)
    c.set_defaults(func=compare.run)
    return parser


def cmd_run(opts: argparse.Namespace) -> int:
    return runner.run_campaign(opts, backend=ray_campaign.RayBackend if opts.ray is not None else None)


def cmd_task(opts: argparse.Namespace) -> int:
    return run_task(opts.goal, domain_from(opts.domain_id), opts.json, opts.timeout, cancel_wait=opts.cancel_wait)


def _bad_timeout(command: str, timeout: float) -> bool:
    if timeout > 0:
        return False
    print(f"armbrain {command}: error: --timeout must be > 0 seconds, got {timeout:g}", file=sys.stderr)
    return True


def cmd_estop(opts: argparse.Namespace) -> int:
    action = "release" if opts.release else "status" if opts.status else "engage"
    if _bad_timeout("estop", opts.timeout):
        return 2
    return run_estop(action, opts.reason, domain_from(opts.domain_id), opts.timeout)


def cmd_health(opts: argparse.Namespace) -> int:
    if _bad_timeout("health", opts.timeout):
        return 2
    return run_health(domain_from(opts.domain_id), opts.json, opts.timeout)


def cmd_console(opts: argparse.Namespace) -> int:
    return console.run_console(opts, domain_from(opts.domain_id))


def cmd_objects(opts: argparse.Namespace) -> int:
    return run_objects(domain_from(opts.domain_id), opts.json, opts.timeout)


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    try:
        return opts.func(opts)
    except GraphError as exc:
        print(f"armbrain {opts.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
