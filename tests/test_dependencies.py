"""Declared dependencies equal imports, packages stand in layers, and nothing imports in a circle.

Read from the code with `ast` (nothing is imported or run):

(a) for every ament_python package, the first-party packages its modules import (at the top
    or inside a function) are exactly the first-party ``<exec_depend>``s of its package.xml,
    and every ROS package it imports (rclpy, *_msgs, *_srvs, *_interfaces, ...) is declared;
(b) the package graph has no cycle and keeps its floors: brain_common is the ground and
    depends on no other package of this repository; the nodes (perception, planner,
    grasping) talk over topics, never import each other, the tooling (armbrain) or the
    sim; the sim (armbrain_sim) imports no brain node and no tooling; armbrain, the top
    floor, may use all of them;
(c) inside each package, the modules do not import each other in a circle (a lazy
    import inside a function counts: it hides a circle, it does not break it).

Imports made by name at run time (importlib.import_module) are not seen.
"""

from __future__ import annotations

import ast
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE_DIRS = sorted([*(ROOT / "ros2_ws" / "src").glob("*/package.xml"), ROOT / "sim" / "package.xml"])
EXPECTED = {"brain_common", "perception", "planner", "grasping", "armbrain", "armbrain_sim"}
BRAIN_NODES = ("perception", "planner", "grasping")
# What each package must never depend on (besides any cycle). brain_common: anything first-party.
FORBIDDEN = {
    "brain_common": {"*"},
    **{n: {"armbrain", "armbrain_sim", *(m for m in BRAIN_NODES if m != n)} for n in BRAIN_NODES},
    "armbrain_sim": {"armbrain", *BRAIN_NODES},
}
# ROS packages outside this repository that an import names: they must be declared too.
ROS_NAMES = {"rclpy", "ament_index_python", "launch", "launch_ros", "rosbag2_py", "message_filters",
             "cv_bridge", "tf2_ros", "tf2_py"}
ROS_PATTERN = re.compile(r"^(.+_(msgs|srvs|interfaces)|tf2_.+|rosidl_.+)$")


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, as seen in `path` at `line`."""

    module: str  # absolute dotted name (relative imports resolved)
    path: Path
    line: int
    text: str  # the statement, for messages

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line} `{self.text}`"


@dataclass
class Package:
    name: str
    root: Path  # the directory holding package.xml
    depends: set[str]  # <exec_depend> and <depend>
    modules: dict[str, Path] = field(default_factory=dict)  # dotted module name -> file


def read_package(package_xml: Path) -> Package:
    tree = ET.parse(package_xml).getroot()
    name = tree.findtext("name").strip()
    depends = {e.text.strip() for tag in ("exec_depend", "depend") for e in tree.iter(tag)}
    pkg = Package(name, package_xml.parent, depends)
    py_root = package_xml.parent / name
    if (py_root / "__init__.py").is_file():
        for f in sorted(py_root.rglob("*.py")):
            parts = f.relative_to(package_xml.parent).with_suffix("").parts
            pkg.modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return pkg


def read_packages(package_xmls: Iterable[Path]) -> dict[str, Package]:
    return {p.name: p for p in map(read_package, package_xmls)}


def imports_in(path: Path, module: str) -> list[Import]:
    """Every import in the file (module level and inside functions), relative ones made absolute.
    `from a.b import c` yields a.b.c (which may be a module or a name in a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        text = lines[node.lineno - 1].strip() if isinstance(node, ast.Import | ast.ImportFrom) else ""
        if isinstance(node, ast.Import):
            found += [Import(a.name, path, node.lineno, text) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [Import(f"{base}.{a.name}" if a.name != "*" else base, path, node.lineno, text)
                      for a in node.names]
    return found


def package_imports(pkg: Package) -> list[Import]:
    return [imp for mod, f in pkg.modules.items() for imp in imports_in(f, mod)]


def is_ros(top: str) -> bool:
    return top in ROS_NAMES or bool(ROS_PATTERN.match(top))


def check_declared(pkg: Package, first_party: set[str], root: Path) -> list[str]:
    """(a): first-party imports == first-party declarations; ROS imports declared."""
    errors, used = [], {}
    for imp in package_imports(pkg):
        top = imp.module.split(".")[0]
        if top != pkg.name and (top in first_party or is_ros(top)):
            used.setdefault(top, imp)
    for top, imp in sorted(used.items()):
        if top not in pkg.depends:
            errors.append(f"{pkg.name}: {imp.where(root)} imports {top}, which {pkg.name}/package.xml does not "
                          f"declare: add <exec_depend>{top}</exec_depend>")
    for dep in sorted((pkg.depends & first_party) - set(used) - {pkg.name}):
        errors.append(f"{pkg.name}: package.xml declares <exec_depend>{dep}</exec_depend> but no module of "
                      f"{pkg.name} imports {dep}: remove it (or import what it is declared for)")
    return errors


def package_graph(packages: Mapping[str, Package], first_party: set[str]) -> dict[str, dict[str, Import | None]]:
    """name -> {first-party dependency: an import that shows it (None: declared only)}."""
    graph: dict[str, dict[str, Import | None]] = {}
    for pkg in packages.values():
        deps: dict[str, Import | None] = dict.fromkeys((pkg.depends & first_party) - {pkg.name})
        for imp in package_imports(pkg):
            top = imp.module.split(".")[0]
            if top != pkg.name and top in first_party and deps.get(top) is None:
                deps[top] = imp
        graph[pkg.name] = deps
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (as a closed path a -> ... -> a) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; graphs here are small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for comp in components:  # walk inside the component from its first node back to it
        members, start = set(comp), min(comp)
        path, seen = [start], {start}
        while True:
            nxt = sorted(w for w in graph[path[-1]] if w in members)
            back = [w for w in nxt if w == start]
            if back:
                found.append([*path, start])
                break
            w = next((w for w in nxt if w not in seen), None)
            if w is None:  # dead end inside the component: step back
                path.pop()
                continue
            path.append(w)
            seen.add(w)
    return found


def describe_cycle(cycle: list[str], evidence: Mapping[str, Mapping[str, Import | None]], root: Path,
                   what: str) -> str:
    steps = []
    for a, b in itertools.pairwise(cycle):
        imp = evidence[a][b]
        steps.append(f"{a} -> {b} ({imp.where(root) if imp else 'declared in package.xml only'})")
    return f"{what} cycle {' -> '.join(cycle)}: " + "; ".join(steps)


def check_package_graph(packages: Mapping[str, Package], first_party: set[str], forbidden: Mapping[str, set[str]],
                        root: Path) -> list[str]:
    """(b): no cycle between packages, and no dependency a layer forbids."""
    graph = package_graph(packages, first_party)
    errors = [describe_cycle(c, graph, root, "package") for c in cycles(graph)]
    for name, deps in sorted(graph.items()):
        banned = forbidden.get(name, set())
        for dep, imp in sorted(deps.items()):
            if "*" in banned or dep in banned:
                how = imp.where(root) if imp else "package.xml"
                errors.append(f"{name} must not depend on {dep} (layers: {name} stands below it): {how}")
    return errors


def module_graph(pkg: Package) -> dict[str, dict[str, Import]]:
    """module -> {module of the same package it imports: the import}. `a.b.c` that is no module
    stands for the nearest enclosing module (a name defined in a.b)."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in pkg.modules}
    for mod, f in pkg.modules.items():
        for imp in imports_in(f, mod):
            target = imp.module
            while target and target not in pkg.modules:
                target = target.rpartition(".")[0]
            if target and target != mod:
                graph[mod].setdefault(target, imp)
    return graph


def check_module_cycles(pkg: Package, root: Path) -> list[str]:
    """(c)"""
    graph = module_graph(pkg)
    return [describe_cycle(c, graph, root, f"{pkg.name}: module") for c in cycles(graph)]


# -- the tree ------------------------------------------------------------------------------
PACKAGES = read_packages(PACKAGE_DIRS)
FIRST_PARTY = set(PACKAGES)
PYTHON_PACKAGES = sorted(n for n, p in PACKAGES.items() if p.modules)


def test_every_package_is_read():
    assert set(PYTHON_PACKAGES) == EXPECTED, f"python packages found: {PYTHON_PACKAGES}"
    assert "brain_interfaces" in FIRST_PARTY


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_declared_dependencies_equal_imports(name):
    errors = check_declared(PACKAGES[name], FIRST_PARTY, ROOT)
    assert not errors, "\n".join(errors)


def test_package_layers_without_cycles():
    errors = check_package_graph(PACKAGES, FIRST_PARTY, FORBIDDEN, ROOT)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_no_module_cycle_inside_a_package(name):
    errors = check_module_cycles(PACKAGES[name], ROOT)
    assert not errors, "\n".join(errors)


# -- the checks catch what they are for: a deliberately broken mini tree --------------------
def _package(root: Path, name: str, depends: list[str], files: dict[str, str]) -> Path:
    d = root / name
    (d / name).mkdir(parents=True)
    (d / name / "__init__.py").write_text("")
    for rel, text in files.items():
        (d / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / name / rel).write_text(text)
    deps = "".join(f"<exec_depend>{x}</exec_depend>" for x in depends)
    (d / "package.xml").write_text(f'<?xml version="1.0"?><package format="3"><name>{name}</name>{deps}</package>')
    return d / "package.xml"


@pytest.fixture
def broken(tmp_path):
    xmls = [
        # ground: imports the tool lazily, inside a function, and never declares it; declares an unused one
        _package(tmp_path, "ground", ["ifaces"], {
            "cell.py": "def f():\n    from tool.cli import main\n    return main\n",
            "msgs.py": "from std_msgs.msg import Header\n",
        }),
        # tool: cli <-> runner through a lazy import, and a relative import in a sub-package
        _package(tmp_path, "tool", ["ground", "rclpy"], {
            "cli.py": "import rclpy\nfrom ground.cell import f\n\ndef run():\n    from tool import runner\n",
            "runner.py": "from tool.cli import run\n",
            "sub/__init__.py": "",
            "sub/a.py": "from . import b\n",
            "sub/b.py": "from ..sub.a import x\n",
        }),
        _package(tmp_path, "ifaces", [], {}),
    ]
    return tmp_path, read_packages(xmls)


def test_undeclared_and_unused_dependencies_are_named(broken):
    root, pkgs = broken
    errors = check_declared(pkgs["ground"], set(pkgs), root)
    assert any(e.startswith("ground: ground/ground/cell.py:2 `from tool.cli import main` imports tool")
               and "<exec_depend>tool</exec_depend>" in e for e in errors), errors
    assert any("ground/ground/msgs.py:1" in e and "imports std_msgs" in e for e in errors), errors
    assert any("declares <exec_depend>ifaces</exec_depend> but no module of ground imports ifaces" in e
               for e in errors), errors
    assert len(errors) == 3, errors
    assert check_declared(pkgs["tool"], set(pkgs), root) == []


def test_package_cycle_and_layer_breach_are_named(broken):
    root, pkgs = broken
    errors = check_package_graph(pkgs, set(pkgs), {"ground": {"*"}}, root)
    cycle = [e for e in errors if e.startswith("package cycle ground -> tool -> ground")]
    assert cycle, errors
    assert "ground -> tool (ground/ground/cell.py:2 `from tool.cli import main`)" in cycle[0]
    assert "tool -> ground (tool/tool/cli.py:2 `from ground.cell import f`)" in cycle[0]
    assert any(e.startswith("ground must not depend on tool") for e in errors), errors
    assert any(e.startswith("ground must not depend on ifaces") and e.endswith("package.xml") for e in errors)


def test_module_cycles_are_named_lazy_and_relative(broken):
    root, pkgs = broken
    errors = check_module_cycles(pkgs["tool"], root)
    assert len(errors) == 2, errors
    assert any(e.startswith("tool: module cycle tool.cli -> tool.runner -> tool.cli")
               and "tool/tool/cli.py:5 `from tool import runner`" in e
               and "tool/tool/runner.py:1 `from tool.cli import run`" in e for e in errors), errors
    assert any(e.startswith("tool: module cycle tool.sub.a -> tool.sub.b -> tool.sub.a")
               and "tool/tool/sub/b.py:1 `from ..sub.a import x`" in e for e in errors), errors
    assert check_module_cycles(pkgs["ground"], root) == []


def test_a_clean_mini_tree_passes(tmp_path):
    xmls = [_package(tmp_path, "ground", [], {"cell.py": "import math\n"}),
            _package(tmp_path, "tool", ["ground", "std_msgs"], {
                "cli.py": "from std_msgs.msg import Header\nfrom tool.runner import go\n",
                "runner.py": "from ground.cell import math\n\ndef go():\n    pass\n"})]
    pkgs = read_packages(xmls)
    assert [e for p in pkgs.values() for e in check_declared(p, set(pkgs), tmp_path)] == []
    assert check_package_graph(pkgs, set(pkgs), {"ground": {"*"}}, tmp_path) == []
    assert [e for p in pkgs.values() for e in check_module_cycles(p, tmp_path)] == []
