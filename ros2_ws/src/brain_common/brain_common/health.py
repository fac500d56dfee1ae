"""`/diagnostics` from every node: its inputs' rates and ages, its faults, the e-stop.

Each node makes one `Health`, tells it which inputs to watch (`watch(topic, max_age)`),
ticks an input from its callback (`tick(topic, stamp)`), and raises or clears faults. Once
a second of wall time it publishes a diagnostic_msgs/DiagnosticArray on `/diagnostics` (the
topic every ROS 2 tool reads: `ros2 topic echo /diagnostics`, rqt_robot_monitor, the
diagnostic aggregator; `armbrain health` prints it) with one DiagnosticStatus named
"armbrain/<node>":

- level OK; WARN when a watched input is stale (older than its max_age, in the node's ROS
  time) or has not come yet; ERROR while a fault is raised or the e-stop is engaged;
- message: what is wrong, or "ok";
- values: "<topic> rate (Hz)" over the last RATE_WINDOW_S of wall time, "<topic> age (s)"
  in ROS time, "fault <key>" per fault, "estop", and whatever the node adds with `value`.

`status(...)` computes a status from plain numbers (pure, tested without ROS).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_S = 5.0  # wall seconds over which an input's rate is measured
PERIOD_S = 1.0  # wall seconds between two /diagnostics messages
OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


@dataclass
class Input:
    """A watched input. max_age: ROS seconds after which it is stale (None: never)."""

    topic: str
    max_age: float | None
    last_stamp: float | None = None  # ROS seconds of the newest message (its stamp, or arrival)
    arrivals: deque = field(default_factory=lambda: deque(maxlen=10_000))  # wall times
    count: int = 0

    def rate(self, now_wall: float) -> float:
        while self.arrivals and self.arrivals[0] < now_wall - RATE_WINDOW_S:
            self.arrivals.popleft()
        return len(self.arrivals) / RATE_WINDOW_S

    def age(self, now_ros: float) -> float | None:
        return None if self.last_stamp is None else max(0.0, now_ros - self.last_stamp)


def status(inputs: list[Input], faults: dict[str, str], estop: str | None, now_ros: float,
           now_wall: float) -> tuple[int, str, list[tuple[str, str]]]:
    """(level, message, key/value pairs) of a node (see the module docstring)."""
    level, problems, values = OK, [], []
    for i in inputs:
        age = i.age(now_ros)
        values.append((f"{i.topic} rate (Hz)", f"{i.rate(now_wall):.1f}"))
        values.append((f"{i.topic} age (s)", "never received" if age is None else f"{age:.2f}"))
        if i.max_age is None:
            continue
        if age is None:
            level = max(level, WARN)
            problems.append(f"no {i.topic} yet")
        elif age > i.max_age:
            level = max(level, WARN)
            problems.append(f"{i.topic} stale: {age:.1f} s old (limit {i.max_age:g} s)")
    for key, message in faults.items():
        level = ERROR
        problems.append(message)
        values.append((f"fault {key}", message))
    if estop is not None:
        values.append(("estop", estop))
        if estop.startswith("e-stop engaged"):
            level = ERROR
            problems.insert(0, estop)
    return level, "; ".join(problems) or "ok", values


class Health:
    """The /diagnostics publisher of one node (see the module docstring)."""

    def __init__(self, node, hardware_id: str = "", estop=None, extra=None) -> None:
        """estop: the node's EStopListener (its state is reported); extra: a callable returning
        more key -> value pairs, asked at each publication."""
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.clock import Clock, ClockType

        self._node, self._hardware_id, self._estop, self._extra = node, hardware_id, estop, extra
        self._lock = threading.Lock()
        self._inputs: dict[str, Input] = {}
        self._faults: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # wall time: sim time may run fast, stand still or jump
        node.create_timer(PERIOD_S, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def watch(self, topic: str, max_age: float | None = None) -> None:
        with self._lock:
            self._inputs[topic] = Input(topic, max_age)

    def tick(self, topic: str, stamp: float | None = None) -> None:
        """A message of `topic` arrived (stamp: its ROS seconds; None: now)."""
        now = time.monotonic()
        t = self._now_ros() if stamp is None else stamp
        with self._lock:
            i = self._inputs.get(topic)
            if i is None:
                return
            i.arrivals.append(now)
            i.count += 1
            if i.last_stamp is None or t >= i.last_stamp:
                i.last_stamp = t

    def fault(self, key: str, message: str) -> None:
        with self._lock:
            self._faults[key] = message

    def clear(self, key: str) -> None:
        with self._lock:
            self._faults.pop(key, None)

    def value(self, key: str, value) -> None:
        with self._lock:
            self._values[key] = str(value)

    def _now_ros(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def publish(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        with self._lock:
            level, message, values = status(list(self._inputs.values()), dict(self._faults),
                                            self._estop.describe() if self._estop is not None else None,
                                            self._now_ros(), time.monotonic())
            values += list(self._values.items())
        if self._extra is not None:
            values += [(k, str(v)) for k, v in self._extra().items()]
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status.append(DiagnosticStatus(
            level=bytes([level]), name=f"armbrain/{self._node.get_name()}", message=message[:500],
            hardware_id=self._hardware_id, values=[KeyValue(key=k, value=v) for k, v in values]))
        self._pub.publish(msg)
