"""The arm's names, as its drivers publish them (Franka Panda, franka_ros2 / PyBullet URDF)."""

BASE_FRAME = "panda_link0"
ARM_JOINTS: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
