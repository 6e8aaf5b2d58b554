"""Giving the heap's free pages back to the operating system after a burst of large bodies.

CPython hands every allocation over 512 bytes to ``malloc``. glibc serves a block of at least
its mmap threshold with its own ``mmap`` (unmapped on ``free``), but raises that threshold to
the size of each such block freed, up to 32 MB: after the first few multi-MB bodies the next
ones come from the heap arenas of whichever thread made them, and an arena shrinks only from
its top. The memory is reused by later calls, yet the process stays at the burst's peak.
``malloc_trim(0)`` hands every whole free page of every arena back (glibc 2.8 and later).
Elsewhere (musl, macOS) ``release_free_memory`` does nothing.

The audit writer sees every body go by, so it decides when (``IdleTrim``): once a burst is
over, not during it, since pages given back are faulted in again by the next large body.
Measured with ``benchmarks/memory_bodies.py`` (300 calls of 1-4 MB bodies, RSS after minus
before; bodies no longer kept, statements reopened): +60 to +100 MB without trimming, +9 to
+16 MB with ``IdleTrim``. Pinning glibc's mmap threshold at 1 MiB instead (every large block
its own mapping) left +2 to +14 MB but more than doubled the gateway's system CPU time during
the burst (3.6 s to 8.3 s) and made it about 40% slower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

TRIM_AFTER_BYTES = 16 * 1024 * 1024  # body bytes since the last trim that make one worth it
TRIM_IDLE_S = 1.0  # no body for this long: the burst is over


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class IdleTrim:
    """Gives free pages back once ``TRIM_AFTER_BYTES`` of bodies went through and then none
    came for ``TRIM_IDLE_S`` (``passed`` and ``tick`` are called from one thread)."""

    def __init__(self, after_bytes: int = TRIM_AFTER_BYTES, idle_s: float = TRIM_IDLE_S) -> None:
        self.after_bytes = after_bytes
        self.idle_s = idle_s
        self.pending = 0  # body bytes since the last trim
        self.last = time.monotonic()  # when bodies last went by
        self.trims = 0

    def passed(self, nbytes: int) -> None:
        """``nbytes`` of bodies were just let go."""
        if nbytes:
            self.pending += nbytes
            self.last = time.monotonic()

    def due(self) -> bool:
        """Whether a burst of bodies is over and has not been trimmed after yet."""
        return self.pending >= self.after_bytes and time.monotonic() - self.last >= self.idle_s

    def run(self) -> None:
        """Give the free pages back now."""
        self.pending = 0
        self.trims += release_free_memory()
