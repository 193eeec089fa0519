"""The allocator switch: applied on glibc Linux, off by environment variable, applied once per process."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from inrcodec import alloc

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")
BLOCK = 48 << 20  # the size of one fitting activation of a 768x512 image

# tune twice, then allocate a large block: does glibc serve it with its own mmap?
PROBE = f"""
import ctypes
from inrcodec.alloc import tune_allocator
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
first, second = tune_allocator(), tune_allocator()
before = libc.mallinfo2().hblkhd
block = bytearray({BLOCK})
print(first, second, libc.mallinfo2().hblkhd - before >= {BLOCK})
"""


def probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != alloc.ENV and not k.startswith("MALLOC_")}
    return subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.mark.skipif(not GLIBC, reason="the switch acts on glibc only")
def test_tuned_on_glibc_keeps_large_blocks_on_the_heap():
    assert probe() == ["True", "True", "False"]


@pytest.mark.skipif(not GLIBC, reason="the switch acts on glibc only")
def test_environment_variable_leaves_glibc_as_it_is():
    assert probe(INRCODEC_MALLOC="default") == ["False", "False", "True"]


def test_applied_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(alloc, "_applied", None)
    monkeypatch.setattr(alloc, "_mallopt", lambda: calls.append(1) or True)
    monkeypatch.delenv(alloc.ENV, raising=False)
    assert alloc.tune_allocator() and alloc.tune_allocator()
    assert calls == [1]


def test_nothing_happens_off_linux(monkeypatch):
    monkeypatch.setattr(alloc.sys, "platform", "darwin")
    assert alloc._mallopt() is False
