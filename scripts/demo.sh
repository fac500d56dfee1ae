#!/usr/bin/env bash
# The main job: a headless simulated pick-and-place.
#
# The brain's nodes (perception, grasping, motion, tasks) land one issue at a time;
# until the task-execution issue replaces this script with the whole brain, the demo
# runs the simulator's ground-truth ORACLE (a scripted pick-and-place that reads true
# object poses, the baseline the brain will be compared with) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: NOTE: the brain is not built yet; this runs the simulator's ground-truth oracle"
echo "demo: (scripted pick-and-place from true object poses), headless, 3 seeded episodes."
exec .venv/bin/python -m armbrain_sim.oracle --scenario one_cube.yaml --seeds 0 1 2
