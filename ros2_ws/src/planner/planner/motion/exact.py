"""The narrow phase behind the sphere cover: exact distances of the hand to the world.

The sphere cover (sphere_fit.py) contains every link, which is what makes it safe, but the
Panda hand is a flat block (6.3 x 20.8 x 9.2 cm) and spheres cover a flat face badly: the
shipped 7-sphere cover reaches 2.5 cm beyond the hand's convex hull, below the palm too,
and more spheres do not help (k-means covers with 7..28 spheres all reach 2.4-2.7 cm out;
measured with sphere_fit.fit_spheres). Next to contact that over-cover decides: a cube a
few centimetres from the bin wall, whose grasp clears the wall by a centimetre, cannot be
reached by the spheres, and grasp synthesis (which models the hand as boxes measured from
its mesh) offers grasps the planner then refuses.

So when the spheres flag a configuration, and every pair they flag is a hand link (hand,
fingers) against a world obstacle, those pairs are measured again between the links'
convex hulls (the very shapes PyBullet and the sim collide; a finger's hull spans its whole
stroke, like its spheres) and the obstacles' exact boxes and cylinders, with PyBullet's GJK
in a DIRECT client of its own: geometry only, no physics, no simulator state. The margins
are the same. Anything else the spheres flag (the arm's other links, self-collision, a
carried object) stays in collision: the spheres remain the broad phase and the only
judge of free motions (RRT), and this only decides near contact, where validation asks.

Units: metres; poses (4, 4) in the base frame.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from brain_common.cell import quaternion_from_matrix
from brain_common.robot_model import RobotModel

HAND_LINKS = ("panda_hand", "panda_leftfinger", "panda_rightfinger")
_CACHE_LIMIT = 256  # obstacle bodies kept between checks (the world changes every episode)


class ExactHand:
    """Distances between the convex hulls of `links` and box/cylinder obstacles.

    model: the robot (its links' collision meshes and chain frames). links: the links
    measured exactly (default: the Panda's hand and fingers; links the model lacks are
    left out). Thread-safe; one PyBullet DIRECT client per instance, closed by close()."""

    def __init__(self, model: RobotModel, links: Sequence[str] = HAND_LINKS) -> None:
        import pybullet as pb

        from planner.motion.sphere_fit import link_hull_points

        self._pb = pb
        self._lock = threading.Lock()
        self._client = pb.connect(pb.DIRECT)
        self._bodies: dict[str, tuple[int, int]] = {}  # link -> (chain frame, body)
        self._obstacles: dict[tuple, int] = {}
        for name in links:
            if name not in model.geometry:
                continue
            link = model.link(name)
            pts = link_hull_points(model, link)
            shape = pb.createCollisionShape(pb.GEOM_MESH, vertices=pts.tolist(), physicsClientId=self._client)
            body = pb.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=shape, physicsClientId=self._client)
            self._bodies[name] = (link.frame, body)
        self.links = tuple(self._bodies)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pb.isConnected(self._client):
                self._pb.disconnect(self._client)
            self._client = None

    def _place(self, body: int, T: np.ndarray) -> None:
        self._pb.resetBasePositionAndOrientation(body, T[:3, 3].tolist(), quaternion_from_matrix(T[:3, :3]),
                                                 physicsClientId=self._client)

    def _obstacle_body(self, shape: str, size: Sequence[float], pose: np.ndarray) -> int:
        pb = self._pb
        key = (shape, tuple(round(float(s), 9) for s in size), np.round(pose, 9).tobytes())
        body = self._obstacles.get(key)
        if body is not None:
            return body
        if len(self._obstacles) >= _CACHE_LIMIT:
            for old in self._obstacles.values():
                pb.removeBody(old, physicsClientId=self._client)
            self._obstacles.clear()
        if shape == "cylinder":
            col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=max(size[0], size[1]) / 2.0, height=size[2],
                                          physicsClientId=self._client)
        else:
            col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[s / 2.0 for s in size],
                                          physicsClientId=self._client)
        body = pb.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=col, physicsClientId=self._client)
        self._place(body, pose)
        self._obstacles[key] = body
        return body

    def distance(self, frames: np.ndarray, link: str, shape: str, size: Sequence[float], pose: np.ndarray,
                 within: float) -> float:
        """Least distance (m, negative = penetration) between `link` placed by the chain
        `frames` ((n + 1, 4, 4) from Kinematics.frames) and an obstacle (shape "box" or
        "cylinder", size (3,) as collision.Obstacle, pose (4, 4)); `within` (m) when they
        are at least that far apart (the search stops there)."""
        frame, body = self._bodies[link]
        with self._lock:
            if self._client is None:
                raise RuntimeError("ExactHand is closed")
            self._place(body, frames[frame])
            other = self._obstacle_body(shape, size, pose)
            points = self._pb.getClosestPoints(body, other, distance=within, physicsClientId=self._client)
        return min((float(p[8]) for p in points), default=float(within))
