#!/usr/bin/env bash
# The main job: a headless simulated pick-and-place with the whole brain
# (armbrain/demo.py): sim + perception + grasping + planner on a private ROS domain,
# LOCALHOST discovery; goals through the ExecuteTask action; out/demo/ gets a GIF and
# a summary. Exit 0 only if every goal succeeded. With --console (make demo CONSOLE=1),
# `armbrain console` serves the operator console beside it (docs/console.md) at the address
# it prints, and the demo waits for the browser before the first goal and after the last.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec .venv/bin/python -m armbrain.demo "$@"
