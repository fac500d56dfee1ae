"""Camera geometry: pixel rays, point clouds, the table-plane fit and the bumped-camera estimate.

Planes are (4,) arrays (a, b, c, d) with a*x + b*y + c*z + d = 0 and (a, b, c) a unit
normal. A plane in the optical frame has its normal pointing towards the camera, so d is
the camera's height above it (m). Pinhole model: pixel (u, v) = (column, row) index sees
the ray ((u - cx) / fx, (v - cy) / fy, 1) of the optical frame; depth is the z coordinate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from transforms3d.axangles import axangle2mat
from transforms3d.euler import mat2euler

E_Z = np.array([0.0, 0.0, 1.0])
SCORE_POINTS = 800  # RANSAC hypotheses are scored on this many random points
REFINE_POINTS = 1500  # the least-squares refinement uses at most this many inliers
NOISE_POINTS = 500  # and the noise estimate this many
# Columns: the optical frame's axes (x right, y down, z forward) in the camera body frame
# (x forward, y left, z up), as ROS defines camera_link vs camera_*_optical_frame.
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rays_from_intrinsics(K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Separable pixel rays: rx (W,) = (u - cx) / fx and ry (H,) = (v - cy) / fy, float32.
    The ray of pixel (u, v) is (rx[u], ry[v], 1) in the optical frame."""
    rx = (np.arange(width, dtype=np.float64) - K[0, 2]) / K[0, 0]
    ry = (np.arange(height, dtype=np.float64) - K[1, 2]) / K[1, 1]
    return rx.astype(np.float32), ry.astype(np.float32)


def point_cloud_from_depth(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 points in the optical frame, m, from (H, W) depth (NaN stays NaN)."""
    h, w = depth.shape
    rx, ry = rays_from_intrinsics(K, w, h)
    z = depth.astype(np.float32, copy=False)
    return np.stack([z * rx[None, :], z * ry[:, None], z], axis=-1)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points mapped by the (4, 4) transform T."""
    return points @ T[:3, :3].T + T[:3, 3]


def invert_transform(T: np.ndarray) -> np.ndarray:
    """(4, 4) inverse of a rigid transform."""
    Ti = np.eye(4)
    Ti[:3, :3] = T[:3, :3].T
    Ti[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return Ti


def plane_in_frame(plane: np.ndarray, T_new_old: np.ndarray) -> np.ndarray:
    """The plane (4,) given in frame `old` expressed in frame `new` (T_new_old maps old to new)."""
    n = T_new_old[:3, :3] @ plane[:3]
    d = plane[3] - n @ T_new_old[:3, 3]
    return np.array([*n, d])


def expected_table_plane(T_base_optical: np.ndarray) -> np.ndarray:
    """The base frame's z = 0 plane (the table top) in the optical frame of a camera at T_base_optical."""
    return plane_in_frame(np.array([0.0, 0.0, 1.0, 0.0]), invert_transform(T_base_optical))


def fit_plane_lstsq(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Least-squares plane (4,) through (N, 3) points, normal oriented along `up`."""
    c = np.ones(len(points)) @ points / len(points)  # the mean row, by BLAS (numpy is slow on narrow arrays)
    q = points - c
    _, vecs = np.linalg.eigh(q.T @ q)
    n = vecs[:, 0]
    if n @ up < 0:
        n = -n
    return np.array([*n, -n @ c])


def _median(a: np.ndarray) -> float:
    """np.median of a non-empty 1-D float64 array by np.partition (the same value, less overhead)."""
    n = len(a)
    k = n // 2
    if n % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k - 1, k))
    return (float(part[k - 1]) + float(part[k])) / 2.0


@dataclass(slots=True)
class PlaneFit:
    """A table-plane fit: plane (4,), inlier mask (N,) of the fitted points, noise: robust
    standard deviation of the inliers' distances (m)."""

    plane: np.ndarray
    inliers: np.ndarray
    noise: float


def fit_plane_ransac(points: np.ndarray, rng: np.random.Generator, *, tolerance: float, iterations: int,
                     prior: np.ndarray, max_tilt: float, max_offset: float) -> PlaneFit | None:
    """Robust plane through (N, 3) points near the `prior` plane (4,).

    Hypotheses from random point triples whose normal is within max_tilt (rad) of the
    prior's and whose d is within max_offset (m) of the prior's; the one with most
    inliers (distance < tolerance) is refined by least squares on its inliers.
    Returns None when fewer than 3 points or 50 inliers support any hypothesis.
    """
    n_pts = len(points)
    if n_pts < 3:
        return None
    up = prior[:3]
    idx = rng.integers(0, n_pts, size=(iterations, 3))
    p0, p1, p2 = (points.take(idx[:, k], axis=0) for k in range(3))
    a, b = p1 - p0, p2 - p0
    normals = np.empty_like(a)  # a x b, as np.cross computes it (without its overhead)
    normals[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    normals[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    normals[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    norms = np.sqrt(np.add.reduce(normals * normals, axis=1))  # np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    normals /= np.where(ok, norms, 1.0)[:, None]
    normals *= np.where(normals @ up < 0, -1.0, 1.0)[:, None]  # towards the prior's side
    ds = -np.einsum("ij,ij->i", normals, p0)
    ok &= (normals @ up >= math.cos(max_tilt)) & (np.abs(ds - prior[3]) <= max_offset)
    if not ok.any():
        return None
    normals, ds = normals[ok], ds[ok]
    # Score on at most SCORE_POINTS points (the fraction of inliers is what counts).
    scored = points if n_pts <= SCORE_POINTS else points.take(rng.choice(n_pts, SCORE_POINTS, replace=False),
                                                          axis=0)
    dist = scored.astype(np.float32) @ normals.T.astype(np.float32)
    dist += ds.astype(np.float32)
    np.abs(dist, out=dist)
    # Inliers per hypothesis: a float32 matrix-vector product counts exactly, several times
    # faster than summing the boolean matrix along axis 0.
    counts = np.ones(len(scored), np.float32) @ (dist < tolerance).astype(np.float32)
    best = int(counts.argmax())
    if counts[best] < min(50, len(scored) // 4):
        return None
    plane = np.array([*normals[best], ds[best]])
    inliers = np.abs(points @ plane[:3] + plane[3]) < tolerance
    idx = inliers.nonzero()[0]
    plane = fit_plane_lstsq(points.take(idx[::max(1, len(idx) // REFINE_POINTS)], axis=0), up)
    resid = points @ plane[:3] + plane[3]
    inliers = np.abs(resid) < tolerance
    if np.count_nonzero(inliers) < 50:
        return None
    r = resid[inliers][::max(1, int(np.count_nonzero(inliers)) // NOISE_POINTS)]
    noise = float(1.4826 * _median(np.abs(r - _median(r))))
    return PlaneFit(plane=plane, inliers=inliers, noise=noise)


@dataclass(slots=True)
class CameraCorrection:
    """The camera pose implied by the observed table plane vs the configured one.

    height_error: configured minus observed camera height above the table, m.
    roll_error, pitch_error: configured minus observed roll and pitch of the camera body
      (x forward, y left, z up; R = Rz(yaw) Ry(pitch) Rx(roll); positive pitch looks
      down), rad. The camera's x, y and yaw are not observable from a plane.
    tilt: angle between the observed and the configured table normal, rad.
    x_error, y_error, yaw_error: configured minus observed x, y (m) and yaw (rad), from
      the bin registration (zero without it: registered false).
    bumped: the error exceeds the configured thresholds.
    applied: objects were computed with T_corrected (config.correct_camera_bump).
    T_corrected: (4, 4) the configured pose turned about the optical centre so the
      observed table is z = 0, and moved to the observed height (x, y, yaw kept).
    """

    height_error: float
    roll_error: float
    pitch_error: float
    tilt: float
    bumped: bool
    applied: bool
    T_corrected: np.ndarray
    x_error: float = 0.0
    y_error: float = 0.0
    yaw_error: float = 0.0
    registered: bool = False

    def with_registration(self, T_fix: np.ndarray, T_configured: np.ndarray, position_threshold: float,
                          angle_threshold: float) -> CameraCorrection:
        """This correction followed by the (4, 4) horizontal fix T_fix of a landmark registration."""
        T = T_fix @ self.T_corrected
        _, _, y0 = roll_pitch_yaw_of_optical(T_configured[:3, :3])
        _, _, y1 = roll_pitch_yaw_of_optical(T[:3, :3])
        dx, dy = float(T_configured[0, 3] - T[0, 3]), float(T_configured[1, 3] - T[1, 3])
        dyaw = _wrap(y0 - y1)
        bumped = self.bumped or math.hypot(dx, dy) > position_threshold or abs(dyaw) > angle_threshold
        return CameraCorrection(self.height_error, self.roll_error, self.pitch_error, self.tilt, bumped, self.applied,
                                T, dx, dy, dyaw, True)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def roll_pitch_yaw_of_optical(R_base_optical: np.ndarray) -> tuple[float, float, float]:
    """Roll, pitch, yaw (rad; fixed-axis x-y-z) of the camera body of an optical frame."""
    return mat2euler(R_base_optical @ R_BODY_OPTICAL.T, "sxyz")


def corrected_camera_pose(T_base_optical: np.ndarray, plane_optical: np.ndarray) -> tuple[np.ndarray, float]:
    """(T_corrected (4, 4), tilt rad): the configured pose rotated about the optical centre by
    the smallest rotation that makes the observed plane (optical frame, normal towards the
    camera) horizontal, at the observed height above it; x, y kept."""
    R = T_base_optical[:3, :3]
    n_base = R @ plane_optical[:3]
    axis = np.array([n_base[1], -n_base[0], 0.0])  # n_base x E_Z (np.cross's overhead is tens of us)
    s, c = float(np.linalg.norm(axis)), float(n_base @ E_Z)
    tilt = math.atan2(s, c)
    R_fix = axangle2mat(axis / s, tilt) if s > 1e-12 else np.eye(3)
    T = np.eye(4)
    T[:3, :3] = R_fix @ R
    T[:3, 3] = [T_base_optical[0, 3], T_base_optical[1, 3], plane_optical[3]]
    return T, tilt


def camera_correction(T_base_optical: np.ndarray, plane_optical: np.ndarray, *, height_threshold: float,
                      angle_threshold: float, applied: bool) -> CameraCorrection:
    """CameraCorrection of the configured pose given the table plane seen in the optical frame."""
    T_corr, tilt = corrected_camera_pose(T_base_optical, plane_optical)
    r0, p0, _ = roll_pitch_yaw_of_optical(T_base_optical[:3, :3])
    r1, p1, _ = roll_pitch_yaw_of_optical(T_corr[:3, :3])
    height_error = float(T_base_optical[2, 3] - plane_optical[3])
    bumped = abs(height_error) > height_threshold or tilt > angle_threshold
    return CameraCorrection(height_error=height_error, roll_error=_wrap(r0 - r1), pitch_error=_wrap(p0 - p1),
                            tilt=tilt, bumped=bumped, applied=applied, T_corrected=T_corr)
