"""Motion layer of the planner: kinematics, collision model, planning, timing, execution.

Pure core (no rclpy, no messages) except the adapters ``execution.py`` (ROS) and
``conversions.py`` (messages in). Frames: the base frame is ``panda_link0`` (robot base on
the table top, z = 0 the table surface); the grasp frame is ``panda_grasptarget`` between
the finger pads. Units: metres, radians, seconds. Joint vectors: ``panda_joint1..7``.

What a node owns and calls (the task layer):

    config = load_motion_config()       # config.py: defaults of config/planner.params.yaml
    kin, fixtures, planner = build_motion(config, rng=np.random.default_rng(seed))
    world = fixtures.with_obstacles([*config.fixtures(),
                                     *(obstacle_from_detected_object(o) for o in objects)])
    plan = planner.plan_to_pose(q_now, T_base_pregrasp, world)         # -> PlanResult
    plan = planner.plan_to_configuration(q_now, q_goal, world)
    plan = planner.plan_cartesian(q_pregrasp, T_base_grasp,            # straight approach
                                  world.without([target.name]).with_margins({"table": 0.0}))
    lifting = world.with_attached([AttachedObject(target, T_grasp_object, touch_obstacles=("table",))])
    carrying = world.with_attached([AttachedObject(target, T_grasp_object)])
    traj = planner.time_parameterize(plan, config.timing_limits(kin), config.trajectory_dt)  # re-verified
    executor = TrajectoryExecutor(node, tolerances=config.tolerances, start_delay=config.start_delay)
    handle = executor.execute(traj)    # await handle.future / handle.wait(); executor.stop()

PlanResult.code is a PlanCode (SUCCESS, INVALID_INPUT, NO_IK, START_IN_COLLISION,
GOAL_IN_COLLISION, NO_PATH) with a message naming the cause (for collisions: which links
touch what); ExecutionResult.code an ExecutionCode (SUCCEEDED, REJECTED,
PATH_TOLERANCE_VIOLATED, GOAL_TOLERANCE_VIOLATED, FAULT, STOPPED).

Modules (the URDF chain and its FK/Jacobian/IK are brain_common.robot_model and
brain_common.kinematics, shared with grasping and the sim): sphere_fit and
panda_spheres (the conservative sphere cover), collision (Obstacle, CollisionModel),
rrt (RRT-Connect, shortcutting on callables), planner (MotionPlanner), timing (ruckig,
toppra), monitor (pure execution checks), execution (ROS adapter), config, allocator.
"""
