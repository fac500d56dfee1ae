from glob import glob

from setuptools import find_packages, setup

package_name = "brain_common"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        # The robot configurations (config/robots/, through the `robots` link): each
        # describes its work cell once; the default cell is robots/panda_sim.yaml.
        ("share/" + package_name + "/robots", glob("robots/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="armbrain developers",
    maintainer_email="dev@armbrain.invalid",
    description="armbrain ground floor: the Cell, palette, QoS, node runtime",
    license="Apache-2.0",
)
