"""The arm's names, as its drivers publish them (Franka Panda, franka_ros2 / PyBullet URDF)."""

BASE_FRAME = "panda_link0"
# Between the finger pads; z out of the hand, the fingers close along y (panda.urdf link 11).
GRASP_FRAME = "panda_grasptarget"
ARM_JOINTS: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
