"""What sim time the planner acknowledges on `lead_ack` (simulation only; armbrain_sim/lead.py).

The sim never runs more than its ack_lead ahead of the newest acknowledged stamp. While no
task runs, and while a task waits on the world (a motion executing, the gripper moving,
fresh perception), the planner acknowledges the sim time it has seen. The rest of a task is
the brain thinking (choosing objects, planning motions): then it acknowledges the sim time
at which the thinking began plus the CPU time its task thread has spent since, and no more
than it has seen. Thinking thus costs as much sim time as it costs the planner CPU time,
however fast the machine steps physics and however busy it is.

Without this, thinking cost sim time in proportion to the sim's speed and the machine's
load: planning that took 0.1 s of wall time cost 0.1 s of sim time on a sim running at real
time, 0.3 s at three times real time, 0.8 s with other jobs beside it (measured). A faster
simulator made every cycle longer in sim time, and the cycle times of a campaign depended on
how busy the machine was. Wall time would still depend on the load; CPU time much less.
(A wait for another node's computation, grasping's plan_grasps, is CPU time of that node:
not counted, and the sim waits at most ack_lead for it.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class LeadAck:
    """stamp(): the sim time to acknowledge now. sim_now() gives seconds; `task(think_now)`
    takes the clock that measures thinking (the task thread's CPU time). on_free() is called
    when the acknowledgement may jump to the sim's time (a wait on the world began: acknowledge
    at once, the sim may be held for this node and its clock, hence its sim-time timers, stand
    still). Thread-safe."""

    def __init__(self, sim_now: Callable[[], float], on_free: Callable[[], None] = lambda: None) -> None:
        self._sim_now, self._on_free = sim_now, on_free
        self._think_now: Callable[[], float] = lambda: 0.0
        self._lock = threading.Lock()
        self._tasks = 0  # tasks running (0 or 1 in the planner)
        self._waits = 0  # nested waits on the world within them
        self._since = (0.0, 0.0)  # (sim s, think s) when the current thinking began

    @property
    def thinking(self) -> bool:
        with self._lock:
            return self._tasks > 0 and self._waits == 0

    def stamp(self) -> float:
        sim = self._sim_now()
        with self._lock:
            if self._tasks == 0 or self._waits > 0:
                return sim
            sim0, think0 = self._since
            try:
                spent = self._think_now() - think0
            except OSError:  # the thread's clock is gone: the task has just ended
                return sim
        return min(sim, sim0 + max(0.0, spent))

    def _anchor(self) -> None:
        self._since = (self._sim_now(), self._think_now())

    @contextlib.contextmanager
    def task(self, think_now: Callable[[], float] | None = None) -> Iterator[None]:
        """A task runs: thinking, except within `waiting()`. think_now: the clock of its
        thinking (default: the CPU time of the calling thread)."""
        if think_now is None:
            think_now = thread_cpu_clock()
        with self._lock:
            self._tasks += 1
            self._think_now = think_now
            self._anchor()
        try:
            yield
        finally:
            with self._lock:
                self._tasks -= 1
            self._on_free()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """The task waits on the world: the sim must go on at its own pace."""
        with self._lock:
            self._waits += 1
        self._on_free()
        try:
            yield
        finally:
            with self._lock:
                self._waits -= 1
                if self._waits == 0:
                    self._anchor()


def thread_cpu_clock() -> Callable[[], float]:
    """A clock (s) of the calling thread's CPU time, readable from any thread while it lives."""
    clock_id = time.pthread_getcpuclockid(threading.get_ident())
    return lambda: time.clock_gettime(clock_id)
