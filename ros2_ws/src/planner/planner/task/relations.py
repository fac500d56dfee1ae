"""Which seen objects an ObjectRef designates: by colour, shape and id, by size, by place
(robot's point of view) and by relation to another object or to the bin. Pure Python.

Frame: the robot base frame (x forward away from the base, y to the robot's left, z up, the
table top at z = 0). "left" is larger y, "front" larger x (towards an operator standing across
the table), "back" smaller x; "nearest"/"farthest" are measured from the base (x = y = 0).
Tolerances: sizes within SIZE_TOLERANCE of each other are the same size, places within
PLACE_TOLERANCE level; a reference whose best candidates tie is ambiguous for "the" (and the
nearest of the tied to the gripper for "a").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from planner.task.goal_types import PLACE_MEANING, RELATION_ECHO, ObjectRef, Relation, ResolveError

SIZE_TOLERANCE = 0.10  # relative: sizes within 10 % are the same size
PLACE_TOLERANCE = 0.02  # m: positions within 2 cm along the direction asked are level
NEXT_TO_GAP = 0.06  # m: footprints (bounding circles; the bin's rectangle) at most 6 cm apart are next to each other
SIDE_MARGIN = 0.02  # m: "left of X" is more than 2 cm further left (y) than X's centre; front/behind alike in x
STACK_TOLERANCE = 0.02  # m: an object is on another when its bottom is within 2 cm of the other's top ...
STACK_OFFSET = 0.03  # m: ... and its centre within 3 cm (plus the lower one's footprint radius) of it in x, y
DIRECTIONS = "directions are the robot's: left = +y, front = +x away from the base"


@dataclass(frozen=True, slots=True)
class SeenObject:
    """What the resolver needs of a perceived object. position: (3,) centre, metres, base frame.
    size: (3,) extent along its own axes (x, y, z = height), metres; None when not known (then
    size words and 'on top of' cannot be resolved for it)."""

    id: str
    label: str
    colour: str
    shape: str
    position: tuple[float, float, float]
    size: tuple[float, float, float] | None = None

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle, metres (0 when the size is unknown)."""
        return 0.5 * math.hypot(self.size[0], self.size[1]) if self.size else 0.0


@dataclass(frozen=True, slots=True)
class Scene:
    """What the resolver knows of the cell besides the objects (for 'next to the bin' etc.):
    the bin's centre (x, y) m, outer footprint along its own axes m, yaw rad; None: unknown."""

    bin_xy: tuple[float, float] | None = None
    bin_size: tuple[float, float] | None = None
    bin_yaw: float = 0.0


def _matches(ref: ObjectRef, o: SeenObject) -> bool:
    if ref.id is not None:
        return o.id == ref.id
    return (ref.colour is None or o.colour == ref.colour) and (ref.shape is None or o.shape == ref.shape)


def _listing(objects: list[SeenObject], detail: Callable[[SeenObject], str] | None = None) -> str:
    if not objects:
        return "nothing"
    return ", ".join(f"{o.label} ({o.id} at {o.position[0]:.2f}, {o.position[1]:.2f}"
                     f"{', ' + detail(o) if detail else ''})" for o in objects)


def _size_text(o: SeenObject) -> str:
    assert o.size is not None
    return " x ".join(f"{100 * s:.1f}" for s in o.size) + " cm"


def _ambiguous(ref: ObjectRef, found: list[SeenObject], why: str = "",
               detail: Callable[[SeenObject], str] | None = None) -> ResolveError:
    return ResolveError(f"'{ref.describe()}' matches {len(found)} objects{why}: {_listing(found, detail)}; "
                        f"say 'a ...' to let me choose, or name one by id")


# -- size and place: the extreme of the matches --------------------------------------
def _measure_size(kind: str, o: SeenObject) -> float:
    if o.size is None:
        raise ResolveError(f"cannot tell sizes apart: the size of {o.label} ({o.id}) is not known")
    if kind in ("tallest", "shortest"):
        return o.size[2]
    return o.size[0] * o.size[1] * o.size[2]


def _measure_place(kind: str, o: SeenObject) -> float:
    x, y = o.position[0], o.position[1]
    return {"left": y, "right": y, "front": x, "back": x}.get(kind, math.hypot(x, y))


def _extreme(ref: ObjectRef, found: list[SeenObject], measure: Callable[[SeenObject], float], biggest: bool,
             tied: Callable[[float, float], bool], why: str, detail: Callable[[SeenObject], str]) -> list[SeenObject]:
    """The objects of `found` (kept in order) whose measure ties with the extreme one."""
    if len(found) <= 1:
        return found
    values = [measure(o) for o in found]
    best = max(values) if biggest else min(values)
    ties = [o for o, v in zip(found, values, strict=True) if tied(v, best)]
    if len(ties) > 1 and ref.quantifier == "the":
        raise _ambiguous(ref, ties, why, detail)
    return ties


def _by_size(ref: ObjectRef, found: list[SeenObject]) -> list[SeenObject]:
    kind = ref.size
    assert kind is not None
    return _extreme(ref, found, lambda o: _measure_size(kind, o), kind in ("largest", "tallest"),
                    lambda v, best: abs(v - best) <= SIZE_TOLERANCE * max(abs(v), abs(best)),
                    f" of about the same {'height' if kind in ('tallest', 'shortest') else 'size'} "
                    f"(within {100 * SIZE_TOLERANCE:.0f} %)", _size_text)


def _by_place(ref: ObjectRef, found: list[SeenObject]) -> list[SeenObject]:
    kind = ref.place
    assert kind is not None
    return _extreme(ref, found, lambda o: _measure_place(kind, o), kind in ("left", "front", "farthest"),
                    lambda v, best: abs(v - best) <= PLACE_TOLERANCE,
                    f" level within {100 * PLACE_TOLERANCE:.0f} cm ({kind}: {PLACE_MEANING[kind]})",
                    lambda o: f"{_measure_place(kind, o):.2f} m")


# -- relations to an anchor ------------------------------------------------------------
def _bin_distance(o: SeenObject, scene: Scene) -> float:
    """Distance (m) from `o`'s centre to the bin's footprint rectangle (0 inside it)."""
    assert scene.bin_xy is not None and scene.bin_size is not None
    c, s = math.cos(scene.bin_yaw), math.sin(scene.bin_yaw)
    dx, dy = o.position[0] - scene.bin_xy[0], o.position[1] - scene.bin_xy[1]
    u, v = c * dx + s * dy, -s * dx + c * dy
    return math.hypot(max(abs(u) - scene.bin_size[0] / 2, 0.0), max(abs(v) - scene.bin_size[1] / 2, 0.0))


def _gap(o: SeenObject, a: SeenObject | None, scene: Scene) -> float:
    """Clearance (m) between `o`'s footprint and the anchor's (`a`, or the bin for None)."""
    if a is None:
        return _bin_distance(o, scene) - o.radius
    return math.hypot(o.position[0] - a.position[0], o.position[1] - a.position[1]) - o.radius - a.radius


def _rests_on(upper: SeenObject, lower: SeenObject) -> bool:
    for o in (upper, lower):
        if o.size is None:
            raise ResolveError(f"cannot tell what stands on what: the size of {o.label} ({o.id}) is not known")
    assert upper.size is not None and lower.size is not None
    bottom = upper.position[2] - upper.size[2] / 2
    top = lower.position[2] + lower.size[2] / 2
    offset = math.hypot(upper.position[0] - lower.position[0], upper.position[1] - lower.position[1])
    return abs(bottom - top) <= STACK_TOLERANCE and offset <= lower.radius + STACK_OFFSET


def _holds(kind: str, o: SeenObject, a: SeenObject | None, scene: Scene) -> bool:
    if kind == "next_to":
        return _gap(o, a, scene) <= NEXT_TO_GAP
    if kind in ("on", "under"):
        assert a is not None
        return _rests_on(o, a) if kind == "on" else _rests_on(a, o)
    ax, ay = (a.position[0], a.position[1]) if a is not None else scene.bin_xy  # type: ignore[misc]
    return {"left_of": o.position[1] > ay + SIDE_MARGIN, "right_of": o.position[1] < ay - SIDE_MARGIN,
            "in_front_of": o.position[0] > ax + SIDE_MARGIN, "behind": o.position[0] < ax - SIDE_MARGIN}[kind]


def _anchors(rel: Relation, pool: list[SeenObject], gripper_xy: tuple[float, float],
             scene: Scene) -> list[SeenObject | None]:
    """What the relation is measured from: the bin (None), the one object 'the ...' names, or
    every match of 'a ...'."""
    if rel.anchor is None:
        if scene.bin_xy is None or scene.bin_size is None:
            raise ResolveError(f"'{rel.describe()}' needs the bin's position and size, which are not known here")
        return [None]
    ref = rel.anchor if rel.anchor.quantifier == "the" else dataclasses.replace(rel.anchor, quantifier="all")
    try:
        return list(resolve(ref, pool, gripper_xy, at_least_one=True, scene=scene))
    except ResolveError as e:
        raise ResolveError(f"{e} (the object '{RELATION_ECHO[rel.kind]}' refers to)") from None


def _related(ref: ObjectRef, found: list[SeenObject], pool: list[SeenObject], gripper_xy: tuple[float, float],
             scene: Scene) -> list[SeenObject]:
    rel = ref.relation
    assert rel is not None
    anchors = _anchors(rel, pool, gripper_xy, scene)
    ids = {a.id for a in anchors if a is not None}
    found = [o for o in found if o.id not in ids]

    def where(o: SeenObject) -> str:
        return f"{min(_gap(o, a, scene) for a in anchors):.2f} m clear of the reference"

    if rel.kind in ("nearest_to", "farthest_from"):
        if not found:
            raise ResolveError(f"no object matches '{ref.describe()}': only the reference itself matches")
        return _extreme(ref, found, lambda o: min(_gap(o, a, scene) for a in anchors), rel.kind == "farthest_from",
                        lambda v, best: abs(v - best) <= PLACE_TOLERANCE,
                        f" about as {'near' if rel.kind == 'nearest_to' else 'far'} (within "
                        f"{100 * PLACE_TOLERANCE:.0f} cm)", where)
    held = [o for o in found if any(_holds(rel.kind, o, a, scene) for a in anchors if a is None or a.id != o.id)]
    if held:
        return held
    anchor_text = "; ".join(f"{a.label} ({a.id}) at {a.position[0]:.2f}, {a.position[1]:.2f}"
                            for a in anchors if a is not None) or (
        f"the bin at {scene.bin_xy[0]:.2f}, {scene.bin_xy[1]:.2f}" if scene.bin_xy else "the bin")
    rule = {"next_to": f"footprints at most {100 * NEXT_TO_GAP:.0f} cm apart",
            "on": "resting on it", "under": "carrying it"}.get(rel.kind, DIRECTIONS)
    raise ResolveError(f"no object matches '{ref.describe()}' ({rule}); reference: {anchor_text}; "
                       f"candidates: {_listing(found, where if rel.kind == 'next_to' else None)}")


def resolve(ref: ObjectRef, objects: list[SeenObject], gripper_xy: tuple[float, float],
            exclude: tuple[str, ...] = (), at_least_one: bool = False, scene: Scene | None = None) -> list[SeenObject]:
    """The objects `ref` designates: one for "the"/"any" (nearest to the gripper for "any"),
    every match (nearest first) for "all" (none, unless `at_least_one`), the `ref.count`
    nearest for "count". Size, place and relation narrow the matches first. `scene` tells
    where the bin is ('next to the bin'). Raises ResolveError naming what is visible."""
    scene = scene or Scene()
    pool = [o for o in objects if o.id not in exclude]
    found = [o for o in pool if _matches(ref, o)]
    if not found:
        if ref.quantifier == "all" and not at_least_one:
            return []
        raise ResolveError(f"no object matches '{ref.describe()}'; visible: {_listing(pool)}")

    def dist(o: SeenObject) -> float:
        return math.hypot(o.position[0] - gripper_xy[0], o.position[1] - gripper_xy[1])

    found.sort(key=lambda o: (dist(o), o.id))
    if ref.relation is not None:
        found = _related(ref, found, pool, gripper_xy, scene)
    if ref.size is not None:
        found = _by_size(ref, found)
    if ref.place is not None:
        found = _by_place(ref, found)
    if ref.quantifier == "the" and len(found) > 1:
        raise _ambiguous(ref, found)
    if ref.quantifier == "count":
        n = ref.count or 1
        if len(found) < n:
            raise ResolveError(f"'{ref.describe()}' asks for {n} objects but {len(found)} match: {_listing(found)}")
        return found[:n]
    return found if ref.quantifier == "all" else found[:1]
