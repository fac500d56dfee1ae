"""Vertical prisms: the one shape family grasp synthesis needs, with exact distances.

Everything a top-down or side grasp meets stands upright: objects resting on the table
(boxes, cylinders), the bin's walls, and the fingers and hand of a grasp whose closing
axis is horizontal. Each is a vertical prism: a convex footprint in the base frame's xy
plane (a polygon or a circle) times a height interval. The distance between two such
prisms is exact and cheap: hypot(footprint distance, height-interval gap).

Pure Python floats (no numpy): the shapes are tiny (4 corners) and a grasp plan makes a
few hundred checks, where numpy's per-call overhead would dominate. Metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Prism:
    """A vertical prism. corners: convex footprint polygon (counter-clockwise or clockwise),
    or empty for a circle of `radius` about `centre`. z_min < z_max: height interval.
    centre/bound: a circle containing the footprint (for quick rejection)."""

    corners: tuple[Point, ...]
    centre: Point
    bound: float
    z_min: float
    z_max: float
    radius: float = 0.0

    @property
    def is_circle(self) -> bool:
        return not self.corners


def rectangle(centre: Point, axis_u: Point, half_u: float, half_v: float, z_min: float, z_max: float) -> Prism:
    """A box prism: footprint centred at `centre`, half extent `half_u` along the unit
    vector `axis_u` and `half_v` along its left normal."""
    cx, cy = centre
    ax, ay = half_u * axis_u[0], half_u * axis_u[1]  # half extent vectors along u and v
    bx, by = -half_v * axis_u[1], half_v * axis_u[0]
    corners = ((cx + ax + bx, cy + ay + by), (cx - ax + bx, cy - ay + by),
               (cx - ax - bx, cy - ay - by), (cx + ax - bx, cy + ay - by))
    return Prism(corners, (cx, cy), math.hypot(half_u, half_v), z_min, z_max)


def translated(p: Prism, dx: float, dy: float, dz: float) -> Prism:
    """`p` moved by (dx, dy, dz)."""
    return Prism(tuple((x + dx, y + dy) for x, y in p.corners), (p.centre[0] + dx, p.centre[1] + dy), p.bound,
                 p.z_min + dz, p.z_max + dz, p.radius)


def cylinder(centre: Point, radius: float, z_min: float, z_max: float) -> Prism:
    """An upright cylinder."""
    return Prism((), (float(centre[0]), float(centre[1])), radius, z_min, z_max, radius)


def _point_segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = 0.0 if den <= 0.0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / den))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _point_polygon_distance(px: float, py: float, poly: tuple[Point, ...]) -> float:
    """Distance from a point to a convex polygon; 0 inside."""
    n = len(poly)
    inside_pos = inside_neg = True
    best = math.inf
    for i in range(n):
        ax, ay = poly[i]
        bx, by = poly[(i + 1) % n]
        cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        inside_pos &= cross >= 0.0
        inside_neg &= cross <= 0.0
        best = min(best, _point_segment_distance(px, py, ax, ay, bx, by))
    return 0.0 if (inside_pos or inside_neg) else best


def _axes(poly: tuple[Point, ...]) -> list[tuple[float, float]]:
    """Unit edge normals of a convex polygon (two for a parallelogram: the other two repeat)."""
    n = len(poly)
    out = []
    for i in range(2 if n == 4 else n):
        ax, ay = poly[i]
        bx, by = poly[(i + 1) % n]
        nx, ny = ay - by, bx - ax
        length = math.hypot(nx, ny)
        out.append((nx / length, ny / length))
    return out


def _separation(a: tuple[Point, ...], b: tuple[Point, ...]) -> float:
    """Largest gap between the projections of two convex polygons on their edge normals: <= 0
    when they overlap (separating axis theorem), otherwise a lower bound of their distance."""
    best = -math.inf
    for nx, ny in _axes(a) + _axes(b):
        pa = [nx * x + ny * y for x, y in a]
        pb = [nx * x + ny * y for x, y in b]
        best = max(best, min(pb) - max(pa), min(pa) - max(pb))
    return best


def footprint_distance(a: Prism, b: Prism, cap: float = math.inf) -> float:
    """Distance between the footprints of two prisms (m); 0 when they overlap. Any value >= cap
    may be returned as cap."""
    if a.is_circle and b.is_circle:
        return max(0.0, math.hypot(a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]) - a.radius - b.radius)
    if a.is_circle or b.is_circle:
        circle, poly = (a, b) if a.is_circle else (b, a)
        return max(0.0, _point_polygon_distance(circle.centre[0], circle.centre[1], poly.corners) - circle.radius)
    gap = _separation(a.corners, b.corners)
    if gap <= 0.0:
        return 0.0
    if gap >= cap:
        return cap
    best = math.inf
    for p, q in ((a.corners, b.corners), (b.corners, a.corners)):
        n = len(q)
        for px, py in p:
            for i in range(n):
                ax, ay = q[i]
                bx, by = q[(i + 1) % n]
                best = min(best, _point_segment_distance(px, py, ax, ay, bx, by))
    return best


def prism_distance(a: Prism, b: Prism, cap: float = math.inf) -> float:
    """Distance between two prisms (m), 0 when they overlap; any value >= cap may be
    returned as cap (a cheap bounding-circle test decides most far pairs)."""
    dz = max(0.0, a.z_min - b.z_max, b.z_min - a.z_max)
    if dz >= cap:
        return cap
    centres = math.hypot(a.centre[0] - b.centre[0], a.centre[1] - b.centre[1])
    lower = max(0.0, centres - a.bound - b.bound)
    if math.hypot(lower, dz) >= cap:
        return cap
    flat_cap = math.sqrt(cap * cap - dz * dz) if math.isfinite(cap) else cap
    return min(cap, math.hypot(footprint_distance(a, b, flat_cap), dz))
