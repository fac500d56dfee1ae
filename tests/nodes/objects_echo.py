"""Test node: republishes every DetectedObjectArray from `objects_in` on `objects_out`."""

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from brain_common.runtime import run_node
from brain_interfaces.msg import DetectedObjectArray


class ObjectsEcho(Node):
    def __init__(self) -> None:
        super().__init__("objects_echo")
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._pub = self.create_publisher(DetectedObjectArray, "objects_out", qos)
        self.create_subscription(DetectedObjectArray, "objects_in", self._pub.publish, qos)
        self.get_logger().info("echoing objects_in -> objects_out")


def main(args=None):
    return run_node(ObjectsEcho, args)


if __name__ == "__main__":
    raise SystemExit(main())
