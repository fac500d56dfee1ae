"""The QoS profiles of the grasping node, named once (CONVENTIONS.md, section 2)."""

from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

# Detections, joint states and commands: reliable, depth 10.
RELIABLE_10 = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
# The grasp state: latched, a late subscriber gets the current state at once.
LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
