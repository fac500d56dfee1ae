"""armbrain's ground floor, under every node and the tooling.

- ``cell``: the work cell described once (pure; ``load_cell``, ``check_cell``).
- ``palette``, ``robot``: the colour names and the arm's joint and frame names (pure).
- ``robot_model``, ``kinematics``: the arm read from its URDF, and its FK/Jacobian/IK (pure).
- ``trajectory``: sampling a timed joint trajectory, as the controller follows it (pure).
- ``qos``: the QoS profiles, named once. ``runtime``: every node's ``main()``.
- ``share``: share-directory lookup.
"""
