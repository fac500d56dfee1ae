"""armbrain.ray_campaign without Ray: the driver's loop (drive) over a fake pool of actors whose
episodes take a few polls each and whose actors die where a test says, and the artifacts'
way back to the report directory."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from armbrain.ray_campaign import (
    MAX_LOSSES_PER_EPISODE,
    MAX_LOSSES_PER_SLOT,
    ActorLostError,
    default_workers,
    drive,
    is_loopback,
    put_files,
    take_files,
)
from armbrain.runner import Attempt, Item, ScenarioEntry, episode_record

ENTRY = ScenarioEntry("tiny", Path("/scenarios/tiny.yaml"), ("put the red cube in the bin",), "", 0.5, 1)


def items(n: int) -> list[Item]:
    return [Item(ENTRY, i, 10 + i, 150.0) for i in range(n)]


@dataclass(eq=False)  # hashed by identity, as Ray's references
class Ref:
    """A call in flight: done after `polls` more waits (or at once once its actor is lost)."""

    actor: FakeActor
    item: Item | None
    polls: int


@dataclass(eq=False)
class FakeActor:
    slot: int
    serial: int
    stop_requested: bool = False
    alive: bool = True
    ran: list[int] = field(default_factory=list)


class FakePool:
    """Episodes take `polls` waits; `lose(actor, item)` says whether the actor dies running it
    (item None: while being placed); `attempt(item, tries)` may give another Attempt than success;
    `never_placed` slots never get room."""

    def __init__(self, polls=2, lose=lambda actor, item: False, attempt=None, never_placed=()) -> None:
        self.polls, self.lose, self.attempt, self.never_placed = polls, lose, attempt, set(never_placed)
        self.serials = itertools.count()
        self.actors: list[FakeActor] = []
        self.closed: list[int] = []
        self.discarded: list[int] = []
        self.stops: list[int] = []
        self.tries: dict[int, int] = {}

    def spawn(self, slot: int) -> FakeActor:
        actor = FakeActor(slot, next(self.serials))
        self.actors.append(actor)
        return actor

    def placed(self, handle: FakeActor) -> Ref:
        return Ref(handle, None, 10**9 if handle.slot in self.never_placed else 1)

    def submit(self, handle: FakeActor, item: Item) -> Ref:
        return Ref(handle, item, self.polls(handle) if callable(self.polls) else self.polls)

    def wait(self, refs: list[Ref], timeout: float) -> list[Ref]:
        done = []
        for r in refs:
            r.polls -= 1
            if r.polls <= 0 or (r.actor.stop_requested and r.item is not None):
                done.append(r)
        return done

    def get(self, ref: Ref):
        actor, item = ref.actor, ref.item
        if self.lose(actor, item):
            actor.alive = False
            raise ActorLostError(f"actor {actor.serial} died (SIGKILL)")
        if item is None:
            return {"pid": 1000 + actor.serial, "host": f"node{actor.slot}", "node_ip": "127.0.0.1", "scratch": "/tmp"}
        actor.ran.append(item.index)
        self.tries[item.index] = self.tries.get(item.index, 0) + 1
        if actor.stop_requested:
            return Attempt(episode_record(item, actor.slot, "interrupted", "interrupted"), stopped=True)
        if self.attempt is not None:
            special = self.attempt(item, self.tries[item.index], actor)
            if special is not None:
                return special
        rec = episode_record(item, actor.slot, "", "")
        rec.update(success=True, cause="ok")
        return Attempt(rec)

    def stop(self, handle: FakeActor) -> None:
        self.stops.append(handle.serial)
        handle.stop_requested = True

    def close(self, handle: FakeActor, slot: int) -> None:
        assert handle.alive, "a lost actor is discarded, not closed"
        self.closed.append(handle.serial)

    def discard(self, handle: FakeActor) -> None:
        self.discarded.append(handle.serial)


def run(pool: FakePool, n: int, workers: int, interrupt_after: int | None = None):
    records: list[dict] = []
    interrupted = threading.Event()
    stops: list[bool] = []

    def emit(rec: dict) -> None:
        records.append(rec)
        if interrupt_after is not None and len(records) >= interrupt_after:
            interrupted.set()

    out = drive(pool, items(n), workers, emit, interrupted, on_stop=lambda: stops.append(True), poll_s=0)
    return records, out, stops


def test_every_episode_runs_once_and_the_workers_share_the_queue():
    pool = FakePool()
    records, out, _ = run(pool, 5, 2)
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3, 4]
    assert all(r["success"] and r["cause"] == "ok" and r["seed"] == 10 + r["index"] for r in records)
    assert {r["worker"] for r in records} == {0, 1}
    assert out.fatal == [] and out.lost == []
    assert [(a["worker"], a["host"], a["pid"]) for a in out.actors] == [(0, "node0", 1000), (1, "node1", 1001)]
    assert sorted(pool.closed) == [0, 1] and pool.discarded == []


def test_a_lost_actor_is_recorded_and_its_episode_runs_again_on_a_new_actor():
    pool = FakePool(lose=lambda actor, item: actor.serial == 0 and item is not None and item.index == 0)
    records, out, _ = run(pool, 4, 2)
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3]  # each once: the loss is not an episode
    assert out.lost == [{"scenario": "tiny", "index": 0, "seed": 10, "worker": 0, "host": "node0", "pid": 1000,
                         "message": "actor 0 died (SIGKILL)", "requeued": True}]
    again = next(r for r in records if r["index"] == 0)
    assert again["success"] and again["actor_losses"] == [
        {"worker": 0, "host": "node0", "pid": 1000, "message": "actor 0 died (SIGKILL)"}]
    assert all("actor_losses" not in r for r in records if r["index"] != 0)
    assert [a.slot for a in pool.actors] == [0, 1, 0]  # a new actor took worker 0's place
    assert pool.discarded == [0] and sorted(pool.closed) == [1, 2]
    assert out.fatal == []


def test_an_episode_that_loses_its_actor_again_and_again_is_recorded_as_failed():
    pool = FakePool(lose=lambda actor, item: item is not None and item.index == 1)
    records, out, _ = run(pool, 3, 1)
    assert sorted(r["index"] for r in records) == [0, 1, 2]
    failed = next(r for r in records if r["index"] == 1)
    assert not failed["success"] and failed["cause"] == "actor_lost"
    assert len(failed["actor_losses"]) == MAX_LOSSES_PER_EPISODE
    assert "lost 2 time(s)" in failed["message"]
    assert [lost["requeued"] for lost in out.lost] == [True] * (MAX_LOSSES_PER_EPISODE - 1) + [False]
    assert out.fatal == []


def test_a_worker_whose_actors_keep_dying_is_given_up_and_the_others_finish():
    pool = FakePool(lose=lambda actor, item: actor.slot == 0 and item is None)  # dies while being placed
    records, out, _ = run(pool, 4, 2)
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3] and {r["worker"] for r in records} == {1}
    assert len(out.lost) == MAX_LOSSES_PER_SLOT and all(lost["scenario"] is None for lost in out.lost)
    assert out.fatal == [f"worker 0: {MAX_LOSSES_PER_SLOT} Ray actors lost, giving up this worker; "
                         f"last: actor 3 died (SIGKILL)"]  # actors 0, 2, 3 were worker 0's
    assert [a.serial for a in pool.actors if a.slot == 0] == [0, 2, 3]


def test_when_every_worker_is_given_up_the_rest_is_left_undone():
    pool = FakePool(lose=lambda actor, item: item is None)
    records, out, _ = run(pool, 3, 2)
    assert records == [] and len(out.fatal) == 2 and len(out.lost) == 2 * MAX_LOSSES_PER_SLOT


def test_an_episode_whose_graph_did_not_start_is_run_again_and_a_fatal_worker_stops():
    def attempt(item, tries, actor):
        if item.index == 0 and tries == 1:
            return Attempt(None, requeue=True)
        if item.index == 2 and actor.slot == 1:
            return Attempt(episode_record(item, 1, "crash", "no graph"), fatal="worker 1: the graph does not start")
        return None

    pool = FakePool(attempt=attempt)
    records, out, _ = run(pool, 4, 2)
    by_index = {r["index"]: r for r in records}
    assert by_index[0]["success"] and pool.tries[0] == 2
    assert out.fatal == ["worker 1: the graph does not start"]
    assert sorted(by_index) == [0, 1, 2, 3]
    assert by_index[3]["worker"] == 0  # after worker 1 stopped, worker 0 took the rest


def test_ctrl_c_stops_the_running_episodes_and_starts_no_new_one():
    pool = FakePool(polls=lambda actor: 2 if actor.slot == 0 else 5)  # worker 0's episode ends first
    records, out, stops = run(pool, 6, 2, interrupt_after=1)
    assert stops == [True]
    assert pool.stops == [1]  # the actor still running an episode; worker 0 got no new one
    assert [(r["worker"], r["index"], r["cause"]) for r in records] == [(0, 0, "ok"), (1, 1, "interrupted")]
    assert sorted(pool.closed) == [0, 1] and out.fatal == []


def test_an_actor_that_never_finds_room_does_not_hold_up_the_campaign():
    pool = FakePool(never_placed={1})
    records, out, _ = run(pool, 3, 2)
    assert sorted(r["index"] for r in records) == [0, 1, 2] and {r["worker"] for r in records} == {0}
    assert pool.closed == [0] and pool.discarded == [1]
    assert [a["worker"] for a in out.actors] == [0]


def test_default_workers_is_one_actor_per_two_cpus():
    assert [default_workers(c) for c in (0, 1, 2, 3, 16, 17.5)] == [1, 1, 1, 1, 8, 8]


def test_artifacts_travel_as_bytes_to_the_same_relative_paths(tmp_path):
    src, dst = tmp_path / "node", tmp_path / "report"
    (src / "recordings" / "tiny_0000").mkdir(parents=True)
    (src / "recordings" / "tiny_0000" / "tiny_0000_0.mcap").write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)))
    (src / "recordings" / "tiny_0000_scene.mcap").write_bytes(b"scene")
    (src / "episodes").mkdir()
    (src / "episodes" / "tiny_0001.gif").write_bytes(b"GIF89a")
    files = take_files(src)
    assert sorted(files) == ["episodes/tiny_0001.gif", "recordings/tiny_0000/tiny_0000_0.mcap",
                             "recordings/tiny_0000_scene.mcap"]
    assert not [p for p in src.rglob("*") if p.is_file()]  # sent once
    put_files(dst, files)
    assert (dst / "recordings" / "tiny_0000" / "tiny_0000_0.mcap").read_bytes() == b"\x89MCAP0\r\n" + bytes(range(256))
    assert (dst / "episodes" / "tiny_0001.gif").read_bytes() == b"GIF89a"
    assert take_files(tmp_path / "missing") == {}


@pytest.mark.parametrize("bad", ["../outside.gif", "/etc/passwd", "episodes/../../x", ""])
def test_an_artifact_path_that_would_leave_the_report_directory_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="not a relative path inside the report directory"):
        put_files(tmp_path / "report", {bad: b"x"})
    assert not (tmp_path / "outside.gif").exists()


def test_a_loopback_address_is_told_from_a_cluster_address():
    assert [is_loopback(a) for a in ("127.0.0.1:6379", "localhost:6379", "[::1]:6379", "127.0.1.1:1")] == [True] * 4
    assert [is_loopback(a) for a in ("10.0.0.1:6379", "head.example:6379", "auto")] == [False] * 3
