"""The robot as the brain and the sim see it, read from its URDF: a serial arm chain, joint
limits, and every link's collision meshes placed on that chain. Pure Python (xml + numpy).
Read once here (brain_common) so that the planner, grasping and the sim's scripted oracle
share one model of the arm.

The arm chain is the path of joints from ``base_link`` to ``tip_link``; its movable joints
are the planning joints (7 for the Panda). Links hanging off the chain through other movable
joints (the Panda's prismatic fingers) are attached to the chain frame they hang from, with
the range of those joints remembered so the collision model can cover their whole travel.
Units: metres, radians.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from brain_common.robot import BASE_FRAME, GRASP_FRAME


def default_urdf_path() -> str:
    """pybullet_data's ``franka_panda/panda.urdf`` (the model the sim and the real arm share here)."""
    import pybullet_data  # the package ships the Panda URDF and meshes; no physics is used here

    return os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")


def transform_from_xyz_rpy(xyz, rpy) -> np.ndarray:
    """(4, 4) homogeneous transform of a URDF <origin>: translation xyz (m), fixed-axis roll,
    pitch, yaw (rad) applied as R = Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    T = np.eye(4)
    T[:3, :3] = [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                 [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                 [-sp, cp * sr, cp * cr]]
    T[:3, 3] = [float(v) for v in xyz]
    return T


@dataclass(frozen=True, slots=True)
class Joint:
    """One URDF joint. origin: (4, 4) T_parent_joint. axis: (3,) unit vector in the joint
    frame. lower/upper: position limits (rad or m); velocity: rad/s or m/s (inf if absent)."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    velocity: float
    effort: float

    @property
    def movable(self) -> bool:
        return self.type in ("revolute", "continuous", "prismatic")


@dataclass(frozen=True, slots=True)
class CollisionGeometry:
    """A collision mesh of one link: vertices (n, 3) metres in the link frame (the URDF
    collision <origin> and mesh scale already applied)."""

    link: str
    vertices: np.ndarray


@dataclass(frozen=True, slots=True)
class ChainLink:
    """A link placed on the arm chain: rigidly attached to chain frame ``frame`` (0 = base,
    k = child of the k-th planning joint) at T_frame_link (4, 4) (non-planning joints at 0).
    ``sweep`` lists the prismatic non-planning joints between that frame and the link (e.g.
    a finger) as (direction (3,) in the chain frame, lower m, upper m): the collision model
    covers the link over their whole travel."""

    name: str
    frame: int
    T_frame_link: np.ndarray
    sweep: tuple = ()


@dataclass(frozen=True)
class RobotModel:
    """The arm chain of a URDF (see module docstring).

    joint_names: planning joints in chain order. lower/upper (n,) rad; velocity (n,) rad/s.
    chain_origins: (n, 4, 4) T_prev_joint: the fixed transform from chain frame k-1 to
    joint k (fixed joints in between folded in). axes: (n, 3) joint axes. T_last_tip: (4, 4)
    from the last chain frame to the tip link. links: every link with collision geometry,
    placed on the chain. geometry: link name -> list of CollisionGeometry.
    """

    urdf_path: str
    base_link: str
    tip_link: str
    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    chain_origins: np.ndarray
    axes: np.ndarray
    T_last_tip: np.ndarray
    links: tuple[ChainLink, ...]
    geometry: dict[str, list[CollisionGeometry]] = field(default_factory=dict)
    adjacent: frozenset = frozenset()  # pairs of link names joined by one joint

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    def link(self, name: str) -> ChainLink:
        for lk in self.links:
            if lk.name == name:
                return lk
        raise KeyError(f"no link {name!r} on the chain; links: {', '.join(lk.name for lk in self.links)}")


def _read_obj_vertices(path: str) -> np.ndarray:
    verts = []
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                verts.append([float(v) for v in line.split()[1:4]])
    if not verts:
        raise ValueError(f"{path}: no vertices")
    return np.asarray(verts)


def _resolve_mesh(filename: str, urdf_dir: str) -> str:
    for prefix in ("package://", "file://"):
        if filename.startswith(prefix):
            filename = filename[len(prefix):]
    path = filename if os.path.isabs(filename) else os.path.join(urdf_dir, filename)
    if not os.path.isfile(path):
        raise ValueError(f"collision mesh {filename!r} not found (looked at {path})")
    return path


def _collision_vertices(col, urdf_dir: str, link: str) -> np.ndarray:
    """(m, 3) points whose convex hull contains one <collision> geometry (its own frame):
    a mesh's vertices (scaled); a box's corners; a cylinder's or sphere's circumscribed
    polygon/polyhedron (so the hull never falls short of the primitive)."""
    mesh = col.find("geometry/mesh")
    if mesh is not None:
        return _read_obj_vertices(_resolve_mesh(mesh.get("filename"), urdf_dir)) * _floats(mesh.get("scale"), (1, 1, 1))
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T
    box = col.find("geometry/box")
    if box is not None:
        return corners * _floats(box.get("size"), (0, 0, 0)) / 2.0
    cyl = col.find("geometry/cylinder")
    if cyl is not None:
        r, h, n = float(cyl.get("radius")), float(cyl.get("length")), 16
        a = np.arange(n) * 2 * np.pi / n
        ring = np.stack([np.cos(a), np.sin(a)], axis=1) * r / np.cos(np.pi / n)  # circumscribed n-gon
        return np.vstack([np.c_[ring, np.full(n, -h / 2)], np.c_[ring, np.full(n, h / 2)]])
    sph = col.find("geometry/sphere")
    if sph is not None:
        return corners * float(sph.get("radius"))  # the circumscribed cube
    raise ValueError(f"link {link!r}: unsupported collision geometry (mesh, box, cylinder or sphere expected)")


def _floats(text: str | None, default: tuple[float, ...]) -> np.ndarray:
    return np.asarray(default if text is None else [float(v) for v in text.split()], dtype=float)


@lru_cache(maxsize=8)
def load_robot_model(urdf_path: str | None = None, base_link: str = BASE_FRAME,
                     tip_link: str = GRASP_FRAME) -> RobotModel:
    """Parse `urdf_path` (default: default_urdf_path()) into a RobotModel for the chain
    base_link -> tip_link. Raises ValueError naming what is missing or malformed."""
    urdf_path = urdf_path or default_urdf_path()
    root = ET.parse(urdf_path).getroot()
    urdf_dir = os.path.dirname(urdf_path)
    joints: dict[str, Joint] = {}
    by_child: dict[str, Joint] = {}
    for j in root.findall("joint"):
        origin = j.find("origin")
        T = transform_from_xyz_rpy(_floats(origin.get("xyz") if origin is not None else None, (0, 0, 0)),
                                   _floats(origin.get("rpy") if origin is not None else None, (0, 0, 0)))
        axis_el = j.find("axis")
        axis = _floats(axis_el.get("xyz") if axis_el is not None else None, (1, 0, 0))
        if np.linalg.norm(axis) > 0:
            axis = axis / np.linalg.norm(axis)
        lim = j.find("limit")
        jt = j.get("type")
        lower = float(lim.get("lower", "-inf")) if lim is not None else -np.inf
        upper = float(lim.get("upper", "inf")) if lim is not None else np.inf
        if jt == "continuous":
            lower, upper = -np.inf, np.inf
        joint = Joint(name=j.get("name"), type=jt, parent=j.find("parent").get("link"),
                      child=j.find("child").get("link"), origin=T, axis=axis, lower=lower, upper=upper,
                      velocity=float(lim.get("velocity", "inf")) if lim is not None else np.inf,
                      effort=float(lim.get("effort", "inf")) if lim is not None else np.inf)
        joints[joint.name] = joint
        by_child[joint.child] = joint

    # The chain: walk up from the tip to the base.
    chain: list[Joint] = []
    link = tip_link
    while link != base_link:
        if link not in by_child:
            raise ValueError(f"{urdf_path}: no joint path from {base_link!r} to {tip_link!r} (stuck at {link!r})")
        chain.append(by_child[link])
        link = by_child[link].parent
    chain.reverse()
    movable = [j for j in chain if j.movable]
    if any(j.type != "revolute" for j in movable):
        raise ValueError(f"{urdf_path}: only revolute planning joints are supported, got "
                         f"{[(j.name, j.type) for j in movable if j.type != 'revolute']}")
    origins = []
    T_acc = np.eye(4)
    # Placement of every chain link: (frame index, T_frame_link).
    placement: dict[str, tuple[int, np.ndarray]] = {base_link: (0, np.eye(4))}
    frame = 0
    for j in chain:
        T_acc = T_acc @ j.origin
        if j.movable:
            origins.append(T_acc)
            T_acc = np.eye(4)
            frame += 1
        placement[j.child] = (frame, T_acc.copy())
    T_last_tip = T_acc

    # Links hanging off the chain (fixed or through non-planning movable joints).
    links: list[ChainLink] = []
    children: dict[str, list[Joint]] = {}
    for j in joints.values():
        children.setdefault(j.parent, []).append(j)
    chain_names = {j.name for j in chain}

    def attach_children(name: str, frame_idx: int, T: np.ndarray, sweep: tuple) -> None:
        for j in children.get(name, []):
            if j.name in chain_names or j.child in placement:
                continue
            T_child = T @ j.origin
            if j.type == "prismatic":
                # the child moves along R_frame_joint @ axis: displacement in the chain frame
                visit(j.child, frame_idx, T_child, (*sweep, (T_child[:3, :3] @ j.axis, j.lower, j.upper)))
            elif not j.movable:
                visit(j.child, frame_idx, T_child, sweep)
            # a revolute branch would need its own planning joint: not supported, skipped

    def visit(name: str, frame_idx: int, T: np.ndarray, sweep: tuple) -> None:
        links.append(ChainLink(name=name, frame=frame_idx, T_frame_link=T, sweep=sweep))
        attach_children(name, frame_idx, T, sweep)

    for name, (fidx, T) in list(placement.items()):
        links.append(ChainLink(name=name, frame=fidx, T_frame_link=T))
        attach_children(name, fidx, T, ())

    geometry: dict[str, list[CollisionGeometry]] = {}
    for lk in root.findall("link"):
        for col in lk.findall("collision"):
            v = _collision_vertices(col, urdf_dir, lk.get("name"))
            origin = col.find("origin")
            T = transform_from_xyz_rpy(_floats(origin.get("xyz") if origin is not None else None, (0, 0, 0)),
                                       _floats(origin.get("rpy") if origin is not None else None, (0, 0, 0)))
            v = v @ T[:3, :3].T + T[:3, 3]
            geometry.setdefault(lk.get("name"), []).append(CollisionGeometry(lk.get("name"), v))

    adjacent = frozenset(frozenset((j.parent, j.child)) for j in joints.values())
    return RobotModel(
        urdf_path=urdf_path, base_link=base_link, tip_link=tip_link,
        joint_names=tuple(j.name for j in movable),
        lower=np.array([j.lower for j in movable]), upper=np.array([j.upper for j in movable]),
        velocity=np.array([j.velocity for j in movable]), effort=np.array([j.effort for j in movable]),
        chain_origins=np.array(origins), axes=np.array([j.axis for j in movable]), T_last_tip=T_last_tip,
        links=tuple(links), geometry=geometry, adjacent=adjacent)
