"""Cover each robot link's collision geometry with spheres that provably contain it.

The collision model approximates every link by a few spheres (fast to test in batches
against boxes, cylinders and each other). The cover is conservative by construction:

1. The link's convex hull (what PyBullet collides with, and a superset of the mesh).
   A link hanging from a prismatic joint (a finger) is swept over its whole travel: the
   hull of the mesh at both ends of the stroke contains every intermediate position.
2. k centres from k-means on points sampled inside the hull (seeded), then refined so the
   largest radius shrinks (each centre moves toward the centre of the smallest ball
   around its cell).
3. Each centre's radius is the farthest vertex of its cell: the hull intersected with the
   centre's Voronoi cell, an exact convex polytope (scipy HalfspaceIntersection). The
   cells tile the hull, so the union of the spheres contains the hull exactly (up to
   float rounding, covered by a 0.1 mm pad).

Run ``python -m planner.motion.sphere_fit > planner/motion/panda_spheres.py`` to
regenerate the shipped Panda cover after a URDF change (~15 s); tests check the shipped
cover against the meshes.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from brain_common.robot_model import ChainLink, RobotModel, load_robot_model

PAD = 1e-4  # m, added to every radius: float rounding of the exact cover
# Spheres per link for the Panda: more where the arm comes close to objects (hand, fingers).
PANDA_SPHERE_COUNTS = {
    "panda_link0": 4, "panda_link1": 5, "panda_link2": 5, "panda_link3": 5, "panda_link4": 5,
    "panda_link5": 6, "panda_link6": 5, "panda_link7": 5, "panda_hand": 7,
    "panda_leftfinger": 5, "panda_rightfinger": 5,
}
DEFAULT_COUNT = 5


def link_hull_points(model: RobotModel, link: ChainLink) -> np.ndarray:
    """(m, 3) points in the link's chain frame whose convex hull contains the link over
    the whole travel of its swept joints (fingers)."""
    V = np.vstack([g.vertices for g in model.geometry[link.name]])
    V = V @ link.T_frame_link[:3, :3].T + link.T_frame_link[:3, 3]
    for direction, lo, hi in link.sweep:
        V = np.vstack([V + np.asarray(direction) * lo, V + np.asarray(direction) * hi])
    return V


def geometry_hash(points: np.ndarray) -> str:
    """A short hash of a link's hull points (detects a changed URDF or mesh)."""
    return hashlib.sha1(np.round(points, 6).tobytes()).hexdigest()[:12]


def _cell_vertices(C: np.ndarray, i: int, hull_eq: np.ndarray) -> np.ndarray:
    from scipy.spatial import HalfspaceIntersection

    rows = [hull_eq]
    for j in range(len(C)):
        if j != i:
            n = C[j] - C[i]
            rows.append(np.r_[n, -(C[j] @ C[j] - C[i] @ C[i]) / 2.0][None])
    return HalfspaceIntersection(np.vstack(rows), C[i]).intersections


def _min_ball_centre(P: np.ndarray, iterations: int = 300) -> np.ndarray:
    """Approximate centre of the smallest ball around points P (Badoiu-Clarkson)."""
    c = P.mean(axis=0)
    for i in range(iterations):
        far = P[np.argmax(((P - c) ** 2).sum(axis=1))]
        c = c + (far - c) / (i + 2)
    return c


def fit_spheres(points: np.ndarray, k: int, rng: np.random.Generator,
                refine: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """(k, 3) centres and (k,) radii of spheres whose union contains conv(points) (m, 3)."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    eq = hull.equations  # rows (n, d): n . x + d <= 0 inside
    lo, hi = points.min(axis=0), points.max(axis=0)
    P = rng.uniform(lo, hi, (30000, 3))
    P = P[(P @ eq[:, :3].T + eq[:, 3] <= -1e-6).all(axis=1)]
    C = P[rng.choice(len(P), k, replace=False)]
    for _ in range(30):  # k-means (Lloyd) on the interior samples
        label = np.argmin(((P[:, None] - C[None]) ** 2).sum(-1), axis=1)
        C = np.array([P[label == i].mean(axis=0) if (label == i).any() else C[i] for i in range(k)])
    best_C, best_R = None, None
    for _ in range(refine):
        cells = [_cell_vertices(C, i, eq) for i in range(k)]
        R = np.array([np.sqrt(((cell - C[i]) ** 2).sum(axis=1)).max() for i, cell in enumerate(cells)])
        if best_R is None or R.max() < best_R.max():
            best_C, best_R = C.copy(), R.copy()
        # half a step toward each cell's smallest enclosing ball: centres stay inside the hull
        C = 0.5 * C + 0.5 * np.array([_min_ball_centre(cell) for cell in cells])
    return best_C, best_R + PAD


def fit_robot(model: RobotModel, counts: dict[str, int] | None = None, seed: int = 0) -> dict[str, dict]:
    """link name -> {"hash", "centres" (k, 3) in the chain frame, "radii" (k,)} for every
    link with collision geometry."""
    counts = PANDA_SPHERE_COUNTS if counts is None else counts
    rng = np.random.default_rng(seed)
    out = {}
    for link in model.links:
        if link.name not in model.geometry:
            continue
        pts = link_hull_points(model, link)
        C, R = fit_spheres(pts, counts.get(link.name, DEFAULT_COUNT), rng)
        out[link.name] = {"hash": geometry_hash(pts), "centres": C, "radii": R}
    return out


def main() -> int:
    model = load_robot_model()
    spheres = fit_robot(model)
    w = sys.stdout.write
    w('"""Sphere cover of the Panda links (pybullet_data franka_panda/panda.urdf), in each link\'s\n'
      "chain frame (see sphere_fit.py). Generated by `python -m planner.motion.sphere_fit`; do not edit.\n"
      '"""\n\n')
    w("# link: (hull hash, ((x, y, z, radius), ...)) metres\n")
    w("SPHERES = {\n")
    for name, s in spheres.items():
        w(f'    "{name}": ("{s["hash"]}", (\n')
        for c, r in zip(s["centres"], s["radii"], strict=True):
            r_up = np.ceil(r * 1e5) / 1e5 + 1e-5  # rounding the centre moves it < 1e-5 m
            w(f"        ({c[0]:.5f}, {c[1]:.5f}, {c[2]:.5f}, {r_up:.5f}),\n")
        w("    )),\n")
    w("}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
