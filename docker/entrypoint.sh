#!/bin/sh
# Entrypoint of the armbrain image (docker/Dockerfile).
#
#   launch [OPTION ...] [NODE ...]   armbrain launch: nodes of launch/graph.yaml
#   task "<goal>" | objects | ...    any other armbrain subcommand
#
# ARMBRAIN_ARGS: launch arguments shared by every container of docker-compose.yml,
# name:=value words separated by spaces, e.g. "robot_config:=franka_example.yaml".
# ROS_AUTOMATIC_DISCOVERY_RANGE (default LOCALHOST) is passed to armbrain launch, which
# otherwise always sets LOCALHOST.
set -eu
set -f  # no globbing of the split ARMBRAIN_ARGS words

if [ "$#" -eq 0 ] || [ "$1" = launch ]; then
  if [ "$#" -gt 0 ]; then shift; fi
  # shellcheck disable=SC2086  # ARMBRAIN_ARGS is split into words on purpose
  exec armbrain launch --discovery-range "${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}" "$@" ${ARMBRAIN_ARGS:-}
fi
exec armbrain "$@"
