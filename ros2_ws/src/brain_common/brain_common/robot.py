"""The arm's names, as its drivers publish them (Franka Panda, franka_ros2 / PyBullet URDF)."""

BASE_FRAME = "panda_link0"
# Between the finger pads; z out of the hand, the fingers close along y (panda.urdf link 11).
GRASP_FRAME = "panda_grasptarget"
ARM_JOINTS: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")

# The arm's own limits per joint (panda_joint1..7), from Franka's datasheet ("Robot and
# interface specifications", FCI documentation): the one place they are written. Velocity
# limits are the URDF's (the same datasheet values, read from the robot model); these are
# what the URDF does not carry. rad/s^2 and rad/s^3. How much of them the brain uses (the
# margins) is the planner's motion.velocity_scale / acceleration_scale / jerk_scale.
ARM_ACCELERATION_LIMITS: tuple[float, ...] = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)
ARM_JERK_LIMITS: tuple[float, ...] = (7500.0, 3750.0, 5000.0, 6250.0, 7500.0, 10000.0, 10000.0)
