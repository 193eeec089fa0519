"""Keep the hot loops' large tensors on the heap: glibc's mmap and trim thresholds, raised in-process.

Why: every fitting (and meta-training) step allocates and frees activations of tens of MB.
glibc serves each block above its mmap threshold (at most 32 MiB, even when it adapts) with
a fresh mmap and returns it with munmap, so the kernel faults in and zeroes fresh pages every
step: on a 2-core CPU half of an encode's CPU time was system time. A 1 GiB mmap threshold
keeps those blocks on the heap, and a 2 GiB trim threshold stops free() from handing the top
of the heap back, so the same pages serve every step. Only where memory comes from changes,
never a value: streams and pixels are bit-identical. The cost is that the process keeps its
peak heap until it exits, which suits a command-line encode or a training run.

`INRCODEC_MALLOC=default` leaves the allocator as glibc configures it (also for comparisons).
Nothing happens on other platforms or C libraries (macOS, Windows, musl).
"""
from __future__ import annotations

import ctypes
import os
import sys

ENV = "INRCODEC_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's <malloc.h>
MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap
TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes a C int: the largest, about 2 GiB of free heap top kept

_applied: bool | None = None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True if they are raised.

    Idempotent and cheap: call it at the start of any allocation-heavy loop.
    """
    global _applied
    if _applied is None:
        _applied = os.environ.get(ENV, "") != "default" and _mallopt()
    return _applied


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):  # musl and other C libraries have no such tunables
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
