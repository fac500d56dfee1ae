"""The pip launcher (`armbrain launch`) with real node processes."""

import os
import re
import signal

import pytest

from conftest import TESTS, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "supervision.yaml"


def test_prefixes_output_and_stops_cleanly_on_sigint(launch):
    run = launch(GRAPH, "steady")
    run.wait_for_output(r"\[steady\s*\] .*\[steady\]: up")
    assert run.stop() == 0
    out = run.output
    assert "received SIGINT; stopping steady" in out
    # Every line of the node is prefixed with its name; nothing unprefixed leaked.
    assert all(re.match(r"^\[(launch|steady)\s*\] ", line) for line in run.lines), out
    assert "Traceback" not in out


def test_sigterm_is_forwarded(launch):
    run = launch(GRAPH, "steady")
    run.wait_for_output(r"\[steady\]: up")
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0
    assert "received SIGTERM; stopping steady" in run.output


def test_required_node_death_stops_the_graph_with_failure(launch):
    run = launch(GRAPH, "steady", "quitter", "exit_code:=3")
    assert run.wait() == 1
    out = run.output
    assert "required node quitter exited (exit code 3); stopping the graph" in out
    assert "stopping steady" in out


def test_optional_node_exit_keeps_the_graph_running(launch):
    run = launch(GRAPH, "steady", "quitter_optional", "exit_code:=0", "delay:=0.2")
    run.wait_for_output(r"quitter_optional exited \(exit code 0\)")
    assert run.proc.poll() is None, "the launcher must keep running the other nodes"
    assert run.stop() == 0


def test_respawn(launch):
    run = launch(GRAPH, "quitter_respawn", "delay:=2.0", "exit_code:=0")
    # Two respawns, and the third instance up (a node stopped while it is still loading
    # rclpy's C extension dies of the signal with an ImportError the launcher reports).
    wait_for(lambda: run.output.count("[quitter_respawn]: up") >= 3, 30, "two respawns")
    assert "respawning in 0.2 s" in run.output
    assert run.stop() == 0, run.output


def test_unknown_node_name(launch):
    run = launch(GRAPH, "nosuchnode")
    assert run.wait() == 2
    assert run.lines == ["armbrain launch: error: unknown node 'nosuchnode'; nodes in supervision.yaml: "
                         "steady, quitter, quitter_respawn, quitter_optional, steady_respawn, "
                         "steady_respawn_optional"]


def test_unknown_and_invalid_arguments(launch):
    run = launch(GRAPH, "colour:=red")
    assert run.wait() == 2
    assert run.lines == ["armbrain launch: error: unknown launch argument 'colour'; "
                         "valid arguments: delay, exit_code, with_steady"]
    run = launch(GRAPH, "with_steady:=maybe")
    assert run.wait() == 2
    assert run.lines == ["armbrain launch: error: launch argument with_steady:=maybe is not valid; "
                         "choices: true, false"]


def test_condition_false_skips_node(launch):
    run = launch(GRAPH, "with_steady:=false", "exit_code:=0", "delay:=0.1", options=("--list",))
    assert run.wait() == 0
    assert "steady: " in run.output and "if $(arg with_steady)" in run.output


def test_missing_parameters_file_is_one_clear_line(launch, tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {name: n, package: armbrain, executable: armbrain,"
                     " parameters: ['armbrain:config/missing.yaml']}\n")
    run = launch(graph)
    assert run.wait() == 2
    assert len(run.lines) == 1
    assert run.lines[0].startswith("armbrain launch: error: node n: parameters file ")
    assert run.lines[0].endswith("config/missing.yaml does not exist")


def test_malformed_parameters_file_given_to_a_node(tmp_path, domain_id):
    """A node started directly with a broken --params-file says so in one line."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("exit_after:\n  ros__parameters:\n    delay: [1, \n")
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
    proc = subprocess.run([sys.executable, str(TESTS / "nodes" / "exit_after.py"), "--ros-args",
                           "--params-file", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"parameters file {bad} is not valid YAML at line" in lines[0]


def started_pids(run, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"started {name} \(pid (\d+)\)", run.output)]


def kill_instance(run, name: str, k: int) -> None:
    """SIGKILL the k-th instance (1-based) of `name` once it is up, by the pid the launcher logged."""
    wait_for(lambda: run.output.count(f"[{name}]: up") >= k and len(started_pids(run, name)) >= k, 60,
             f"instance {k} of {name} up; got:\n{run.output}")
    os.kill(started_pids(run, name)[k - 1], signal.SIGKILL)


def test_a_killed_node_is_restarted_with_backoff_until_the_launcher_gives_up(launch):
    run = launch(GRAPH, "steady", "steady_respawn")
    kill_instance(run, "steady_respawn", 1)
    run.wait_for_output(r"steady_respawn exited \(signal SIGKILL\); respawning in 0.2 s \(restart 1 of at most 2 "
                        r"within 600 s\)")
    kill_instance(run, "steady_respawn", 2)  # the backoff doubles, capped at respawn_max_delay 0.3
    run.wait_for_output(r"steady_respawn exited \(signal SIGKILL\); respawning in 0.3 s \(restart 2 of at most 2 ")
    kill_instance(run, "steady_respawn", 3)
    assert run.wait(60) == 1
    out = run.output
    assert ("giving up on steady_respawn: it exited (signal SIGKILL) after 2 restart(s) within 600 s (respawn_max 2, "
            "respawn_window 600 s in the graph); it stays down") in out
    assert "required node steady_respawn exited (signal SIGKILL); stopping the graph" in out
    assert "stopping steady" in out
    assert len(started_pids(run, "steady_respawn")) == 3


def test_an_optional_node_given_up_on_leaves_the_others_running(launch):
    run = launch(GRAPH, "steady", "steady_respawn_optional")
    kill_instance(run, "steady_respawn_optional", 1)
    kill_instance(run, "steady_respawn_optional", 2)
    run.wait_for_output(r"giving up on steady_respawn_optional: it exited \(signal SIGKILL\) after 1 restart\(s\) "
                        r".*; it stays down; the other nodes keep running")
    assert run.proc.poll() is None, "the launcher must keep running the other nodes"
    assert run.stop() == 1  # a node was lost: the graph did not end well
    assert "received SIGINT; stopping steady" in run.output
