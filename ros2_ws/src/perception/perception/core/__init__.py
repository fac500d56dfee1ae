"""The perception core: RGB-D frames to objects with pose, size, colour and shape.

Pure Python (numpy, OpenCV, transforms3d); no ROS imports. Entry point::

    from perception.core import Perception, PerceptionConfig
    result = Perception(PerceptionConfig()).process(rgb, depth, K, T_base_optical, stamp)
"""

from perception.core.bin_detection import BinEstimate, bin_prior, find_bin, normalise_rectangle_yaw
from perception.core.colour import (
    UNKNOWN,
    WhiteBalance,
    classify_colours,
    estimate_white_balance,
    hsv_from_rgb,
    palette_model,
    white_balance_gains,
)
from perception.core.config import (
    PALETTE,
    PerceptionConfig,
    check_config,
    config_from_cell,
)
from perception.core.geometry import (
    CameraCorrection,
    camera_correction,
    corrected_camera_pose,
    expected_table_plane,
    fit_plane_ransac,
    point_cloud_from_depth,
    rays_from_intrinsics,
)
from perception.core.pipeline import ObjectEstimate, Perception, PerceptionResult, check_frame, shape_word
from perception.core.tracking import Detection, Track, Tracker

__all__ = [
    "PALETTE",
    "UNKNOWN",
    "BinEstimate",
    "CameraCorrection",
    "Detection",
    "ObjectEstimate",
    "Perception",
    "PerceptionConfig",
    "PerceptionResult",
    "Track",
    "Tracker",
    "WhiteBalance",
    "bin_prior",
    "camera_correction",
    "check_config",
    "check_frame",
    "classify_colours",
    "config_from_cell",
    "corrected_camera_pose",
    "estimate_white_balance",
    "expected_table_plane",
    "find_bin",
    "fit_plane_ransac",
    "hsv_from_rgb",
    "normalise_rectangle_yaw",
    "palette_model",
    "point_cloud_from_depth",
    "rays_from_intrinsics",
    "shape_word",
    "white_balance_gains",
]
