"""The PyBullet world: a Franka Panda on a table, a bin, objects and an RGB-D camera. No ROS imports.

``SimWorld(scene)`` builds one SceneInstance in a private PyBullet DIRECT client (never
the global one); ``reset(scene)`` rebuilds another scene in the same client. Physics runs
at a fixed step (240 Hz, 50 solver iterations: the settings under which scripted friction
grasps were measured to hold, ROS_ON_PIP.md). Frames and units as in armbrain_sim.scene:
base frame = ``panda_link0`` at the origin on the table top (z = 0), metres, radians,
seconds of sim time.

Ground truth (``object_poses``, ``check_success``) is for scoring and for the oracle only;
the brain never reads it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import pybullet as p

from armbrain_sim.egl_shadows import set_shadow_map
from armbrain_sim.scene import (
    ALL_OBJECTS,
    MAX_GRIPPER_OPENING,
    ObjectInstance,
    SceneInstance,
    SuccessRule,
)
from brain_common.kinematics import Kinematics
from brain_common.robot import ARM_JOINTS, FINGER_JOINTS
from brain_common.robot_model import default_urdf_path, load_robot_model

# The Panda's joints and grasp link in PyBullet's numbering of panda.urdf (checked against
# ARM_JOINTS / FINGER_JOINTS by name when the robot is loaded).
ARM_JOINT_INDICES = tuple(range(7))
FINGER_JOINT_INDICES = (9, 10)
GRASP_LINK = 11  # panda_grasptarget

GRAVITY = 9.81  # m/s^2
SOLVER_ITERATIONS = 50
# m and rad: a scene whose joints and objects all moved less than this since the last picture
# shows that picture again (a micrometre is a thousandth of a pixel at the camera's range)
RENDER_REUSE_TOLERANCE = 1e-6
# Friction: ~1.0 lateral on the pads (the URDF's value) and on objects holds a friction
# grasp with 20 N per finger; spinning friction (the pads' 0.1 from the URDF, a little on
# objects) stops an object pivoting in the grasp. Bullet combines rolling friction as
# a.rolling * b.lateral + a.lateral * b.rolling, and every contact with a non-zero value
# costs ~3x the step time (5,800 vs 16,300 steps/s with 4 cubes, measured), so only
# cylinders, the one shape that can roll, get rolling friction.
OBJECT_FRICTION = {"lateralFriction": 1.0, "spinningFriction": 0.01, "rollingFriction": 0.0}
CYLINDER_ROLLING_FRICTION = 0.001
TABLE_FRICTION = {"lateralFriction": 0.8, "spinningFriction": 0.0, "rollingFriction": 0.0}
# The URDF's <friction_anchor/> on the pads is switched off: with it, after a long
# transfer the anchored contacts kept the fingers from opening against their 20 N
# (the object came back up with the retreat), measured on a 4 x 7 cm box.
FINGER_FRICTION = {"lateralFriction": 1.0, "spinningFriction": 0.1, "frictionAnchor": 0}
# Least principal moment of inertia of an object, kg m^2. A 2 cm cube of 4 g has 2.7e-7: under
# the pads' squeeze (10-15 N on a few grams) Bullet's solver spins such a body out of the
# grasp sideways, or pushes it into the table, in the first steps of contact (measured: a
# 4 g 2 cm cube left the closing fingers 2.3 cm sideways at 10 N; with this floor it was held
# at 10 and 15 N, as were a 5 g 4 cm cube and a 7.8 g 2.5 cm cube at 15 N). 5e-6 is the
# inertia of a 12 g 5 cm cube; objects of ordinary mass and size (a 5 cm cube of 62.5 g:
# 2.6e-5) keep their own inertia. The mass, and with it the weight the grasp must hold, is
# unchanged.
MIN_OBJECT_INERTIA = 5e-6
# An object counts as resting below these speeds (m/s, rad/s).
REST_LINEAR_SPEED = 0.02
REST_ANGULAR_SPEED = 0.3
# Depth buffer values at or above this are background (no return).
DEPTH_BACKGROUND = 1.0 - 1e-6
RENDERERS = ("auto", "egl", "tiny")
# Box visuals are OBJ meshes with per-face normals, one file per size: the EGL renderer
# shades GEOM_BOX visuals with interpolated normals (a bright/dark diagonal across every
# large face: the table, the bin floor), and it caches meshes by file name, ignoring the
# meshScale of later uses, so one scaled unit cube cannot serve several sizes.
MESH_DIR = os.path.join(tempfile.gettempdir(), f"armbrain_sim_meshes_{os.getuid()}")


class JointLimit(NamedTuple):
    """URDF limits of one joint: position (rad or m), velocity (rad/s or m/s), effort (N m or N)."""

    lower: float
    upper: float
    max_velocity: float
    max_effort: float


class Pose(NamedTuple):
    """A pose in the base frame: position (3,) m and quaternion (4,) xyzw."""

    position: np.ndarray
    quaternion: np.ndarray


class RuleResult(NamedTuple):
    """One success rule judged from ground truth."""

    rule: SuccessRule
    ok: bool
    reason: str


@dataclass(slots=True)
class JointStateSnapshot:
    """names: 7 arm joints then 2 finger joints; positions (9,) rad/m; velocities (9,);
    efforts (9,) N m / N (the motor torque/force applied in the last step)."""

    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray


@dataclass(slots=True)
class CameraFrame:
    """One RGB-D frame. rgb: (H, W, 3) uint8. depth: (H, W) float32 metres along the optical
    axis, NaN where there is no return. K: (3, 3) intrinsics. T_base_optical: (4, 4) pose
    the image was rendered from. time: sim seconds when rendered."""

    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    T_base_optical: np.ndarray
    time: float


# Optical frame (z forward, y down) -> OpenGL camera frame (z backward, y up).
_GL_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0, 1.0])


def view_matrix_from_pose(T_base_optical: np.ndarray) -> list[float]:
    """PyBullet view matrix (16 floats, column-major) for a camera at (4, 4) T_base_optical."""
    T_base_gl = np.asarray(T_base_optical, dtype=float) @ _GL_FROM_OPTICAL
    return np.linalg.inv(T_base_gl).flatten(order="F").tolist()


# Principal point (cx - W/2, cy - H/2) in pixel-index coordinates (pixel i covers
# [i - 0.5, i + 0.5]) as measured by fitting rendered table depth to ray/plane
# intersections (rms < 0.05 mm): EGL puts the optical axis at the image centre
# (W/2 - 0.5); TinyRenderer's raster is offset by half a pixel in u and v.
PRINCIPAL_POINT_OFFSET = {"egl": (-0.5, -0.5), "tiny": (0.0, -1.0)}


def intrinsics_from_projection(projection: list[float] | np.ndarray, width: int, height: int,
                               renderer: str = "egl") -> np.ndarray:
    """(3, 3) K of a PyBullet/OpenGL projection matrix (16 floats, column-major) for a W x H
    image from `renderer` ("egl" or "tiny"): fx = P00 W/2, fy = P11 H/2, principal point
    from PRINCIPAL_POINT_OFFSET."""
    P = np.asarray(projection, dtype=float).reshape(4, 4, order="F")
    du, dv = PRINCIPAL_POINT_OFFSET[renderer]
    return np.array([[P[0, 0] * width / 2.0, 0.0, width / 2.0 + du],
                     [0.0, P[1, 1] * height / 2.0, height / 2.0 + dv],
                     [0.0, 0.0, 1.0]])


def box_mesh_file(size) -> str:
    """Path of an OBJ box of `size` (3,) m centred at the origin with per-face normals
    (written once per size into MESH_DIR, atomically)."""
    sx, sy, sz = (round(float(v), 5) for v in size)
    path = os.path.join(MESH_DIR, f"box_{sx:.5f}_{sy:.5f}_{sz:.5f}.obj")
    if os.path.exists(path):
        return path
    h = np.array([sx, sy, sz]) / 2.0
    lines = [f"# box {sx} x {sy} x {sz} m"]
    faces = []
    for axis in range(3):
        a, b = (axis + 1) % 3, (axis + 2) % 3
        for sign in (1.0, -1.0):
            lines.append("vn " + " ".join(f"{sign if k == axis else 0.0:.1f}" for k in range(3)))
            faces.append((axis, a, b, sign))
    for axis, a, b, sign in faces:
        for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            v = np.zeros(3)
            v[axis], v[a], v[b] = sign * h[axis], sa * h[a], sb * h[b]
            lines.append("v " + " ".join(f"{c:.6f}" for c in v))
    for i, (_, _, _, sign) in enumerate(faces):
        n, v0 = i + 1, 4 * i + 1
        quad = (v0, v0 + 1, v0 + 2, v0 + 3) if sign > 0 else (v0, v0 + 3, v0 + 2, v0 + 1)
        for tri in ((quad[0], quad[1], quad[2]), (quad[0], quad[2], quad[3])):
            lines.append("f " + " ".join(f"{k}//{n}" for k in tri))
    os.makedirs(MESH_DIR, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=MESH_DIR, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def depth_from_buffer(buffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """OpenGL depth buffer (H, W) in 0..1 -> metric depth (H, W) float32, NaN for background."""
    d = np.asarray(buffer, dtype=np.float64)
    z = far * near / (far - (far - near) * d)
    z[(d >= DEPTH_BACKGROUND) | (z > far)] = np.nan
    return z.astype(np.float32)


def matrix_from_quaternion(q_xyzw) -> np.ndarray:
    """(4,) quaternion xyzw (PyBullet's order) -> (3, 3) rotation."""
    return np.asarray(p.getMatrixFromQuaternion([float(v) for v in q_xyzw])).reshape(3, 3)


def yaw_from_quaternion(q_xyzw) -> float:
    """Yaw (rad) of the body x axis projected on the base xy plane."""
    R = matrix_from_quaternion(q_xyzw)
    return float(np.arctan2(R[1, 0], R[0, 0]))


def half_height(obj: ObjectInstance, q_xyzw) -> float:
    """Half of the object's vertical extent (m) in orientation q_xyzw (4,)."""
    R = matrix_from_quaternion(q_xyzw)
    sx, sy, sz = obj.size
    if obj.shape == "cylinder":
        c = abs(R[2, 2])
        return float(c * sz / 2.0 + np.sqrt(max(0.0, 1.0 - c * c)) * sx / 2.0)
    return float(abs(R[2, 0]) * sx / 2.0 + abs(R[2, 1]) * sy / 2.0 + abs(R[2, 2]) * sz / 2.0)


# At most one live world per process renders with EGL: the plugin shares one GL context
# between clients, and disconnecting one client that loaded it crashes (SIGSEGV) the next
# render of another (measured). "auto" falls back to TinyRenderer for further worlds.
_EGL_LOCK = threading.Lock()
_EGL_OWNERS: set[int] = set()


def _disconnect(client: int) -> None:
    with _EGL_LOCK:
        if p.isConnected(physicsClientId=client):
            p.disconnect(physicsClientId=client)
        _EGL_OWNERS.discard(client)


class SimWorld:
    """A PyBullet simulation of one SceneInstance (see module docstring).

    renderer: "auto", "egl" or "tiny"; None takes ``scene.camera.renderer``. Chosen once,
    at construction (``renderer_name`` says which). "auto" prefers EGL (Mesa llvmpipe, no GPU
    needed): measured 2.5x faster than TinyRenderer at 640x480 (26 vs 66 ms) and 1.5x at
    320x240 (bench/sim.py), with the same geometry; it falls back to TinyRenderer when the
    plugin does not load or another live world of this process already holds it.
    """

    def __init__(self, scene: SceneInstance, *, physics_hz: float = 240.0,
                 solver_iterations: int = SOLVER_ITERATIONS, renderer: str | None = None) -> None:
        if physics_hz <= 0:
            raise ValueError(f"physics_hz must be > 0, got {physics_hz}")
        self._hz = float(physics_hz)
        self._solver_iterations = int(solver_iterations)
        self._client = p.connect(p.DIRECT)
        self._finalizer = weakref.finalize(self, _disconnect, self._client)
        self.renderer_note = ""  # what was done to the renderer (egl: the shadow-map pass)
        self.renders_reused = 0  # camera frames that showed the last picture again (nothing moved)
        self.renderer_name = self._choose_renderer(renderer or scene.camera.renderer)
        self.reset(scene)

    # -- lifecycle -----------------------------------------------------------
    def _choose_renderer(self, wanted: str) -> str:
        if wanted not in RENDERERS:
            raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}, got {wanted!r}")
        if wanted == "tiny":
            return "tiny"
        with _EGL_LOCK:
            busy = bool(_EGL_OWNERS)
            spec = None if busy else importlib.util.find_spec("eglRenderer")
            plugin = -1
            if spec is not None and spec.origin:
                plugin = p.loadPlugin(spec.origin, "_eglRendererPlugin", physicsClientId=self._client)
            if plugin >= 0:
                _EGL_OWNERS.add(self._client)
                # The plugin's shadow-map pass was over half of each frame's CPU (egl_shadows.py).
                self.renderer_note = set_shadow_map(spec.origin, on=False)[1]
                return "egl"
        if wanted == "egl":
            why = ("another SimWorld in this process renders with EGL (the plugin's context is shared; "
                   "closing one world crashes the other)" if busy else
                   "the eglRenderer plugin did not load (no EGL/Mesa on this machine?)")
            self.close()
            raise RuntimeError(f"renderer 'egl' unavailable: {why}; use renderer 'tiny' or 'auto'")
        return "tiny"

    def reset(self, scene: SceneInstance) -> None:
        """Rebuild the world for `scene` in the same client; sim time restarts at 0.

        The robot is loaded once and kept: each reset removes the other bodies and builds them
        anew, and puts the arm back at home, at rest. (resetSimulation followed by loading the
        Panda URDF again leaked 2.6 MB per reset, 7.3 MB with the EGL renderer: 4 GB after 600
        campaign episodes.)"""
        c = self._client
        self.scene = scene
        robot = getattr(self, "robot_id", None)
        if robot is None:
            p.resetSimulation(physicsClientId=c)
            p.setPhysicsEngineParameter(fixedTimeStep=1.0 / self._hz, numSolverIterations=self._solver_iterations,
                                        deterministicOverlappingPairs=1, physicsClientId=c)
            p.setGravity(0.0, 0.0, -GRAVITY, physicsClientId=c)
        else:
            for i in range(p.getNumBodies(physicsClientId=c) - 1, -1, -1):
                body = p.getBodyUniqueId(i, physicsClientId=c)
                if body != robot:
                    p.removeBody(body, physicsClientId=c)
        self._steps = 0
        self._last_render = None  # (visual state, rgb, depth) of the last picture rendered
        self._rng = np.random.default_rng([int(scene.seed), 0x5EED])  # sensor noise stream
        self.table_id = self._build_table()
        self.robot_id = self._build_robot(scene) if robot is None else self._home_robot(scene)
        self.bin_id = self._build_bin()
        self.object_ids: dict[str, int] = {o.name: self._build_object(o) for o in scene.objects}
        self._projection = p.computeProjectionMatrixFOV(
            scene.camera.fov_y_deg, scene.camera.width / scene.camera.height, scene.camera.near,
            scene.camera.far, physicsClientId=c)

    def close(self) -> None:
        """Disconnect the PyBullet client (idempotent)."""
        self._finalizer()
        self._client = -1

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ------------------------------------------------------------
    def _box_visual(self, half_extents, rgb) -> int:
        return p.createVisualShape(p.GEOM_MESH, fileName=box_mesh_file([2.0 * h for h in half_extents]),
                                   rgbaColor=[*rgb, 1.0], physicsClientId=self._client)

    def _build_table(self) -> int:
        c, t = self._client, self.scene.table
        half = [t.size[0] / 2.0, t.size[1] / 2.0, t.thickness / 2.0]
        body = p.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c),
            baseVisualShapeIndex=self._box_visual(half, t.rgb),
            basePosition=[t.x, t.y, -t.thickness / 2.0], physicsClientId=c)
        p.changeDynamics(body, -1, **TABLE_FRICTION, physicsClientId=c)
        return body

    def _build_robot(self, scene: SceneInstance) -> int:
        c = self._client
        robot = p.loadURDF(default_urdf_path(), basePosition=[0, 0, 0], useFixedBase=True,
                           flags=p.URDF_ENABLE_CACHED_GRAPHICS_SHAPES, physicsClientId=c)
        self._limits: dict[str, JointLimit] = {}
        for j, name in zip((*ARM_JOINT_INDICES, *FINGER_JOINT_INDICES), (*ARM_JOINTS, *FINGER_JOINTS), strict=True):
            info = p.getJointInfo(robot, j, physicsClientId=c)
            if info[1].decode() != name:
                raise RuntimeError(f"{default_urdf_path()}: joint {j} is {info[1].decode()!r}, expected {name!r}")
            self._limits[name] = JointLimit(info[8], info[9], info[11], info[10])
        for j, q in zip(ARM_JOINT_INDICES, scene.home_arm, strict=True):
            p.resetJointState(robot, j, q, physicsClientId=c)
        for j in FINGER_JOINT_INDICES:
            p.resetJointState(robot, j, MAX_GRIPPER_OPENING / 2.0, physicsClientId=c)
            p.changeDynamics(robot, j, **FINGER_FRICTION, physicsClientId=c)
        # PyBullet ignores <mimic>: gear the fingers so they move symmetrically.
        gear = p.createConstraint(robot, FINGER_JOINT_INDICES[0], robot, FINGER_JOINT_INDICES[1],
                                  jointType=p.JOINT_GEAR, jointAxis=[1, 0, 0], parentFramePosition=[0, 0, 0],
                                  childFramePosition=[0, 0, 0], physicsClientId=c)
        p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=c)
        self.robot_id = robot
        self.set_arm_targets(np.asarray(scene.home_arm, dtype=float))
        self.set_gripper_opening(MAX_GRIPPER_OPENING)
        return robot

    def _home_robot(self, scene: SceneInstance) -> int:
        """The loaded robot back at home, at rest, the gripper open (what _build_robot leaves)."""
        c, robot = self._client, self.robot_id
        for j, q in zip(ARM_JOINT_INDICES, scene.home_arm, strict=True):
            p.resetJointState(robot, j, q, targetVelocity=0.0, physicsClientId=c)
        for j in FINGER_JOINT_INDICES:
            p.resetJointState(robot, j, MAX_GRIPPER_OPENING / 2.0, targetVelocity=0.0, physicsClientId=c)
        self.set_arm_targets(np.asarray(scene.home_arm, dtype=float))
        self.set_gripper_opening(MAX_GRIPPER_OPENING)
        return robot

    def _build_bin(self) -> int:
        c, b = self._client, self.scene.bin
        ix, iy = b.inner_size
        wt, wh, ft = b.wall_thickness, b.wall_height, b.floor_thickness
        boxes = [  # (half extents, centre) in the bin frame
            ((ix / 2.0, iy / 2.0, ft / 2.0), (0.0, 0.0, ft / 2.0)),
            ((wt / 2.0, iy / 2.0 + wt, wh / 2.0), (ix / 2.0 + wt / 2.0, 0.0, wh / 2.0)),
            ((wt / 2.0, iy / 2.0 + wt, wh / 2.0), (-ix / 2.0 - wt / 2.0, 0.0, wh / 2.0)),
            ((ix / 2.0, wt / 2.0, wh / 2.0), (0.0, iy / 2.0 + wt / 2.0, wh / 2.0)),
            ((ix / 2.0, wt / 2.0, wh / 2.0), (0.0, -iy / 2.0 - wt / 2.0, wh / 2.0)),
        ]
        n = len(boxes)
        halves = [list(h) for h, _ in boxes]
        centres = [list(ctr) for _, ctr in boxes]
        col = p.createCollisionShapeArray([p.GEOM_BOX] * n, halfExtents=halves, collisionFramePositions=centres,
                                          physicsClientId=c)
        vis = p.createVisualShapeArray([p.GEOM_MESH] * n, fileNames=[box_mesh_file([2.0 * v for v in h])
                                                                     for h in halves],
                                       visualFramePositions=centres, physicsClientId=c)
        body = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                                 basePosition=[b.x, b.y, 0.0],
                                 baseOrientation=p.getQuaternionFromEuler([0.0, 0.0, b.yaw]), physicsClientId=c)
        p.changeVisualShape(body, -1, rgbaColor=[*b.rgb, 1.0], physicsClientId=c)
        p.changeDynamics(body, -1, **TABLE_FRICTION, physicsClientId=c)
        return body

    def _build_object(self, o: ObjectInstance) -> int:
        c = self._client
        if o.shape == "box":
            half = [s / 2.0 for s in o.size]
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
            vis = self._box_visual(half, o.rgb)
        elif o.shape == "cylinder":
            r, h = o.size[0] / 2.0, o.size[2]
            col = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=h, physicsClientId=c)
            vis = p.createVisualShape(p.GEOM_CYLINDER, radius=r, length=h, rgbaColor=[*o.rgb, 1.0],
                                      physicsClientId=c)
        else:
            raise ValueError(f"object {o.name!r}: shape must be 'box' or 'cylinder', got {o.shape!r}")
        body = p.createMultiBody(baseMass=o.mass, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                                 basePosition=[o.position[0], o.position[1], o.size[2] / 2.0],
                                 baseOrientation=p.getQuaternionFromEuler([0.0, 0.0, o.yaw]), physicsClientId=c)
        p.changeDynamics(body, -1, **OBJECT_FRICTION, physicsClientId=c)
        inertia = p.getDynamicsInfo(body, -1, physicsClientId=c)[2]
        if min(inertia) < MIN_OBJECT_INERTIA:
            p.changeDynamics(body, -1, localInertiaDiagonal=[max(v, MIN_OBJECT_INERTIA) for v in inertia],
                             physicsClientId=c)
        if o.shape == "cylinder":
            p.changeDynamics(body, -1, rollingFriction=CYLINDER_ROLLING_FRICTION, physicsClientId=c)
        return body

    # -- time ----------------------------------------------------------------
    @property
    def dt(self) -> float:
        """Physics step, seconds."""
        return 1.0 / self._hz

    @property
    def time(self) -> float:
        """Sim seconds since the last reset."""
        return self._steps / self._hz

    @property
    def client_id(self) -> int:
        """The private PyBullet client (for geometry queries; do not step it behind the world's back)."""
        return self._client

    def step(self, n: int = 1) -> None:
        """Advance physics by n fixed steps."""
        for _ in range(int(n)):
            p.stepSimulation(physicsClientId=self._client)
        self._steps += int(n)

    # -- control -------------------------------------------------------------
    def set_arm_targets(self, q, qd=None) -> None:
        """Position-control the 7 arm joints to q (7,) rad, optional feed-forward qd (7,) rad/s,
        within the URDF's effort and velocity limits."""
        q = np.asarray(q, dtype=float)
        if q.shape != (7,):
            raise ValueError(f"set_arm_targets: q must have shape (7,), got {q.shape}")
        qd = np.zeros(7) if qd is None else np.asarray(qd, dtype=float)
        for j, name, qi, vi in zip(ARM_JOINT_INDICES, ARM_JOINTS, q, qd, strict=True):
            lim = self._limits[name]
            p.setJointMotorControl2(self.robot_id, j, p.POSITION_CONTROL, targetPosition=float(qi),
                                    targetVelocity=float(np.clip(vi, -lim.max_velocity, lim.max_velocity)),
                                    force=lim.max_effort, maxVelocity=lim.max_velocity,
                                    physicsClientId=self._client)

    def set_gripper_opening(self, width_m: float, force_n: float = 20.0) -> None:
        """Command the distance between the pads to width_m (0..0.08 m; each finger width/2)
        with at most force_n newtons per finger. Closing on an object squeezes it."""
        w = float(np.clip(width_m, 0.0, MAX_GRIPPER_OPENING))
        for j, name in zip(FINGER_JOINT_INDICES, FINGER_JOINTS, strict=True):
            lim = self._limits[name]
            p.setJointMotorControl2(self.robot_id, j, p.POSITION_CONTROL, targetPosition=w / 2.0,
                                    force=float(min(force_n, lim.max_effort)), maxVelocity=lim.max_velocity,
                                    physicsClientId=self._client)

    def hold(self) -> None:
        """Arm targets = current arm positions (the gripper command is left as it is, so a
        grasped object stays squeezed)."""
        self.set_arm_targets(self.joint_state().positions[:7])

    # -- state ---------------------------------------------------------------
    def joint_state(self) -> JointStateSnapshot:
        """Arm then finger joints: positions, velocities, applied efforts (see JointStateSnapshot)."""
        states = p.getJointStates(self.robot_id, [*ARM_JOINT_INDICES, *FINGER_JOINT_INDICES],
                                  physicsClientId=self._client)
        return JointStateSnapshot(
            names=(*ARM_JOINTS, *FINGER_JOINTS),
            positions=np.array([s[0] for s in states]),
            velocities=np.array([s[1] for s in states]),
            efforts=np.array([s[3] for s in states]))

    def joint_limits(self) -> dict[str, JointLimit]:
        """name -> JointLimit(lower, upper, max_velocity, max_effort) from the URDF."""
        return dict(self._limits)

    def gripper_opening(self) -> float:
        """Current distance between the pads, metres (sum of the two finger joints)."""
        states = p.getJointStates(self.robot_id, list(FINGER_JOINT_INDICES), physicsClientId=self._client)
        return float(states[0][0] + states[1][0])

    def grasp_pose(self) -> np.ndarray:
        """(4, 4) T_base_grasp: the current pose of link 11 ``panda_grasptarget``."""
        st = p.getLinkState(self.robot_id, GRASP_LINK, computeForwardKinematics=True, physicsClientId=self._client)
        T = np.eye(4)
        T[:3, :3] = matrix_from_quaternion(st[5])
        T[:3, 3] = st[4]
        return T

    @property
    def kinematics(self) -> Kinematics:
        """FK/IK of the grasp frame for planning the oracle's motions: the brain's own
        kinematics (brain_common, numpy on panda.urdf), not a second PyBullet model."""
        return Kinematics(load_robot_model())

    # -- camera --------------------------------------------------------------
    def _visual_state(self) -> np.ndarray:
        """Everything that moves in the picture: the arm's and fingers' joint positions (rad,
        m), every object's position (m) and quaternion."""
        values = list(self.joint_state().positions)
        for body in self.object_ids.values():
            pos, quat = p.getBasePositionAndOrientation(body, physicsClientId=self._client)
            values += [*pos, *quat]
        return np.array(values)

    def render(self) -> CameraFrame:
        """Render the camera at its true pose, with the scene's light and perturbations. A scene
        in which nothing moved more than RENDER_REUSE_TOLERANCE since the last rendered picture
        shows that picture again (the same pixels; the sensor noise is drawn anew)."""
        cam = self.scene.camera
        W, H = cam.width, cam.height
        state = self._visual_state()
        last = self._last_render
        if last is not None and last[0].shape == state.shape and np.max(np.abs(last[0] - state),
                                                                         initial=0.0) <= RENDER_REUSE_TOLERANCE:
            rgb, depth = last[1], last[2].copy()
            self.renders_reused += 1
        else:
            rgb, depth = self._render_raw()
            self._last_render = (state, rgb, depth.copy())
        rgb, depth = self._perturb(rgb, depth)
        K = intrinsics_from_projection(self._projection, W, H, self.renderer_name)
        return CameraFrame(rgb=rgb, depth=depth, K=K, T_base_optical=np.array(cam.T_base_optical, dtype=float),
                           time=self.time)

    def _render_raw(self) -> tuple[np.ndarray, np.ndarray]:
        """(rgb (H, W, 3) uint8 view, depth (H, W) m) rendered now, before perturbations."""
        cam, light = self.scene.camera, self.scene.light
        W, H = cam.width, cam.height
        _, _, rgba, depth_buffer, _ = p.getCameraImage(
            W, H, viewMatrix=view_matrix_from_pose(cam.T_base_optical), projectionMatrix=self._projection,
            lightDirection=list(light.direction), lightColor=list(light.colour),
            lightAmbientCoeff=light.ambient, lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular,
            shadow=0, flags=p.ER_NO_SEGMENTATION_MASK,
            renderer=p.ER_BULLET_HARDWARE_OPENGL if self.renderer_name == "egl" else p.ER_TINY_RENDERER,
            physicsClientId=self._client)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(H, W, 4)[:, :, :3]
        return rgb, depth_from_buffer(np.asarray(depth_buffer).reshape(H, W), cam.near, cam.far)

    def _perturb(self, rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pert = self.scene.perturbations
        if not pert.any_image_change:
            return np.ascontiguousarray(rgb), depth
        rng = self._rng
        img = rgb.astype(np.float32)
        if pert.contrast_gain != 1.0:
            img = (img - 127.5) * pert.contrast_gain + 127.5
        if pert.brightness_gain != 1.0:
            img = img * pert.brightness_gain
        if tuple(pert.colour_cast) != (1.0, 1.0, 1.0):
            img = img * np.asarray(pert.colour_cast, dtype=np.float32)
        if pert.hue_shift_deg != 0.0:
            hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
            # OpenCV's 8-bit hue is degrees / 2 (0..179).
            hue = (hsv[:, :, 0].astype(np.int32) + round(pert.hue_shift_deg / 2.0)) % 180
            hsv[:, :, 0] = hue.astype(np.uint8)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
        if pert.rgb_noise_sigma > 0.0:
            img = img + rng.normal(0.0, pert.rgb_noise_sigma, img.shape).astype(np.float32)
        out_rgb = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        if pert.depth_noise_sigma > 0.0:
            depth = depth + rng.normal(0.0, pert.depth_noise_sigma, depth.shape).astype(np.float32)
        if pert.depth_dropout > 0.0:
            depth = depth.copy()
            depth[rng.random(depth.shape) < pert.depth_dropout] = np.nan
        return out_rgb, depth

    # -- ground truth (scoring and oracle only) ------------------------------
    def visible_pixels(self) -> dict[str, int]:
        """name -> pixels of each object the camera sees at its true pose (a segmentation render
        without perturbations): 0 for an object wholly hidden behind others or out of view."""
        cam = self.scene.camera
        _, _, _, _, seg = p.getCameraImage(
            cam.width, cam.height, viewMatrix=view_matrix_from_pose(cam.T_base_optical),
            projectionMatrix=self._projection, shadow=0,
            renderer=p.ER_BULLET_HARDWARE_OPENGL if self.renderer_name == "egl" else p.ER_TINY_RENDERER,
            physicsClientId=self._client)
        seg = np.asarray(seg, dtype=np.int64).reshape(-1)
        counts = np.bincount(seg[seg >= 0] & ((1 << 24) - 1))  # the body id (low 24 bits)
        return {name: int(counts[body]) if body < len(counts) else 0 for name, body in self.object_ids.items()}

    def object_poses(self) -> dict[str, Pose]:
        """name -> Pose(position (3,) m, quaternion (4,) xyzw) in the base frame."""
        poses = {}
        for name, body in self.object_ids.items():
            pos, quat = p.getBasePositionAndOrientation(body, physicsClientId=self._client)
            poses[name] = Pose(np.array(pos), np.array(quat))
        return poses

    def is_resting(self, name: str) -> tuple[bool, str]:
        """(True, "") when object `name` is still and not touching the robot, else (False, why)."""
        body = self.object_ids[name]
        lin, ang = p.getBaseVelocity(body, physicsClientId=self._client)
        v, w = float(np.linalg.norm(lin)), float(np.linalg.norm(ang))
        if v > REST_LINEAR_SPEED or w > REST_ANGULAR_SPEED:
            return False, f"still moving ({v:.3f} m/s, {w:.2f} rad/s)"
        if p.getContactPoints(bodyA=body, bodyB=self.robot_id, physicsClientId=self._client):
            return False, "still touching the robot"
        return True, ""

    def check_success(self) -> list[RuleResult]:
        """Judge every rule of scene.success from ground truth (see RuleResult).

        "bin": centre inside the bin's inner footprint and bottom within z_tolerance of
        the bin floor (object "*": every object, each its own result); "object": bottom
        within z_tolerance of target_object's top and centres within xy_tolerance;
        "position": bottom within z_tolerance of the table and centre within xy_tolerance
        of (x, y). Always: resting and not touching the robot.
        """
        poses = self.object_poses()
        results = []
        for rule in self.scene.success:
            # object "*": every object of the episode (distractors included), one result each
            for one in ([dataclasses.replace(rule, object=o.name) for o in self.scene.objects]
                        if rule.object == ALL_OBJECTS else [rule]):
                results.append(RuleResult(one, *self._check_rule(one, poses)))
        return results

    def _check_rule(self, rule: SuccessRule, poses: dict[str, Pose]) -> tuple[bool, str]:
        name = rule.object
        if name not in poses:
            return False, f"no object named {name!r}; objects: {', '.join(poses)}"
        obj = self.scene.object_named(name)
        pos, quat = poses[name]
        bottom = pos[2] - half_height(obj, quat)
        resting, why = self.is_resting(name)
        if rule.target == "bin":
            b = self.scene.bin
            c, s = np.cos(b.yaw), np.sin(b.yaw)
            dx, dy = pos[0] - b.x, pos[1] - b.y
            u, v = c * dx + s * dy, -s * dx + c * dy  # centre in the bin frame
            inside = abs(u) <= b.inner_size[0] / 2.0 and abs(v) <= b.inner_size[1] / 2.0
            dz = bottom - b.floor_thickness
            if not inside:
                return False, f"{name} is not over the bin (centre {u:+.3f}, {v:+.3f} m from the bin centre)"
            if abs(dz) > rule.z_tolerance:
                return False, f"{name} is over the bin but {dz:+.3f} m from its floor (tolerance {rule.z_tolerance})"
            if not resting:
                return False, f"{name} is in the bin but {why}"
            return True, f"{name} is in the bin"
        if rule.target == "object":
            if rule.target_object not in poses:
                return False, f"no target object named {rule.target_object!r}; objects: {', '.join(poses)}"
            tgt = self.scene.object_named(rule.target_object)
            tpos, tquat = poses[rule.target_object]
            top = tpos[2] + half_height(tgt, tquat)
            dxy = float(np.hypot(pos[0] - tpos[0], pos[1] - tpos[1]))
            dz = bottom - top
            if dxy > rule.xy_tolerance:
                return False, (f"{name} is {dxy:.3f} m from {rule.target_object} in xy "
                               f"(tolerance {rule.xy_tolerance})")
            if abs(dz) > rule.z_tolerance:
                return False, (f"{name} is {dz:+.3f} m above the top of {rule.target_object} "
                               f"(tolerance {rule.z_tolerance})")
            if not resting:
                return False, f"{name} is on {rule.target_object} but {why}"
            return True, f"{name} is on {rule.target_object} ({dxy:.3f} m off centre)"
        if rule.target == "position":
            tx, ty = rule.position
            dxy = float(np.hypot(pos[0] - tx, pos[1] - ty))
            if dxy > rule.xy_tolerance:
                return False, f"{name} is {dxy:.3f} m from ({tx:.3f}, {ty:.3f}) (tolerance {rule.xy_tolerance})"
            if abs(bottom) > rule.z_tolerance:
                return False, f"{name} is at ({tx:.3f}, {ty:.3f}) but {bottom:+.3f} m above the table"
            if not resting:
                return False, f"{name} is at ({tx:.3f}, {ty:.3f}) but {why}"
            return True, f"{name} is at ({tx:.3f}, {ty:.3f}) ({dxy:.3f} m off)"
        return False, f"unknown success target {rule.target!r} (expected bin, object or position)"
