"""Where a process's tensor memory comes from: kept for reuse instead of handed back to the kernel.

`advnets` calls `reuse_freed_memory` at start-up (and in each worker of `advnets reproduce --jobs`); library users
call it once themselves. It imports no torch, so the command line stays quick to start.
"""

from __future__ import annotations

import ctypes
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# glibc refuses an mmap threshold above half its heap size (HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit machines).
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024


def reuse_freed_memory() -> bool:
    """Keep freed tensor memory in the process for the next allocation (glibc only; elsewhere a no-op, False).

    By default glibc serves every allocation above a threshold (128 KiB, raised to the largest block freed so far,
    at most 32 MiB) with a fresh mmap and unmaps it on free, and trims the heap's free top back to the kernel. A
    training step allocates and frees the same activations every iteration, so each one page-faults its memory in
    again: a population of 64 toy-1d runs ([64, 100, 100] activations, 2.5 MB each) lost a quarter of its step
    to it. With blocks up to 32 MiB taken from the heap and up to 1 GiB of freed top kept, they are reused: that
    population steps 1.39x as fast, while one run of the paper's nets, which allocate less, is unchanged within
    noise (`python benchmarks/allocator.py`; benchmarks/RESULTS.md). Numbers are unchanged: only where memory comes
    from differs. The process's resident memory no longer shrinks after a peak, which a training process reaches
    every step anyway. Setting either parameter turns off glibc's own threshold adjustment, so both are set
    together."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")  # glibc's name on every Linux architecture it supports
    mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_set = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)
