"""The bin as a landmark: the camera's x, y and yaw, which the table plane cannot give.

The bin stands at a configured pose (PerceptionConfig.bin_*). Each of its four walls
shows the camera one vertical face: the outer face when the camera is outside the wall's
plane, else the inner one. Points on vertical faces (between min_object_height and just
below the wall top) project onto those faces' lines in the table plane. A 2D rigid
transform (rotation about z, then translation) that puts the observed points on the
lines is estimated by Gauss-Newton point-to-line registration with shrinking outlier
gates (objects in or near the bin are outliers). Each line is one visible face, so
there is no ambiguity between the inner and outer face of a wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GATES = (0.04, 0.015, 0.006, 0.004)  # m, inlier distance per iteration
MIN_POINTS_PER_LINE = 40
MIN_LINES = 2  # non-parallel lines needed (x, y and yaw)
_DAMPING = 1e-9 * np.eye(3)
SEGMENT_MARGIN = 0.03  # m, how far beyond a face's ends a point may still belong to it


@dataclass(slots=True)
class BinRegistration:
    """T_fix (4, 4): maps table-frame points as observed to where they really are (rotation
    about z by `yaw` rad about `centre`, plus `translation` (2,) m); inliers: points used;
    residual: their rms distance to the faces, m; lines: faces with enough inliers."""

    T_fix: np.ndarray
    yaw: float
    translation: np.ndarray
    inliers: int
    residual: float
    lines: int


def visible_faces(centre: np.ndarray, yaw: float, outer_size, wall: float, camera_xy: np.ndarray) -> list[tuple]:
    """The four faces the camera sees: (point (2,), unit normal (2,), direction (2,), half length m)."""
    c, s = math.cos(yaw), math.sin(yaw)
    axes = (np.array([c, s]), np.array([-s, c]))
    faces = []
    for k in range(2):
        n_axis, t_axis = axes[k], axes[1 - k]
        half_out = outer_size[k] / 2.0
        for sign in (1.0, -1.0):
            n = sign * n_axis
            outer_point = centre + half_out * n
            # The outer face if the camera is outside the wall's plane, else the inner face.
            point = outer_point if (camera_xy - outer_point) @ n > 0 else centre + (half_out - wall) * n
            faces.append((point, n, t_axis, outer_size[1 - k] / 2.0))
    return faces


def register_bin(xy: np.ndarray, centre, yaw: float, outer_size, wall: float, camera_xy: np.ndarray,
                 ) -> BinRegistration | None:
    """Register (N, 2) table-plane points of the bin's vertical faces (see the module
    docstring). None when fewer than MIN_LINES faces have MIN_POINTS_PER_LINE inliers."""
    centre = np.asarray(centre, dtype=float)
    faces = visible_faces(centre, yaw, outer_size, wall, np.asarray(camera_xy, dtype=float))
    normals = np.array([f[1] for f in faces])
    offsets = np.array([f[1] @ f[0] for f in faces])
    dirs = np.array([f[2] for f in faces])
    mids = np.array([(f[2] @ f[0]) for f in faces])
    halves = np.array([f[3] for f in faces])
    # Distance to each face's line (columns 0-3) and position along it (4-7), in one product.
    proj_x = np.concatenate([normals[:, 0], dirs[:, 0]])
    proj_y = np.concatenate([normals[:, 1], dirs[:, 1]])
    proj_0 = np.concatenate([offsets, mids])
    reach = halves + SEGMENT_MARGIN
    # Column by column: numpy is slow on narrow (N, 2) arrays (boolean row selection,
    # reductions along axis 0), and these few hundred points are registered every frame.
    x0 = xy[:, 0].astype(np.float64) - centre[0]
    y0 = xy[:, 1].astype(np.float64) - centre[1]
    rows = np.arange(len(xy))
    theta, t = 0.0, np.zeros(2)
    sel = np.zeros(0, np.intp)
    face = np.zeros(len(xy), np.intp)
    for gate in GATES:
        cth, sth = math.cos(theta), math.sin(theta)
        px = cth * x0 - sth * y0 + (t[0] + centre[0])
        py = sth * x0 + cth * y0 + (t[1] + centre[1])
        both = np.abs(px[:, None] * proj_x + py[:, None] * proj_y - proj_0)  # (N, 8)
        dist = both[:, :4]  # (N, 4)
        dist[both[:, 4:] > reach] = np.inf
        face = np.argmin(dist, axis=1)
        sel = np.flatnonzero(dist[rows, face] < gate)
        if len(sel) < MIN_POINTS_PER_LINE * MIN_LINES:
            return None
        f = face[sel]
        nx, ny = normals[f, 0], normals[f, 1]
        sx, sy = px[sel], py[sel]
        r = sx * nx + sy * ny - offsets[f]
        qx, qy = sx - centre[0] - t[0], sy - centre[1] - t[1]  # rotated, relative to the centre
        J = np.column_stack([nx * -qy + ny * qx, nx, ny])
        try:
            delta = np.linalg.solve(J.T @ J + _DAMPING, -J.T @ r)
        except np.linalg.LinAlgError:
            return None
        theta += float(delta[0])
        t = t + delta[1:]
    counts = np.bincount(face[sel], minlength=4)
    good = counts >= MIN_POINTS_PER_LINE
    if good.sum() < MIN_LINES or not np.any(np.abs(normals[good] @ normals[good][0]) < 0.1):
        return None  # one wall alone (or two parallel ones) cannot fix x, y and yaw
    cth, sth = math.cos(theta), math.sin(theta)
    f = face[sel]
    px = cth * x0[sel] - sth * y0[sel] + (t[0] + centre[0])
    py = sth * x0[sel] + cth * y0[sel] + (t[1] + centre[1])
    resid = float(np.sqrt(np.mean((px * normals[f, 0] + py * normals[f, 1] - offsets[f]) ** 2)))
    R = np.array([[cth, -sth], [sth, cth]])
    T = np.eye(4)
    T[:2, :2] = R
    T[:2, 3] = centre + t - R @ centre
    return BinRegistration(T_fix=T, yaw=theta, translation=T[:2, 3].copy(), inliers=len(sel),
                           residual=resid, lines=int(good.sum()))
