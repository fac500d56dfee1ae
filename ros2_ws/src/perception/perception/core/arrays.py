"""Gathers and reductions on the perception core's small arrays: the same values as the
plain numpy calls named in each docstring, with less per-call overhead (a frame runs
thousands of them on a few hundred points each)."""

from __future__ import annotations

import numpy as np


def take_rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a[idx] for an (N, k) array and an index array: take gathers whole rows several times
    faster than fancy indexing."""
    return a.take(idx, axis=0)


def column_medians(a: np.ndarray) -> np.ndarray:
    """np.median(a, axis=0) of an (N, k) integer array, N >= 1, column by column with
    np.partition (the same values, without np.median's overhead on a narrow array)."""
    n = len(a)
    k = n // 2
    out = np.empty(a.shape[1])
    for j in range(a.shape[1]):
        col = np.ascontiguousarray(a[:, j])
        if n % 2:
            out[j] = np.partition(col, k)[k]
        else:
            part = np.partition(col, (k - 1, k))
            out[j] = (float(part[k - 1]) + float(part[k])) / 2.0
    return out


def quantile(a: np.ndarray, q: float) -> float:
    """np.percentile(a, 100 q) (linear interpolation; equal up to float rounding) of a
    non-empty 1-D array, by np.partition: far less overhead on one segment's small arrays."""
    pos = q * (len(a) - 1)
    k = min(int(pos), len(a) - 1)
    if k + 1 >= len(a):
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k, k + 1))
    lo, hi = float(part[k]), float(part[k + 1])
    return lo + (hi - lo) * (pos - k)


def min_max_xy(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2,) minimum and (2,) maximum of the x and y columns of (N, >= 2) points. Column by
    column: numpy reduces a narrow (N, k) array along axis 0 an order of magnitude slower."""
    x, y = P[:, 0], P[:, 1]
    return np.array([x.min(), y.min()]), np.array([x.max(), y.max()])


def concatenated_runs(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The index arrays concatenated (N,), and where each of them begins in it (len(groups),)."""
    return np.concatenate([np.zeros(0, np.intp), *groups]), np.cumsum([0] + [len(g) for g in groups])[:-1]


def pixel_boxes(v: np.ndarray, u: np.ndarray, starts: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(min row, max row, min col, max col) of each run of pixels (v rows, u cols (N,)) that
    begins at `starts` (increasing, the first 0) and ends at the next: one reduceat per bound
    instead of four reductions per run."""
    if len(starts) == 0:
        return []
    bounds = np.stack([np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts),
                       np.minimum.reduceat(u, starts), np.maximum.reduceat(u, starts)], axis=1)
    return [tuple(b) for b in bounds.tolist()]
