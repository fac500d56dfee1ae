"""armbrain simulation: PyBullet world, scenarios, sim bridge node."""
