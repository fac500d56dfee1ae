"""armbrain planner package."""
