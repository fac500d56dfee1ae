"""`armbrain task` and `armbrain objects` against small stand-in servers over real DDS."""

import json
import os
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
