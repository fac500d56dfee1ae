from glob import glob

from setuptools import find_packages, setup

package_name = "perception"

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
    description="armbrain: RGB-D images to detected objects with 3D pose, size, colour and shape",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["perception = perception.perception_node:main"],
    },
)
