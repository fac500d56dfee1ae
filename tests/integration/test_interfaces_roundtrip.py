"""brain_interfaces over real DDS between processes started by the launcher."""


import pytest

from conftest import TESTS, Spinner, wait_for

pytestmark = pytest.mark.integration
GRAPH = TESTS / "graphs" / "roundtrip.yaml"


@pytest.fixture
def node_and_executor(ros_context):
    from rclpy.node import Node

    node = Node("test_client", context=ros_context)
    spinner = Spinner(node, ros_context)
    yield node
    spinner.close()
    node.destroy_node()


def _as_data(msg):
    """A message as nested dicts/lists, for comparing every field."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {f: _as_data(getattr(msg, f)) for f in msg.get_fields_and_field_types()}
    if isinstance(msg, (list, tuple)) or hasattr(msg, "tolist"):
        return [_as_data(v) for v in (msg.tolist() if hasattr(msg, "tolist") else msg)]
    return msg


def _sample_array():
    from brain_interfaces.msg import DetectedObject, DetectedObjectArray

    msg = DetectedObjectArray()
    msg.header.frame_id = "panda_link0"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
    msg.table_detected = True
    msg.table_plane = [0.0, 0.0, 1.0, -0.0125]
    for i, (colour, shape) in enumerate([("red", "box"), ("blue", "cylinder")]):
        o = DetectedObject(id=f"obj_{i}", label=f"{colour} {'cube' if shape == 'box' else shape}",
                           color_name=colour, shape=shape, confidence=0.75 - i / 8)
        o.pose.position.x, o.pose.position.y, o.pose.position.z = 0.5, -0.1 + 0.2 * i, 0.025
        o.pose.orientation.z, o.pose.orientation.w = 0.3826834, 0.9238795
        o.size.x = o.size.y = o.size.z = 0.05
        o.mean_rgb.r, o.mean_rgb.g, o.mean_rgb.b, o.mean_rgb.a = 0.75, 0.125, 0.25, 1.0  # exact in float32
        msg.objects.append(o)
    return msg


def test_detected_object_array_round_trip(launch, node_and_executor):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from brain_interfaces.msg import DetectedObjectArray

    run = launch(GRAPH, "objects_echo")
    node = node_and_executor
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    received = []
    node.create_subscription(DetectedObjectArray, "objects_out", received.append, qos)
    pub = node.create_publisher(DetectedObjectArray, "objects_in", qos)
    wait_for(lambda: pub.get_subscription_count() > 0 and
             node.count_publishers("objects_out") > 0, 30, "the echo node to connect")
    sent = _sample_array()
    pub.publish(sent)
    wait_for(lambda: received, 10, "the echoed DetectedObjectArray")
    got = received[0]
    # Every field, nested poses and colours included (the float32 fields hold
    # values exact in float32, so equality is exact).
    assert _as_data(got) == _as_data(sent)
    assert [o.label for o in got.objects] == ["red cube", "blue cylinder"]
    assert got.objects[1].pose.position.y == pytest.approx(0.1)
    assert run.stop() == 0


def _action_client(node):
    from rclpy.action import ActionClient

    from brain_interfaces.action import ExecuteTask

    client = ActionClient(node, ExecuteTask, "execute_task")
    assert client.wait_for_server(timeout_sec=30), "task server did not come up"
    return client


def _result(future_handle, timeout=30):
    handle = wait_for(lambda: future_handle.done() and future_handle.result(), timeout, "goal response")
    assert handle.accepted
    result_future = handle.get_result_async()
    wait_for(result_future.done, timeout, "the goal's result")
    return handle, result_future.result()


def test_execute_task_feedback_and_result(launch, node_and_executor):
    from action_msgs.msg import GoalStatus

    from brain_interfaces.action import ExecuteTask

    run = launch(GRAPH, "task_server")
    client = _action_client(node_and_executor)
    feedback = []
    goal = ExecuteTask.Goal(command="stages 4")
    _, res = _result(client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback)))
    assert res.status == GoalStatus.STATUS_SUCCEEDED
    assert res.result.success and res.result.error_code == ExecuteTask.Result.SUCCESS
    assert [s.stage for s in res.result.stages] == ["stage_1", "stage_2", "stage_3", "stage_4"]
    # Feedback is best effort in transit, but arrives in order with rising progress.
    stages = [f.stage for f in feedback]
    assert stages and stages == sorted(stages) and set(stages) <= {f"stage_{i}" for i in range(1, 5)}
    assert [f.progress for f in feedback] == sorted(f.progress for f in feedback)

    _, bad = _result(client.send_goal_async(ExecuteTask.Goal(command="dance")))
    assert bad.status == GoalStatus.STATUS_ABORTED
    assert bad.result.error_code == ExecuteTask.Result.INVALID_GOAL
    assert "'dance'" in bad.result.message
    assert run.stop() == 0


def test_execute_task_cancel(launch, node_and_executor):
    from action_msgs.msg import GoalStatus

    from brain_interfaces.action import ExecuteTask

    run = launch(GRAPH, "task_server")
    client = _action_client(node_and_executor)
    feedback = []
    send = client.send_goal_async(ExecuteTask.Goal(command="stages 2000"),
                                  feedback_callback=lambda f: feedback.append(f.feedback))
    handle = wait_for(lambda: send.done() and send.result(), 30, "goal response")
    wait_for(lambda: feedback, 30, "first feedback")
    cancel = handle.cancel_goal_async()
    wait_for(cancel.done, 30, "cancel response")
    assert len(cancel.result().goals_canceling) == 1
    result_future = handle.get_result_async()
    wait_for(result_future.done, 30, "the canceled goal's result")
    res = result_future.result()
    assert res.status == GoalStatus.STATUS_CANCELED
    assert res.result.error_code == ExecuteTask.Result.CANCELED
    assert 0 < len(res.result.stages) < 2000
    assert run.stop() == 0
