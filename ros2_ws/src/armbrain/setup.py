import os
from glob import glob

from setuptools import find_packages, setup

package_name = "armbrain"
share = "share/" + package_name

# The node graph and the launch files live at the top of the repository (launch/,
# config/robots/), shared with `armbrain launch` and docker-compose.yml. A colcon build
# installs them into this package's share directory, in the same layout, so that
# `ros2 launch armbrain armbrain.launch.py` and the graph's relative robot_config
# directory (../config/robots) work from the install space. (Editable pip installs, see
# scripts/setup.sh, read them in place.) Paths are relative to this file's directory,
# as for the other data files; they are left out where the tree is not there (an sdist).
REPO = os.path.join("..", "..", "..")


def repo_files(pattern: str) -> list[str]:
    return sorted(f for f in glob(os.path.join(REPO, pattern)) if os.path.isfile(f))


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
    (share, ["package.xml"]),
    (share + "/config", [f for f in glob("config/*") if os.path.isfile(f)]),
    (share + "/launch", repo_files("launch/*.launch.py") + repo_files("launch/graph.yaml")),
    (share + "/config/robots", repo_files("config/robots/*.yaml")),
]
for robot_dir in sorted(d for d in glob(os.path.join(REPO, "config", "robots", "*")) if os.path.isdir(d)):
    data_files.append((share + "/config/robots/" + os.path.basename(robot_dir),
                       repo_files(os.path.join("config", "robots", os.path.basename(robot_dir), "*"))))

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    # the console's page, script and style (armbrain/console/static), served from the package
    package_data={"armbrain.console": ["static/*"]},
    data_files=[(d, files) for d, files in data_files if files],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="armbrain developers",
    maintainer_email="dev@armbrain.invalid",
    description="armbrain operator tools, node-graph launcher and node runtime",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "armbrain = armbrain.cli:main",
            "foxglove_bridge = armbrain.foxglove_bridge:main",
        ],
    },
)
