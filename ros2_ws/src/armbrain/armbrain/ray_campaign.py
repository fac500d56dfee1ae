"""Campaigns on a Ray cluster: `armbrain run --ray [ADDRESS]` (docs/ray.md).

Each worker is a Ray actor (EpisodeActor) that owns one runner.Worker: one sim + brain graph
on the actor's node, on a ROS domain free on that node (armbrain.domains), with LOCALHOST
discovery, exactly as a local worker. The driver (this process) hands each placed actor one
episode at a time from one queue (drive), so a fast node takes more episodes than a slow one.
What an episode writes (failure GIFs, key frames, MCAP recordings) goes into a scratch
directory on the actor's node and comes back as bytes with the record; the driver writes it
into --report DIR at the same relative path, so the JSON, report and recordings are those of
a local run. Scenario files travel as text: a node needs the armbrain checkout and its
`make setup` venv, not the campaign's scenario files.

A lost actor (its process died, or its node) is recorded in the result's `ray.lost` with the
episode it was running; that episode goes back to the front of the queue (after
MAX_LOSSES_PER_EPISODE losses it is recorded as failed, cause `actor_lost`), a new actor
takes the lost one's place (at most MAX_LOSSES_PER_SLOT times per worker) and the campaign
goes on. The actor's graph dies with it (runner._graph_preexec). Ctrl-C asks every actor to
end its running episode ('interrupted'), stops their graphs and writes the partial result.

Ray is imported only here, and only when --ray is given.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TextIO

from armbrain.runner import STOPPING, Attempt, CampaignError, Item, Worker, episode_record

CPUS_PER_GRAPH = 2  # default --workers: one actor per this many CPUs (a graph keeps about 2 cores busy)
ACTOR_CPUS = 1  # logical CPUs an actor reserves from Ray's scheduler (its graph's processes are not Ray's)
MAX_LOSSES_PER_EPISODE = 2  # an episode that loses its actor this often is recorded as failed, not run again
MAX_LOSSES_PER_SLOT = 3  # actors lost in one worker slot before the slot is given up
NAMESPACE = "armbrain"  # Ray namespace of the actors (named armbrain-run-<driver pid>-worker<N>)
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}  # nothing phones home
# A private instance listens on 127.0.0.1 only: Ray turns a 127.0.0.1 node address into the
# machine's network address unless this is off (it is Ray's switch for single-machine
# "clusters"; read when ray is imported).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


class ActorLostError(RuntimeError):
    """The actor's process, or its node, is gone."""


# -- artifacts travel as bytes --------------------------------------------------------------
def take_files(root: Path) -> dict[str, bytes]:
    """Every file under `root`, {POSIX path relative to root: content}; the files are removed
    (each episode's artifacts are sent once)."""
    out: dict[str, bytes] = {}
    if not root.is_dir():
        return out
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        out[f.relative_to(root).as_posix()] = f.read_bytes()
        f.unlink()
    return out


def put_files(root: Path, files: dict[str, bytes]) -> None:
    """Write take_files' result under `root`. ValueError for a path that would leave `root`."""
    for rel, data in files.items():
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ValueError(f"artifact path {rel!r} is not a relative path inside the report directory")
        target = root.joinpath(*p.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# -- the actor: one Worker on its node --------------------------------------------------------
class EpisodeActor:
    """A runner.Worker inside a Ray actor. Its methods run one at a time, except those called in
    the "control" concurrency group (stop, status), which answer while an episode runs."""

    def __init__(self, index: int, opts: argparse.Namespace, scenarios: dict[str, str],
                 with_artifacts: bool) -> None:
        # Before anything in this process creates a DDS participant.
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.index = index
        self.base = Path(tempfile.mkdtemp(prefix=f"armbrain-ray-worker{index}-"))
        self.paths: dict[str, Path] = {}  # scenario path on the driver -> the copy here
        for n, (path, text) in enumerate(sorted(scenarios.items())):
            local = self.base / "scenarios" / f"{n}_{Path(path).name}"
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            self.paths[path] = local
        self.out_dir = self.base / "out" if with_artifacts else None
        self.log_dir = self.base / "logs"
        self.log_dir.mkdir()
        self.stop_event = threading.Event()
        self.worker = Worker(index, self.stop_event, opts, self.out_dir, self.log_dir)
        self.running: Item | None = None

    def placed(self) -> dict:
        """Where this actor runs: pid, host name, node address, scratch directory."""
        import ray

        return {"pid": os.getpid(), "host": socket.gethostname(), "node_ip": ray.util.get_node_ip_address(),
                "scratch": str(self.base)}

    def attempt(self, item: Item) -> tuple[Attempt, dict[str, bytes]]:
        """runner.Worker.attempt on the local copy of the scenario; the artifacts it wrote, as bytes."""
        local = dataclasses.replace(item, scenario=dataclasses.replace(
            item.scenario, path=self.paths[str(item.scenario.path)]))
        self.running = item
        try:
            done = self.worker.attempt(local)
        finally:
            self.running = None
        return done, take_files(self.out_dir) if self.out_dir is not None else {}

    def stop(self) -> None:
        """End the running episode now ('interrupted'); no more episodes."""
        self.stop_event.set()

    def status(self) -> dict:
        """pid, the graph's launcher pid (None: no graph), the running episode (scenario, index) or None."""
        graph, running = self.worker.graph, self.running
        return {"pid": os.getpid(), "graph_pid": graph.pid if graph is not None else None,
                "running": (running.scenario.name, running.index) if running is not None else None}

    def close(self) -> str:
        """Stop the graph, remove the scratch directory; the graph's log (its text)."""
        self.worker.close()
        logs = "".join(f.read_text(errors="replace") for f in sorted(self.log_dir.glob("*.log")))
        shutil.rmtree(self.base, ignore_errors=True)
        return logs


# -- the driver's loop, free of Ray (unit-tested with a fake pool) ---------------------------
class Pool(Protocol):
    """The actors as the driver sees them; a call returns a reference, done when wait() says so."""

    def spawn(self, slot: int) -> Any:
        """A new actor for worker `slot` (it may wait for room on the cluster)."""

    def placed(self, handle: Any) -> Any:
        """A reference to the actor's placed() answer."""

    def submit(self, handle: Any, item: Item) -> Any:
        """A reference to the Attempt of `item` on the actor."""

    def wait(self, refs: list, timeout: float) -> list:
        """Those of `refs` that are done, waiting at most `timeout` seconds for one."""

    def get(self, ref: Any) -> Any:
        """The value of a done reference (an Attempt's artifacts are already written). ActorLostError
        when the actor or its node is gone."""

    def stop(self, handle: Any) -> None:
        """Ask the actor to end its running episode now."""

    def close(self, handle: Any, slot: int) -> None:
        """Stop the actor's graph, keep its log, end the actor."""

    def discard(self, handle: Any) -> None:
        """Forget a lost actor (end it, should it still be there)."""


@dataclass
class Slot:
    """One worker: the actor that holds it now, where it runs, what it runs."""

    index: int
    handle: Any = None
    where: dict | None = None  # placed()'s answer; None until the actor runs
    running: Item | None = None
    losses: int = 0
    retired: bool = False


@dataclass
class Drive:
    """What drive() reports besides the records it emitted."""

    fatal: list[str] = field(default_factory=list)
    lost: list[dict] = field(default_factory=list)
    actors: list[dict] = field(default_factory=list)  # every actor that ran: worker and placed()


def drive(pool: Pool, items: Iterable[Item], workers: int, emit: Callable[[dict], None],
          interrupted: threading.Event, on_stop: Callable[[], None] = lambda: None,
          poll_s: float = 0.2) -> Drive:
    """Run `items` on `workers` actors of `pool`, one episode per actor at a time, emitting every
    record. A lost actor: recorded in Drive.lost, its episode re-queued at the front (or recorded
    as failed, cause 'actor_lost', after MAX_LOSSES_PER_EPISODE), a new actor in its slot. When
    `interrupted` is set: on_stop(), every actor asked to stop, nothing new started."""
    pending: deque[Item] = deque(items)
    slots = [Slot(i) for i in range(workers)]
    inflight: dict[Any, tuple[Slot, Item | None]] = {}  # reference -> (slot, item; None: placement)
    history: dict[tuple[str, int], list[dict]] = {}  # (scenario, index) -> the losses it met
    out = Drive()
    stopping = False

    def spawn(slot: Slot) -> None:
        slot.handle, slot.where, slot.running = pool.spawn(slot.index), None, None
        inflight[pool.placed(slot.handle)] = (slot, None)

    def retire(slot: Slot, why: str) -> None:
        out.fatal.append(why)
        slot.retired = True

    def dispatch() -> None:
        for slot in slots:
            if stopping or not pending:
                return
            if slot.where is not None and slot.running is None and not slot.retired:
                slot.running = pending.popleft()
                inflight[pool.submit(slot.handle, slot.running)] = (slot, slot.running)

    def record(rec: dict) -> None:
        losses = history.get((rec["scenario"], rec["index"]))
        if losses:
            rec["actor_losses"] = losses
        emit(rec)

    def lose(slot: Slot, item: Item | None, exc: Exception) -> None:
        where = slot.where or {}
        entry = {"worker": slot.index, "host": where.get("host"), "pid": where.get("pid"), "message": str(exc)}
        pool.discard(slot.handle)
        slot.handle, slot.where, slot.running = None, None, None
        slot.losses += 1
        if item is None:
            out.lost.append({"scenario": None, "index": None, "seed": None, **entry, "requeued": False})
        else:
            seen = history.setdefault((item.scenario.name, item.index), [])
            seen.append(entry)
            again = len(seen) < MAX_LOSSES_PER_EPISODE and not stopping
            out.lost.append({"scenario": item.scenario.name, "index": item.index, "seed": item.seed, **entry,
                             "requeued": again})
            if again:
                pending.appendleft(item)
            else:
                record(episode_record(item, slot.index, "actor_lost",
                                      f"the Ray actor running it was lost {len(seen)} time(s); last: {exc}"))
        if slot.losses >= MAX_LOSSES_PER_SLOT:
            retire(slot, f"worker {slot.index}: {slot.losses} Ray actors lost, giving up this worker; last: {exc}")
        elif not stopping:
            spawn(slot)

    def check_stop() -> None:
        nonlocal stopping
        if interrupted.is_set() and not stopping:
            stopping = True
            on_stop()
            for slot in slots:
                if slot.running is not None:
                    pool.stop(slot.handle)

    for slot in slots:
        spawn(slot)
    try:
        while True:
            check_stop()
            episodes_running = any(item is not None for _, item in inflight.values())
            if not episodes_running and (stopping or not pending or all(s.retired for s in slots)):
                break
            for ref in pool.wait(list(inflight), poll_s):
                slot, item = inflight.pop(ref)
                try:
                    value = pool.get(ref)
                except ActorLostError as exc:
                    lose(slot, item, exc)
                    continue
                except Exception as exc:  # a bug in the actor: this worker stops, as a local one does
                    slot.running = None
                    retire(slot, f"worker {slot.index}: internal error: {exc!r}")
                    continue
                if item is None:
                    slot.where = value
                    out.actors.append({"worker": slot.index, **value})
                    continue
                slot.running = None
                done: Attempt = value
                if done.record is not None:
                    record(done.record)
                if done.requeue:
                    pending.appendleft(item)
                if done.fatal:
                    retire(slot, done.fatal)
            check_stop()  # a record may have come with Ctrl-C: start no new episode then
            dispatch()
    finally:
        for slot in slots:
            if slot.handle is not None and slot.where is not None:
                pool.close(slot.handle, slot.index)
            elif slot.handle is not None:  # never placed (no room on the cluster): nothing to stop
                pool.discard(slot.handle)
    return out


# -- Ray --------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """`--ray [ADDRESS]` of `armbrain run` (runner.add_arguments has the rest)."""
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the workers as Ray actors (docs/ray.md): without ADDRESS on a private Ray instance "
                        "on this machine (loopback only), 'auto' for the one `ray start` runs here, or HEAD:PORT "
                        "of a cluster")


def default_workers(cluster_cpus: float) -> int:
    """One actor per CPUS_PER_GRAPH CPUs of the cluster, at least one."""
    return max(1, int(cluster_cpus // CPUS_PER_GRAPH))


class RayPool:
    """Pool over Ray actors; writes each attempt's artifacts into `out_dir` and each closed
    actor's graph log into `log_dir`."""

    def __init__(self, opts: argparse.Namespace, scenarios: dict[str, str], out_dir: Path | None,
                 log_dir: Path) -> None:
        import ray

        self.ray = ray
        self.actor_class = ray.remote(concurrency_groups={"control": 1})(EpisodeActor)
        self.opts, self.scenarios, self.out_dir, self.log_dir = opts, scenarios, out_dir, log_dir
        self.lost_errors = (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError)

    def spawn(self, slot: int) -> Any:
        return self.actor_class.options(
            name=f"armbrain-run-{os.getpid()}-worker{slot}", namespace=NAMESPACE, num_cpus=ACTOR_CPUS,
            scheduling_strategy="SPREAD", max_restarts=0,
        ).remote(slot, self.opts, self.scenarios, self.out_dir is not None)

    def placed(self, handle: Any) -> Any:
        return handle.placed.remote()

    def submit(self, handle: Any, item: Item) -> Any:
        return handle.attempt.remote(item)

    def wait(self, refs: list, timeout: float) -> list:
        if not refs:
            time.sleep(timeout)
            return []
        done, _ = self.ray.wait(refs, num_returns=len(refs), timeout=timeout)
        return done

    def get(self, ref: Any) -> Any:
        try:
            value = self.ray.get(ref)
        except self.lost_errors as exc:
            raise ActorLostError(_first_line(exc)) from None
        if isinstance(value, tuple):  # an attempt and its artifacts
            done, files = value
            if self.out_dir is not None:
                put_files(self.out_dir, files)
            return done
        return value

    def stop(self, handle: Any) -> None:
        handle.stop.options(concurrency_group="control").remote()

    def close(self, handle: Any, slot: int) -> None:
        try:
            log = self.ray.get(handle.close.remote(), timeout=120)
        except Exception as exc:  # lost meanwhile, or never placed: nothing to bring back
            log = f"\n=== no log from this actor: {_first_line(exc)}\n"
        with open(self.log_dir / f"worker{slot}.log", "a") as f:
            f.write(log)
        self.discard(handle)

    def discard(self, handle: Any) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(handle, no_restart=True)


def is_loopback(address: str) -> bool:
    """Whether a Ray address (HOST:PORT, 'auto') names this machine's loopback interface."""
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RayBackend:
    """runner.Backend on a Ray cluster: `address` None or 'local' starts a private instance on this
    machine, bound to 127.0.0.1 and shut down at the end; 'auto' or HEAD:PORT joins a cluster."""

    def __init__(self, opts: argparse.Namespace, out_dir: Path | None, log_dir: Path) -> None:
        self.opts, self.out_dir, self.log_dir = opts, out_dir, log_dir
        self.address = opts.ray
        self.workers_n = 0
        self.cluster: dict = {}
        self.drive = Drive()
        self.connected = False

    def open(self, total: int) -> int:
        private = self.address in (None, "local")
        # A private instance, or one on this machine's loopback: Ray must not swap 127.0.0.1 for
        # the network address (it would look for the GCS there).
        loopback = private or is_loopback(self.address)
        os.environ.update(RAY_ENV, **(LOOPBACK_ENV if loopback else {}))
        import ray

        t0 = time.monotonic()
        try:
            if private:
                ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # a wrong address, no cluster there, a version mismatch, ...
            raise CampaignError(f"cannot start or join the Ray cluster at {self.address or 'local'}: "
                                f"{_first_line(exc)} (docs/ray.md)") from None
        self.connected = True
        resources = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.cluster = {"address": self.address or "local", "nodes": len(nodes), "cpus": resources.get("CPU", 0.0),
                        "ray_version": ray.__version__, "init_s": round(time.monotonic() - t0, 1)}
        wanted = self.opts.workers if self.opts.workers is not None else default_workers(self.cluster["cpus"])
        self.workers_n = min(wanted, total)
        return self.workers_n

    def describe(self) -> str:
        c = self.cluster
        short = self.workers_n - int(c["cpus"] // ACTOR_CPUS)
        room = f"; {short} of them wait for free CPUs" if short > 0 else ""
        return (f"{self.workers_n} Ray actor(s) on {c['address']} ({c['nodes']} node(s), {c['cpus']:g} CPUs, "
                f"{ACTOR_CPUS} reserved per actor{room})")

    def run(self, items: list[Item], emit: Callable[[dict], None], interrupted: threading.Event,
            err: TextIO) -> list[str]:
        scenarios = {str(item.scenario.path): Path(item.scenario.path).read_text() for item in items}
        pool = RayPool(self.opts, scenarios, self.out_dir, self.log_dir)
        self.drive = drive(pool, items, self.workers_n, emit, interrupted,
                           on_stop=lambda: print(STOPPING, file=err, flush=True))
        return self.drive.fatal

    def result_fields(self) -> dict:
        return {"ray": {**self.cluster, "actors": self.drive.actors, "lost": self.drive.lost}}

    def close(self) -> None:
        if self.connected:
            import ray

            ray.shutdown()  # a private instance ends with it; on a cluster, our actors end with the driver
            self.connected = False
