"""The operator process's memory: glibc's malloc arenas capped, freed memory handed back.

A burst of jobs makes the operator allocate fast from many threads; glibc gives each thread
that contends for the heap its own arena (up to 8 per core) and keeps what was freed in them,
so the process stays at its peak long after the burst (docs/benchmarks.md, "Operator at
scale"). Capping the arenas and trimming the heap once a backlog has drained returns that
memory. Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("kubetrain.memory")
ARENAS = 2
"""glibc malloc arenas for the whole process (its default: 8 per core)."""
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Allow at most `arenas` malloc arenas; call before the process starts its threads."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Hand the heap's free memory back to the system; True if any was."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))
