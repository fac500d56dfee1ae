"""`armbrain task` and `armbrain objects` against small stand-in servers over real DDS."""

import json
import os
import re
import signal
import subprocess

import pytest

from conftest import ARMBRAIN, TESTS, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "roundtrip.yaml"


def cli(domain_id, *args, timeout=60):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
    return subprocess.run([str(ARMBRAIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_task_success_json_and_failure(launch, domain_id):
    run = launch(GRAPH, "planner_stand_in")
    ok = cli(domain_id, "task", "stages 3")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0] == "goal accepted: stages 3"
    assert any("stage_3" in line and "100%" in line for line in lines)  # live progress bar
    assert lines[-1] == "SUCCESS: ran 3 stages"

    as_json = cli(domain_id, "task", "--json", "stages 2")
    assert as_json.returncode == 0
    result = json.loads(as_json.stdout)
    assert result["status"] == "succeeded" and result["error"] == "SUCCESS"
    assert [s["stage"] for s in result["stages"]] == ["stage_1", "stage_2"]

    bad = cli(domain_id, "task", "dance")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == "FAILED (INVALID_GOAL): cannot parse 'dance'; expected 'stages N'"
    assert run.stop() == 0


def test_ctrl_c_cancels_the_goal(launch, domain_id):
    run = launch(GRAPH, "planner_stand_in")
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
    proc = subprocess.Popen([str(ARMBRAIN), "task", "stages 5000"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    wait_for(lambda: ((line := proc.stdout.readline()) and lines.append(line)) or any("stage_" in s for s in lines),
             60, "live progress")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "canceling the goal" in err
    assert "FAILED (CANCELED): canceled before stage" in out
    assert run.stop() == 0


def test_no_planner_is_reported(domain_id):
    res = cli(domain_id, "task", "--timeout", "2", "put the red cube in the bin")
    assert res.returncode == 3
    assert res.stderr.strip() == (f"armbrain task: error: no planner answers on 'planner/execute_task' "
                                  f"(ROS_DOMAIN_ID {domain_id}); is the brain running? start it with "
                                  "'armbrain launch'")


def test_objects_lists_what_perception_publishes(domain_id, ros_context):
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    node = Node("fake_perception", context=ros_context)
    pub = node.create_publisher(DetectedObjectArray, "perception/objects",
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    msg = DetectedObjectArray()
    msg.header.frame_id = "panda_link0"
    o = DetectedObject(id="obj_4", label="red cube", color_name="red", shape="box", confidence=0.9)
    o.pose.position.x, o.pose.position.y, o.pose.position.z = 0.5, -0.1, 0.025
    o.size.x = o.size.y = o.size.z = 0.05
    msg.objects.append(o)
    timer = node.create_timer(0.05, lambda: pub.publish(msg))
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(node)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
    proc = subprocess.Popen([str(ARMBRAIN), "objects"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: ex.spin_once(timeout_sec=0.05) or proc.poll() is not None, 60, "armbrain objects to finish")
    out, err = proc.communicate()
    timer.cancel()
    ex.shutdown()
    node.destroy_node()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["id       label                x (m)   y (m)   z (m)  size (cm)",
                                "obj_4    red cube             0.500  -0.100   0.025  5.0 x 5.0 x 5.0"]


def test_objects_without_perception(domain_id):
    res = cli(domain_id, "objects", "--timeout", "1")
    assert res.returncode == 3
    assert "nothing on 'perception/objects' within 1 s" in res.stderr


@pytest.fixture
def start_task(domain_id):
    """start_task(*args): `armbrain task ...` as a child process, returned once it shows live
    progress; one still running at the end of the test (it hung) is killed."""
    started = []

    def _start(*args):
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
        proc = subprocess.Popen([str(ARMBRAIN), "task", *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        started.append(proc)
        lines = []
        wait_for(lambda: ((line := proc.stdout.readline()) and lines.append(line))
                 or any("stage_" in s for s in lines), 60, "live progress")
        return proc

    yield _start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exit_3_when_the_planner_dies_during_the_goal_even_if_it_is_restarted(launch, start_task):
    run = launch(GRAPH, "planner_stand_in_respawn")
    proc = start_task("stages 100000")
    (pid,) = [int(p) for p in re.findall(r"started planner_stand_in_respawn \(pid (\d+)\)", run.output)]
    os.kill(pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert err.strip().splitlines()[-1].startswith(
        "armbrain task: error: the planner went away during the goal: no action server on 'planner/execute_task' "
        "that knows it (the planner died or was stopped; a restarted planner does not know the goal)")
    run.wait_for_output(r"planner_stand_in_respawn exited \(signal SIGKILL\); respawning in 0.2 s")
    assert run.stop() == 0


def test_ctrl_c_twice_ends_the_command_when_the_planner_does_not_end_the_goal(launch, start_task):
    run = launch(GRAPH, "planner_stand_in_hung")
    proc = start_task("stages 100000")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: "canceling the goal" in proc.stderr.readline(), 60, "the cancel to be announced")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "armbrain task: second Ctrl-C: leaving without the result" in err
    assert run.stop() == 0


def test_one_ctrl_c_ends_the_command_after_cancel_wait_when_the_planner_does_not_end_the_goal(launch, start_task):
    run = launch(GRAPH, "planner_stand_in_hung")
    proc = start_task("--cancel-wait", "1", "stages 100000")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "canceling the goal (the arm stops and holds) ... (waiting up to 1 s for its result" in err
    assert err.strip().splitlines()[-1] == (
        "armbrain task: error: the planner did not end the canceled goal within 1 s; leaving without its result "
        "(is the planner hung? its output is in the launcher's)")
    assert run.stop() == 0
