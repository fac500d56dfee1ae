from glob import glob

from setuptools import find_packages, setup

package_name = "planner"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="armbrain developers",
    maintainer_email="dev@armbrain.invalid",
    description="armbrain: task goals to task plans, motion planning and execution",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "planner = planner.planner_node:main",
        ],
    },
)
