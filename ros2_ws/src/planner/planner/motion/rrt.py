"""Sampling-based planning and path shortcutting on injected callables (any dimension).

Modelled on caelan/motion-planners ``rrt_connect`` (and pybullet-planning's
``plan_joint_motion``), with one change for speed: collision checking is batched.

- sample_fn() -> (n,) a random configuration
- distance_fn(q, Q) -> (k,) distances from q (n,) to every row of Q (k, n)
- extend_fn(q1, q2) -> (k, n) the configurations from q1 to q2 at the checking
  resolution, q2 included, q1 excluded (k >= 1)
- collision_fn(Q) -> (k,) bool, True where configuration Q[i] is in collision

A whole extension is checked in one collision_fn call. Every time limit is in seconds of
CPU wall time (time.perf_counter), so a hopeless problem returns None quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

SampleFn = Callable[[], np.ndarray]
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
ExtendFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
CollisionFn = Callable[[np.ndarray], np.ndarray]


COARSE_STRIDE = 6  # two-stage checks: every 6th configuration first (most failures show there)


def _coarse_index(n: int, stride: int) -> np.ndarray:
    """Indices checked first among n configurations: every stride-th and the last."""
    idx = np.arange(stride - 1, n, stride)
    if idx.size == 0 or idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


def free_prefix(Q: np.ndarray, collision_fn: CollisionFn, stride: int = COARSE_STRIDE) -> int:
    """Number of leading collision-free configurations of Q (k, n), checked in two batched
    stages: a coarse subset first (a collision usually shows there, and then only the
    configurations before it need the fine check), then the rest."""
    n = len(Q)
    if n <= 2 * stride:
        bad = np.flatnonzero(collision_fn(Q))
        return int(bad[0]) if bad.size else n
    coarse = _coarse_index(n, stride)
    hit = np.flatnonzero(collision_fn(Q[coarse]))
    limit = int(coarse[hit[0]]) if hit.size else n
    checked = np.zeros(n, dtype=bool)
    checked[coarse] = True
    rest = np.flatnonzero(~checked[:limit])
    if rest.size:
        bad = np.flatnonzero(collision_fn(Q[rest]))
        if bad.size:
            return int(rest[bad[0]])
    return limit


def free_prefixes(segments: list[np.ndarray], collision_fn: CollisionFn, stride: int = COARSE_STRIDE) -> np.ndarray:
    """free_prefix of every (k_i, n) array in `segments`, all checked together in two
    batched collision calls (coarse subsets, then what lies before each first coarse hit)."""
    if not segments:
        return np.zeros(0, dtype=int)
    coarse = [_coarse_index(len(Q), stride) for Q in segments]
    hit = collision_fn(np.vstack([Q[c] for Q, c in zip(segments, coarse, strict=True)]))
    limits = np.empty(len(segments), dtype=int)
    rest_parts, rest_idx, rest_owner = [], [], []
    pos = 0
    for i, (Q, c) in enumerate(zip(segments, coarse, strict=True)):
        h = np.flatnonzero(hit[pos:pos + len(c)])
        pos += len(c)
        limits[i] = int(c[h[0]]) if h.size else len(Q)
        checked = np.zeros(len(Q), dtype=bool)
        checked[c] = True
        rest = np.flatnonzero(~checked[:limits[i]])
        if rest.size:
            rest_parts.append(Q[rest])
            rest_idx.append(rest)
            rest_owner.append(np.full(rest.size, i))
    if rest_parts:
        bad = collision_fn(np.vstack(rest_parts))
        idx, owner = np.concatenate(rest_idx), np.concatenate(rest_owner)
        for i in np.unique(owner[bad])[::-1]:
            sel = bad & (owner == i)
            limits[i] = min(limits[i], int(idx[sel].min()))
    return limits


class _Tree:
    """Nodes in a growing array (nearest-neighbour search is one vectorised distance call)."""

    def __init__(self, root: np.ndarray) -> None:
        self.q = np.empty((64, root.shape[0]))
        self.parent = np.empty(64, dtype=int)
        self.n = 0
        self.add(root, -1)

    def add(self, q: np.ndarray, parent: int) -> int:
        if self.n == len(self.q):
            self.q = np.vstack([self.q, np.empty_like(self.q)])
            self.parent = np.concatenate([self.parent, np.empty_like(self.parent)])
        self.q[self.n] = q
        self.parent[self.n] = parent
        self.n += 1
        return self.n - 1

    def nearest(self, q: np.ndarray, distance_fn: DistanceFn) -> int:
        return int(np.argmin(distance_fn(q, self.q[:self.n])))

    def path_to_root(self, i: int) -> list[np.ndarray]:
        out = []
        while i >= 0:
            out.append(self.q[i].copy())
            i = int(self.parent[i])
        return out


def _grow(tree: _Tree, starts: list[int], segments: list[np.ndarray], n_free: np.ndarray,
          node_spacing: int) -> list[int]:
    """Add each segment's free prefix to `tree` (every node_spacing-th configuration and
    the last) from node starts[i]; returns the last node of each."""
    lasts = []
    for near, Q, k in zip(starts, segments, n_free, strict=True):
        last = near
        for i in range(node_spacing - 1, int(k), node_spacing):
            last = tree.add(Q[i], last)
        if k and k % node_spacing:
            last = tree.add(Q[k - 1], last)
        lasts.append(last)
    return lasts


def rrt_connect(start: np.ndarray, goal: np.ndarray, sample_fn: SampleFn, distance_fn: DistanceFn,
                extend_fn: ExtendFn, collision_fn: CollisionFn, *, max_iterations: int = 2000,
                max_time: float = 1.0, max_extension: float | None = None, node_spacing: int = 10,
                batch: int = 4) -> list[np.ndarray] | None:
    """A collision-free path [start, ..., goal] (list of (n,) arrays), or None.

    Bidirectional RRT-Connect: each iteration grows one tree towards random samples (at
    most `max_extension` each), then the other tree greedily towards the new nodes; the
    trees swap roles. `batch` samples per iteration are extended together so their
    collision checks share calls. Start and goal are assumed collision-free (check them
    first: the typed failure belongs to the caller). node_spacing: every how many checked
    configurations a tree node is kept. Stops after max_iterations or max_time seconds.
    """
    start = np.asarray(start, dtype=float)
    goal = np.asarray(goal, dtype=float)
    deadline = time.perf_counter() + max_time
    Q = extend_fn(start, goal)
    if free_prefix(Q, collision_fn) == len(Q):
        return [start, goal]
    tree_a, tree_b = _Tree(start), _Tree(goal)
    a_is_start = True
    for _ in range(max_iterations):
        if time.perf_counter() > deadline:
            return None
        # grow A towards `batch` samples
        nears, segs = [], []
        for _ in range(batch):
            target = sample_fn()
            near = tree_a.nearest(target, distance_fn)
            q0 = tree_a.q[near]
            if max_extension is not None:
                d = float(distance_fn(q0, target[None])[0])
                if d > max_extension:
                    target = q0 + (target - q0) * (max_extension / d)
            nears.append(near)
            segs.append(extend_fn(q0, target))
        lasts_a = _grow(tree_a, nears, segs, free_prefixes(segs, collision_fn), node_spacing)
        # then B greedily towards each new node of A
        nears, segs, targets = [], [], []
        for la in dict.fromkeys(lasts_a):
            target = tree_a.q[la]
            near = tree_b.nearest(target, distance_fn)
            nears.append(near)
            segs.append(extend_fn(tree_b.q[near], target))
            targets.append(la)
        n_free = free_prefixes(segs, collision_fn)
        lasts_b = _grow(tree_b, nears, segs, n_free, node_spacing)
        for la, lb, k, seg in zip(targets, lasts_b, n_free, segs, strict=True):
            if k == len(seg):  # B reached A's node: the trees meet
                path_a = tree_a.path_to_root(la)[::-1]
                path_b = tree_b.path_to_root(lb)
                path = path_a + path_b[1:]  # the meeting configuration once
                return path if a_is_start else path[::-1]
        tree_a, tree_b = tree_b, tree_a
        a_is_start = not a_is_start
    return None


def path_length(path, distance_fn: DistanceFn | None = None) -> float:
    """Sum of segment lengths of a path (k, n) (Euclidean unless distance_fn is given)."""
    P = np.asarray(path, dtype=float)
    if len(P) < 2:
        return 0.0
    if distance_fn is None:
        return float(np.linalg.norm(np.diff(P, axis=0), axis=1).sum())
    return float(sum(distance_fn(P[i], P[i + 1][None])[0] for i in range(len(P) - 1)))


SegmentsFreeFn = Callable[[list[tuple[np.ndarray, np.ndarray]]], np.ndarray]


def interpolate_many(A: np.ndarray, B: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Straight segments A[i] -> B[i] ((k, n) each) sampled so no coordinate moves more than
    `resolution` between neighbours (A excluded, B included): (configurations (m, n),
    owner (m,) segment index of each)."""
    D = B - A
    counts = np.maximum(1, np.ceil(np.max(np.abs(D), axis=1) / resolution - 1e-9).astype(int))
    owner = np.repeat(np.arange(len(A)), counts)
    start = np.cumsum(counts) - counts
    s = (np.arange(int(counts.sum())) - start[owner] + 1) / counts[owner]
    return A[owner] + s[:, None] * D[owner], owner


def make_segments_free(collision_fn: CollisionFn, resolution: float) -> SegmentsFreeFn:
    """A checker of straight segments: segments_free([(a, b), ...]) -> (k,) bool, every
    segment sampled at `resolution` (max coordinate step), all in one collision call."""

    def segments_free(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=bool)
        A = np.array([a for a, _ in pairs])
        B = np.array([b for _, b in pairs])
        Q, owner = interpolate_many(A, B, resolution)
        free = np.ones(len(pairs), dtype=bool)
        free[owner[collision_fn(Q)]] = False
        return free

    return segments_free


def reduce_vertices(path: list[np.ndarray], coarse_free: SegmentsFreeFn, verify_free: SegmentsFreeFn | None = None,
                    candidates: int = 6) -> list[np.ndarray]:
    """Greedy vertex removal: from each kept vertex jump to the farthest later vertex that a
    free straight segment reaches. The candidate jumps (from every vertex: the last vertex
    and `candidates` - 1 others spread evenly in between) are screened together with
    coarse_free (one batched call); the jumps the greedy walk then takes are verified
    with verify_free (one more call) and the walk redone if one fails."""
    P = [np.asarray(q, dtype=float) for q in path]
    if len(P) <= 2:
        return P
    jumps = []
    for i in range(len(P) - 2):
        for j in sorted({round(float(v)) for v in np.linspace(i + 2, len(P) - 1, candidates)}):
            jumps.append((i, j))
    ok = dict(zip(jumps, coarse_free([(P[i], P[j]) for i, j in jumps]), strict=True))
    verified: set[tuple[int, int]] = set()
    while True:
        walk = []
        i = 0
        while i < len(P) - 1:
            j = max((jj for (ii, jj), f in ok.items() if ii == i and f), default=i + 1)
            walk.append((i, j))
            i = j
        todo = [(i, j) for i, j in walk if j > i + 1 and (i, j) not in verified]
        if verify_free is None or not todo:
            break
        for (i, j), f in zip(todo, verify_free([(P[i], P[j]) for i, j in todo]), strict=True):
            if f:
                verified.add((i, j))
            else:
                ok[(i, j)] = False
    return [P[0]] + [P[j] for _, j in walk]


def shortcut(path: list[np.ndarray], coarse_free: SegmentsFreeFn, verify_free: SegmentsFreeFn | None,
             rng: np.random.Generator, *,
             rounds: int = 30, batch: int = 12, max_time: float = 0.05, min_gain: float = 1e-3) -> list[np.ndarray]:
    """Random shortcutting with batched checks: each round draws `batch` pairs of points
    along the path (anywhere on its segments), screens their straight connections with
    coarse_free (one call), verifies the best non-overlapping ones with verify_free (one
    call) and applies them. Stops after `rounds`, `max_time` seconds, or three rounds
    without a gain above `min_gain` (path length units)."""
    P = [np.asarray(q, dtype=float) for q in path]
    deadline = time.perf_counter() + max_time
    stale = 0
    for _ in range(rounds):
        if len(P) < 3 or time.perf_counter() > deadline or stale >= 3:
            break
        A = np.array(P)
        seg = np.linalg.norm(np.diff(A, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = cum[-1]
        if total <= 0:
            break
        # `batch` random pairs of arc-length positions t1 < t2, as points on their segments
        T = np.sort(rng.uniform(0.0, total, (batch, 2)), axis=1)
        idx = np.clip(np.searchsorted(cum, T, side="right") - 1, 0, len(seg) - 1)
        frac = (T - cum[idx]) / np.maximum(seg[idx], 1e-12)
        Q1 = A[idx[:, 0]] + (A[idx[:, 0] + 1] - A[idx[:, 0]]) * frac[:, :1]
        Q2 = A[idx[:, 1]] + (A[idx[:, 1] + 1] - A[idx[:, 1]]) * frac[:, 1:]
        gains = (T[:, 1] - T[:, 0]) - np.linalg.norm(Q2 - Q1, axis=1)
        keep = np.flatnonzero((idx[:, 0] != idx[:, 1]) & (gains > min_gain))  # same segment: no gain
        cands = [(float(gains[k]), int(idx[k, 0]), int(idx[k, 1]), Q1[k], Q2[k]) for k in keep]
        if not cands:
            stale += 1
            continue
        free = coarse_free([(c[3], c[4]) for c in cands])
        ok = [c for c, f in zip(cands, free, strict=True) if f]
        # the best shortcut, then every other one that does not overlap those chosen,
        # verified finely (one call) before they are applied
        chosen: list = []
        for c in sorted(ok, key=lambda c: -c[0]):
            if all(c[2] < d[1] or c[1] > d[2] for d in chosen):
                chosen.append(c)
        if chosen and verify_free is not None:
            chosen = [c for c, f in zip(chosen, verify_free([(c[3], c[4]) for c in chosen]), strict=True) if f]
        if not chosen:
            stale += 1
            continue
        stale = 0
        # applied from the last segment backwards, so earlier indices stay valid
        for _, i1, i2, q1, q2 in sorted(chosen, key=lambda c: -c[1]):
            P = [*P[:i1 + 1], q1, q2, *P[i2 + 1:]]
        # drop duplicate points (a shortcut from or to a vertex)
        dedup = [P[0]]
        for q in P[1:]:
            if np.linalg.norm(q - dedup[-1]) > 1e-9:
                dedup.append(q)
        P = dedup
    return P
