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
_DAMPING = 1e-9  # added to the normal equations' diagonal
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


def _faces_in_bin_frame(centre: np.ndarray, yaw: float, outer_size, wall: float,
                        camera_xy: np.ndarray) -> list[tuple[int, float, float, float]]:
    """The four faces the camera sees, in the bin's frame (origin at its centre, x along
    its yaw): (axis 0 | 1, sign +-1, offset m, half length m) for the face on the line
    sign * l[axis] = offset. Order: +x, -x, +y, -y."""
    c, s = math.cos(yaw), math.sin(yaw)
    d = camera_xy - centre
    camera = (c * d[0] + s * d[1], -s * d[0] + c * d[1])
    faces = []
    for k in range(2):
        half_out = outer_size[k] / 2.0
        for sign in (1.0, -1.0):
            # The outer face if the camera is outside the wall's plane, else the inner face.
            offset = half_out if sign * camera[k] - half_out > 0 else half_out - wall
            faces.append((k, sign, offset, outer_size[1 - k] / 2.0))
    return faces


def visible_faces(centre: np.ndarray, yaw: float, outer_size, wall: float, camera_xy: np.ndarray) -> list[tuple]:
    """The four faces the camera sees: (point (2,), unit normal (2,), direction (2,), half length m)."""
    c, s = math.cos(yaw), math.sin(yaw)
    axes = (np.array([c, s]), np.array([-s, c]))
    return [(centre + offset * (sign * axes[k]), sign * axes[k], axes[1 - k], half)
            for k, sign, offset, half in _faces_in_bin_frame(centre, yaw, outer_size, wall, camera_xy)]


def register_bin(xy: np.ndarray, centre, yaw: float, outer_size, wall: float, camera_xy: np.ndarray,
                 ) -> BinRegistration | None:
    """Register (N, 2) table-plane points of the bin's vertical faces (see the module
    docstring). None when fewer than MIN_LINES faces have MIN_POINTS_PER_LINE inliers."""
    centre = np.asarray(centre, dtype=float)
    faces = _faces_in_bin_frame(centre, yaw, outer_size, wall, np.asarray(camera_xy, dtype=float))
    # Worked in the bin's frame, where every face is an axis-parallel line (a rotation about
    # the centre and a translation there are the same rotation and the translation turned
    # by the bin's yaw in the table frame). Per axis the two faces' lines are at +off[+] and
    # -off[-]: a point's nearer one is on its side of their midline `mid`, and its residual
    # (along that face's outward normal) is |l - mid| - gap, gap = (off[+] + off[-]) / 2.
    off = [f[2] for f in faces]  # +x, -x, +y, -y
    mid_x, gap_x = (off[0] - off[1]) / 2.0, (off[0] + off[1]) / 2.0
    mid_y, gap_y = (off[2] - off[3]) / 2.0, (off[2] + off[3]) / 2.0
    reach_x, reach_y = faces[0][3] + SEGMENT_MARGIN, faces[2][3] + SEGMENT_MARGIN  # half lengths along the faces
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    # Column by column: numpy is slow on narrow (N, k) arrays (boolean row selection,
    # reductions along axis 1), and these several hundred points are registered every frame.
    dx = xy[:, 0].astype(np.float64) - centre[0]
    dy = xy[:, 1].astype(np.float64) - centre[1]
    x0, y0 = cos_yaw * dx + sin_yaw * dy, -sin_yaw * dx + cos_yaw * dy
    theta, tx, ty = 0.0, 0.0, 0.0  # the fix in the bin's frame
    on_x = on_y = np.zeros(0, np.intp)
    sx = sy = np.zeros(0)
    for gate in GATES:
        cth, sth = math.cos(theta), math.sin(theta)
        lx = cth * x0 - sth * y0 + tx
        ly = sth * x0 + cth * y0 + ty
        ex, ey = lx - mid_x, ly - mid_y
        res_x, res_y = np.abs(ex) - gap_x, np.abs(ey) - gap_y
        dist_x, dist_y = np.abs(res_x), np.abs(res_y)
        dist_x[np.abs(ly) > reach_x] = np.inf  # beyond the face's ends
        dist_y[np.abs(lx) > reach_y] = np.inf
        on_x = ((dist_x <= dist_y) & (dist_x < gate)).nonzero()[0]  # inliers of an x face, of a y face
        on_y = ((dist_y < dist_x) & (dist_y < gate)).nonzero()[0]
        if len(on_x) + len(on_y) < MIN_POINTS_PER_LINE * MIN_LINES:
            return None
        # Gauss-Newton on r = n . (R(theta) p0 + t) - offset, n = (sx, 0) or (0, sy):
        # dr/dtheta = n . (-qy, qx) with q = R(theta) p0, dr/dt = n. The normal equations
        # (damped) are [[a, b, c], [b, n_x, 0], [c, 0, n_y]] (theta, tx, ty) = -(g, hx, hy),
        # since the x and y faces are perpendicular: solved by eliminating tx and ty.
        sx, sy = np.sign(ex[on_x]), np.sign(ey[on_y])
        jx, jy = -sx * (ly[on_x] - ty), sy * (lx[on_y] - tx)
        rx, ry = res_x[on_x], res_y[on_y]
        a = float(jx @ jx + jy @ jy) + _DAMPING
        b, c, n_x, n_y = float(jx @ sx), float(jy @ sy), len(on_x) + _DAMPING, len(on_y) + _DAMPING
        g, hx, hy = float(jx @ rx + jy @ ry), float(sx @ rx), float(sy @ ry)
        schur = a - b * b / n_x - c * c / n_y
        if not schur > 0.0:
            return None
        d_theta = -(g - b * hx / n_x - c * hy / n_y) / schur
        theta += d_theta
        tx -= (hx + b * d_theta) / n_x
        ty -= (hy + c * d_theta) / n_y
    # Inliers per face (+x, -x, +y, -y); the signs are +-1 (a point on a midline is no inlier).
    n_px, n_py = int(np.count_nonzero(sx > 0)), int(np.count_nonzero(sy > 0))
    good = [n >= MIN_POINTS_PER_LINE for n in (n_px, len(on_x) - n_px, n_py, len(on_y) - n_py)]
    if sum(good) < MIN_LINES or not ((good[0] or good[1]) and (good[2] or good[3])):
        return None  # one wall alone (or two parallel ones) cannot fix x, y and yaw
    cth, sth = math.cos(theta), math.sin(theta)
    rx = sx * (cth * x0[on_x] - sth * y0[on_x] + tx - mid_x) - gap_x
    ry = sy * (sth * x0[on_y] + cth * y0[on_y] + ty - mid_y) - gap_y
    resid = math.sqrt((rx @ rx + ry @ ry) / (len(rx) + len(ry)))
    R = np.array([[cth, -sth], [sth, cth]])
    T = np.eye(4)
    T[:2, :2] = R
    T[:2, 3] = centre + np.array([cos_yaw * tx - sin_yaw * ty, sin_yaw * tx + cos_yaw * ty]) - R @ centre
    return BinRegistration(T_fix=T, yaw=theta, translation=T[:2, 3].copy(), inliers=len(on_x) + len(on_y),
                           residual=resid, lines=sum(good))
