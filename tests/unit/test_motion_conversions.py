"""planner.motion.conversions: perception's DetectedObject -> collision Obstacle."""

import math

import numpy as np
import pytest

from brain_interfaces.msg import DetectedObject
from planner.motion.conversions import obstacle_from_detected_object


def detected(shape="box", yaw=0.3, size=(0.05, 0.04, 0.06), id_="obj_3"):
    d = DetectedObject(id=id_, label="red cube", shape=shape)
    d.pose.position.x, d.pose.position.y, d.pose.position.z = 0.5, -0.1, 0.03
    d.pose.orientation.z, d.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    d.size.x, d.size.y, d.size.z = size
    return d


def test_box_pose_and_size():
    ob = obstacle_from_detected_object(detected())
    assert ob.name == "obj_3" and ob.shape == "box" and ob.size == pytest.approx((0.05, 0.04, 0.06))
    np.testing.assert_allclose(ob.pose[:3, 3], [0.5, -0.1, 0.03])
    assert math.atan2(ob.pose[1, 0], ob.pose[0, 0]) == pytest.approx(0.3)


def test_cylinder_unknown_and_inflation():
    assert obstacle_from_detected_object(detected(shape="cylinder", size=(0.06, 0.06, 0.1))).shape == "cylinder"
    ob = obstacle_from_detected_object(detected(shape="unknown"), inflate=0.01)
    assert ob.shape == "box" and ob.size == pytest.approx((0.06, 0.05, 0.07))


def test_invalid_object_names_the_object():
    with pytest.raises(ValueError, match=r"detected object 'obj_9' .*size must be 3 positive"):
        obstacle_from_detected_object(detected(size=(0.05, 0.0, 0.05), id_="obj_9"))
    d = detected()
    d.pose.orientation.w = d.pose.orientation.z = 0.0
    with pytest.raises(ValueError, match="not a rotation"):
        obstacle_from_detected_object(d)
