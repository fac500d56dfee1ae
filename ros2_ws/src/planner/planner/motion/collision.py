"""The planner's collision model: the robot as spheres, the world as boxes and cylinders.

Built from perception's objects (``Obstacle``, converted by the task layer from
brain_interfaces DetectedObject) and the fixed fixtures (table, bin) from configuration,
never from simulator ground truth. Every robot link is covered by a few spheres that
provably contain its collision mesh (sphere_fit.py); a configuration is in collision when
a sphere comes closer than ``margin`` to an obstacle, or closer than ``self_margin`` to a
sphere of a link it may hit (self-collision pairs, see SELF_COLLISION_PAIRS).

Checking is batched: ``in_collision(Q)`` takes (m, n) configurations at once, because
planning time goes here (measured with table, bin and 3 objects: 63 us for one
configuration, 9 us each in batches of 30, 3-4 us each from 300 on; PyBullet's contact
query takes ~30 us per configuration). It goes two levels deep: a bounding sphere per link
against each obstacle group's bounding box (the bin's five parts are one group), and only
where those come close, the link's own spheres (brute force over all spheres measured
slower at every batch size). Self-collision: link pairs whose bounding spheres rarely meet go the
same two levels; the wrist pairs (link5 against link7, hand, fingers) depend on joints 6
and 7 only and are read from a precomputed grid over those joints (cells that are not
certainly free or certainly colliding are checked exactly). An object carried by the hand
(``AttachedObject``) becomes extra spheres on the hand's frame: it moves with the hand,
may touch the gripper (and, while lifted off, what it stood on), and must clear
everything else, the robot's other links included.

The spheres over-cover the flat hand by up to 2.5 cm. With an exact narrow phase
(``exact``: exact.ExactHand, which build_motion gives the planner), ``is_free`` and
``first_collision`` (validation, IK goals, straight moves) let the hand's convex hulls
judge configurations the spheres flag only for hand links against obstacles;
``in_collision`` (the free-motion planners' batch check) stays spheres only.

Units: metres, radians. Poses: (4, 4) transforms in the base frame (``panda_link0``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from brain_common.cell import Bin, Table, default_cell
from brain_common.kinematics import Kinematics
from brain_common.robot_model import RobotModel
from planner.motion.sphere_fit import fit_robot, geometry_hash, link_hull_points

if TYPE_CHECKING:
    from planner.motion.exact import ExactHand

SHAPES = ("box", "cylinder")
# Link pairs of the Panda that can touch within the joint limits. The others are adjacent
# or never met in 20,000 uniformly random configurations with PyBullet's convex-hull meshes
# (the rule MoveIt's setup assistant uses; the spheres, being larger, would flag e.g.
# link6-hand in 15 % of configurations where the meshes never touch). Measured
# (mesh / sphere-model collision rate): link0-2 x link5-7, hand, fingers 0.2-1.7 % /
# 0.4-3.5 %; link5-link7 9.1 % / 44 %; link5-hand 9.3 % / 17 %; link5-fingers 1.2 % / 4.5 %.
HAND_GROUP = ("panda_hand", "panda_leftfinger", "panda_rightfinger")
SELF_COLLISION_PAIRS: tuple[tuple[str, str], ...] = (
    *((base, lk) for base in ("panda_link0", "panda_link1", "panda_link2")
      for lk in ("panda_link5", "panda_link6", "panda_link7", *HAND_GROUP)),
    *(("panda_link5", lk) for lk in ("panda_link7", *HAND_GROUP)),
)
# Links that never need to clear the table: the base stands on it.
TABLE_TOUCH_LINKS = ("panda_link0",)


def check_obstacle(name: str, shape: str, size, pose) -> None:
    """Raise ValueError naming the bad field of an obstacle description."""
    if shape not in SHAPES:
        raise ValueError(f"obstacle {name!r}: shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    s = np.asarray(size, dtype=float)
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"obstacle {name!r}: size must be 3 positive finite metres, got {size!r}")
    T = np.asarray(pose, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"obstacle {name!r}: pose must be a finite (4, 4) transform, got shape {T.shape}")
    R = T[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError(f"obstacle {name!r}: pose rotation is not a rotation matrix")


@dataclass(frozen=True, slots=True, eq=False)
class Obstacle:
    """A box or cylinder in the world. size: (3,) metres: box full extents along its x, y, z;
    cylinder (diameter, diameter, height) about its z axis (a cylinder with different x and y
    gets the larger as diameter). pose: (4, 4) T_base_obstacle of the centre. group: parts
    of one thing (the bin's floor and walls) share a group, which the checker first tests
    as one bounding box; "" = on its own."""

    name: str
    shape: str
    size: tuple[float, float, float]
    pose: np.ndarray
    group: str = ""

    def __post_init__(self) -> None:
        check_obstacle(self.name, self.shape, self.size, self.pose)
        object.__setattr__(self, "size", tuple(float(v) for v in self.size))
        object.__setattr__(self, "pose", np.array(self.pose, dtype=float))

    @staticmethod
    def box(name: str, size, position, yaw: float = 0.0) -> Obstacle:
        """A box of `size` (3,) m centred at `position` (3,) m, turned `yaw` rad about z."""
        return Obstacle(name, "box", tuple(size), pose_from_position_yaw(position, yaw))

    @staticmethod
    def cylinder(name: str, diameter: float, height: float, position, yaw: float = 0.0) -> Obstacle:
        """An upright cylinder centred at `position` (3,) m."""
        return Obstacle(name, "cylinder", (diameter, diameter, height), pose_from_position_yaw(position, yaw))


def pose_from_position_yaw(position, yaw: float = 0.0) -> np.ndarray:
    """(4, 4) transform: translation `position` (3,) m, rotation `yaw` rad about z."""
    T = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = np.asarray(position, dtype=float)
    return T


def table_obstacle(table: Table | None = None) -> Obstacle:
    """The table (default: the default cell's): a slab whose top surface is z = 0."""
    t = table if table is not None else default_cell().table
    return Obstacle.box("table", (t.size[0], t.size[1], t.thickness), (t.x, t.y, -t.thickness / 2.0))


def bin_obstacles(bin_: Bin | None = None) -> list[Obstacle]:
    """The open tray (default: the default cell's prior): floor and four walls as boxes
    named bin_*, group "bin"."""
    b = bin_ if bin_ is not None else default_cell().bin
    T_bin = pose_from_position_yaw((b.x, b.y, 0.0), b.yaw)
    out = []
    for name, size, c in b.parts():
        T = T_bin @ pose_from_position_yaw(c)
        out.append(Obstacle(name, "box", size, T, group="bin"))
    return out


def sphere_cover_of_obstacle(ob: Obstacle, cell: float = 0.03, max_per_axis: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Spheres containing an obstacle (used when it is carried): the box (or the cylinder's
    bounding box) cut into cells of at most `cell` m a side (at most `max_per_axis` cells
    per axis, so a large object gets larger cells), one circumscribed sphere per cell.
    Returns centres (k, 3) in the obstacle frame and radii (k,)."""
    size = np.asarray(ob.size, dtype=float)
    n = np.clip(np.ceil(size / cell).astype(int), 1, max_per_axis)
    step = size / n
    axes = [(-size[i] / 2.0 + step[i] * (np.arange(n[i]) + 0.5)) for i in range(3)]
    C = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    if ob.shape == "cylinder":  # drop cells that do not reach the cylinder
        rad = size[0] / 2.0
        reach = np.hypot(np.maximum(np.abs(C[:, 0]) - step[0] / 2, 0), np.maximum(np.abs(C[:, 1]) - step[1] / 2, 0))
        C = C[reach <= rad]
    r = np.full(len(C), 0.5 * float(np.linalg.norm(step)) + 1e-5)
    return C, r


@dataclass(frozen=True, slots=True, eq=False)
class AttachedObject:
    """An object held by the hand. obstacle: its shape and size; T_grasp_object: (4, 4) its
    pose in the grasp frame. touch_links: robot links it may touch (the gripper);
    touch_obstacles: obstacles it may touch (what it stands on, while it is lifted off)."""

    obstacle: Obstacle
    T_grasp_object: np.ndarray
    touch_links: tuple[str, ...] = HAND_GROUP
    touch_obstacles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    """One pair closer than allowed: a robot link (or 'attached:<name>') and an obstacle
    name or another link; distance: signed clearance between their spheres/shape (m,
    negative = penetration); allowed: the margin it had to keep."""

    link: str
    other: str
    distance: float
    allowed: float

    def __str__(self) -> str:
        return (f"{self.link} touches {self.other} (clearance {self.distance * 1000:.0f} mm "
                f"< {self.allowed * 1000:.0f} mm)")


_BOUND_CACHE: dict[bytes, tuple[np.ndarray, float]] = {}
_BOUND_CACHE_MAX = 4096  # links and held objects (a task makes a few per pick)


def _bounding_sphere(C: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """A small sphere (centre (3,), radius) containing spheres C (k, 3), r (k,). Remembered
    by its input: every CollisionModel (a new one per scene) has the same robot links."""
    C, r = np.ascontiguousarray(C, dtype=float), np.ascontiguousarray(r, dtype=float)
    key = C.tobytes() + b"|" + r.tobytes()
    hit = _BOUND_CACHE.get(key)
    if hit is None:
        if len(_BOUND_CACHE) >= _BOUND_CACHE_MAX:
            _BOUND_CACHE.clear()
        hit = _BOUND_CACHE[key] = _compute_bounding_sphere(C, r)
    return hit[0].copy(), hit[1]


def _compute_bounding_sphere(C: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    c = C.mean(axis=0)
    for i in range(200):  # Badoiu-Clarkson on the sphere surfaces
        far = int(np.argmax(np.linalg.norm(C - c, axis=1) + r))
        d = C[far] - c
        nd = float(np.linalg.norm(d))
        target = C[far] + (d / nd * r[far] if nd > 0 else 0.0)
        c = c + (target - c) / (i + 2)
    return c, float(np.max(np.linalg.norm(C - c, axis=1) + r)) + 1e-9


_SPHERE_CACHE: dict[str, dict] = {}


def robot_spheres(model: RobotModel) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """link name -> (chain frame, centres (k, 3) in that frame, radii (k,)): the shipped
    Panda cover when the meshes match it, else a cover fitted now (~1 s per link, cached)."""
    from planner.motion.panda_spheres import SPHERES

    if model.urdf_path in _SPHERE_CACHE:
        return _SPHERE_CACHE[model.urdf_path]
    out: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    need_fit = []
    for link in model.links:
        if link.name not in model.geometry:
            continue
        shipped = SPHERES.get(link.name)
        if shipped and shipped[0] == geometry_hash(link_hull_points(model, link)):
            arr = np.asarray(shipped[1], dtype=float)
            out[link.name] = (link.frame, arr[:, :3], arr[:, 3])
        else:
            need_fit.append(link.name)
    if need_fit:
        fitted = fit_robot(model)
        for name in need_fit:
            out[name] = (model.link(name).frame, fitted[name]["centres"], fitted[name]["radii"])
    _SPHERE_CACHE[model.urdf_path] = out
    return out


def _sphere_pairs(link_pairs, starts: np.ndarray, counts: np.ndarray, radii: np.ndarray,
                  self_margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sphere pair of the link pairs (a, b): sphere indices A (N,), B (N,) and the
    squared distance (N,) m^2 below which they collide (radii plus self_margin). starts,
    counts (L,): each link's first sphere index and sphere count; radii (S,) m."""
    ia, ib = [], []
    for a, b in link_pairs:
        sa = np.arange(starts[a], starts[a] + counts[a])
        sb = np.arange(starts[b], starts[b] + counts[b])
        ia.append(np.repeat(sa, len(sb)))
        ib.append(np.tile(sb, len(sa)))
    A = np.concatenate(ia) if ia else np.zeros(0, int)
    B = np.concatenate(ib) if ib else np.zeros(0, int)
    return A, B, (radii[A] + radii[B] + self_margin) ** 2


_FREE, _UNKNOWN, _COLLIDING = 0, 1, 2
_LUT_CACHE: dict = {}


@dataclass(frozen=True, eq=False)
class _PairLUT:
    """Self-collision state of the near link pairs on a grid over two joints (ja, jb)."""

    ja: int
    jb: int
    lo_a: float
    lo_b: float
    h: float
    state: np.ndarray  # (na, nb) int8: _FREE, _UNKNOWN, _COLLIDING

    def lookup(self, Q: np.ndarray) -> np.ndarray:
        """(m,) cell states of configurations Q (m, n) (only valid inside the joint limits;
        outside, some valid cell's state: such configurations are rejected anyway)."""
        nb = self.state.shape[1]
        ia = ((Q[:, self.ja] - self.lo_a) * (1.0 / self.h)).astype(np.intp)
        ib = ((Q[:, self.jb] - self.lo_b) * (1.0 / self.h)).astype(np.intp)
        return np.take(self.state, ia * nb + ib, mode="clip")


@dataclass(frozen=True, eq=False)
class _Group:
    """One obstacle group: its bounding box (level 1) and its members (level 2).
    W (4, 3): homogeneous base point -> bounding-box frame; half (3,): box half extents.
    members: indices into the model's obstacle arrays."""

    name: str
    W: np.ndarray
    half: np.ndarray
    members: np.ndarray


class CollisionModel:
    """Batch collision checking of arm configurations (see module docstring).

    kinematics: the arm's Kinematics. obstacles: the world. margin: clearance (m) every
    robot sphere keeps from obstacles; margins: per-obstacle overrides of it (name -> m;
    e.g. {"table": 0.0} for the last centimetres of a grasp approach); self_margin:
    clearance between robot spheres of self-collision pairs. attached: objects carried by
    the hand. Models are immutable: ``with_obstacles``, ``without``, ``with_margin``,
    ``with_margins``, ``with_attached`` return new ones sharing the robot's data.
    """

    def __init__(self, kinematics: Kinematics, obstacles: Iterable[Obstacle] = (), *, margin: float = 0.01,
                 self_margin: float = 0.0, attached: Sequence[AttachedObject] = (),
                 margins: dict[str, float] | None = None,
                 self_collision_pairs: Sequence[tuple[str, str]] = SELF_COLLISION_PAIRS,
                 table_touch_links: Sequence[str] = TABLE_TOUCH_LINKS, exact: ExactHand | None = None) -> None:
        if not (math.isfinite(margin) and margin >= 0.0):
            raise ValueError(f"margin must be a finite number >= 0 m, got {margin}")
        if not (math.isfinite(self_margin) and self_margin >= 0.0):
            raise ValueError(f"self_margin must be a finite number >= 0 m, got {self_margin}")
        self.kinematics = kinematics
        self.model = kinematics.model
        self.obstacles: tuple[Obstacle, ...] = tuple(obstacles)
        names = [o.name for o in self.obstacles]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two obstacles are named {dup!r}; names must be unique")
        self.margin = float(margin)
        self.self_margin = float(self_margin)
        self.margins = {str(k): float(v) for k, v in (margins or {}).items()}
        for k, v in self.margins.items():
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"margin for {k!r} must be a finite number >= 0 m, got {v}")
        self.attached: tuple[AttachedObject, ...] = tuple(attached)
        self.self_collision_pairs = tuple(self_collision_pairs)
        self.table_touch_links = tuple(table_touch_links)
        self.exact = exact
        self._lo = kinematics.lower - 1e-9
        self._hi = kinematics.upper + 1e-9
        self._build()

    # -- derived models --------------------------------------------------------
    def _derive(self, **kw) -> CollisionModel:
        args = dict(obstacles=self.obstacles, margin=self.margin, self_margin=self.self_margin, margins=self.margins,
                    attached=self.attached, self_collision_pairs=self.self_collision_pairs,
                    table_touch_links=self.table_touch_links, exact=self.exact)
        args.update(kw)
        return CollisionModel(self.kinematics, args.pop("obstacles"), **args)

    def with_obstacles(self, obstacles: Iterable[Obstacle]) -> CollisionModel:
        """The same robot in another world."""
        return self._derive(obstacles=tuple(obstacles))

    def without(self, names: Iterable[str]) -> CollisionModel:
        """Without the named obstacles (e.g. the object about to be grasped)."""
        drop = set(names)
        return self._derive(obstacles=tuple(o for o in self.obstacles if o.name not in drop))

    def with_margin(self, margin: float) -> CollisionModel:
        """Another default clearance (m) from obstacles."""
        return self._derive(margin=margin)

    def with_margins(self, margins: dict[str, float]) -> CollisionModel:
        """Per-obstacle clearances (name -> m) on top of the current ones."""
        return self._derive(margins={**self.margins, **margins})

    def obstacle_margin(self, name: str) -> float:
        return self.margins.get(name, self.margin)

    def with_attached(self, attached: Sequence[AttachedObject]) -> CollisionModel:
        """Carrying these objects (an attached object's own obstacle, if present, is removed)."""
        carried = {a.obstacle.name for a in attached}
        return self._derive(attached=tuple(attached),
                            obstacles=tuple(o for o in self.obstacles if o.name not in carried))

    def obstacle(self, name: str) -> Obstacle:
        for o in self.obstacles:
            if o.name == name:
                return o
        raise KeyError(f"no obstacle {name!r}; obstacles: {', '.join(o.name for o in self.obstacles) or 'none'}")

    # -- construction ----------------------------------------------------------
    def _build(self) -> None:
        """Derive every lookup array the checks read from the robot, obstacles and attached objects."""
        spheres = robot_spheres(self.model)
        links = self._links(spheres)
        self.link_names = tuple(x[0] for x in links)
        index = {n: i for i, n in enumerate(self.link_names)}
        frames, starts, counts = self._build_sphere_arrays(links)
        self._build_obstacle_arrays(index)
        self._build_obstacle_groups()
        pairs_arr = self._self_collision_link_pairs(index, spheres)
        near = self._mostly_near(pairs_arr)
        self._build_near_pairs(pairs_arr[near], frames, starts, counts)
        self._build_far_pairs(pairs_arr[~near], starts, counts)
        self._pairs = pairs_arr

    def _links(self, spheres: dict[str, tuple[int, np.ndarray, np.ndarray]]) -> list[tuple]:
        """(name, chain frame, centres (k, 3) in that frame, radii (k,)) of every robot link and
        of every attached object (named "attached:<name>", on the grasp link's frame), sorted
        by chain frame so that every frame's points are contiguous."""
        links = [(name, frame, C, r) for name, (frame, C, r) in spheres.items()]
        grasp = self.model.link(self.model.tip_link)
        for a in self.attached:
            C, r = sphere_cover_of_obstacle(a.obstacle)
            T = grasp.T_frame_link @ np.asarray(a.T_grasp_object, dtype=float)
            links.append((f"attached:{a.obstacle.name}", grasp.frame, C @ T[:3, :3].T + T[:3, 3], r))
        links.sort(key=lambda x: x[1])
        return links

    def _build_sphere_arrays(self, links: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The robot's spheres as flat arrays (S spheres over L links): their link and radius,
        every link's bounding sphere, the per-frame point blocks `_points` transforms, and
        every link's sphere indices padded to the largest link. Returns the links' chain
        frames (L,), first sphere index (L,) and sphere count (L,)."""
        L = len(links)
        frames = np.array([x[1] for x in links])
        counts = np.array([len(x[3]) for x in links])
        kmax = int(counts.max())
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._sphere_link = np.repeat(np.arange(L), counts)  # (S,)
        self._sphere_r = np.concatenate([x[3] for x in links])  # (S,)
        self._bound_c = np.zeros((L, 3))
        self._bound_r = np.zeros(L)
        for i, (_, _, C, r) in enumerate(links):
            self._bound_c[i], self._bound_r[i] = _bounding_sphere(C, r)
        # Per chain frame: homogeneous local points [its spheres | its links' bounding centres].
        self._frame_blocks = []
        for f in np.unique(frames):
            ls = np.flatnonzero(frames == f)
            s0, s1 = int(starts[ls[0]]), int(starts[ls[-1]] + counts[ls[-1]])
            pts = np.vstack([np.vstack([links[i][2] for i in ls]), self._bound_c[ls]])
            H = np.vstack([pts.T, np.ones(len(pts))])
            self._frame_blocks.append((int(f), s0, s1, int(ls[0]), int(ls[-1]) + 1, H))
        # The same points padded per frame (F, 4, pmax) for _points, with gather indices
        # into the flattened (frame, point) axis.
        pmax = max(H.shape[1] for *_rest, H in self._frame_blocks)
        self._pt_frames = np.array([b[0] for b in self._frame_blocks])
        self._pt_H = np.zeros((len(self._frame_blocks), pmax, 4))
        self._pt_sph = np.zeros(int(counts.sum()), dtype=int)
        self._pt_bnd = np.zeros(L, dtype=int)
        for bi, (_, s0, s1, l0, l1, H) in enumerate(self._frame_blocks):
            self._pt_H[bi, :H.shape[1]] = H.T
            self._pt_sph[s0:s1] = bi * pmax + np.arange(s1 - s0)
            self._pt_bnd[l0:l1] = bi * pmax + (s1 - s0) + np.arange(l1 - l0)
        self._pt_HT = self._pt_H.transpose(0, 2, 1).copy()  # (F, 4, pmax)
        # Per link: its sphere indices padded to kmax (padding radius -inf never collides).
        self._link_sph = np.zeros((L, kmax), dtype=int)
        self._link_r = np.full((L, kmax), -np.inf)
        for i in range(L):
            self._link_sph[i, :counts[i]] = np.arange(starts[i], starts[i] + counts[i])
            self._link_sph[i, counts[i]:] = starts[i]
            self._link_r[i, :counts[i]] = links[i][3]
        self._counts = counts
        return frames, starts, counts

    def _build_obstacle_arrays(self, index: dict[str, int]) -> None:
        """Arrays of every obstacle (O): rotation (O, 3, 3), position (O, 3), half extents (O, 3;
        a cylinder's radius in x), cylinder flags and margins (m), and which links never check
        which obstacle (L, O): the table-touching links the table, an attached object what it
        may touch. index: link name -> link index."""
        obs = self.obstacles
        self._ob_R = np.array([o.pose[:3, :3] for o in obs]).reshape(-1, 3, 3)
        self._ob_t = np.array([o.pose[:3, 3] for o in obs]).reshape(-1, 3)
        half = np.array([np.asarray(o.size) / 2.0 for o in obs]).reshape(-1, 3)
        cyl = np.array([o.shape == "cylinder" for o in obs], dtype=bool)
        half[cyl, 0] = np.maximum(half[cyl, 0], half[cyl, 1])
        self._ob_half = half
        self._ob_cyl = cyl
        self._ob_margin = np.array([self.obstacle_margin(o.name) for o in obs])
        self._ob_skip = np.zeros((len(self.link_names), len(obs)), dtype=bool)  # links that never check an obstacle
        for j, o in enumerate(obs):
            if o.name == "table":
                for lk in self.table_touch_links:
                    if lk in index:
                        self._ob_skip[index[lk], j] = True
            for att in self.attached:
                if o.name in att.touch_obstacles:
                    self._ob_skip[index[f"attached:{att.obstacle.name}"], j] = True

    def _build_obstacle_groups(self) -> None:
        """The obstacle groups (level 1 of the obstacle check, G groups): each group's bounding
        box, and the (L, G) tables of which link skips which group and how near (squared, m^2)
        a link's bounding sphere must come to a group's box to check its members."""
        obs, cyl, L = self.obstacles, self._ob_cyl, len(self.link_names)
        groups: dict[str, list[int]] = {}
        for j, o in enumerate(obs):
            groups.setdefault(o.group or f"\0{o.name}", []).append(j)
        self._groups = []
        for gname, members in groups.items():
            R0, t0 = self._ob_R[members[0]], self._ob_t[members[0]]
            corners = []
            for j in members:  # the members' corners in the first member's frame
                sgn = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T
                pts = sgn * self._ob_half[j] if not cyl[j] else sgn * self._ob_half[j][[0, 0, 2]]
                corners.append((pts @ self._ob_R[j].T + self._ob_t[j] - t0) @ R0)
            corners = np.vstack(corners)
            lo, hi = corners.min(axis=0), corners.max(axis=0)
            centre_local = (lo + hi) / 2.0
            W = np.zeros((4, 3))
            W[:3] = R0
            W[3] = -(t0 @ R0) - centre_local
            self._groups.append(_Group(name=gname.lstrip("\0"), W=W, half=(hi - lo) / 2.0,
                                       members=np.array(members, dtype=int)))
        if self._groups:
            self._grp_W = np.hstack([g.W for g in self._groups])  # (4, 3 G): x, y, z per group
            self._grp_half = np.array([g.half for g in self._groups])  # (G, 3)
            # a link skips a group when it skips every member (the table for the base)
            self._grp_skip = np.array([[self._ob_skip[li, g.members].all() for g in self._groups]
                                       for li in range(L)])
            self._grp_sizes = np.array([len(g.members) for g in self._groups])
            self._grp_first = np.concatenate([[0], np.cumsum(self._grp_sizes)[:-1]])
            self._grp_members = np.concatenate([g.members for g in self._groups])
            self._grp_single = bool(np.all(self._grp_sizes == 1))
            if self._grp_single:
                self._grp_first = self._grp_members.copy()  # group index -> obstacle index
            grp_margin = np.array([self._ob_margin[g.members].max() for g in self._groups])
            reach = self._bound_r[:, None] + grp_margin[None, :]
            # (L, G) squared reach, -1 where the link skips the group (never "near")
            self._grp_reach2 = np.where(self._grp_skip, -1.0, reach * reach)

    def _self_collision_link_pairs(self, index: dict[str, int],
                                   spheres: dict[str, tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
        """(P, 2) link index pairs checked for self-collision: the configured pairs present in
        the model, and every attached object against every robot link it may not touch."""
        pairs = []
        for a, b in self.self_collision_pairs:
            if a in index and b in index:
                pairs.append((index[a], index[b]))
        for att in self.attached:
            ia = index[f"attached:{att.obstacle.name}"]
            for lk in spheres:
                if lk not in att.touch_links:
                    pairs.append((ia, index[lk]))
        return np.array(pairs, dtype=int).reshape(-1, 2)

    def _mostly_near(self, pairs_arr: np.ndarray) -> np.ndarray:
        """(P,) bool: the link pairs (P, 2) whose bounding spheres overlap in most of 64 seeded
        random configurations; those skip level 1 of the self-collision check."""
        near = np.zeros(len(pairs_arr), dtype=bool)
        if len(pairs_arr):
            rng = np.random.default_rng(0)
            k = self.kinematics
            Qs = rng.uniform(k.lower, k.upper, (64, k.dof))
            _, Xb = self._points(Qs)
            d = np.linalg.norm(Xb[:, pairs_arr[:, 0]] - Xb[:, pairs_arr[:, 1]], axis=-1)
            reach = self._bound_r[pairs_arr[:, 0]] + self._bound_r[pairs_arr[:, 1]] + self.self_margin
            near = (d < reach).mean(axis=0) > 0.5
        return near

    def _build_near_pairs(self, near_arr: np.ndarray, frames: np.ndarray, starts: np.ndarray,
                          counts: np.ndarray) -> None:
        """The near link pairs (N, 2) as sphere-pair arrays. Near robot-robot pairs between chain
        frames f and f + 2 depend on two joints only: they go to a lookup table over those
        joints (_build_pair_lut); other near pairs (e.g. a carried object's) are checked sphere
        pair by sphere pair every time."""
        near_pairs = [tuple(pr) for pr in near_arr]
        span = {pr: tuple(sorted((int(frames[pr[0]]), int(frames[pr[1]])))) for pr in near_pairs}
        robot = [pr for pr in near_pairs if not any(self.link_names[i].startswith("attached:") for i in pr)
                 and span[pr][1] == span[pr][0] + 2 and span[pr][0] >= 1]
        f1 = None
        if robot:
            f1 = max({span[pr] for pr in robot}, key=lambda fs: sum(span[pr] == fs for pr in robot))[0]
            robot = [pr for pr in robot if span[pr][0] == f1]
        exact = [pr for pr in near_pairs if pr not in robot]
        self._near_a, self._near_b, self._near_lim2 = _sphere_pairs(robot, starts, counts, self._sphere_r,
                                                                    self.self_margin)
        self._near2_a, self._near2_b, self._near2_lim2 = _sphere_pairs(exact, starts, counts, self._sphere_r,
                                                                       self.self_margin)
        self._near_lut = None
        if robot:
            names = tuple(sorted((self.link_names[a], self.link_names[b]) for a, b in robot))
            key = (self.model.urdf_path, round(self.self_margin, 9), names)
            if key not in _LUT_CACHE:
                _LUT_CACHE[key] = self._build_pair_lut(f1, frames)
            self._near_lut = _LUT_CACHE[key]

    def _build_far_pairs(self, far: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
        """The far link pairs (P, 2) (level 1 on their bounding spheres): their squared reach
        (P,) m^2 and their sphere pairs padded to the largest pair (P, K2), with a limit of -1
        on the padding (never colliding)."""
        self._far_pairs = far
        self._far_reach2 = (self._bound_r[far[:, 0]] + self._bound_r[far[:, 1]] + self.self_margin) ** 2
        k2 = max([int(counts[a] * counts[b]) for a, b in far], default=1)
        self._far_a = np.zeros((len(far), k2), dtype=int)
        self._far_b = np.zeros((len(far), k2), dtype=int)
        self._far_lim2 = np.full((len(far), k2), -1.0)
        for p, (a, b) in enumerate(far):
            sa = np.arange(starts[a], starts[a] + counts[a])
            sb = np.arange(starts[b], starts[b] + counts[b])
            n = len(sa) * len(sb)
            self._far_a[p, :n] = np.repeat(sa, len(sb))
            self._far_b[p, :n] = np.tile(sb, len(sa))
            self._far_a[p, n:] = sa[0]
            self._far_b[p, n:] = sb[0]
            self._far_lim2[p, :n] = (self._sphere_r[self._far_a[p, :n]] + self._sphere_r[self._far_b[p, :n]]
                                     + self.self_margin) ** 2

    def _build_pair_lut(self, f1: int, frames: np.ndarray) -> _PairLUT:
        """Precompute the near self-collision pairs (all between chain frames f1 and f1 + 2,
        so they depend only on the two joints in between) on a grid over those joints.
        A cell is FREE (COLLIDING) when its centre's clearance exceeds (is below minus)
        the most any sphere can move within the cell; otherwise UNKNOWN (checked exactly)."""
        k = self.kinematics
        ja, jb = f1, f1 + 1  # 0-based joint indices between frame f1 and f1 + 2
        h = 0.01  # rad, cell size: ~0.3 s to build (once per process), ~12 % of cells undecided
        # local centres of each near sphere pair in its own chain frame
        blocks = {blk[0]: (blk[-1][:3], blk[1]) for blk in self._frame_blocks}  # frame: (H, first sphere)
        Ha, sa0 = blocks[f1]
        Hb, sb0 = blocks[f1 + 2]
        A = Ha[:, self._near_a - sa0].T  # (P, 3) in frame f1
        B = Hb[:, self._near_b - sb0].T  # (P, 3) in frame f1 + 2
        lim = np.sqrt(self._near_lim2)
        qa = np.arange(k.lower[ja] + h / 2, k.upper[ja] + h / 2, h)
        qb = np.arange(k.lower[jb] + h / 2, k.upper[jb] + h / 2, h)
        Oa, Ob = k.model.chain_origins[ja], k.model.chain_origins[jb]
        # B in frame f1 + 1 for every qb: Ob @ Rz(qb) @ B
        cb, sb = np.cos(qb), np.sin(qb)
        Bx = cb[:, None] * B[:, 0] - sb[:, None] * B[:, 1]
        By = sb[:, None] * B[:, 0] + cb[:, None] * B[:, 1]
        B1 = np.stack([Bx, By, np.broadcast_to(B[:, 2], Bx.shape)], axis=-1) @ Ob[:3, :3].T + Ob[:3, 3]  # (nb, P, 3)
        clear = np.empty((len(qa), len(qb)))
        rho_a = 0.0
        for i, q in enumerate(qa):  # then Oa @ Rz(qa) into frame f1
            c, s_ = np.cos(q), np.sin(q)
            Rz = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
            B0 = B1 @ (Oa[:3, :3] @ Rz).T + Oa[:3, 3]
            clear[i] = (np.linalg.norm(B0 - A, axis=-1) - lim).min(axis=1)
            rho_a = max(rho_a, float(np.linalg.norm(B0 - Oa[:3, 3], axis=-1).max()))
        rho_b = float(np.linalg.norm(B, axis=1).max())
        tau = (rho_a + rho_b) * h / 2.0 + 1e-4
        state = np.full(clear.shape, _UNKNOWN, dtype=np.int8)
        state[clear > tau] = _FREE
        state[clear < -tau] = _COLLIDING
        return _PairLUT(ja=ja, jb=jb, lo_a=float(k.lower[ja]), lo_b=float(k.lower[jb]), h=h, state=state)

    # -- checking --------------------------------------------------------------
    def _points(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sphere centres (m, S, 3) and link bounding centres (m, L, 3), base frame, for Q (m, n)."""
        F = self.kinematics.frames_batch(Q)  # (m, n + 1, 3, 4)
        m = Q.shape[0]
        # every frame's padded points in one product, then one gather each (the einsum form
        # is faster from ~16 configurations on, per-frame products below that; measured)
        if m <= 16:  # per frame one (3 m, 4) x (4, p) product
            B, p = self._pt_H.shape[:2]
            Z = F[:, self._pt_frames].transpose(1, 0, 2, 3).reshape(B, 3 * m, 4) @ self._pt_HT
            Y = Z.reshape(B, m, 3, p).transpose(1, 0, 3, 2).reshape(m, -1, 3)
        else:
            Y = np.einsum("mbkj,bjp->mbpk", F[:, self._pt_frames], self._pt_HT, optimize=True).reshape(m, -1, 3)
        return Y[:, self._pt_sph], Y[:, self._pt_bnd]

    def in_collision(self, Q) -> np.ndarray:
        """(m,) bool: configuration i of Q (m, n) rad is in collision, outside the joint
        limits, or not finite."""
        Q = np.atleast_2d(np.asarray(Q, dtype=float))
        m = Q.shape[0]
        if m == 0:
            return np.zeros(0, dtype=bool)
        # NaN fails both comparisons, so a non-finite configuration is "outside the limits";
        # its NaN points never compare as close to anything below.
        hit = ~np.all(np.greater_equal(Q, self._lo) & np.less_equal(Q, self._hi), axis=1)
        Xs, Xb = self._points(Q)
        if self.obstacles:
            self._check_obstacles(Xs, Xb, hit)
        if len(self._near_a):
            rows = slice(None)
            lut = self._near_lut
            if lut is not None:
                st = lut.lookup(Q)
                hit |= st == _COLLIDING
                rows = np.flatnonzero(st == _UNKNOWN)
            if lut is None or rows.size:
                X = Xs[rows]
                d = X[:, self._near_a] - X[:, self._near_b]  # (m', P, 3)
                bad = np.any(np.einsum("mpi,mpi->mp", d, d) < self._near_lim2, axis=1)
                if lut is None:
                    hit |= bad
                else:
                    hit[rows[bad]] = True
        if len(self._near2_a):
            d = Xs[:, self._near2_a] - Xs[:, self._near2_b]
            hit |= np.any(np.einsum("mpi,mpi->mp", d, d) < self._near2_lim2, axis=1)
        if len(self._far_pairs):  # level 1 on the links' bounding spheres, then their sphere pairs
            d = Xb[:, self._far_pairs[:, 0]] - Xb[:, self._far_pairs[:, 1]]
            ci, pi = np.nonzero(np.einsum("mpi,mpi->mp", d, d) < self._far_reach2)
            if ci.size:
                D = Xs[ci[:, None], self._far_a[pi]] - Xs[ci[:, None], self._far_b[pi]]  # (T, K2, 3)
                bad = np.any(np.einsum("tki,tki->tk", D, D) < self._far_lim2[pi], axis=1)
                hit[ci[bad]] = True
        return hit

    def _check_obstacles(self, Xs: np.ndarray, Xb: np.ndarray, hit: np.ndarray) -> None:
        m, L, _ = Xb.shape
        G = len(self._groups)
        # level 1: every link's bounding sphere against every group's bounding box
        P = np.empty((m, L, 4))
        P[:, :, :3] = Xb
        P[:, :, 3] = 1.0
        q = np.abs((P.reshape(m * L, 4) @ self._grp_W).reshape(m, L, G, 3)) - self._grp_half
        np.maximum(q, 0.0, out=q)
        # outside distance^2 < (r + margin)^2 (a centre inside the box has distance 0)
        near = np.einsum("mlgi,mlgi->mlg", q, q) < self._grp_reach2
        ci, li, gi = np.nonzero(near)
        if ci.size == 0:
            return
        if self._grp_single:
            oi = self._grp_first[gi]
        else:  # expand each (config, link, group) candidate to the group's members
            rep = self._grp_sizes[gi]
            ci, li = np.repeat(ci, rep), np.repeat(li, rep)
            oi = self._grp_members[np.repeat(self._grp_first[gi], rep) + np.arange(rep.sum())
                                   - np.repeat(np.cumsum(rep) - rep, rep)]
            keep = ~self._ob_skip[li, oi]
            ci, li, oi = ci[keep], li[keep], oi[keep]
        # level 2: the candidate links' spheres against the member obstacles
        X = Xs[ci[:, None], self._link_sph[li]]  # (T, k, 3)
        local = np.einsum("tki,tij->tkj", X - self._ob_t[oi][:, None, :], self._ob_R[oi])  # obstacle frame
        r = self._link_r[li] + self._ob_margin[oi][:, None]  # (T, k); -inf padding never collides
        cyl = self._ob_cyl[oi]
        if not cyl.any():
            q = np.abs(local) - self._ob_half[oi][:, None, :]
            np.maximum(q, 0.0, out=q)
            bad = np.any(np.einsum("tki,tki->tk", q, q) < np.where(r > 0, r * r, -1.0), axis=1)
        else:
            sd = np.where(cyl[:, None], _sdf(local[..., 0], local[..., 1], local[..., 2],
                                              self._ob_half[oi].T[:, :, None], "cylinder"),
                          _sdf(local[..., 0], local[..., 1], local[..., 2], self._ob_half[oi].T[:, :, None], "box"))
            bad = np.any(sd < r, axis=1)
        hit[ci[bad]] = True

    def is_free(self, q) -> bool:
        """One configuration (n,) rad: within the limits and collision-free (with an exact
        narrow phase, its verdict on what the spheres flag near the hand; see exact.py)."""
        q = np.asarray(q, dtype=float)
        return not (self.in_collision(q[None])[0] and self._confirmed(q))

    def first_collision(self, Q) -> int:
        """Index of the first configuration of Q (m, n) in collision, or -1 (with an exact
        narrow phase: the first one it confirms)."""
        Q = np.atleast_2d(np.asarray(Q, dtype=float))
        for i in np.flatnonzero(self.in_collision(Q)):
            if self._confirmed(Q[i]):
                return int(i)
        return -1

    def _confirmed(self, q: np.ndarray) -> bool:
        """Whether configuration q (n,), which the spheres flag, is in collision: always,
        unless every flagged pair is an exactly modelled hand link against a world obstacle
        and the exact distances keep every margin."""
        if self.exact is None or not np.all((q >= self._lo) & (q <= self._hi)):
            return True
        contacts = self.explain(q)
        names = {o.name for o in self.obstacles}
        if not contacts or any(c.link not in self.exact.links or c.other not in names for c in contacts):
            return True
        frames = self.kinematics.frames(q)
        for c in contacts:
            o = self.obstacle(c.other)
            if self.exact.distance(frames, c.link, o.shape, o.size, o.pose, c.allowed + 1e-3) < c.allowed:
                return True
        return False

    def explain(self, q) -> list[Contact]:
        """Every (link, obstacle or link) pair of configuration q (n,) closer than allowed,
        nearest first (all spheres checked, no pruning). Joint limits are not contacts."""
        Xs, _ = self._points(np.asarray(q, dtype=float)[None])
        X = Xs[0]  # (S, 3)
        contacts = []
        for j, o in enumerate(self.obstacles):
            loc = (X - self._ob_t[j]) @ self._ob_R[j]
            d = _sdf(loc[:, 0], loc[:, 1], loc[:, 2], self._ob_half[j], "cylinder" if self._ob_cyl[j] else "box")
            d = d - self._sphere_r
            for li, name in enumerate(self.link_names):
                if self._ob_skip[li, j]:
                    continue
                dmin = float(d[self._sphere_link == li].min())
                if dmin < self._ob_margin[j]:
                    contacts.append(Contact(name, o.name, dmin, float(self._ob_margin[j])))
        for a, b in self._pairs:
            sa, sb = self._sphere_link == a, self._sphere_link == b
            dist = np.linalg.norm(X[sa][:, None] - X[sb][None], axis=-1)
            dist = dist - self._sphere_r[sa][:, None] - self._sphere_r[sb][None]
            dmin = float(dist.min())
            if dmin < self.self_margin:
                contacts.append(Contact(self.link_names[a], self.link_names[b], dmin, self.self_margin))
        contacts.sort(key=lambda c: c.distance)
        return contacts

    def world_spheres(self, q) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(link per sphere, centres (s, 3) base frame, radii (s,)) of configuration q (n,):
        for drawing and tests."""
        Xs, _ = self._points(np.asarray(q, dtype=float)[None])
        return [self.link_names[i] for i in self._sphere_link], Xs[0].copy(), self._sphere_r.copy()


def _sdf(x: np.ndarray, y: np.ndarray, z: np.ndarray, half, kind: str) -> np.ndarray:
    """Signed distance (m) of points (x, y, z in the obstacle frame, equal shapes) to a box
    of half extents half[0..2] or an upright cylinder (radius half[0], half height half[2]);
    `half` broadcasts against the points."""
    if kind == "box":
        qx, qy, qz = np.abs(x) - half[0], np.abs(y) - half[1], np.abs(z) - half[2]
        ox, oy, oz = np.maximum(qx, 0.0), np.maximum(qy, 0.0), np.maximum(qz, 0.0)
        return np.sqrt(ox * ox + oy * oy + oz * oz) + np.minimum(np.maximum(np.maximum(qx, qy), qz), 0.0)
    qr = np.sqrt(x * x + y * y) - half[0]
    qz = np.abs(z) - half[2]
    orr, oz = np.maximum(qr, 0.0), np.maximum(qz, 0.0)
    return np.sqrt(orr * orr + oz * oz) + np.minimum(np.maximum(qr, qz), 0.0)
