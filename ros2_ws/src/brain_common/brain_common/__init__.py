"""armbrain's ground floor, under every node and the tooling.

- ``cell``: the work cell described once (pure; ``load_cell``, ``check_cell``).
- ``palette``, ``robot``: the colour names and the arm's joint names (pure).
- ``qos``: the QoS profiles, named once. ``runtime``: every node's ``main()``.
- ``share``: share-directory lookup.
"""
