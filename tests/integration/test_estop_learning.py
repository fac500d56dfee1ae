"""A node that starts late learns the e-stop state from the live nodes before it acts
(brain_common/estop.py: EStopListener.wait_learned), over real DDS between rclpy nodes."""

import pytest

from conftest import Spinner, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def make_node(ros_context):
    from rclpy.node import Node

    made: list = []

    def make(name: str):
        node = Node(name, context=ros_context)
        made.append((node, Spinner(node, ros_context)))
        return node

    yield make
    for node, spinner in reversed(made):
        spinner.close()
        node.destroy_node()


def _listener(node):
    from brain_common.estop import EStopListener
    from brain_interfaces.msg import EStop

    return EStopListener(node, EStop)


def test_a_late_listener_learns_an_engaged_stop_after_its_commander_has_gone(make_node):
    from brain_common.estop import TOPIC, msg_from_command, new_command
    from brain_common.qos import LATCHED, LATCHED_ALL
    from brain_interfaces.msg import EStop

    first = _listener(make_node("first"))
    commander = make_node("commander")
    copies: list = []
    commander.create_subscription(EStop, TOPIC, copies.append, LATCHED_ALL)
    pub = commander.create_publisher(EStop, TOPIC, LATCHED)
    pub.publish(msg_from_command(EStop, new_command(True, "person in the cell", "test")))
    # engaged, and its copy passed on (until then its latched word is still its announcement)
    wait_for(lambda: any(m.publisher == "first" and m.engaged for m in copies), 30, "the first listener's copy")
    assert first.engaged
    commander.destroy_publisher(pub)  # the commander is gone: only the first listener's copy remains

    late = _listener(make_node("late"))
    assert late.wait_learned(30.0) == []
    assert late.engaged and late.describe().endswith("person in the cell")
    assert late.wait_learned(0.0) == []  # learned once, for good


def test_a_late_listener_learns_that_nothing_is_engaged_from_the_announcements(make_node):
    first = _listener(make_node("first"))
    second = _listener(make_node("second"))
    late = _listener(make_node("late"))
    assert late.wait_learned(30.0) == []
    assert not late.engaged and late.describe() == "e-stop released (never engaged)"
    assert first.wait_learned(30.0) == [] and second.wait_learned(30.0) == []
    assert not first.engaged and not second.engaged  # an announcement commands nothing


def test_a_publisher_that_never_spoke_or_no_publisher_at_all_is_named(make_node):
    from brain_common.estop import TOPIC
    from brain_common.qos import LATCHED
    from brain_interfaces.msg import EStop

    alone = _listener(make_node("alone"))
    assert alone.wait_learned(0.3) == ["any other node (none publishes on the topic)"]
    assert alone.wait_learned(30.0) == []  # it waits once: the next goal is not held up again
    silent = make_node("silent")
    silent.create_publisher(EStop, TOPIC, LATCHED)  # on the topic, never publishes
    lonely = _listener(make_node("lonely"))
    wait_for(lambda: {"silent", "alone"} <= {i.node_name for i in lonely._node.get_publishers_info_by_topic(
        "/estop")}, 30, "the other publishers")
    assert lonely.wait_learned(0.3) == ["silent"]  # alone has spoken (its announcement), silent never
    assert not lonely.engaged
