"""ros2 launch file of the simulated arm alone: the sim bridge node of graph.yaml.

    ros2 launch launch/sim.launch.py scenario:=clutter.yaml seed:=7 real_time_factor:=1.0

The same as `armbrain launch sim_bridge ...`: armbrain.launch.py with nodes:=sim_bridge
(every argument of armbrain.launch.py applies). Use it to run the simulator in one
terminal (or machine) and the brain in another, e.g. with
`ros2 launch launch/armbrain.launch.py nodes:=perception,grasping,planner`.
"""

from __future__ import annotations

from pathlib import Path

from launch.actions import IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description() -> LaunchDescription:
    graph_launch = PythonLaunchDescriptionSource(str(Path(__file__).with_name("armbrain.launch.py")))
    return LaunchDescription([
        IncludeLaunchDescription(graph_launch, launch_arguments={"nodes": "sim_bridge"}.items()),
    ])
