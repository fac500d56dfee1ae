"""armbrain grasping package."""
