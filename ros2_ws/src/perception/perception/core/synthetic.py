"""A tiny ray-casting renderer of boxes and upright cylinders on a table, for tests.

Frames with known answers, without the simulator: every pixel's ray (pinhole model) is
intersected with the table top (z = 0 in the base frame, a finite rectangle), each
object and optional tall "columns" (upright cylinders that may float, standing for
the robot); depth is the nearest hit's z in the optical frame (NaN for no hit) and the
colour is the surface's paint times a simple directional shading (ambient + diffuse).
Pure numpy; ~0.1 s for 640 x 480 and a few objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brain_common.cell import default_cell

LIGHT = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
AMBIENT, DIFFUSE = 0.6, 0.35


@dataclass(frozen=True, slots=True)
class Solid:
    """shape: "box" or "cylinder"; centre (x, y) on the table, m; size (x, y, z) m (cylinder:
    diameter, diameter, height); yaw rad; rgb paint 0..1; bottom: z of its base (0 = on the
    table)."""

    shape: str
    centre: tuple[float, float]
    size: tuple[float, float, float]
    yaw: float
    rgb: tuple[float, float, float]
    bottom: float = 0.0

    @property
    def position(self) -> np.ndarray:
        """(3,) centre of the whole solid."""
        return np.array([self.centre[0], self.centre[1], self.bottom + self.size[2] / 2.0])


def default_camera() -> tuple[np.ndarray, np.ndarray]:
    """(K (3, 3) for 640 x 480 with a 50 deg vertical field of view, T_base_optical (4, 4))
    of the simulator's default camera."""
    f = 240.0 / math.tan(math.radians(25.0))
    K = np.array([[f, 0.0, 319.5], [0.0, f, 239.5], [0.0, 0.0, 1.0]])
    return K, default_cell().camera.T_base_optical()


def _box_hit(o: np.ndarray, d: np.ndarray, solid: Solid) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter (N,) of the first hit (inf if none) and the hit's normal (N, 3), base frame."""
    c, s = math.cos(solid.yaw), math.sin(solid.yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    centre = np.array([*solid.centre, solid.bottom + solid.size[2] / 2.0])
    lo = (o - centre) @ R
    ld = d @ R
    half = np.asarray(solid.size) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - lo) / ld
        t2 = (half - lo) / ld
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    tnear = np.nanmax(tmin, axis=1)
    tfar = np.nanmin(tmax, axis=1)
    hit = (tnear <= tfar) & (tfar > 0)
    t = np.where(hit, tnear, np.inf)
    axis = np.nanargmax(tmin, axis=1)
    normal_local = np.zeros_like(lo)
    rows = np.arange(len(lo))
    normal_local[rows, axis] = -np.sign(ld[rows, axis])
    return t, normal_local @ R.T


def _cylinder_hit(o: np.ndarray, d: np.ndarray, solid: Solid) -> tuple[np.ndarray, np.ndarray]:
    r = solid.size[0] / 2.0
    z0, z1 = solid.bottom, solid.bottom + solid.size[2]
    ox, oy = o[:, 0] - solid.centre[0], o[:, 1] - solid.centre[1]
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2.0 * (ox * d[:, 0] + oy * d[:, 1])
    cc = ox ** 2 + oy ** 2 - r * r
    disc = b * b - 4.0 * a * cc
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-b - np.sqrt(disc)) / (2.0 * a)
        z_side = o[:, 2] + t_side * d[:, 2]
        side_ok = (disc >= 0) & (t_side > 0) & (z_side >= z0) & (z_side <= z1)
        t_top = (z1 - o[:, 2]) / d[:, 2]
        xt, yt = ox + t_top * d[:, 0], oy + t_top * d[:, 1]
        top_ok = (t_top > 0) & (xt ** 2 + yt ** 2 <= r * r) & (d[:, 2] < 0)
    t = np.full(len(o), np.inf)
    t[side_ok] = t_side[side_ok]
    use_top = top_ok & (t_top < t)
    t[use_top] = t_top[use_top]
    normal = np.zeros_like(o)
    normal[use_top] = [0.0, 0.0, 1.0]
    side = side_ok & ~use_top
    hx, hy = ox[side] + t_side[side] * d[side, 0], oy[side] + t_side[side] * d[side, 1]
    normal[side, 0], normal[side, 1] = hx / r, hy / r
    return t, normal


def render(solids: list[Solid], K: np.ndarray, T_base_optical: np.ndarray, *, width: int = 640, height: int = 480,
           table_rgb=(0.55, 0.45, 0.35), table_half_size=(0.5, 0.6), table_centre=(0.45, 0.0),
           columns: list[Solid] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(rgb (H, W, 3) uint8, depth (H, W) float32 m, NaN = no hit) of `solids` and `columns`
    on the table, seen by a camera with intrinsics K (3, 3) at T_base_optical (4, 4)."""
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays_o = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, dtype=float)], -1)
    d = rays_o.reshape(-1, 3) @ T_base_optical[:3, :3].T  # unnormalised: t is the optical z-depth
    o = np.broadcast_to(T_base_optical[:3, 3], d.shape)
    n = len(d)
    best = np.full(n, np.inf)
    colour = np.zeros((n, 3))
    normal = np.zeros((n, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = -o[:, 2] / d[:, 2]
    xt, yt = o[:, 0] + t_table * d[:, 0], o[:, 1] + t_table * d[:, 1]
    on_table = (t_table > 0) & (np.abs(xt - table_centre[0]) <= table_half_size[0]) & \
        (np.abs(yt - table_centre[1]) <= table_half_size[1])
    best[on_table] = t_table[on_table]
    colour[on_table] = table_rgb
    normal[on_table] = [0.0, 0.0, 1.0]
    for solid in [*solids, *columns]:
        t, nrm = (_box_hit if solid.shape == "box" else _cylinder_hit)(o, d, solid)
        closer = t < best
        best[closer] = t[closer]
        colour[closer] = solid.rgb
        normal[closer] = nrm[closer]
    shade = AMBIENT + DIFFUSE * np.clip(normal @ LIGHT, 0.0, None)
    rgb = np.clip(np.rint(colour * shade[:, None] * 255.0), 0, 255).astype(np.uint8).reshape(height, width, 3)
    depth = np.where(np.isfinite(best), best, np.nan).astype(np.float32).reshape(height, width)
    return rgb, depth
