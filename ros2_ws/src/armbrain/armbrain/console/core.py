"""The console's state and rules, pure (no rclpy, no web library): tested with plain pytest.

The ROS side (`bridge`) writes into one `ConsoleState` from its executor thread; the web side
(`web`) reads `snapshot()` from the event loop's thread. Times are wall clock
(`time.monotonic()`, seconds): this is what a person watches.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field

HEALTH_SILENT_S = 3.0  # s without a node's /diagnostics (published once a second) before it is shown silent
OBJECTS_STALE_S = 2.0  # s without perception/objects before the list is shown stale
FRAME_STALE_S = 3.0  # s without a camera frame before the image is shown stale
HISTORY_LENGTH = 50  # goals kept in the history
NOTICE_S = 10.0  # s a notice (a refusal, an image that cannot be shown) stays on the page
LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
# The documented goals (docs/goals.md) that name no particular object.
GENERIC_GOALS = ("clear the table", "put all red objects in the bin", "put two cubes in the bin",
                 "put the leftmost cube in the bin", "pick up the nearest object", "place it in the bin",
                 "put it down at 0.45 0.1")


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One object perception sees: position in the base frame (m), size (m), confidence (0..1)."""

    id: str
    label: str
    x: float
    y: float
    z: float
    size: tuple[float, float, float]
    yaw: float = 0.0  # rad about the base z axis
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class BinView:
    """The bin as perception reports it: centre (m) and yaw (rad) in the base frame, inner size (m)."""

    seen: bool
    source: str  # "perceived" or "prior" (the cell's configuration)
    x: float
    y: float
    yaw: float
    inner_size: tuple[float, float, float]


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Access:
    """Who may command the robot. With `require_token`, goals, cancel and release need `token`;
    engaging the e-stop never does, and a client without the token sees only the e-stop."""

    require_token: bool
    token: str = ""

    @classmethod
    def for_binding(cls, host: str, require_token: bool, token: str) -> Access:
        """A binding that other machines reach always requires a token (check_* style: raises
        ValueError when one is required but empty)."""
        required = require_token or not is_loopback(host)
        if required and not token:
            raise ValueError(f"a token is required to serve on {host!r} but none was given")
        return cls(required, token)

    def allows(self, given: str | None) -> bool:
        if not self.require_token:
            return True
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())


def goal_suggestions(objects: list[ObjectRow]) -> list[str]:
    """Goals the operator may type, built from what is visible (docs/goals.md): per object by
    its label when that label is unique (else 'a <label>'), and by its id; then the generic ones."""
    labels = [o.label for o in objects if o.label]
    out: list[str] = []
    for o in objects:
        if not o.label:
            continue
        unique = labels.count(o.label) == 1
        ref = f"the {o.label}" if unique else f"a {o.label}"
        out += [f"put {ref} in the bin", f"pick up {ref}"]
        for other in objects:
            if other.id != o.id and other.label and labels.count(other.label) == 1 and unique:
                out.append(f"stack {ref} on the {other.label}")
        out += [f"put {o.id} in the bin", f"move {ref} at {o.x:.2f} {o.y:.2f}"]
    out += GENERIC_GOALS
    return list(dict.fromkeys(out))  # in order, without repeats


@dataclass
class StageTime:
    stage: str
    object_id: str
    attempt: int
    seconds: float
    success: bool | None = None  # None while it runs (from feedback); True/False from the result
    message: str = ""


@dataclass
class GoalRecord:
    """One goal given from this console: what it asked, how it went."""

    goal: str
    sent_at: float  # wall clock, time.time() (shown to the operator)
    status: str = "sending"  # sending, refused, running, canceling, succeeded, aborted, canceled, lost
    stage: str = ""
    object_id: str = ""
    attempt: int = 0
    progress: float = 0.0
    message: str = ""
    error: str = ""
    failed_stage: str = ""
    duration: float | None = None  # s, the planner's figure
    stages: list[StageTime] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    _stage_started: float = 0.0  # monotonic, of the current stage (from feedback)

    @property
    def running(self) -> bool:
        return self.status in ("sending", "running", "canceling")

    def on_feedback(self, stage: str, object_id: str, attempt: int, progress: float, message: str,
                    now: float) -> None:
        if stage != self.stage or attempt != self.attempt or object_id != self.object_id or not self.stages:
            if self.stages:
                self.stages[-1].seconds = now - self._stage_started
                self.stages[-1].success = True
            self.stages.append(StageTime(stage, object_id, attempt, 0.0))
            self._stage_started = now
        else:
            self.stages[-1].seconds = now - self._stage_started
        self.stage, self.object_id, self.attempt = stage, object_id, attempt
        self.progress = min(max(float(progress), 0.0), 1.0) if progress == progress else self.progress
        self.message = message

    def on_result(self, status: str, result: dict) -> None:
        """`result`: operator.result_to_dict's fields."""
        self.status = status
        self.message = result.get("message", "")
        self.error = result.get("error", "")
        self.failed_stage = result.get("failed_stage", "")
        self.duration = result.get("duration")
        self.objects = list(result.get("objects", []))
        if result.get("success"):
            self.progress = 1.0
        stages = result.get("stages")
        if stages:  # the planner's own per-stage times replace the ones seen from feedback
            self.stages = [StageTime(s["stage"], s.get("object_id", ""), int(s.get("attempt", 0)),
                                     float(s.get("duration", 0.0)), bool(s.get("success")), s.get("message", ""))
                           for s in stages]

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("_stage_started")
        d["running"] = self.running
        return d


@dataclass
class NodeHealth:
    name: str
    level: int
    message: str
    values: dict[str, str]
    arrived: float  # monotonic


class ConsoleState:
    """Everything the page shows, guarded by one lock. `version` grows with every change the
    page must see (frames have their own counter)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version = 0
        self.objects: list[ObjectRow] = []
        self.bin: BinView | None = None
        self.table: dict | None = None
        self.objects_arrived: float | None = None
        self.health: dict[str, NodeHealth] = {}
        self.estop: dict = {"engaged": False, "known": False, "text": "no e-stop command seen since the console "
                            "started", "acks": [], "honoured_by": []}
        self.running_goal: str | None = None  # what the planner runs (planner/active_goal), whoever gave it
        self.planner_ready = False
        self.history: deque[GoalRecord] = deque(maxlen=HISTORY_LENGTH)
        self.current: GoalRecord | None = None
        self.frame: bytes | None = None
        self.frame_seq = 0
        self.frame_arrived: float | None = None
        self.frame_size: tuple[int, int] = (0, 0)
        self.notice = ""  # the newest message for the operator (a refusal, an error)
        self.notice_at = 0.0  # monotonic

    def changed(self) -> None:
        """Call with the lock held."""
        self.version += 1

    # -- writers (ROS thread) ---------------------------------------------------------
    def set_objects(self, objects: list[ObjectRow], bin_view: BinView | None, table: dict | None,
                    now: float) -> None:
        with self.lock:
            self.objects, self.bin, self.table, self.objects_arrived = objects, bin_view, table, now
            self.changed()

    def set_health(self, h: NodeHealth) -> None:
        with self.lock:
            self.health[h.name] = h
            self.changed()

    def set_frame(self, jpeg: bytes, width: int, height: int, now: float) -> None:
        with self.lock:
            self.frame, self.frame_size, self.frame_arrived = jpeg, (width, height), now
            self.frame_seq += 1

    def start_goal(self, goal: str) -> GoalRecord | None:
        """A new record, or None when this console already runs a goal."""
        with self.lock:
            if self.current is not None and self.current.running:
                return None
            rec = GoalRecord(goal, time.time())
            self.current = rec
            self.history.appendleft(rec)
            self.changed()
            return rec

    def update_goal(self, rec: GoalRecord, fn) -> None:
        """Apply fn(rec) under the lock."""
        with self.lock:
            fn(rec)
            self.changed()

    def set_notice(self, text: str, now: float | None = None) -> None:
        with self.lock:
            self.notice, self.notice_at = text, time.monotonic() if now is None else now
            self.changed()

    # -- reader (web thread) ------------------------------------------------------------
    def snapshot(self, now: float, authorised: bool) -> dict:
        """The page's state as JSON-able data. Without authorisation: only the e-stop (the shell of
        the page shows nothing else of the cell)."""
        with self.lock:
            out: dict = {"version": self.version, "authorised": authorised, "estop": dict(self.estop)}
            if not authorised:
                return out
            age = None if self.objects_arrived is None else now - self.objects_arrived
            out["objects"] = [asdict(o) for o in self.objects]
            out["objects_age"] = age
            out["objects_stale"] = age is None or age > OBJECTS_STALE_S
            out["bin"] = asdict(self.bin) if self.bin else None
            out["table"] = self.table
            out["suggestions"] = goal_suggestions(self.objects)
            out["health"] = [{"name": h.name, "level": LEVELS.get(h.level, str(h.level)), "message": h.message,
                              "values": h.values, "silent_s": round(now - h.arrived, 1),
                              "alive": now - h.arrived <= HEALTH_SILENT_S}
                             for h in sorted(self.health.values(), key=lambda h: h.name)]
            out["running_goal"] = self.running_goal
            out["planner_ready"] = self.planner_ready
            out["current"] = self.current.to_json() if self.current else None
            out["history"] = [r.to_json() for r in self.history]
            frame_age = None if self.frame_arrived is None else now - self.frame_arrived
            out["frame"] = {"seq": self.frame_seq, "age": frame_age, "size": list(self.frame_size),
                            "stale": frame_age is None or frame_age > FRAME_STALE_S}
            out["notice"] = self.notice if now - self.notice_at <= NOTICE_S else ""
            return out

    def latest_frame(self) -> tuple[int, bytes | None]:
        with self.lock:
            return self.frame_seq, self.frame
