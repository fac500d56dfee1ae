"""Grasp synthesis for a parallel-jaw gripper: candidates, checks, scores.

``plan_grasps(obj, neighbours, bin_model, config, reference_rotation)`` returns a GraspPlan:
the candidates that pass every check, best first, or a reason a person understands.

Candidates (grasp frame as in GraspCandidate.msg: z = approach, y = closing axis):
- top-down (z pointing down) across each pair of parallel vertical faces of a box, centred
  and shifted along the face; around a cylinder at yaws every ``cylinder_yaw_step_deg``
  starting from the current wrist yaw; each at two openings (comfortable, tight);
- side (z horizontal, pointing away from the robot base within ``side_max_angle_deg``),
  for objects at least ``tall_height`` tall, and for any object none of whose top-down
  grasps is collision-free (a side grasp's fingers pass above low neighbours);
- both wrist rotations (yaw and yaw + 180 deg: the same finger placement) of each.

Checks: the object's width plus ``min_open_margin`` must fit in the opening; the pads must
overlap the object by ``min_contact`` along its height with the fingertips
``table_clearance`` above the surface it stands on; fingers, hand and wrist, swept along
the straight approach from the pre-grasp pose, must stay ``min_finger_clearance`` from
every (perceived) neighbour and ``min_static_clearance`` from the (configured) bin. A
top-down grasp blocked by something low is raised until fingertips or palm pass over it,
as long as the pads keep ``min_contact``.

Score (0..1, weights in SynthesisConfig): across the narrow side, clearance to obstacles,
centred on the face, little wrist rotation from the current pose, slack between pads and
object, pad contact depth; side grasps are scaled by ``side_score_factor``. Ties keep the
generation order, so the result is a pure function of the input.

Pure Python + numpy; frames: robot base frame, metres, radians.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from brain_common.cell import Bin, default_cell
from brain_common.kinematics import rotation_angle, top_down_rotation
from grasping.core.geometry import Prism, prism_distance, rectangle, translated
from grasping.core.gripper_model import PANDA_HAND, GripperModel, LocalBox
from grasping.core.scene import ObjectModel, Obstacle, bin_obstacles, check_object

TABLE = Obstacle("the table", Prism((), (0.0, 0.0), 0.0, -1.0, 0.0))  # stands for the surface in rejections

TYPE_TOP = "top"
TYPE_SIDE = "side"


@dataclass(frozen=True, slots=True)
class SynthesisConfig:
    """Tuning of grasp synthesis. Metres, degrees where named ``_deg``.

    open_margin: preferred opening beyond the object's width (both sides together) when
        approaching; min_open_margin: the least (an object wider than max_opening minus
        this is refused). grasp_depth: grasp frame below the object's top (top-down).
    table_clearance: fingertips above the surface under the object.
    hand_clearance: the palm from the object (its top for top-down, its near face for side).
    min_contact: least overlap of the pads with the object's perceived height. 6 mm: a 2 cm
        object (the schema's least) under fingertips table_clearance above the table gives
        8 mm, and its perceived height may be a millimetre or two short.
    raised_contact: least overlap when a top-down grasp is raised over a low neighbour (a
        choice, not forced by the table: kept at the 8 mm that was used before).
    min_finger_clearance: least distance of fingers, hand and wrist (swept along the
        approach) from perceived neighbours; min_static_clearance: from the bin, whose
        geometry is configured. clearance_cap: clearance counted as perfect.
    pre_grasp_distance: straight approach length along the approach direction.
    offsets: shifted grasp positions on each side of the centre along a long face.
    edge_margin: pads at least this far inside a face's ends.
    cylinder_yaw_step_deg: yaw spacing of cylinder grasps (divides 180).
    tall_height: objects at least this tall also get side grasps.
    side_max_angle_deg: side approaches within this angle of the direction from the
        base to the object (the arm reaches outwards). side_yaw_step_deg: spacing of side
        approaches around cylinders.
    w_*: score weights; side_score_factor scales side grasps' scores.
    """

    gripper: GripperModel = PANDA_HAND
    open_margin: float = 0.02
    min_open_margin: float = field(default_factory=lambda: default_cell().gripper.grip_margin)
    grasp_depth: float = 0.025
    table_clearance: float = field(default_factory=lambda: default_cell().clearances.fingertip)
    hand_clearance: float = 0.005
    min_contact: float = 0.006
    raised_contact: float = 0.008
    min_finger_clearance: float = field(default_factory=lambda: default_cell().clearances.neighbour)
    min_static_clearance: float = field(default_factory=lambda: default_cell().clearances.contact)
    clearance_cap: float = 0.03
    pre_grasp_distance: float = 0.10
    offsets: int = 2
    edge_margin: float = 0.003
    cylinder_yaw_step_deg: float = 30.0
    tall_height: float = 0.065
    side_max_angle_deg: float = 60.0
    side_yaw_step_deg: float = 30.0
    side_score_factor: float = 0.85
    w_narrow: float = 0.30
    w_clearance: float = 0.25
    w_centred: float = 0.15
    w_wrist: float = 0.15
    w_slack: float = 0.10
    w_contact: float = 0.05

    def __post_init__(self) -> None:
        check_synthesis_config(self)


def check_synthesis_config(cfg: SynthesisConfig) -> None:
    """Raise ValueError naming the first bad value of `cfg`."""
    positive = ("open_margin", "min_open_margin", "grasp_depth", "table_clearance", "hand_clearance",
                "min_contact", "raised_contact", "clearance_cap", "pre_grasp_distance", "cylinder_yaw_step_deg",
                "tall_height", "side_yaw_step_deg")
    for name in positive:
        v = getattr(cfg, name)
        if not (math.isfinite(v) and v > 0.0):
            raise ValueError(f"grasp synthesis: {name} must be > 0, got {v}")
    for name in ("min_finger_clearance", "min_static_clearance", "edge_margin", "w_narrow", "w_clearance",
                 "w_centred", "w_wrist", "w_slack", "w_contact"):
        v = getattr(cfg, name)
        if not (math.isfinite(v) and v >= 0.0):
            raise ValueError(f"grasp synthesis: {name} must be >= 0, got {v}")
    if cfg.min_open_margin > cfg.open_margin:
        raise ValueError(f"grasp synthesis: min_open_margin {cfg.min_open_margin} m exceeds open_margin "
                         f"{cfg.open_margin} m")
    if cfg.min_open_margin >= cfg.gripper.max_opening:
        raise ValueError(f"grasp synthesis: min_open_margin {cfg.min_open_margin} m leaves no room in a "
                         f"{cfg.gripper.max_opening} m opening")
    if cfg.offsets < 0:
        raise ValueError(f"grasp synthesis: offsets must be >= 0, got {cfg.offsets}")
    if not 0.0 <= cfg.side_max_angle_deg <= 90.0:
        raise ValueError(f"grasp synthesis: side_max_angle_deg must be in 0..90, got {cfg.side_max_angle_deg}")
    if not 0.0 < cfg.side_score_factor <= 1.0:
        raise ValueError(f"grasp synthesis: side_score_factor must be in (0, 1], got {cfg.side_score_factor}")
    if cfg.w_narrow + cfg.w_clearance + cfg.w_centred + cfg.w_wrist + cfg.w_slack + cfg.w_contact <= 0.0:
        raise ValueError("grasp synthesis: at least one score weight must be > 0")


@dataclass(frozen=True, slots=True, eq=False)
class GraspCandidate:
    """One grasp. position: (3,) grasp frame origin when the fingers close, base frame, m.
    rotation: (3, 3) grasp frame axes as columns (z = approach, y = closing axis).
    approach: (3,) unit vector = rotation[:, 2]. pre_grasp_distance: the straight approach
    starts this far back along -approach (m). gripper_width: opening to command before the
    approach (m). object_width: expected pad distance once closed on the object (m).
    grasp_type: "top" or "side". score: 0..1, higher is better. clearance: least distance
    of fingers/hand to any obstacle (m, capped at the config's clearance_cap).
    terms: the score's terms (each 0..1) by name."""

    position: np.ndarray
    rotation: np.ndarray
    approach: np.ndarray
    pre_grasp_distance: float
    gripper_width: float
    object_width: float
    grasp_type: str
    score: float
    clearance: float
    terms: dict[str, float] = field(default_factory=dict)

    @property
    def T_base_grasp(self) -> np.ndarray:  # noqa: N802 (frame names, CONVENTIONS.md section 5)
        """(4, 4) pose of the grasp frame at the grasp."""
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.rotation, self.position
        return T

    @property
    def pre_grasp_position(self) -> np.ndarray:
        """(3,) grasp frame origin at the start of the straight approach, m."""
        return self.position - self.pre_grasp_distance * self.approach

    @property
    def yaw(self) -> float:
        """Yaw (rad) of the grasp frame's x axis (top-down grasps: the wrist yaw)."""
        return math.atan2(float(self.rotation[1, 0]), float(self.rotation[0, 0]))


@dataclass(frozen=True, slots=True)
class Rejection:
    """A candidate that failed a check. reason: "too_wide", "too_shallow", "collision" or
    "table". obstacles: what it would hit. detail: a sentence for people."""

    grasp_type: str
    object_width: float
    reason: str
    obstacles: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GraspPlan:
    """The outcome of plan_grasps. success: at least one candidate. message: a summary,
    or why there is no candidate. candidates: best first."""

    success: bool
    message: str
    candidates: list[GraspCandidate]
    rejections: list[Rejection]


def side_rotation(approach_xy: tuple[float, float], x_up: bool = True) -> np.ndarray:
    """(3, 3) grasp frame with z along the horizontal `approach_xy` (unit), x up (or down)."""
    ax, ay = approach_xy
    sgn = 1.0 if x_up else -1.0
    x = np.array([0.0, 0.0, sgn])
    z = np.array([ax, ay, 0.0])
    return np.column_stack([x, np.cross(z, x), z])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _cm(v: float) -> str:
    return f"{v * 100.0:.1f}".rstrip("0").rstrip(".") + " cm"


def world_prism(origin: Sequence[float], R: np.ndarray | Sequence[Sequence[float]], box: LocalBox) -> Prism:
    """A grasp-frame box placed at origin (3,) with rotation R (3, 3), one of whose axes is
    vertical, as a vertical prism. (Plain floats: this runs a few hundred times per plan.)"""
    lo, hi = box
    r0, r1, r2 = R if isinstance(R, tuple) else (tuple(float(v) for v in row) for row in R)
    a0, a1, a2 = abs(r2[0]), abs(r2[1]), abs(r2[2])  # which grasp axis is vertical
    k = 0 if a0 >= a1 and a0 >= a2 else (1 if a1 >= a2 else 2)
    i, j = (1, 2) if k == 0 else ((0, 2) if k == 1 else (0, 1))
    m = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0)
    cx = origin[0] + r0[0] * m[0] + r0[1] * m[1] + r0[2] * m[2]
    cy = origin[1] + r1[0] * m[0] + r1[1] * m[1] + r1[2] * m[2]
    cz = origin[2] + r2[0] * m[0] + r2[1] * m[1] + r2[2] * m[2]
    half_k = (hi[k] - lo[k]) / 2.0
    ux, uy = r0[i], r1[i]
    norm = math.hypot(ux, uy)
    return rectangle((cx, cy), (ux / norm, uy / norm), (hi[i] - lo[i]) / 2.0, (hi[j] - lo[j]) / 2.0,
                     cz - half_k, cz + half_k)


@dataclass(slots=True)
class _Pose:
    """A grasp placement to check: everything but the wrist flip."""

    grasp_type: str
    position: np.ndarray
    rotation: np.ndarray
    opening: float
    width: float
    centred: float  # 0..1
    contact: float  # m
    narrow: float  # 0..1


class _Synthesis:
    def __init__(self, obj: ObjectModel, neighbours: Sequence[ObjectModel], bin_model: Bin | None,
                 cfg: SynthesisConfig, reference_rotation: np.ndarray | None) -> None:
        from grasping.core.scene import object_prism

        self.obj, self.cfg, self.g = obj, cfg, cfg.gripper
        self.R_ref = None if reference_rotation is None else np.asarray(reference_rotation, dtype=float)
        self.obstacles: list[Obstacle] = [Obstacle(n.name, object_prism(n)) for n in neighbours if n.id != obj.id]
        if bin_model is not None:
            self.obstacles += bin_obstacles(bin_model)
        self.support = max(0.0, obj.bottom)
        self._prism_cache: dict[tuple[bytes, float], list[Prism]] = {}
        self._wrist_cache: dict[bytes, float] = {}
        self.candidates: list[GraspCandidate] = []
        self.rejections: list[Rejection] = []
        # Closing directions: (closing axis (2,), width, along axis (2,), length along it).
        sx, sy = obj.size[0], obj.size[1]
        if obj.shape == "cylinder":
            d = max(sx, sy)
            self.pairs = [(None, d, None, d)]
        else:
            self.pairs = [(obj.axis(0), sx, obj.axis(1), sy), (obj.axis(1), sy, obj.axis(0), sx)]
        self.narrowest = min(p[1] for p in self.pairs)

    # -- checks --------------------------------------------------------------
    def _openings(self, width: float) -> list[float]:
        g, cfg = self.g, self.cfg
        wide = min(g.max_opening, width + cfg.open_margin)
        tight = width + cfg.min_open_margin
        return [wide] if wide - tight < 1e-3 else [wide, tight]

    def _clearance(self, pose: _Pose) -> tuple[float, list[Obstacle]]:
        """Least distance (m, capped at clearance_cap) of fingers, hand and wrist, swept along
        the approach, to the obstacles, and the obstacles nearer than their clearance.
        (-1, [the table]) when the fingertips come within table_clearance of the surface
        under the object or anything goes below the table top."""
        cfg = self.cfg
        origin = [float(v) for v in pose.position]
        prisms = [translated(p, *origin) for p in self._local_prisms(pose.rotation, pose.opening)]
        floor = min(p.z_min for p in prisms[:2])
        if floor - self.support < cfg.table_clearance - 1e-9 or min(p.z_min for p in prisms) < 0.0:
            return -1.0, [TABLE]
        best, hits = cfg.clearance_cap, []
        # One circle around the whole gripper: most obstacles are far from all of it.
        gx, gy = origin[0], origin[1]
        reach = max(math.hypot(p.centre[0] - gx, p.centre[1] - gy) + p.bound for p in prisms)
        for obstacle in self.obstacles:
            o = obstacle.prism
            need = self._needed(obstacle)
            # Once the pose is blocked its clearance no longer matters: only which obstacles block it.
            cap = need if hits else max(best, need)
            if math.hypot(o.centre[0] - gx, o.centre[1] - gy) - o.bound - reach >= cap:
                continue
            for prism in prisms:
                d = prism_distance(prism, o, cap)
                if d < cap:
                    best = min(best, d)
                    if d < need:
                        hits.append(obstacle)
                        break
                    cap = max(d, need) if not hits else need
        return best, hits

    def _local_prisms(self, rotation: np.ndarray, opening: float) -> list[Prism]:
        """Fingers, hand and wrist (swept along the approach) for a grasp frame at the origin;
        cached: the poses of one plan share a few rotations and openings."""
        key = (rotation.tobytes(), opening)
        prisms = self._prism_cache.get(key)
        if prisms is None:
            g, d = self.g, self.cfg.pre_grasp_distance
            R = tuple(tuple(float(v) for v in row) for row in rotation)
            prisms = [world_prism((0.0, 0.0, 0.0), R, b) for b in g.finger_boxes(opening, d) + g.hand_boxes(d)]
            self._prism_cache[key] = prisms
        return prisms

    def _wrist_term(self, R: np.ndarray) -> float:
        """1 for no wrist rotation from the current pose, 0 for half a turn (0.5 without one)."""
        if self.R_ref is None:
            return 0.5
        key = R.tobytes()
        term = self._wrist_cache.get(key)
        if term is None:
            term = self._wrist_cache[key] = 1.0 - rotation_angle(self.R_ref, R) / math.pi
        return term

    def _needed(self, obstacle: Obstacle) -> float:
        return self.cfg.min_static_clearance if obstacle.static else self.cfg.min_finger_clearance

    def _top_contact(self, z: float) -> float:
        """Overlap (m) of the pads with the object's height for a top-down grasp frame at z."""
        lo = z - self.g.fingertip
        return min(self.obj.top, lo + self.g.pad_length) - max(self.obj.bottom, lo)

    def _raised(self, pose: _Pose, hits: list[Obstacle]) -> tuple[_Pose, float] | None:
        """A top-down pose blocked by `hits`, raised just enough for fingertips or palm to pass
        over them while the pads keep min_contact; (pose, clearance) or None."""
        g, cfg = self.g, self.cfg
        z_max = self.obj.top + g.fingertip - max(cfg.min_contact, cfg.raised_contact)
        tried: set[float] = set()
        z0 = float(pose.position[2])
        while True:
            heights = {round(z, 6) for o in hits if o is not TABLE
                       for m in (self._needed(o) + 1e-4,)
                       for z in (o.prism.z_max + m + g.fingertip, o.prism.z_max + m - g.hand_offset)}
            heights = sorted(z for z in heights if z0 < z <= z_max and z not in tried)
            if not heights:
                return None
            z = heights[0]
            tried.add(z)
            position = pose.position.copy()
            position[2] = z
            raised = dataclasses.replace(pose, position=position, contact=self._top_contact(z))
            clearance, new_hits = self._clearance(raised)
            if not new_hits:
                return raised, clearance
            hits = hits + new_hits

    def _accept(self, pose: _Pose, flips: list[np.ndarray]) -> None:
        cfg = self.cfg
        clearance, hits = self._clearance(pose)
        if hits and pose.grasp_type == TYPE_TOP and hits != [TABLE]:
            raised = self._raised(pose, hits)
            if raised is not None:
                pose, clearance = raised
                hits = []
        if hits:
            if hits == [TABLE]:
                self.rejections.append(Rejection(pose.grasp_type, pose.width, "table", (TABLE.name,),
                                                 "a finger would touch the table"))
            else:
                names = tuple(dict.fromkeys(o.name for o in hits))
                self.rejections.append(Rejection(pose.grasp_type, pose.width, "collision", names,
                                                 f"a finger or the hand would come too close to {', '.join(names)}"))
            return
        slack_range = cfg.open_margin - cfg.min_open_margin
        slack = 1.0 if slack_range <= 0 else (pose.opening - pose.width - cfg.min_open_margin) / slack_range
        base_terms = {
            "narrow": pose.narrow,
            "clearance": min(clearance, cfg.clearance_cap) / cfg.clearance_cap,
            "centred": pose.centred,
            "slack": max(0.0, min(1.0, slack)),
            "contact": max(0.0, min(1.0, pose.contact / self.g.pad_length)),
        }
        weights = (cfg.w_narrow, cfg.w_clearance, cfg.w_centred, cfg.w_wrist, cfg.w_slack, cfg.w_contact)
        total = sum(weights)
        factor = cfg.side_score_factor if pose.grasp_type == TYPE_SIDE else 1.0
        for R in flips:
            wrist = self._wrist_term(R)
            terms = {**base_terms, "wrist": wrist}
            score = factor * (cfg.w_narrow * terms["narrow"] + cfg.w_clearance * terms["clearance"]
                              + cfg.w_centred * terms["centred"] + cfg.w_wrist * terms["wrist"]
                              + cfg.w_slack * terms["slack"] + cfg.w_contact * terms["contact"]) / total
            self.candidates.append(GraspCandidate(
                position=pose.position.copy(), rotation=R, approach=R[:, 2].copy(),
                pre_grasp_distance=cfg.pre_grasp_distance, gripper_width=pose.opening, object_width=pose.width,
                grasp_type=pose.grasp_type, score=float(score), clearance=float(clearance), terms=terms))

    # -- generators ----------------------------------------------------------
    def _reference_yaw(self) -> float:
        if self.R_ref is not None:
            return math.atan2(float(self.R_ref[1, 0]), float(self.R_ref[0, 0]))
        return self.obj.yaw

    def top_down(self) -> None:
        obj, g, cfg = self.obj, self.g, self.cfg
        z_g = max(obj.top - cfg.grasp_depth, self.support + cfg.table_clearance + g.fingertip,
                  obj.top + cfg.hand_clearance - g.hand_offset)
        contact = self._top_contact(z_g)
        cx, cy = obj.position[0], obj.position[1]
        for closing, width, _along, length in self.pairs:
            if width > g.max_opening - cfg.min_open_margin:
                self.rejections.append(Rejection(TYPE_TOP, width, "too_wide"))
                continue
            if contact < cfg.min_contact:
                self.rejections.append(Rejection(
                    TYPE_TOP, width, "too_shallow",
                    detail=f"the pads would touch only {contact * 1000:.0f} mm of its height "
                           f"(at least {cfg.min_contact * 1000:.0f} mm needed above the surface)"))
                continue
            narrow = self.narrowest / width
            if closing is None:  # cylinder: any yaw, from the current wrist yaw on
                step = math.radians(cfg.cylinder_yaw_step_deg)
                n = max(1, round(math.pi / step))
                yaw0 = self._reference_yaw()
                yaws = [_wrap(yaw0 + k * math.pi / n) for k in range(n)]
                offsets = [0.0]
            else:
                # Fingers close along y = (sin yaw, -cos yaw) = the closing axis.
                yaws = [math.atan2(closing[0], -closing[1])]
                s_max = max(0.0, length / 2.0 - g.pad_width / 2.0 - cfg.edge_margin)
                offsets = [0.0]
                if s_max > 0.002 and cfg.offsets > 0:
                    for k in range(1, cfg.offsets + 1):
                        offsets += [s_max * k / cfg.offsets, -s_max * k / cfg.offsets]
            for yaw in yaws:
                R = top_down_rotation(yaw)
                ux, uy = math.cos(yaw), math.sin(yaw)
                flips = [R, top_down_rotation(_wrap(yaw + math.pi))]
                for s in offsets:
                    centred = 1.0 - abs(s) / (length / 2.0) if length > 0 else 1.0
                    pos = np.array([cx + s * ux, cy + s * uy, z_g])
                    for opening in self._openings(width):
                        self._accept(_Pose(TYPE_TOP, pos, R, opening, width, centred, contact, narrow), flips)

    def side(self) -> None:
        obj, g, cfg = self.obj, self.g, self.cfg
        cx, cy, cz = obj.position
        rn = math.hypot(cx, cy)
        radial = (cx / rn, cy / rn) if rn > 1e-6 else (1.0, 0.0)
        cos_max = math.cos(math.radians(cfg.side_max_angle_deg)) - 1e-9
        z_lo = self.support + cfg.table_clearance + max(g.finger_width / 2.0, g.hand_half_x, g.wrist_half)
        z_g = max(z_lo, cz)
        contact = min(obj.top, z_g + g.pad_width / 2.0) - max(obj.bottom, z_g - g.pad_width / 2.0)
        half_h = obj.size[2] / 2.0
        centred = max(0.0, 1.0 - abs(z_g - cz) / half_h)
        for closing, width, along, length in self.pairs:
            if width > g.max_opening - cfg.min_open_margin:
                self.rejections.append(Rejection(TYPE_SIDE, width, "too_wide"))
                continue
            if contact < cfg.min_contact:
                self.rejections.append(Rejection(
                    TYPE_SIDE, width, "too_shallow",
                    detail=f"a side grasp needs the pads {z_g * 100:.1f} cm above the table to keep the hand "
                           f"clear of it, and the object is {obj.size[2] * 100:.1f} cm tall"))
                continue
            narrow = self.narrowest / width
            if closing is None:
                step = math.radians(cfg.side_yaw_step_deg)
                n = int(math.radians(cfg.side_max_angle_deg) / step + 1e-9)
                base = math.atan2(radial[1], radial[0])
                angles = [0.0] + [s * k * step for k in range(1, n + 1) for s in (1.0, -1.0)]
                approaches = [(math.cos(base + a), math.sin(base + a)) for a in angles]
            else:
                approaches = [along, (-along[0], -along[1])]
            for a in approaches:
                if a[0] * radial[0] + a[1] * radial[1] < cos_max:
                    continue
                depth = length if closing is not None else width
                depth_in = min(depth / 2.0, g.hand_offset - cfg.hand_clearance)
                shift = depth_in - depth / 2.0
                pos = np.array([cx + shift * a[0], cy + shift * a[1], z_g])
                flips = [side_rotation(a, True), side_rotation(a, False)]
                for opening in self._openings(width):
                    self._accept(_Pose(TYPE_SIDE, pos, flips[0], opening, width, centred, contact, narrow), flips)

    # -- result --------------------------------------------------------------
    def failure_message(self) -> str:
        obj, g, cfg = self.obj, self.g, self.cfg
        who = obj.label or obj.id
        if all(r.reason == "too_wide" for r in self.rejections):
            w = self.narrowest
            if w > g.max_opening:
                return f"{who} is {_cm(w)} wide; the gripper opens {_cm(g.max_opening)}"
            return (f"{who} is {_cm(w)} wide; the gripper opens {_cm(g.max_opening)} and needs "
                    f"{_cm(cfg.min_open_margin)} of room around it to close safely")
        parts = []
        hits = Counter(name for r in self.rejections if r.reason in ("collision", "table") for name in r.obstacles)
        considered = sum(1 for r in self.rejections if r.reason in ("collision", "table"))
        for name, n in sorted(hits.items(), key=lambda kv: (-kv[1], kv[0])):
            parts.append(f"{name} in {n} of {considered} placements")
        shallow = [r for r in self.rejections if r.reason == "too_shallow"]
        reasons = []
        if parts:
            reasons.append("the fingers or hand would hit " + ", ".join(parts))
        if shallow:
            reasons.append(f"it is {_cm(obj.size[2])} tall: " + "; ".join(dict.fromkeys(r.detail for r in shallow)))
        return f"no collision-free grasp for {obj.name}: " + "; ".join(reasons)


def plan_grasps(obj: ObjectModel, neighbours: Sequence[ObjectModel] = (), bin_model: Bin | None = None,
                config: SynthesisConfig | None = None, reference_rotation: np.ndarray | None = None,
                max_candidates: int = 0) -> GraspPlan:
    """Ranked grasps for `obj` among `neighbours` (other objects; one with obj's id is
    ignored) and the bin (None: no bin). reference_rotation: (3, 3) current grasp-frame
    rotation, for the wrist-rotation term (None: neutral). max_candidates: at most this
    many, best first (0: all). Raises ValueError for a malformed object."""
    cfg = config or SynthesisConfig()
    check_object(obj)
    for n in neighbours:
        check_object(n)
    syn = _Synthesis(obj, neighbours, bin_model, cfg, reference_rotation)
    syn.top_down()
    top_ok = bool(syn.candidates)
    top_only_wide = all(r.reason == "too_wide" for r in syn.rejections) and not top_ok
    if not top_only_wide and (obj.size[2] >= cfg.tall_height or not top_ok):
        syn.side()
    order = sorted(range(len(syn.candidates)), key=lambda i: (-round(syn.candidates[i].score, 12), i))
    ranked = [syn.candidates[i] for i in order]
    if max_candidates > 0:
        ranked = ranked[:max_candidates]
    if not ranked:
        return GraspPlan(False, syn.failure_message(), [], syn.rejections)
    best = ranked[0]
    n_top = sum(1 for c in syn.candidates if c.grasp_type == TYPE_TOP)
    msg = (f"{len(syn.candidates)} grasps for {obj.name} ({n_top} top-down, {len(syn.candidates) - n_top} side, "
           f"{len(syn.rejections)} rejected); best: {best.grasp_type} across {_cm(best.object_width)}, "
           f"opening {_cm(best.gripper_width)}, score {best.score:.2f}")
    return GraspPlan(True, msg, ranked, syn.rejections)
