#!/usr/bin/env bash
# The main job: a headless simulated pick-and-place with the whole brain.
# The brain's nodes land with their issues (perception, grasping, motion, tasks);
# until the task-execution issue completes this script, it says so and fails.
set -euo pipefail
echo "demo: the headless pick-and-place with the whole brain is not built yet:"
echo "demo: it arrives with the task-execution issue (perception, grasping, motion and tasks first)."
echo "demo: what exists today is checked by 'make test'."
exit 2
