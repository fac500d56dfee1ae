"""The QoS profiles of armbrain, named once (CONVENTIONS.md, section 2).

- camera streams: ``SENSOR_DATA`` (rclpy's qos_profile_sensor_data: best effort, depth 5);
- detections, joint states, commands: ``RELIABLE_10``;
- static or state-like things (a grasp state, a latched scene, /tf_static): ``LATCHED``
  (reliable, transient local, depth 1: a late subscriber gets the current value at once).
"""

from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data

SENSOR_DATA = qos_profile_sensor_data
RELIABLE_10 = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
# Subscribing to a latched topic with several publishers, as tf2's static listener reads
# /tf_static: every publisher's last message (a depth-1 reader keeps only the one that came
# last and drops the others unread), reliable, transient local. /tf_static, estop.
LATCHED_ALL = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE,
                         durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
TF_STATIC = LATCHED_ALL
