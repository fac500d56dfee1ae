from glob import glob

from setuptools import find_packages, setup

package_name = "armbrain_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/scenarios", glob("scenarios/*.yaml")),
        ("share/" + package_name + "/scenarios/perturbations", glob("scenarios/perturbations/*.yaml")),
        ("share/" + package_name + "/scenarios/world", glob("scenarios/world/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="armbrain developers",
    maintainer_email="dev@armbrain.invalid",
    description="armbrain: PyBullet simulated arm, scenarios, sim bridge node and headless runner",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_bridge = armbrain_sim.sim_bridge_node:main",
        ],
    },
)
