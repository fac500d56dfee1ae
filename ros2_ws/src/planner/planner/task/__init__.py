"""Task layer of the planner: goal language and staged task execution."""
