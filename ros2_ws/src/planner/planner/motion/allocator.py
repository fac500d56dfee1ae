"""Keep freed memory in the process heap (glibc ``mallopt``), for the batched numpy checks.

The collision checker works on temporary arrays of 0.1-2 MB. glibc serves such sizes
with mmap and returns them on free, so every call pays page faults on fresh memory; on
this project's machines (sandboxed VMs) that cost ~1 ns per byte: a (3300, 24) float64
temporary took 0.59 ms instead of 0.05 ms (measured). Raising the mmap and trim thresholds
keeps the memory in the heap and reuses it. It is process-wide (the process keeps up to
the thresholds' worth of freed memory), so the node (or benchmark) that owns the process
calls it once at start-up; the library never does it behind anyone's back.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = 256 * 1024 * 1024, trim_threshold: int = 512 * 1024 * 1024) -> bool:
    """Set glibc's mmap/trim thresholds (bytes). Returns False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False
