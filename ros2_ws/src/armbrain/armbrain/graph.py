"""The node-graph description shared by `armbrain launch` and `ros2 launch`.

The graph is data (YAML, e.g. ``launch/graph.yaml``), read by this module only.
Schema::

    arguments:                      # launch arguments, "name:=value" on the command line
      sim:
        default: "true"             # omitted: the argument is required
        choices: ["true", "false"]  # optional
        description: "..."
    nodes:
      - name: sim_bridge            # ROS node name, unique
        package: armbrain_sim       # ament package ...
        executable: sim_bridge      # ... and its console script
        # or, instead of package/executable:
        # script: nodes/echo.py     # a Python file, relative to the graph file
        parameters:                 # applied in order, later wins
          - armbrain_sim:config/sim_bridge.yaml   # "<package>:<path in its share dir>"
          - {scenario: "$(arg scenario)"}         # inline values
        remappings: {camera: /camera}             # from: to
        if: "$(arg sim)"            # start only when true ("unless:" for the opposite)
        required: true              # its exit stops the whole graph (default true)
        respawn: false              # restart it when it exits (default false); then:
        respawn_delay: 1.0          #   seconds before the first restart, doubling with each
        respawn_max_delay: 30.0     #   restart (exponential backoff) up to this many seconds
        respawn_max: 5              #   restarts within respawn_window seconds before the
        respawn_window: 60.0        #   launcher gives up on it (armbrain.respawn)
        env: {NAME: value}          # extra environment variables
    remappings:                     # optional: applied to every node (after its own)
      camera/color/image_raw: "$(arg camera_color_topic)"
    robot_config:                   # optional: hardware description files
      argument: robot_config        # the launch argument that names one ...
      directory: ../config/robots   # ... in this directory (relative to the graph file)

String values may contain ``$(arg NAME)``, replaced by the argument's value. A
remapping whose two sides are equal after substitution is dropped (a no-op).

A robot configuration (``config/robots/*.yaml``; schema in :func:`load_robot_config`)
supplies defaults for launch arguments (the command line wins), remappings for
every node, and extra parameters files per node.

Both launchers use the same translation: :func:`resolve_arguments` checks the
arguments, :func:`plan_nodes` turns the graph into a list of :class:`PlannedNode`
(what to start, with which parameters and remappings). ``armbrain launch`` makes
command lines of them (:func:`resolve_nodes`); ``launch/armbrain.launch.py`` makes
launch_ros ``Node`` actions of them.

This module has no ROS imports: the package share lookup and executable lookup
are injected, so it is unit-testable and usable from a ros2 launch file. The
default graph file (:func:`default_graph_path`) and the usual share lookup
(:func:`share_dir`, the ament index; imported only when called) live here too,
so every tool that starts the graph (cli, runner, demo, the launch file) finds
them in the module that owns the graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from armbrain.respawn import FIELDS as RESPAWN_FIELDS
from armbrain.respawn import RespawnPolicy, check_respawn_policy
from brain_common.cell import cell_from_dict
from brain_common.runtime import check_parameters_file as _check_parameters_file
from brain_common.share import share_dir as _share_dir

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
_ARG_RE = re.compile(r"\$\(arg ([A-Za-z_][A-Za-z0-9_]*)\)")
_NODE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NODE_KEYS = {
    "name", "package", "executable", "script", "parameters", "remappings",
    "if", "unless", "required", "respawn", "env", *RESPAWN_FIELDS,
}
_ARG_KEYS = {"default", "choices", "description"}
_TOP_KEYS = ("arguments", "nodes", "remappings", "robot_config")
_ROBOT_KEYS = {"argument", "directory"}
_ROBOT_CONFIG_KEYS = ("description", "arguments", "remappings", "parameters", "cell")
CELL_PARAMETER = "cell_file"  # every node is given its robot configuration's path, to read the Cell from
GRAPH_RELATIVE = Path("launch") / "graph.yaml"  # the graph file, relative to the checkout or share dir


class GraphError(ValueError):
    """A graph description, an argument or a parameters file is invalid."""


@dataclass(frozen=True)
class ArgumentSpec:
    name: str
    default: str | None
    choices: tuple[str, ...] | None
    description: str


@dataclass(frozen=True)
class ParameterFile:
    """A parameters file given as ``<package>:<path inside the package's share dir>``."""

    package: str
    relative_path: str


@dataclass(frozen=True)
class NodeSpec:
    name: str
    package: str | None
    executable: str | None
    script: Path | None
    parameters: tuple[ParameterFile | dict[str, Any], ...]
    remappings: tuple[tuple[str, str], ...]
    condition_if: str | None
    condition_unless: str | None
    required: bool
    respawn: RespawnPolicy | None  # None: not restarted
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RobotConfigSpec:
    """Where a graph's robot configurations live: the launch argument naming one and
    the directory its plain file names are looked up in."""

    argument: str
    directory: Path


@dataclass(frozen=True)
class Graph:
    path: Path
    arguments: dict[str, ArgumentSpec]
    nodes: tuple[NodeSpec, ...]
    remappings: tuple[tuple[str, str], ...] = ()
    robot: RobotConfigSpec | None = None

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]


@dataclass(frozen=True)
class RobotConfig:
    """One robot configuration file (config/robots/*.yaml), validated.

    arguments: launch-argument defaults this robot implies (a value given on the
    command line wins); remappings: applied to every node; parameters: node name ->
    extra parameters files (absolute), loaded after the node's own files.
    """

    path: Path
    description: str
    arguments: dict[str, str]
    remappings: tuple[tuple[str, str], ...]
    parameters: dict[str, tuple[Path, ...]]
    has_cell: bool = False


@dataclass(frozen=True)
class PlannedNode:
    """A node as any launch system starts it: the graph after argument substitution,
    conditions and the robot configuration. Both `armbrain launch` and
    launch/armbrain.launch.py are built on this list.

    parameters: in order (later wins): parameters files (absolute, checked) and
    mappings of inline values (typed: ``"$(arg seed)"`` became an int).
    remappings: (from, to) pairs, no duplicates of a "from" and no no-ops.
    """

    name: str
    package: str | None
    executable: str | None
    script: Path | None
    parameters: tuple[Path | dict[str, Any], ...]
    remappings: tuple[tuple[str, str], ...]
    required: bool
    respawn: RespawnPolicy | None  # None: not restarted
    env: dict[str, str]

    @property
    def parameter_files(self) -> tuple[Path, ...]:
        return tuple(p for p in self.parameters if isinstance(p, Path))


@dataclass(frozen=True)
class ResolvedNode:
    """A node ready to start: its command line and extra environment."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str]
    required: bool
    respawn: RespawnPolicy | None  # None: not restarted
    parameter_files: tuple[Path, ...]


def share_dir(package: str) -> Path:
    """share/<package> of an installed ament package; GraphError (naming the package
    and the fix) when it is not installed."""
    try:
        return _share_dir(package)
    except LookupError as exc:
        raise GraphError(str(exc)) from None


def default_graph_path() -> Path:
    """launch/graph.yaml of the armbrain checkout: searched from the current
    directory upwards, then next to this (editable) installation, then in the
    armbrain share directory (a colcon install)."""
    for d in [Path.cwd(), *Path.cwd().parents]:
        if (d / GRAPH_RELATIVE).is_file():
            return d / GRAPH_RELATIVE
    here = Path(__file__).resolve()
    for d in here.parents:
        if (d / GRAPH_RELATIVE).is_file():
            return d / GRAPH_RELATIVE
    try:  # a colcon install: setup.py installs it into the armbrain share directory
        installed = share_dir("armbrain") / GRAPH_RELATIVE
    except (GraphError, ImportError):
        installed = None
    if installed is not None and installed.is_file():
        return installed
    raise GraphError(f"cannot find {GRAPH_RELATIVE} in {Path.cwd()} or its parents; give --graph FILE")


def _expect(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise GraphError(f"{where}: {msg}")


def _scalar_str(value: Any, where: str) -> str:
    _expect(isinstance(value, (str, int, float, bool)), where,
            f"expected a string, got {type(value).__name__} {value!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_graph(path: str | Path) -> Graph:
    """Read and validate a graph description; raises GraphError naming file and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GraphError(f"{path}: cannot read graph description ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GraphError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    where = str(path)
    _expect(isinstance(data, dict), where, "expected a mapping with 'arguments' and 'nodes'")
    unknown = set(data) - set(_TOP_KEYS)
    _expect(not unknown, where, f"unknown top-level key(s) {sorted(unknown)}; valid: {', '.join(_TOP_KEYS)}")

    arguments: dict[str, ArgumentSpec] = {}
    raw_args = data.get("arguments") or {}
    _expect(isinstance(raw_args, dict), f"{where}: arguments", "expected a mapping of argument names")
    for name, spec in raw_args.items():
        w = f"{where}: arguments.{name}"
        spec = spec or {}
        _expect(isinstance(spec, dict), w, "expected a mapping with default/choices/description")
        bad = set(spec) - _ARG_KEYS
        _expect(not bad, w, f"unknown key(s) {sorted(bad)}; valid: {sorted(_ARG_KEYS)}")
        default = spec.get("default")
        default = None if default is None else _scalar_str(default, f"{w}.default")
        choices = spec.get("choices")
        if choices is not None:
            _expect(isinstance(choices, list) and choices, f"{w}.choices", "expected a non-empty list")
            choices = tuple(_scalar_str(c, f"{w}.choices") for c in choices)
            if default is not None and "$(" not in default:
                _expect(default in choices, f"{w}.default", f"{default!r} is not one of {list(choices)}")
        arguments[str(name)] = ArgumentSpec(str(name), default, choices, str(spec.get("description", "")))

    raw_nodes = data.get("nodes") or []
    _expect(isinstance(raw_nodes, list), f"{where}: nodes", "expected a list of nodes")
    nodes: list[NodeSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        w = f"{where}: nodes[{i}]"
        _expect(isinstance(raw, dict), w, "expected a mapping")
        name = raw.get("name")
        _expect(isinstance(name, str) and bool(_NODE_NAME_RE.match(name)), f"{w}.name",
                f"{name!r} is not a valid node name (letters, digits, underscores)")
        w = f"{where}: nodes[{i}] ({name})"
        _expect(name not in seen, w, "duplicate node name")
        seen.add(name)
        bad = set(raw) - _NODE_KEYS
        _expect(not bad, w, f"unknown key(s) {sorted(bad)}; valid: {sorted(_NODE_KEYS)}")
        script = raw.get("script")
        package, executable = raw.get("package"), raw.get("executable")
        if script is not None:
            _expect(package is None and executable is None, w, "give either script or package+executable")
            script_path = (path.parent / str(script)).resolve()
        else:
            _expect(isinstance(package, str) and isinstance(executable, str), w,
                    "needs 'package' and 'executable' (or 'script')")
            script_path = None
        params: list[ParameterFile | dict[str, Any]] = []
        raw_params = raw.get("parameters") or []
        _expect(isinstance(raw_params, list), f"{w}.parameters", "expected a list")
        for j, p in enumerate(raw_params):
            if isinstance(p, str):
                pkg, sep, rel = p.partition(":")
                _expect(bool(sep and pkg and rel), f"{w}.parameters[{j}]",
                        f"{p!r} should be '<package>:<path in its share dir>'")
                params.append(ParameterFile(pkg, rel))
            else:
                _expect(isinstance(p, dict), f"{w}.parameters[{j}]",
                        "expected '<package>:<file>' or a mapping of values")
                params.append(dict(p))
        remaps = raw.get("remappings") or {}
        _expect(isinstance(remaps, dict), f"{w}.remappings", "expected a mapping from: to")
        env = raw.get("env") or {}
        _expect(isinstance(env, dict), f"{w}.env", "expected a mapping NAME: value")
        for key in ("required", "respawn"):
            _expect(isinstance(raw.get(key, False), bool), f"{w}.{key}", "expected true or false")
        respawn = None
        if raw.get("respawn", False):
            try:
                respawn = check_respawn_policy(raw, w)
            except ValueError as exc:
                raise GraphError(str(exc)) from None
        else:
            given = sorted(set(raw) & set(RESPAWN_FIELDS))
            _expect(not given, w, f"{', '.join(given)} given but respawn is not true; "
                    "add 'respawn: true' or remove them")
        nodes.append(NodeSpec(
            name=name,
            package=package,
            executable=executable,
            script=script_path,
            parameters=tuple(params),
            remappings=tuple((str(k), _scalar_str(v, f"{w}.remappings.{k}")) for k, v in remaps.items()),
            condition_if=None if raw.get("if") is None else _scalar_str(raw["if"], f"{w}.if"),
            condition_unless=None if raw.get("unless") is None else _scalar_str(raw["unless"], f"{w}.unless"),
            required=raw.get("required", True),
            respawn=respawn,
            env={str(k): _scalar_str(v, f"{w}.env.{k}") for k, v in env.items()},
        ))
    remaps = data.get("remappings") or {}
    _expect(isinstance(remaps, dict), f"{where}: remappings", "expected a mapping from: to")
    global_remaps = tuple((str(k), _scalar_str(v, f"{where}: remappings.{k}")) for k, v in remaps.items())

    robot = None
    raw_robot = data.get("robot_config")
    if raw_robot is not None:
        w = f"{where}: robot_config"
        _expect(isinstance(raw_robot, dict), w, "expected a mapping with 'argument' and 'directory'")
        bad = set(raw_robot) - _ROBOT_KEYS
        _expect(not bad, w, f"unknown key(s) {sorted(bad)}; valid: {sorted(_ROBOT_KEYS)}")
        arg, directory = raw_robot.get("argument"), raw_robot.get("directory")
        _expect(isinstance(arg, str) and isinstance(directory, str), w, "needs 'argument' and 'directory'")
        _expect(arg in arguments, f"{w}.argument", f"no argument '{arg}' is declared")
        default = arguments[arg].default
        _expect(default is None or "$(" not in default, f"{where}: arguments.{arg}.default",
                "the robot configuration argument cannot refer to other arguments")
        robot = RobotConfigSpec(arg, (path.parent / directory).resolve())

    graph = Graph(path=path, arguments=arguments, nodes=tuple(nodes), remappings=global_remaps, robot=robot)
    _check_arg_references(graph, [raw_nodes, remaps])
    return graph


def _check_arg_references(graph: Graph, raw: list) -> None:
    text = yaml.safe_dump(raw) + yaml.safe_dump([a.default for a in graph.arguments.values()])
    for name in _ARG_RE.findall(text):
        _expect(name in graph.arguments, str(graph.path),
                f"$(arg {name}) is used but no argument '{name}' is declared")


def substitute(value: Any, args: dict[str, str]) -> Any:
    """Replace ``$(arg NAME)`` in strings (recursively in lists and dicts)."""
    if isinstance(value, str):
        return _ARG_RE.sub(lambda m: args[m.group(1)], value)
    if isinstance(value, list):
        return [substitute(v, args) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, args) for k, v in value.items()}
    return value


def resolve_arguments(graph: Graph, given: dict[str, str]) -> dict[str, str]:
    """Check given argument values against the graph; fill in defaults.

    Precedence: a given value, then the robot configuration's value (when the graph
    has robot configurations), then the graph's default.
    """
    unknown = sorted(set(given) - set(graph.arguments))
    if unknown:
        valid = ", ".join(sorted(graph.arguments)) or "(none)"
        raise GraphError(f"unknown launch argument '{unknown[0]}'; valid arguments: {valid}")
    robot = robot_config_for(graph, given)
    from_robot = dict(robot.arguments) if robot is not None else {}
    values: dict[str, str] = {}
    pending = []
    for name, spec in graph.arguments.items():
        if name in given:
            values[name] = given[name]
        elif name in from_robot:
            values[name] = from_robot[name]
        elif spec.default is None:
            raise GraphError(f"launch argument '{name}' is required ({spec.description or 'no description'})")
        else:
            pending.append(name)
    for name in pending:  # defaults may refer to other arguments
        default = graph.arguments[name].default
        assert default is not None
        try:
            values[name] = substitute(default, values)
        except KeyError as exc:
            raise GraphError(f"default of argument '{name}' refers to $(arg {exc.args[0]}), "
                             "which has no value yet") from None
    for name, value in values.items():
        choices = graph.arguments[name].choices
        if choices is not None and value not in choices:
            origin = f" (set by robot config {robot.path.name})" if robot and name in from_robot \
                and name not in given else ""
            raise GraphError(f"launch argument {name}:={value}{origin} is not valid; choices: {', '.join(choices)}")
    return {name: values[name] for name in graph.arguments}


# -- robot configurations ----------------------------------------------------------

def available_robot_configs(graph: Graph) -> list[str]:
    """File names of the robot configurations in the graph's directory (sorted)."""
    if graph.robot is None or not graph.robot.directory.is_dir():
        return []
    return sorted(p.name for p in graph.robot.directory.glob("*.yaml") if p.is_file())


def find_robot_config(graph: Graph, value: str) -> Path:
    """The file a ``robot_config:=value`` names: a path (containing '/'), or a file name
    (".yaml" optional) in the graph's robot directory. Raises GraphError listing the
    available ones."""
    assert graph.robot is not None
    arg = graph.robot.argument
    if not value:
        raise GraphError(f"launch argument {arg}:= is empty; choices: "
                         f"{', '.join(available_robot_configs(graph)) or '(none)'} (or a path to a file)")
    if "/" in value:
        candidates = [Path(value).expanduser()]
    else:
        d = graph.robot.directory
        candidates = [d / value] if value.endswith((".yaml", ".yml")) else [d / value, d / f"{value}.yaml"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    what = f"{candidates[0]} does not exist" if "/" in value else \
        f"no such robot configuration in {graph.robot.directory}"
    raise GraphError(f"launch argument {arg}:={value}: {what}; choices: "
                     f"{', '.join(available_robot_configs(graph)) or '(none)'} (or a path to a file)")


def load_robot_config(path: Path, graph: Graph) -> RobotConfig:
    """Read and validate a robot configuration against the graph it is used with.

    Schema (every key optional)::

        description: "..."
        arguments:                 # launch-argument defaults (the command line wins)
          sim: "false"
          camera_color_topic: /camera/camera/color/image_raw
        remappings:                # the brain's name -> this robot's, for every node
          arm_controller/joint_trajectory: /panda_arm_controller/joint_trajectory
        parameters:                # node -> extra parameters files, relative to this file
          perception: [my_cell/perception_tuning.yaml]
        cell: {...}                # the work cell (brain_common.cell.load_cell): checked here,
                                   # read by every node from this file (parameter cell_file)
    """
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise GraphError(f"{where}: cannot read robot configuration ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise GraphError(f"{where}: not valid YAML: {exc}".replace("\n", " ")) from None
    data = data or {}
    _expect(isinstance(data, dict), where, "expected a mapping with " + ", ".join(_ROBOT_CONFIG_KEYS))
    bad = set(data) - set(_ROBOT_CONFIG_KEYS)
    _expect(not bad, where, f"unknown key(s) {sorted(bad)}; valid: {', '.join(_ROBOT_CONFIG_KEYS)}")

    raw_args = data.get("arguments") or {}
    _expect(isinstance(raw_args, dict), f"{where}: arguments", "expected a mapping name: value")
    arguments: dict[str, str] = {}
    for name, value in raw_args.items():
        _expect(name in graph.arguments, f"{where}: arguments.{name}",
                f"not an argument of {graph.path.name}; valid: {', '.join(sorted(graph.arguments))}")
        _expect(graph.robot is None or name != graph.robot.argument, f"{where}: arguments.{name}",
                "a robot configuration cannot choose another one")
        text = _scalar_str(value, f"{where}: arguments.{name}")
        _expect("$(" not in text, f"{where}: arguments.{name}", "substitutions are not allowed here")
        arguments[str(name)] = text

    raw_remaps = data.get("remappings") or {}
    _expect(isinstance(raw_remaps, dict), f"{where}: remappings", "expected a mapping from: to")
    graph_sources = {src: dst for src, dst in graph.remappings}
    remappings = []
    for src, dst in raw_remaps.items():
        w = f"{where}: remappings.{src}"
        if src in graph_sources:
            hint = _ARG_RE.search(graph_sources[src])
            fix = f"set the argument {hint.group(1)} instead" if hint else "the graph already remaps it"
            raise GraphError(f"{w}: {src} is remapped by {graph.path.name}; {fix}")
        remappings.append((str(src), _scalar_str(dst, w)))

    raw_params = data.get("parameters") or {}
    _expect(isinstance(raw_params, dict), f"{where}: parameters", "expected a mapping node: [files]")
    parameters: dict[str, tuple[Path, ...]] = {}
    for node, files in raw_params.items():
        w = f"{where}: parameters.{node}"
        _expect(node in graph.node_names, w,
                f"no node '{node}' in {graph.path.name}; nodes: {', '.join(graph.node_names)}")
        files = [files] if isinstance(files, str) else files
        _expect(isinstance(files, list) and all(isinstance(f, str) for f in files), w,
                "expected a list of parameters files")
        parameters[str(node)] = tuple((path.parent / f).resolve() for f in files)

    if "cell" in data:
        try:
            cell_from_dict(data["cell"], where)
        except ValueError as exc:
            raise GraphError(str(exc)) from None

    description = data.get("description", "")
    return RobotConfig(path, str(description), arguments, tuple(remappings), parameters,
                       has_cell="cell" in data)


def robot_config_for(graph: Graph, args: dict[str, str]) -> RobotConfig | None:
    """The robot configuration named by `args` (or the argument's default); None when
    the graph has no robot configurations."""
    if graph.robot is None:
        return None
    name = args.get(graph.robot.argument, graph.arguments[graph.robot.argument].default)
    if name is None:
        raise GraphError(f"launch argument '{graph.robot.argument}' is required; choices: "
                         f"{', '.join(available_robot_configs(graph)) or '(none)'} (or a path to a file)")
    return load_robot_config(find_robot_config(graph, name), graph)


def truthy(value: str, where: str) -> bool:
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise GraphError(f"{where}: {value!r} is neither true nor false")


def node_enabled(node: NodeSpec, args: dict[str, str]) -> bool:
    if node.condition_if is not None and not truthy(substitute(node.condition_if, args), f"{node.name}.if"):
        return False
    unless = node.condition_unless
    return not (unless is not None and truthy(substitute(unless, args), f"{node.name}.unless"))


def check_parameters_file(path: Path) -> None:
    """Raise GraphError unless `path` is a readable ROS 2 parameters file
    (brain_common.runtime.check_parameters_file)."""
    try:
        _check_parameters_file(path)
    except ValueError as exc:
        raise GraphError(str(exc)) from None


def check_selection(graph: Graph, select: list[str] | None) -> None:
    """Raise GraphError naming the graph's nodes if `select` names an unknown one."""
    unknown = [s for s in select or [] if s not in graph.node_names]
    if unknown:
        raise GraphError(f"unknown node '{unknown[0]}'; nodes in {graph.path.name}: "
                         f"{', '.join(graph.node_names)}")


def plan_nodes(
    graph: Graph,
    args: dict[str, str],
    select: list[str] | None,
    share_dir: Callable[[str], Path],
) -> list[PlannedNode]:
    """The nodes to start for these (resolved) arguments, in graph order.

    select: node names to start even when their condition is false (None or empty:
    every enabled node). share_dir(package) -> the package's share directory (raises
    GraphError if unknown). Parameters files are checked here, so a missing or broken
    one fails before anything starts.
    """
    check_selection(graph, select)
    robot = robot_config_for(graph, args)
    planned = []
    for node in graph.nodes:
        if select and node.name not in select:
            continue
        if not select and not node_enabled(node, args):
            continue
        if node.script is not None and not node.script.is_file():
            raise GraphError(f"node {node.name}: script {node.script} does not exist")
        files: list[Path] = []
        params: list[Path | dict[str, Any]] = []
        for p in node.parameters:
            if isinstance(p, ParameterFile):
                files.append(share_dir(p.package) / substitute(p.relative_path, args))
                params.append(files[-1])
            else:
                params.append({k: _typed(v, args) for k, v in p.items()})
        extra: list[Path | dict[str, Any]] = list(robot.parameters.get(node.name, ())) if robot is not None else []
        files += [p for p in extra if isinstance(p, Path)]
        if robot is not None and robot.has_cell:  # every node reads the one Cell from this file
            extra.append({CELL_PARAMETER: str(robot.path)})
        if extra:  # after the node's own files, before its inline values (rcl: a -p before a
            # --params-file loses to it, so values come after every file)
            last_file = max((i for i, p in enumerate(params) if isinstance(p, Path)), default=-1)
            params[last_file + 1:last_file + 1] = extra
        for f in files:
            try:
                check_parameters_file(f)
            except GraphError as exc:
                raise GraphError(f"node {node.name}: {exc}") from None
        remaps: dict[str, str] = {}
        rules = [*node.remappings, *graph.remappings, *(robot.remappings if robot is not None else ())]
        for src, dst in rules:
            src, dst = substitute(src, args), substitute(dst, args)
            if src != dst:
                remaps.setdefault(src, dst)  # the most specific rule wins (rcl applies the first match)
        planned.append(PlannedNode(
            name=node.name,
            package=node.package,
            executable=node.executable,
            script=node.script,
            parameters=tuple(params),
            remappings=tuple(remaps.items()),
            required=node.required,
            respawn=node.respawn,
            env={k: substitute(v, args) for k, v in node.env.items()},
        ))
    return planned


def command_line(node: PlannedNode, find_executable: Callable[[str, str], str], python: str) -> tuple[str, ...]:
    """The command that starts a planned node: its program, then ``--ros-args`` with the
    node name, parameters (files and ``-p`` values, in order) and remappings."""
    if node.script is not None:
        command = [python, str(node.script)]
    else:
        assert node.package is not None and node.executable is not None
        command = [find_executable(node.package, node.executable)]
    command += ["--ros-args", "-r", f"__node:={node.name}"]
    for p in node.parameters:
        if isinstance(p, Path):
            command += ["--params-file", str(p)]
        else:
            for k, v in p.items():
                command += ["-p", f"{k}:={_param_literal(v)}"]
    for src, dst in node.remappings:
        command += ["-r", f"{src}:={dst}"]
    return tuple(command)


def resolve_nodes(
    graph: Graph,
    args: dict[str, str],
    select: list[str] | None,
    share_dir: Callable[[str], Path],
    find_executable: Callable[[str, str], str],
    python: str,
) -> list[ResolvedNode]:
    """Turn the graph into command lines for the enabled (and selected) nodes.

    share_dir(package) -> the package's share directory (raises GraphError if unknown);
    find_executable(package, executable) -> path of its program (raises GraphError).
    """
    return [
        ResolvedNode(
            name=n.name,
            command=command_line(n, find_executable, python),
            env=dict(n.env),
            required=n.required,
            respawn=n.respawn,
            parameter_files=n.parameter_files,
        )
        for n in plan_nodes(graph, args, select, share_dir)
    ]


def _typed(value: Any, args: dict[str, str]) -> Any:
    """Substitute arguments; a value that was an ``$(arg ...)`` string takes the
    YAML type of its result (``"$(arg use_sim_time)"`` -> bool), as in ros2 launch."""
    if isinstance(value, str) and _ARG_RE.search(value):
        text = substitute(value, args)
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        return parsed if isinstance(parsed, (bool, int, float, str)) else text
    return substitute(value, args)


def _param_literal(value: Any) -> str:
    """A ``-p name:=value`` literal; rcl parses it as YAML, so strings are quoted."""
    if isinstance(value, str):
        return yaml.safe_dump(value, default_style="'").strip().removesuffix("\n...")
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")
