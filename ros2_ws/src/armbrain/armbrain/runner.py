"""Headless evaluation campaigns: `armbrain run`.

    armbrain run --scenario FILE_OR_DIR [--episodes N] [--seed S] [--workers W]
                 [--report DIR] [--json PATH] [--record] [--deadline SIM_S] [--ray [ADDRESS]]

Every scenario file (a directory is searched recursively) is validated before anything
starts. Each of W workers starts its own sim + brain graph (launch/graph.yaml) on its own
ROS_DOMAIN_ID with LOCALHOST discovery and then, episode after episode, resets the world
(sim/reset with the episode's scenario and seed; planner/clear_bin), waits for perception
to report the new scene, sends the scenario's goal(s) through planner/execute_task, and
scores the episode with the scenario's success rule (sim/check_success, ground truth).
A crashed graph or a hung episode (sim-time deadline, or a clock that stops) is recorded
as a failure with its cause, the graph is restarted, and the campaign goes on. With --ray
the workers are Ray actors spread over a cluster (armbrain/ray_campaign.py, docs/ray.md),
one graph each, and the results come back into the same JSON, report and recordings.

Episodes: seeds S, S+1, ..., S+N-1 of every scenario. Exit codes: 0 every scenario reached
its target_success_rate (or has none), 1 some did not, 2 bad usage or an invalid scenario,
3 the graph (or the Ray cluster) could not start, 130 interrupted (Ctrl-C: workers stop
cleanly, the partial result and report are still written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from armbrain.graph import default_graph_path, load_graph
from armbrain.launcher import interrupt_and_wait
from armbrain.nodemem import node_memory, sample

EXIT_OK, EXIT_BELOW_TARGET, EXIT_USAGE, EXIT_NO_GRAPH, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
REAL_TIME_FACTOR = 0.0  # the sim's pace in campaigns (see --real-time-factor)
SETTLE_S = 0.5  # sim s after a goal ends before judging, so objects come to rest
FRESH_AFTER_RESET_S = 0.35  # sim s: perception/objects stamped this long after a reset show the new scene
CLOCK_STALL_WALL_S = 60.0  # wall s without /clock progress: the sim hangs
START_TIMEOUT_WALL_S = 180.0  # wall s for a graph to come up (planner action server + first objects)
CANCEL_WAIT_WALL_S = 30.0  # wall s for a canceled goal to end before the graph is restarted


class CampaignError(ValueError):
    """Bad input (scenario files, options): reported before anything starts."""


@dataclass(frozen=True)
class ScenarioEntry:
    name: str
    path: Path
    goals: tuple[str, ...]
    description: str
    target: float | None
    max_objects: int


@dataclass(frozen=True)
class Item:
    scenario: ScenarioEntry
    index: int
    seed: int
    deadline_s: float


class GraphDiedError(RuntimeError):
    """The graph (a node process) died or stopped answering: restart it."""


class EpisodeInterruptedError(RuntimeError):
    """The campaign is being stopped (Ctrl-C): end the running episode now."""


# -- scenarios -----------------------------------------------------------------------------
def load_entries(target: Path) -> list[ScenarioEntry]:
    """Every scenario of a file or a directory (recursive, sorted), validated; CampaignError
    names the file and field of the first invalid one."""
    from armbrain_sim.scenario import ScenarioError, load_scenario

    if target.is_dir():
        files = sorted(p for p in target.rglob("*.yaml") if p.is_file())
        if not files:
            raise CampaignError(f"{target}: no scenario files (*.yaml) in this directory")
    elif target.is_file():
        files = [target]
    else:
        raise CampaignError(f"{target}: no such scenario file or directory")
    entries: list[ScenarioEntry] = []
    names: dict[str, Path] = {}
    for f in files:
        try:
            sc = load_scenario(f)
        except ScenarioError as exc:
            raise CampaignError(str(exc)) from None
        if not sc.goals:
            raise CampaignError(f"{f}: goal: missing; a campaign sends the scenario's goal(s)")
        if not sc.success:
            raise CampaignError(f"{f}: success: missing; a campaign judges episodes by the success rules")
        name = sc.name
        if name in names:  # two files with one name: tell them apart by path
            name = f.resolve().relative_to(target.resolve()).with_suffix("").as_posix() if target.is_dir() else name
        names[name] = f
        count = len(sc.objects) + (sc.distractors.count[1] if sc.distractors is not None else 0)
        entries.append(ScenarioEntry(name, f.resolve(), tuple(sc.goals), sc.description, sc.target_success_rate,
                                     count))
    return entries


def default_deadline(entry: ScenarioEntry) -> float:
    """Sim seconds an episode may take: generous for the objects a goal may move."""
    return 60.0 + 45.0 * max(1, entry.max_objects) * max(1, len(entry.goals))


@dataclass(frozen=True)
class Attempt:
    """What one try at an episode gave (Worker.attempt): its record, None when it did not run,
    and what the caller does next."""

    record: dict | None
    requeue: bool = False  # not run (the graph did not start): run it again, on a fresh graph
    fatal: str | None = None  # this worker cannot go on (its graph does not start)
    stopped: bool = False  # the campaign is being stopped: no more episodes for this worker


def episode_record(item: Item, worker: int, cause: str, message: str) -> dict:
    """An episode's record, not yet judged (cause "") or failed with `cause`."""
    return {"scenario": item.scenario.name, "index": item.index, "seed": item.seed,
            "goal": "; ".join(item.scenario.goals), "success": False, "cause": cause, "error_code": None,
            "error_name": "", "failed_stage": "", "message": message, "attempts": 0,
            "sim_s": None, "wall_s": None, "stage_durations": {}, "worker": worker, "artifacts": {},
            "first_motion_wall_s": None, "nodes": {}}


def _graph_preexec() -> Callable[[], None]:
    """A Popen preexec_fn for a graph's launcher: (1) no blocked signals: a Ray worker process
    blocks SIGINT, a child inherits the mask, and a launcher that cannot see SIGINT is killed
    after interrupt_and_wait's timeout, leaving its nodes running; (2) SIGTERM when the thread
    that started it ends, so a runner (or Ray actor) killed with SIGKILL leaves no graph behind
    (the launcher stops its nodes on SIGTERM; Linux prctl(PR_SET_PDEATHSIG), resolved here,
    not in the forked child)."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


# -- one worker: its own graph and ROS session ----------------------------------------------
class Worker:
    """Runs episodes (attempt) on its own graph, started on the first one; a local thread
    (LocalWorker) or a Ray actor (armbrain.ray_campaign) feeds it. close() stops the graph."""

    def __init__(self, index: int, stop: threading.Event, opts: argparse.Namespace, out_dir: Path | None,
                 log_dir: Path) -> None:
        self.index, self.stop_event = index, stop
        self.opts, self.out_dir, self.log_dir = opts, out_dir, log_dir
        self.graph: subprocess.Popen | None = None
        self.session = None
        self.domain, self._lock = None, None
        self.clock = 0.0
        self.clock_wall = time.monotonic()
        self.objects_stamp = -1.0
        self.motion_wall: float | None = 0.0  # wall time of the first arm/gripper command of a goal
        self.starts = 0

    # -- graph lifecycle
    def _start(self, scenario: Path) -> None:
        from armbrain.domains import free_domain
        from armbrain.operator import RosSession

        if self.domain is None:
            self.domain, self._lock = free_domain()
        self.starts += 1
        log_path = self.log_dir / f"worker{self.index}.log"
        env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        with open(log_path, "a") as log:
            log.write(f"\n=== start {self.starts}: scenario {scenario}, ROS_DOMAIN_ID {self.domain}\n")
            log.flush()
            self.graph = subprocess.Popen(
                [str(Path(sys.prefix) / "bin" / "armbrain"), "launch", "--graph", str(default_graph_path()),
                 "--domain-id", str(self.domain), f"scenario:={scenario}", "seed:=0",
                 f"real_time_factor:={float(self.opts.real_time_factor)!r}",
                 f"sim_max_lead:={float(self.opts.sim_max_lead)!r}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                preexec_fn=_graph_preexec())
        self.session = RosSession.open(f"armbrain_run_w{self.index}", self.domain, start=False)
        self._wire()
        self.session.start()
        self.clock_wall = time.monotonic() + START_TIMEOUT_WALL_S  # no stall check while it starts
        clients = (self.reset_client, self.check_client, self.clear_bin_client)
        self._wait(lambda: self.task.server_is_ready() and all(c.service_is_ready() for c in clients),
                   START_TIMEOUT_WALL_S, f"the graph to come up (see {log_path})")
        self.clock_wall = time.monotonic()

    def _wire(self) -> None:
        from rclpy.action import ActionClient
        from rosgraph_msgs.msg import Clock
        from std_srvs.srv import Trigger

        from armbrain.recording import EpisodeRecorder, FailureFrames
        from brain_common.cell import default_cell
        from brain_common.qos import RELIABLE_10
        from brain_interfaces.action import ExecuteTask
        from brain_interfaces.msg import DetectedObjectArray
        from brain_interfaces.srv import ResetSim

        node = self.session.node
        self.task = ActionClient(node, ExecuteTask, "planner/execute_task")
        self.reset_client = node.create_client(ResetSim, "sim/reset")
        self.check_client = node.create_client(Trigger, "sim/check_success")
        self.clear_bin_client = node.create_client(Trigger, "planner/clear_bin")
        node.create_subscription(Clock, "/clock", self._on_clock, 10)
        from std_msgs.msg import Float64MultiArray
        from trajectory_msgs.msg import JointTrajectory

        def on_motion(_msg) -> None:
            if self.motion_wall is None:  # the first command after the goal was accepted
                self.motion_wall = time.monotonic()

        node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", on_motion, 10)
        node.create_subscription(Float64MultiArray, "gripper_controller/commands", on_motion, 10)
        node.create_subscription(DetectedObjectArray, "perception/objects", self._on_objects,
                                 RELIABLE_10)
        self.frames = FailureFrames(node)
        # The graph runs the default robot configuration: its cell gives the recordings' 3D scene.
        self.recorder = EpisodeRecorder(node, scene=default_cell()) if self.opts.record else None

    def _on_clock(self, msg) -> None:
        t = msg.clock.sec + msg.clock.nanosec * 1e-9
        if t > self.clock:
            self.clock, self.clock_wall = t, time.monotonic()

    def _on_objects(self, msg) -> None:
        self.objects_stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def _stop_graph(self) -> None:
        if self.session is not None:
            for part in (getattr(self, "recorder", None), getattr(self, "frames", None)):
                if part is not None:
                    with contextlib.suppress(Exception):  # shutting down anyway
                        part.close()
            self.session.close()
            self.session = None
        g, self.graph = self.graph, None
        if g is not None:
            interrupt_and_wait(g)

    # -- waiting, with the graph's health checked
    def _wait(self, predicate, wall_timeout: float, what: str) -> None:
        """Wait for predicate(); GraphDiedError when the graph exits, the clock stalls or the
        wall-time guard runs out (a hung node)."""
        deadline = time.monotonic() + wall_timeout
        while not predicate():
            if self.stop_event.is_set():
                raise EpisodeInterruptedError(f"interrupted while waiting for {what}")
            if self.graph is not None and self.graph.poll() is not None:
                raise GraphDiedError(f"the graph exited (code {self.graph.returncode}) while waiting for {what}")
            now = time.monotonic()
            if now - self.clock_wall > CLOCK_STALL_WALL_S:
                raise GraphDiedError(f"/clock stopped for {CLOCK_STALL_WALL_S:g} s wall while waiting for {what}")
            if now > deadline:
                raise GraphDiedError(f"no {what} within {wall_timeout:g} s wall")
            time.sleep(0.01)

    def _call(self, client, request, what: str):
        fut = client.call_async(request)
        self._wait(fut.done, 60.0, what)
        return fut.result()

    # -- one episode
    def _episode(self, item: Item) -> dict:
        from std_srvs.srv import Trigger

        from brain_interfaces.srv import ResetSim

        rec = self._record_of(item, "", "")
        reset = self._call(self.reset_client, ResetSim.Request(seed=item.seed, scenario=str(item.scenario.path)),
                           "sim/reset")
        if not reset.success:
            rec.update(cause="reset_failed", failed_stage="reset", message=reset.message)
            return rec
        t_reset = reset.stamp.sec + reset.stamp.nanosec * 1e-9  # not self.clock: it may lag the sim's
        self._call(self.clear_bin_client, Trigger.Request(), "planner/clear_bin")
        self._wait(lambda: self.objects_stamp >= t_reset + FRESH_AFTER_RESET_S, 120.0,
                   "perception/objects of the new scene")
        self.frames.clear()
        bag = None
        if self.recorder is not None and self.out_dir is not None:
            bag = self.out_dir / "recordings" / f"{item.scenario.name.replace('/', '_')}_{item.index:04d}"
            bag.parent.mkdir(parents=True, exist_ok=True)
            self.recorder.start(bag)
        t0_sim, t0_wall = self.clock, time.monotonic()
        try:
            for goal in item.scenario.goals:
                ok = self._goal(goal, rec, t0_sim + item.deadline_s)
                if not ok:
                    break
            t_end = self.clock
            self._wait(lambda: self.clock >= t_end + SETTLE_S, 60.0, "the scene to settle")
            verdict = self._call(self.check_client, Trigger.Request(), "sim/check_success")
        finally:
            rec["sim_s"] = round(self.clock - t0_sim, 3)
            rec["wall_s"] = round(time.monotonic() - t0_wall, 3)
            if bag is not None:
                path = self.recorder.stop()
                if path is not None:
                    rec["artifacts"]["recording"] = os.path.relpath(path, self.out_dir)
        if rec["cause"] == "":
            if verdict.success:
                rec.update(success=True, cause="ok")
            else:
                rec.update(cause="wrong_result", failed_stage=rec["failed_stage"] or "verify_ground_truth")
            rec["message"] = (rec["message"] + "; " if rec["message"] else "") + f"ground truth: {verdict.message}"
        elif rec["cause"] == "task_failed":
            rec["message"] += f"; ground truth: {verdict.message}"
        return rec

    def _goal(self, text: str, rec: dict, deadline_sim: float) -> bool:
        """Send one goal and wait for its result (cancel at the sim-time deadline)."""
        from action_msgs.msg import GoalStatus

        from armbrain.operator import error_name
        from brain_common.actions import send_goal
        from brain_interfaces.action import ExecuteTask

        send = send_goal(self.session.node, self.task, ExecuteTask.Goal(command=text))
        self._wait(send.done, 60.0, f"the planner to accept '{text}'")  # a lost answer: GraphDiedError
        handle = send.result()
        if not handle.accepted:
            rec.update(cause="task_failed", failed_stage="accept", message=f"the planner refused '{text}'")
            return False
        accepted = time.monotonic()
        self.motion_wall = None
        result = handle.get_result_async()
        timed_out = False
        while not result.done():
            if not timed_out and self.clock > deadline_sim:
                timed_out = True
                handle.cancel_goal_async()
                self._wait(result.done, CANCEL_WAIT_WALL_S, "the canceled goal to end")
                break
            self._wait(lambda: result.done() or self.clock > deadline_sim, 3600.0, f"the result of '{text}'")
        wrapped = result.result()
        res = wrapped.result
        if self.motion_wall is not None and rec.get("first_motion_wall_s") is None:
            # goal accepted -> first arm or gripper command, wall seconds (the operator's wait)
            rec["first_motion_wall_s"] = round(self.motion_wall - accepted, 4)
        durations = rec["stage_durations"]
        for s in res.stages:
            durations[s.stage] = round(durations.get(s.stage, 0.0) + float(s.duration), 4)
        rec["attempts"] += sum(int(o.attempts) for o in res.objects)
        rec["error_code"], rec["error_name"] = int(res.error_code), error_name(res.error_code)
        if timed_out:
            stage = res.stages[-1].stage if len(res.stages) else ""
            rec.update(cause="timeout", failed_stage=stage,
                       message=f"'{text}' took longer than the episode's deadline; canceled in stage {stage or '?'}")
            return False
        if wrapped.status != GoalStatus.STATUS_SUCCEEDED or not res.success:
            rec.update(cause="task_failed", failed_stage=res.failed_stage, message=f"'{text}': {res.message}")
            return False
        return True

    def _save_failure_frames(self, rec: dict) -> None:
        if self.out_dir is None:
            return
        d = self.out_dir / "episodes"
        d.mkdir(parents=True, exist_ok=True)
        stem = f"{rec['scenario'].replace('/', '_')}_{rec['index']:04d}"
        gif = self.frames.save_gif(d / f"{stem}.gif")
        key = self.frames.save_keyframe(d / f"{stem}.png")
        if gif is not None:
            rec["artifacts"]["gif"] = os.path.relpath(gif, self.out_dir)
        if key is not None:
            rec["artifacts"]["keyframe"] = os.path.relpath(key, self.out_dir)

    # -- one episode, with the graph (re)started as needed
    def attempt(self, item: Item) -> Attempt:
        """Run `item` on this worker's graph, starting the graph first when there is none. A
        crashed graph or hung episode is a failed record (the graph restarts on the next one)."""
        if self.graph is None:
            try:
                self._start(item.scenario.path)
            except EpisodeInterruptedError:
                return Attempt(None, stopped=True)  # stopped while the graph was starting: not run
            except GraphDiedError as exc:
                self._stop_graph()
                if self.starts >= 3:
                    return Attempt(self._record_of(item, "crash", str(exc)),
                                   fatal=f"worker {self.index}: the graph does not start: {exc}")
                return Attempt(None, requeue=True)  # try again on a fresh graph
        try:
            rec = self._episode(item)
        except EpisodeInterruptedError as exc:
            return Attempt(self._record_of(item, "interrupted", str(exc)), stopped=True)
        except GraphDiedError as exc:
            rec = self._record_of(item, "crash", str(exc))
            self._save_failure_frames(rec)
            self._stop_graph()
            return Attempt(rec)
        if not rec["success"]:
            self._save_failure_frames(rec)
        rec["nodes"] = sample(self.graph.pid) if self.graph is not None else {}
        return Attempt(rec)

    def close(self) -> None:
        """Stop the graph (SIGINT: the arm stops where it is) and give the ROS domain back."""
        self._stop_graph()
        if self._lock is not None:
            self._lock.close()
            self._lock, self.domain = None, None

    def _record_of(self, item: Item, cause: str, message: str) -> dict:
        return episode_record(item, self.index, cause, message)


class LocalWorker(threading.Thread):
    """A Worker on this machine, taking items from a queue shared with the other threads."""

    def __init__(self, worker: Worker, items: queue.Queue, results: queue.Queue) -> None:
        super().__init__(name=f"worker{worker.index}", daemon=True)
        self.worker, self.items, self.results = worker, items, results
        self.fatal: str | None = None

    def run(self) -> None:
        try:
            while not self.worker.stop_event.is_set():
                try:
                    item: Item = self.items.get_nowait()
                except queue.Empty:
                    return
                done = self.worker.attempt(item)
                if done.record is not None:
                    self.results.put(done.record)
                if done.requeue:
                    self.items.put(item)
                if done.fatal or done.stopped:
                    self.fatal = done.fatal
                    return
        except Exception as exc:  # a bug here must not hang the campaign
            self.fatal = f"worker {self.worker.index}: internal error: {exc!r}"
        finally:
            self.worker.close()


# -- the campaign ---------------------------------------------------------------------------
class Progress:
    """One line of progress on a terminal (a line per episode otherwise)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()

    def update(self, done: list[dict]) -> None:
        n = len(done)
        ok = sum(1 for e in done if e["success"])
        elapsed = time.monotonic() - self.t0
        rate = n / elapsed * 60.0 if elapsed > 0 else 0.0
        eta = (self.total - n) / (n / elapsed) if n else math.nan
        width = 24
        fill = round(width * n / max(1, self.total))
        bar = "[" + "#" * fill + "-" * (width - fill) + "]"
        last = done[-1] if done else None
        tail = ""
        if last is not None:
            mark = "ok" if last["success"] else f"FAIL {last['cause']} {last['failed_stage']}".rstrip()
            tail = f"  last: {last['scenario']} seed {last['seed']} {mark}"
        line = (f"{bar} {n}/{self.total}  success {ok / n * 100 if n else 0:5.1f}%  {rate:5.1f} ep/min  "
                f"ETA {_clock(eta)}{tail}")
        if self.tty:
            print("\r" + line[:150].ljust(150), end="", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m:02d}:{s:02d}"


STOPPING = "\narmbrain run: interrupted; stopping the workers (the running episodes end as 'interrupted') ..."


class Backend(Protocol):
    """Where a campaign's episodes run: this machine's threads (LocalBackend) or a Ray cluster
    (armbrain.ray_campaign.RayBackend). Both run the same Worker and hand back the same records."""

    def open(self, total: int) -> int:
        """Get ready for `total` episodes; the number of workers. CampaignError: cannot start."""

    def describe(self) -> str:
        """How many workers, where: for the first line of output."""

    def run(self, items: list[Item], emit: Callable[[dict], None], interrupted: threading.Event,
            err: TextIO) -> list[str]:
        """Run every item, emit(record) each record as it comes; return the fatal errors. When
        `interrupted` is set, print STOPPING and end the running episodes as 'interrupted'."""

    def result_fields(self) -> dict:
        """Extra fields of the result (JSON) about the backend."""

    def close(self) -> None:
        """Release what open() took."""


class LocalBackend:
    """W threads on this machine, each a Worker with its own graph, sharing one queue."""

    def __init__(self, opts: argparse.Namespace, out_dir: Path | None, log_dir: Path) -> None:
        self.opts, self.out_dir, self.log_dir = opts, out_dir, log_dir
        self.workers_n = 0

    def open(self, total: int) -> int:
        self.workers_n = min(self.opts.workers or 1, total)
        return self.workers_n

    def describe(self) -> str:
        return f"{self.workers_n} worker(s)"

    def run(self, items: list[Item], emit: Callable[[dict], None], interrupted: threading.Event,
            err: TextIO) -> list[str]:
        queued: queue.Queue = queue.Queue()
        for item in items:
            queued.put(item)
        results: queue.Queue = queue.Queue()
        stop = threading.Event()
        workers = [LocalWorker(Worker(i, stop, self.opts, self.out_dir, self.log_dir), queued, results)
                   for i in range(self.workers_n)]
        try:
            for w in workers:
                w.start()
            while any(w.is_alive() for w in workers) or not results.empty():
                if interrupted.is_set() and not stop.is_set():
                    stop.set()
                    print(STOPPING, file=err, flush=True)
                try:
                    rec = results.get(timeout=0.2)
                except queue.Empty:
                    continue
                emit(rec)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=120)
        return [w.fatal for w in workers if w.fatal]

    def result_fields(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def run_campaign(opts: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 backend: Callable[[argparse.Namespace, Path | None, Path], Backend] | None = None) -> int:
    """The whole campaign: check the input, run every episode on `backend` (made from opts, the
    report and log directories; default LocalBackend), write the JSON and the report, print the
    summary; the exit code."""
    from armbrain.report import summarize, write_report

    try:
        entries = load_entries(Path(opts.scenario))
        if opts.episodes < 1 or (opts.workers is not None and opts.workers < 1) or opts.seed < 0:
            raise CampaignError(f"--episodes and --workers must be >= 1 and --seed >= 0; got episodes "
                                f"{opts.episodes}, workers {opts.workers}, seed {opts.seed}")
        if not 0.0 <= opts.real_time_factor <= 100.0:
            raise CampaignError(f"--real-time-factor must be 0 (as fast as possible) .. 100; "
                                f"got {opts.real_time_factor}")
        if not 0.0 <= opts.sim_max_lead <= 10.0:
            raise CampaignError(f"--sim-max-lead must be 0 (no bound) .. 10 sim seconds; got {opts.sim_max_lead}")
        if opts.deadline is not None and opts.deadline <= 0:
            raise CampaignError(f"--deadline must be > 0 sim seconds; got {opts.deadline}")
    except CampaignError as exc:
        print(f"armbrain run: error: {exc}", file=err)
        return EXIT_USAGE
    report_dir = Path(opts.report) if opts.report else None
    if opts.record and report_dir is None:
        print("armbrain run: error: --record needs --report DIR (recordings are written into it)", file=err)
        return EXIT_USAGE
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    log_dir = report_dir / "logs" if report_dir is not None else Path("/tmp") / f"armbrain-run-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    items = [Item(e, i, opts.seed + i, opts.deadline if opts.deadline is not None else default_deadline(e))
             for e in entries for i in range(opts.episodes)]
    total = len(items)
    runs: Backend = (backend or LocalBackend)(opts, report_dir, log_dir)
    try:
        workers_n = runs.open(total)
    except CampaignError as exc:
        print(f"armbrain run: error: {exc}", file=err)
        return EXIT_NO_GRAPH
    try:
        print(f"armbrain run: {len(entries)} scenario(s) x {opts.episodes} episode(s) = {total}, seeds "
              f"{opts.seed}..{opts.seed + opts.episodes - 1}, {runs.describe()}; graph logs in {log_dir}",
              file=out, flush=True)
        interrupted = threading.Event()
        # Ctrl-C and SIGTERM both stop the workers, which stop their graphs (those run in their own
        # sessions, so a signal to this process alone must still end them).
        previous = {sig: signal.signal(sig, lambda *_: interrupted.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        t0 = time.monotonic()
        episodes: list[dict] = []
        progress = Progress(total, err)

        def emit(rec: dict) -> None:
            episodes.append(rec)
            progress.update(episodes)

        try:
            fatal = runs.run(items, emit, interrupted, err)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            progress.close()
        extra = runs.result_fields()
    finally:
        runs.close()
    for f in fatal:
        print(f"armbrain run: {f}", file=err)
    wall = time.monotonic() - t0
    episodes.sort(key=lambda e: ([x.name for x in entries].index(e["scenario"]), e["index"]))
    info = {e.name: {"file": os.path.relpath(e.path), "description": e.description, "goal": "; ".join(e.goals),
                     "target": e.target} for e in entries}
    summary = summarize(episodes, info)
    result = {"scenario": str(opts.scenario), "seed": opts.seed, "workers": workers_n,
              "real_time_factor": opts.real_time_factor, "sim_max_lead": opts.sim_max_lead,
              "episodes_per_scenario": opts.episodes, "interrupted": interrupted.is_set() or len(episodes) < total,
              "started": started, "wall_s_total": round(wall, 1),
              "episodes_per_minute": round(len(episodes) / wall * 60.0, 2) if wall > 0 else None,
              "targets": {e.name: e.target for e in entries if e.target is not None},
              **summary, "node_memory": node_memory(episodes), **extra, "episodes": episodes}
    if opts.json:
        Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n")
    if report_dir is not None:
        index = write_report(result, report_dir)
        print(f"armbrain run: report: {index}", file=out)
    below = print_summary(result, out)
    if result["interrupted"]:
        return EXIT_INTERRUPTED
    if fatal and not episodes:
        return EXIT_NO_GRAPH
    return EXIT_BELOW_TARGET if below else EXIT_OK


def print_summary(result: dict, out: TextIO) -> list[str]:
    """A table per scenario; returns the names of the scenarios below their target."""
    below = []
    print(f"\n{'scenario':<28} {'episodes':>8} {'success':>8} {'rate':>7}  {'95% CI':<15} {'target':>6} "
          f"{'sim s':>6} {'wall s':>6} {'false ok':>8}", file=out)
    for name, s in result["scenarios"].items():
        rate, ci, target = s.get("success_rate"), s.get("ci95"), s.get("target")
        miss = target is not None and rate is not None and rate < target
        if miss:
            below.append(name)
        ci_text = f"{ci[0] * 100:.1f}-{ci[1] * 100:.1f}%" if ci else "-"
        print(f"{name:<28} {s.get('n_episodes', 0):>8} {s.get('successes', 0):>8} "
              f"{'-' if rate is None else f'{rate * 100:.1f}%':>7}  {ci_text:<15} "
              f"{'-' if target is None else f'{target * 100:.0f}%':>6} {_num(s.get('sim_s_median')):>6} "
              f"{_num(s.get('wall_s_median')):>6} {s.get('false_success', 0):>8}"
              f"{'  BELOW TARGET' if miss else ''}", file=out)
    rate = result.get("success_rate")
    print(f"\nall: {result.get('successes', 0)}/{result.get('n_episodes', 0)} "
          f"({'-' if rate is None else f'{rate * 100:.1f}%'}) in {result['wall_s_total']:.0f} s wall, "
          f"{result['episodes_per_minute']} episodes/min with {result['workers']} worker(s); median sim s per "
          f"episode {_num(result.get('sim_s_median'))}, goal accepted -> first motion command "
          f"{_num((result.get('first_motion_wall_s_median') or math.nan) * 1000)} ms wall (median)", file=out)
    print(f"false successes (the brain reported success, ground truth disagrees): "
          f"{result.get('false_success', 0)}", file=out)
    fails = Counter(result.get("failures_by_stage", {}))
    if fails:
        print("failures by stage: " + ", ".join(f"{k} {v}" for k, v in fails.most_common()), file=out)
    for m in result.get("node_memory") or []:
        growth = "-" if m["growth_pct"] is None else f"{m['growth_pct']:+.1f}%"
        print(f"memory: worker {m['worker']} {m['node']:<12} RSS {m['rss_mb_start']:.1f} -> {m['rss_mb_end']:.1f} MB "
              f"({growth} after {m['warmup']} warm-up episodes; max {m['rss_mb_max']:.1f} MB), "
              f"restarts {m['restarts']}", file=out)
    for lost in (result.get("ray") or {}).get("lost", []):
        what = (f"while running {lost['scenario']} seed {lost['seed']} ("
                f"{'run again' if lost['requeued'] else 'recorded as failed'})" if lost["scenario"] else "while idle")
        print(f"lost: worker {lost['worker']} (Ray actor, pid {lost['pid'] or '?'} on {lost['host'] or '?'}) "
              f"{what}: {lost['message']}", file=out)
    if result["interrupted"]:
        print("interrupted: this is a partial result", file=out)
    return below


def _num(x) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", required=True, help="a scenario file, or a directory of them (recursive)")
    p.add_argument("--episodes", type=int, default=10, help="episodes per scenario (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel sim + brain graphs (default 1; with --ray: one per 2 CPUs of the cluster)")
    p.add_argument("--report", metavar="DIR", help="write an HTML report (and result.json, failure GIFs) here")
    p.add_argument("--json", metavar="PATH", help="write the whole result as JSON")
    p.add_argument("--record", action="store_true", help="record each episode's topics to MCAP (needs --report)")
    p.add_argument("--real-time-factor", type=float, default=REAL_TIME_FACTOR,
                   help=f"sim seconds per wall second (0: as fast as the CPU allows; default {REAL_TIME_FACTOR:g})")
    lead = load_graph(default_graph_path()).arguments["sim_max_lead"].default
    p.add_argument("--sim-max-lead", type=float, default=float(lead),
                   help=f"sim seconds the sim may run ahead of the newest frame perception answered, so outcomes do "
                        f"not depend on the machine's load (0: no bound; default {lead}: graph.yaml's sim_max_lead)")
    p.add_argument("--deadline", type=float, default=None,
                   help="sim seconds an episode may take (default 60 + 45 per object and goal)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="armbrain run", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_campaign(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

