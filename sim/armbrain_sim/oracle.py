"""A scripted pick-and-place that reads ground truth (like google-research/ravens' oracle).

It proves the physics and the success checks independently of the brain: for each
success rule it reads the object's true pose, grasps it top-down across its narrower side
(choosing the grasp yaw whose fingers clear the neighbours), carries it above the target
(a free spot in the bin, the target object's top, or the table position), lowers it,
releases it while the arm is still, and retreats. Motion is joint-space interpolation of
IK solutions (straight vertical lines for approach, lift, lower and retreat) within a
fraction of the joint velocity limits; the world is stepped in sim time only, and every
wait has a sim-time deadline. No ROS imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from armbrain_sim.scene import MAX_GRIPPER_OPENING, ObjectInstance, SuccessRule
from armbrain_sim.world import SimWorld, half_height, yaw_from_quaternion
from brain_common.kinematics import top_down_rotation, transform_from_position_rotation

# Finger geometry in the grasp frame, measured by ray casts on panda.urdf: the pad's
# inner face is ~1 mm inside the joint position, a finger is ~2.4 cm wide (along x),
# up to ~2.7 cm thick (along y) within 3 cm of the tip, and its tip is ~9 mm below the
# grasp frame. The hand's underside is ~4 cm above the grasp frame.
FINGER_HALF_WIDTH = 0.013  # m
FINGER_THICKNESS = 0.028  # m
FINGERTIP_BELOW_GRASP = 0.009  # m
HAND_ABOVE_GRASP = 0.04  # m


@dataclass(frozen=True, slots=True)
class OracleConfig:
    """Tuning of the scripted pick-and-place (metres, seconds, newtons)."""

    grasp_depth: float = 0.025  # grasp frame this far below the object's top ...
    table_clearance: float = 0.007  # ... but fingertips at least this far above the surface below
    pregrasp_height: float = 0.10  # approach/retreat line length above the grasp
    transfer_clearance: float = 0.08  # carried object's bottom above the tallest obstacle
    min_transfer_height: float = 0.22  # grasp frame height while carrying
    open_margin: float = 0.025  # opening beyond the object's width when approaching/releasing
    release_gap: float = 0.004  # object bottom above the place surface when released
    grip_force: float = 20.0  # N per finger
    speed_scale: float = 0.5  # fraction of the joint velocity limits
    cartesian_speed: float = 0.2  # m/s peak along approach/lift/lower/retreat lines
    path_step: float = 0.005  # m between IK waypoints on straight lines
    settle_tolerance: float = 1e-3  # rad, arm converged
    move_timeout: float = 2.0  # s allowed to converge after a trajectory ends
    finger_clearance: float = 0.006  # m wanted between fingers and obstacles
    ik_restarts: int = 30


@dataclass(frozen=True, slots=True)
class OracleResult:
    """success: every success rule holds at the end. sim_seconds: sim time the episode took.
    reason: the failed stage and why, or the success checks' reasons."""

    success: bool
    sim_seconds: float
    reason: str


class OracleStageError(RuntimeError):
    """A named stage of the scripted pick-and-place failed."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


@dataclass(frozen=True, slots=True)
class _Footprint:
    """An obstacle's 2D footprint: polygon corners (k, 2), or a circle (centre (2,), radius)."""

    corners: np.ndarray | None
    centre: np.ndarray
    radius: float


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _rect_corners(cx: float, cy: float, hx: float, hy: float, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    return local @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])


def _segments_distance(P: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
    """Smallest distance between points P (n, 2) and segments A -> B (m, 2)."""
    ab = B - A  # (m, 2)
    ap = P[:, None, :] - A[None, :, :]  # (n, m, 2)
    t = np.clip(np.einsum("nmk,mk->nm", ap, ab) / np.maximum(np.einsum("mk,mk->m", ab, ab), 1e-12), 0.0, 1.0)
    return float(np.min(np.linalg.norm(ap - t[:, :, None] * ab[None, :, :], axis=2)))


def _separated(A: np.ndarray, B: np.ndarray) -> bool:
    """True when convex polygons A, B (k, 2) do not overlap (separating axis test)."""
    for poly in (A, B):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        pa, pb = A @ normals.T, B @ normals.T  # (k, axes)
        if np.any((pa.max(axis=0) < pb.min(axis=0)) | (pb.max(axis=0) < pa.min(axis=0))):
            return True
    return False


def _polygon_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Distance (m) between two convex polygons (k, 2); 0 when they overlap."""
    if not _separated(A, B):
        return 0.0
    return min(_segments_distance(A, B, np.roll(B, -1, axis=0)), _segments_distance(B, A, np.roll(A, -1, axis=0)))


def _distance(rect: np.ndarray, fp: _Footprint) -> float:
    """Distance (m) between a convex polygon (k, 2) and a footprint; 0 when they overlap."""
    if fp.corners is not None:
        return _polygon_distance(rect, fp.corners)
    d = _segments_distance(fp.centre[None, :], rect, np.roll(rect, -1, axis=0))
    inside = not _separated(rect, fp.centre[None, :])
    return 0.0 if inside else max(0.0, d - fp.radius)


def finger_rectangles(centre_xy, psi: float, opening: float) -> list[np.ndarray]:
    """Footprints (4, 2) of the two fingers of a top-down grasp at centre_xy (2,) m, yaw psi,
    pad-to-pad opening (m)."""
    y_axis = np.array([math.sin(psi), -math.cos(psi)])
    off = opening / 2.0 - 0.001 + FINGER_THICKNESS / 2.0
    return [_rect_corners(*(np.asarray(centre_xy) + s * off * y_axis), FINGER_HALF_WIDTH, FINGER_THICKNESS / 2.0,
                          psi) for s in (1.0, -1.0)]


def finger_clearance(centre_xy, psi: float, opening: float, obstacles: list[_Footprint]) -> float:
    """Smallest distance (m) between the fingers of a top-down grasp and the obstacles (inf if none)."""
    d = math.inf
    for rect in finger_rectangles(centre_xy, psi, opening):
        for fp in obstacles:
            d = min(d, _distance(rect, fp))
    return d


class _Oracle:
    def __init__(self, world: SimWorld, config: OracleConfig, rng: np.random.Generator) -> None:
        self.w = world
        self.cfg = config
        self.rng = rng
        self.kin = world.kinematics
        self.scene = world.scene
        # Grasp-frame yaw at home minus joint 1: joint 7 for a yaw follows from it.
        T_home = self.kin.fk(np.asarray(self.scene.home_arm))
        self._home_yaw_offset = math.atan2(T_home[1, 0], T_home[0, 0]) - self.scene.home_arm[0]

    # -- geometry ------------------------------------------------------------
    def _object_footprint(self, name: str) -> _Footprint:
        obj = self.scene.object_named(name)
        pos, quat = self.w.object_poses()[name]
        upright = abs(matrix_z(quat)[2]) > 0.9
        if obj.shape == "cylinder" and upright:
            return _Footprint(None, pos[:2].copy(), obj.size[0] / 2.0)
        hx, hy = (obj.size[0] / 2.0, obj.size[1] / 2.0) if upright else (max(obj.size) / 2.0,) * 2
        return _Footprint(_rect_corners(pos[0], pos[1], hx, hy, yaw_from_quaternion(quat)), pos[:2].copy(),
                          math.hypot(hx, hy))

    def _bin_walls(self) -> list[_Footprint]:
        b = self.scene.bin
        ix, iy, wt = b.inner_size[0], b.inner_size[1], b.wall_thickness
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        walls = []
        for (u, v), (hx, hy) in ((((ix + wt) / 2.0, 0.0), (wt / 2.0, iy / 2.0 + wt)),
                                 ((-(ix + wt) / 2.0, 0.0), (wt / 2.0, iy / 2.0 + wt)),
                                 ((0.0, (iy + wt) / 2.0), (ix / 2.0, wt / 2.0)),
                                 ((0.0, -(iy + wt) / 2.0), (ix / 2.0, wt / 2.0))):
            x, y = b.x + c * u - s * v, b.y + s * u + c * v
            walls.append(_Footprint(_rect_corners(x, y, hx, hy, b.yaw), np.array([x, y]), math.hypot(hx, hy)))
        return walls

    def _obstacles(self, exclude: str) -> list[_Footprint]:
        return [self._object_footprint(o.name) for o in self.scene.objects if o.name != exclude] + self._bin_walls()

    def _top(self, name: str) -> float:
        pos, quat = self.w.object_poses()[name]
        return float(pos[2] + half_height(self.scene.object_named(name), quat))

    def _tallest_obstacle(self, exclude: str = "") -> float:
        tops = [self._top(o.name) for o in self.scene.objects if o.name != exclude]
        return max([self.scene.bin.wall_height, *tops])

    def _q7_for(self, xy, psi: float) -> float:
        """Predicted joint 7 for a top-down grasp frame at yaw psi above xy (home-like posture)."""
        q1 = math.atan2(xy[1], xy[0])
        return _wrap(q1 - psi + self.scene.home_arm[6] - self._home_yaw_offset)

    def _nominal_seed(self, xy, psi: float) -> np.ndarray:
        q = np.array(self.scene.home_arm, dtype=float)
        q[0] = math.atan2(xy[1], xy[0])
        q[6] = self._q7_for(xy, psi)
        return q

    def _rank_yaws(self, xy, candidates: list[float], opening: float, obstacles: list[_Footprint],
                   prefer_q7: float = 0.0) -> list[float]:
        """Candidate grasp yaws, best first: fingers clear of obstacles and joint 7 in its
        limits, then joint 7 nearest prefer_q7 (little wrist rotation while carrying)."""
        lim = self.kin.upper[6] - 0.1

        def key(psi: float) -> tuple[bool, float]:
            clear = finger_clearance(xy, psi, opening, obstacles)
            q7 = self._q7_for(xy, psi)
            ok = clear >= self.cfg.finger_clearance and abs(q7) <= lim
            return (not ok, abs(q7 - prefer_q7) if ok else -clear)

        return sorted(candidates, key=key)

    # -- IK and motion -------------------------------------------------------
    def _grasp_seeds(self, xy, psi: float) -> list[np.ndarray]:
        """IK seeds near a home-like posture over xy (sane postures first, then noisy ones)."""
        nominal = self._nominal_seed(xy, psi)
        seeds = [nominal]
        for dq3 in (0.4, -0.4):
            q = nominal.copy()
            q[2] += dq3
            seeds.append(q)
        for _ in range(self.cfg.ik_restarts):
            seeds.append(np.clip(nominal + self.rng.normal(0.0, 0.5, 7), self.kin.lower, self.kin.upper))
        return seeds

    def _ik(self, position, R: np.ndarray, seed: np.ndarray) -> np.ndarray | None:
        """Arm joints (7,) rad placing the grasp frame at position (3,) m with rotation R
        (3, 3), started from seed only (no random restarts), or None. No wall-clock limit:
        the seeds bound the work, so the result never depends on the CPU load."""
        return self.kin.ik(transform_from_position_rotation(position, R), seed, restarts=0,
                           time_limit=math.inf).q

    def _vertical_path(self, stage: str, xy, z_low: float, z_high: float, psi: float) -> np.ndarray:
        """(N, 7) IK waypoints every path_step from the grasp frame at (xy, z_low) straight up
        to z_high, top-down at yaw psi, all in one IK branch (no jumps)."""
        n = max(2, math.ceil((z_high - z_low) / self.cfg.path_step) + 1)
        zs = np.linspace(z_low, z_high, n)
        R = top_down_rotation(psi)
        last = ""
        for seed in self._grasp_seeds(xy, psi):
            q = self._ik([xy[0], xy[1], zs[0]], R, seed)
            if q is None:
                last = f"no IK solution at the bottom ({xy[0]:.3f}, {xy[1]:.3f}, {zs[0]:.3f})"
                continue
            path = [q]
            for z in zs[1:]:
                q_next = self._ik([xy[0], xy[1], z], R, q)
                if q_next is None or float(np.max(np.abs(q_next - q))) > 0.2:
                    last = f"the line up breaks at z {z:.3f}"
                    break
                path.append(q_next)
                q = q_next
            else:
                return np.array(path)
        raise OracleStageError(stage, f"no straight vertical IK path at ({xy[0]:.3f}, {xy[1]:.3f}) "
                                      f"z {z_low:.3f}..{z_high:.3f} yaw {math.degrees(psi):.0f} deg: {last}")

    def _execute(self, stage: str, path: np.ndarray, length_m: float = 0.0) -> None:
        """Follow (N, 7) waypoints with a minimum-jerk timing within speed_scale of the joint
        velocity limits (and cartesian_speed along a line of length_m), then converge."""
        w, cfg = self.w, self.cfg
        path = np.asarray(path, dtype=float)
        seg = np.diff(path, axis=0)
        n = len(path) - 1
        vmax = self.kin.model.velocity * cfg.speed_scale
        duration = max(0.25, 1.875 * n * float(np.max(np.abs(seg) / vmax)) if n else 0.0,
                       1.875 * length_m / cfg.cartesian_speed)
        steps = math.ceil(duration / w.dt)
        for k in range(1, steps + 1):
            tau = min(1.0, k * w.dt / duration)
            s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
            sd = 30.0 * tau**2 * (1.0 - tau) ** 2 / duration
            u = s * n
            i = min(int(u), n - 1)
            q = path[i] + (u - i) * seg[i]
            w.set_arm_targets(q, seg[i] * n * sd)
            w.step()
        self._converge(stage, path[-1])

    def _converge(self, stage: str, q_goal: np.ndarray) -> None:
        w = self.w
        w.set_arm_targets(q_goal)
        deadline = w.time + self.cfg.move_timeout
        while True:
            js = w.joint_state()
            err = float(np.max(np.abs(js.positions[:7] - q_goal)))
            if err < self.cfg.settle_tolerance and float(np.max(np.abs(js.velocities[:7]))) < 0.02:
                return
            if w.time > deadline:
                raise OracleStageError(stage, f"arm did not converge within {self.cfg.move_timeout} s "
                                           f"(error {err:.4f} rad)")
            w.step()

    def _gripper(self, stage: str, width: float, force: float, timeout: float = 1.5) -> float:
        """Command the opening, wait until the fingers stop (sim time), return the opening (m)."""
        w = self.w
        w.set_gripper_opening(width, force)
        w.step(round(0.1 / w.dt))
        deadline, still = w.time + timeout, 0
        while w.time < deadline and still < 10:
            still = still + 1 if float(np.max(np.abs(w.joint_state().velocities[7:]))) < 1e-3 else 0
            w.step()
        return w.gripper_opening()

    def _current_q(self) -> np.ndarray:
        return self.w.joint_state().positions[:7].copy()

    # -- the task ------------------------------------------------------------
    def grasp_candidates(self, obj: ObjectInstance, quat) -> tuple[list[float], float]:
        """Grasp yaws (rad) across the narrower side, and that side's width (m)."""
        yaw = yaw_from_quaternion(quat)
        if obj.shape == "cylinder":
            return [yaw + k * math.pi / 4.0 for k in range(4)], obj.size[0]
        sx, sy = obj.size[0], obj.size[1]
        # Fingers close along the grasp frame's y = (sin psi, -cos psi): psi = axis + pi/2.
        axes = [yaw] if sx < sy - 1e-3 else [yaw + math.pi / 2.0] if sy < sx - 1e-3 else [yaw, yaw + math.pi / 2.0]
        cands = [_wrap(a + math.pi / 2.0 + k * math.pi) for a in axes for k in range(2)]
        return cands, min(sx, sy)

    def pick(self, name: str) -> tuple[float, np.ndarray, float]:
        """Grasp and lift `name`. Returns (psi, in-hand offset (3,) in the grasp frame, hang (m):
        grasp frame height above the object's bottom)."""
        w, cfg = self.w, self.cfg
        obj = self.scene.object_named(name)
        pos, quat = w.object_poses()[name]
        tilt = math.degrees(math.acos(min(1.0, abs(float(matrix_z(quat)[2])))))
        if tilt > 25.0:
            raise OracleStageError("grasp", f"{name} is not upright (tilted {tilt:.0f} deg)")
        cands, width = self.grasp_candidates(obj, quat)
        if width > MAX_GRIPPER_OPENING - 0.01:
            raise OracleStageError("grasp", f"{name} is {width:.3f} m wide; the gripper opens {MAX_GRIPPER_OPENING} m")
        opening = min(MAX_GRIPPER_OPENING, width + cfg.open_margin)
        top = self._top(name)
        bottom = top - 2.0 * half_height(obj, quat)
        z_grasp = max(top - cfg.grasp_depth, bottom + FINGERTIP_BELOW_GRASP + cfg.table_clearance)
        z_grasp = min(z_grasp, top - 0.005)
        obstacles = self._obstacles(exclude=name)
        lift_to = self._transfer_height(name, z_grasp - bottom)
        errors = []
        for psi in self._rank_yaws(pos[:2], cands, opening, obstacles):
            try:
                line = self._vertical_path("approach", pos[:2], z_grasp, lift_to, psi)
                break
            except OracleStageError as exc:
                errors.append(str(exc))
        else:
            raise OracleStageError("approach", "; ".join(errors))
        k_pre = min(len(line) - 1, round(cfg.pregrasp_height * (len(line) - 1) / (lift_to - z_grasp)))
        w.set_gripper_opening(opening, cfg.grip_force)
        self._execute("approach", np.array([self._current_q(), line[k_pre]]))
        self._gripper("approach", opening, cfg.grip_force)
        self._execute("descend", line[k_pre::-1], cfg.pregrasp_height)
        closed = self._gripper("close", 0.0, cfg.grip_force)
        if closed < 0.5 * width:
            raise OracleStageError("close", f"fingers closed to {closed:.3f} m on a {width:.3f} m wide {name}: missed")
        z0 = float(w.object_poses()[name].position[2])
        self._execute("lift", line, lift_to - z_grasp)
        opos, oquat = w.object_poses()[name]
        if opos[2] - z0 < 0.5 * (lift_to - z_grasp):
            raise OracleStageError("lift", f"{name} did not come up with the gripper (rose {opos[2] - z0:.3f} m)")
        T = w.grasp_pose()
        offset = T[:3, :3].T @ (opos - T[:3, 3])
        hang = float(T[2, 3] - (opos[2] - half_height(obj, oquat)))
        return psi, offset, hang

    def _transfer_height(self, name: str, hang: float) -> float:
        """Grasp frame height (m) for carrying `name` hanging `hang` m below the grasp frame."""
        return max(self.cfg.min_transfer_height, self._tallest_obstacle(name) + self.cfg.transfer_clearance + hang)

    def place_xy_bin(self, name: str, psi_pick: float, opening: float,
                     more_to_come: bool = False) -> tuple[np.ndarray, list[float], list[_Footprint]]:
        """A spot (2,) in the bin for `name`, the grasp yaws to place it with (best first) and
        the obstacles for the fingers. The spot keeps the object inside the walls and the
        fingers clear of walls and of objects already in the bin; among such spots, the one
        farthest from those objects (up to 3 cm), then nearest the bin centre (or, when
        more objects will follow, farthest from it to leave room)."""
        b, obj = self.scene.bin, self.scene.object_named(name)
        r_obj = math.hypot(obj.size[0], obj.size[1]) / 2.0
        in_bin = [self._object_footprint(o.name) for o in self.scene.objects
                  if o.name != name and self._inside_bin(self.w.object_poses()[o.name].position, 0.0)]
        obstacles = self._bin_walls() + in_bin
        yaws = [_wrap(psi_pick + k * math.pi / 4.0) for k in range(8)]
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        umax = max(0.0, b.inner_size[0] / 2.0 - r_obj - 0.005)
        vmax = max(0.0, b.inner_size[1] / 2.0 - r_obj - 0.005)
        spots = []
        for u in np.linspace(-umax, umax, 9):
            for v in np.linspace(-vmax, vmax, 9):
                xy = np.array([b.x + c * u - s * v, b.y + s * u + c * v])
                disc = _Footprint(None, xy, r_obj)
                gap = min([0.03] + [_distance(fp.corners, disc) if fp.corners is not None else
                                    float(np.linalg.norm(xy - fp.centre)) - fp.radius - r_obj for fp in in_bin])
                if gap >= 0.01:
                    spots.append(((round(gap, 3), math.hypot(u, v) * (1.0 if more_to_come else -1.0)), xy))
        for _, xy in sorted(spots, key=lambda spot: spot[0], reverse=True):
            ok_yaws = [y for y in yaws if finger_clearance(xy, y, opening, obstacles) >= self.cfg.finger_clearance]
            if ok_yaws:
                return xy, ok_yaws, obstacles
        raise OracleStageError("transfer", f"no free spot in the bin for {name}")

    def _inside_bin(self, xy, margin: float) -> bool:
        b = self.scene.bin
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        dx, dy = xy[0] - b.x, xy[1] - b.y
        return (abs(c * dx + s * dy) <= b.inner_size[0] / 2.0 - margin
                and abs(-s * dx + c * dy) <= b.inner_size[1] / 2.0 - margin)

    def place(self, rule: SuccessRule, psi_pick: float, offset: np.ndarray, hang: float,
              more_to_come: bool = False) -> None:
        """Carry the held object above rule's target, lower, release, retreat. more_to_come:
        other objects will go into the bin after this one."""
        w, cfg = self.w, self.cfg
        name = rule.object
        obj = self.scene.object_named(name)
        width = self.grasp_candidates(obj, w.object_poses()[name].quaternion)[1]
        opening = min(MAX_GRIPPER_OPENING, width + cfg.open_margin)
        if rule.target == "bin":
            xy, yaw_cands, obstacles = self.place_xy_bin(name, psi_pick, opening, more_to_come)
            surface = self.scene.bin.floor_thickness
        elif rule.target == "object":
            tpos = w.object_poses()[rule.target_object].position
            xy, surface = tpos[:2].copy(), self._top(rule.target_object)
            obstacles = self._obstacles(exclude=name)
            obstacles = [fp for fp in obstacles if np.linalg.norm(fp.centre - xy) > 1e-6]
            yaw_cands = [_wrap(psi_pick + k * math.pi / 2.0) for k in range(4)]
        elif rule.target == "position":
            xy, surface = np.asarray(rule.position, dtype=float), 0.0
            obstacles = self._obstacles(exclude=name)
            yaw_cands = [_wrap(psi_pick + k * math.pi / 2.0) for k in range(4)]
        else:
            raise OracleStageError("transfer", f"unknown success target {rule.target!r}")
        z_place = surface + cfg.release_gap + hang
        z_high = self._transfer_height(name, hang)
        errors = []
        for psi in self._rank_yaws(xy, yaw_cands, opening, obstacles, prefer_q7=float(self._current_q()[6])):
            # The object hangs at `offset` in the grasp frame: put the grasp frame where the
            # object's centre lands on xy.
            g_xy = xy - (top_down_rotation(psi) @ offset)[:2]
            try:
                line = self._vertical_path("transfer", g_xy, z_place, z_high, psi)
                break
            except OracleStageError as exc:
                errors.append(str(exc))
        else:
            raise OracleStageError("transfer", "; ".join(errors))
        self._execute("transfer", np.array([self._current_q(), line[-1]]))
        self._execute("lower", line[::-1], z_high - z_place)
        self._gripper("release", opening, cfg.grip_force, timeout=1.0)
        k_up = min(len(line) - 1, round(cfg.pregrasp_height * (len(line) - 1) / (z_high - z_place)))
        self._execute("retreat", line[: k_up + 1], cfg.pregrasp_height)

    def settle(self, timeout: float = 1.5) -> None:
        """Step until every object rests (or timeout sim seconds)."""
        w = self.w
        deadline = w.time + timeout
        w.step(round(0.2 / w.dt))
        while w.time < deadline:
            if all(w.is_resting(name)[0] for name in w.object_ids):
                return
            w.step(10)


def matrix_z(quat) -> np.ndarray:
    """The body z axis (3,) in the base frame for a quaternion xyzw."""
    x, y, z, ww = (float(v) for v in quat)
    return np.array([2.0 * (x * z + ww * y), 2.0 * (y * z - ww * x), 1.0 - 2.0 * (x * x + y * y)])


def run_oracle(world: SimWorld, *, config: OracleConfig | None = None,
               rng: np.random.Generator | None = None) -> OracleResult:
    """Run the scripted pick-and-place for every success rule of world.scene from the
    world's current state; stepping the world in sim time. rng seeds IK restarts
    (default: from scene.seed)."""
    cfg = config or OracleConfig()
    rng = rng if rng is not None else np.random.default_rng([int(world.scene.seed), 0x0AC1E])
    oracle = _Oracle(world, cfg, rng)
    t0 = world.time
    try:
        rules = world.scene.success
        for i, rule in enumerate(rules):
            done = {r.rule.object: r.ok for r in world.check_success()}
            if done.get(rule.object):
                continue
            psi, offset, hang = oracle.pick(rule.object)
            oracle.place(rule, psi, offset, hang, more_to_come=any(r.target == "bin" for r in rules[i + 1:]))
        oracle.settle()
    except OracleStageError as exc:
        return OracleResult(False, world.time - t0, str(exc))
    results = world.check_success()
    ok = bool(results) and all(r.ok for r in results)
    return OracleResult(ok, world.time - t0, "; ".join(r.reason for r in results) or "no success rule")


def main(argv: list[str] | None = None) -> int:
    """`python -m armbrain_sim.oracle`: the oracle pick-and-place on seeded episodes of a
    scenario, headless, with progress; exit 0 only if every episode succeeded."""
    import argparse
    import sys
    import time

    from armbrain_sim.scenario import ScenarioError, load_scenario, resolve_scenario_path

    parser = argparse.ArgumentParser(prog="python -m armbrain_sim.oracle", description=main.__doc__)
    parser.add_argument("--scenario", default="one_cube.yaml", help="a path or a file name in sim/scenarios/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="episode seeds")
    opts = parser.parse_args(argv)
    try:
        scenario = load_scenario(resolve_scenario_path(opts.scenario))
    except ScenarioError as exc:
        print(f"oracle: error: {exc}", file=sys.stderr)
        return 2
    ok_count = 0
    world = None
    try:
        for k, seed in enumerate(opts.seeds, 1):
            scene = scenario.sample(seed)
            if world is None:
                world = SimWorld(scene)
            else:
                world.reset(scene)
            wall0 = time.perf_counter()
            print(f"[{k}/{len(opts.seeds)}] {scenario.name} seed {seed}: {scene.goal!r} "
                  f"({len(scene.objects)} objects)", flush=True)
            result = run_oracle(world)
            ok_count += result.success
            print(f"    {'SUCCESS' if result.success else 'FAILED'} in {result.sim_seconds:.1f} s sim "
                  f"({time.perf_counter() - wall0:.1f} s wall): {result.reason}", flush=True)
    finally:
        if world is not None:
            world.close()
    print(f"oracle: {ok_count}/{len(opts.seeds)} episodes succeeded", flush=True)
    return 0 if ok_count == len(opts.seeds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
