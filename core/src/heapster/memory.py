"""Process-level memory tuning for a long-running daemon with large, bursty cycles."""

from __future__ import annotations

import asyncio.sslproto
import ctypes
import gc
import os
import sys
from collections.abc import Callable

GC_THRESHOLDS = (100_000, 50, 100)
"""A scrape cycle allocates millions of short-lived, acyclic objects; with the default gen-0 threshold
(700) the cyclic collector re-walks the long-lived caches and store thousands of times per cycle, which
measured as more than half of the CPU at 1000 nodes."""

TLS_READ_BUFFER = 64 * 1024
"""asyncio gives every TLS connection a 256 KiB read buffer; with one kept-alive connection per kubelet
that alone is a quarter of a MiB per node. 64 KiB still reads a 120 KiB summary in two steps."""


GIL_SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the interpreter while another waits (Python's default is 5 ms)."""


def tune_gc() -> None:
    """Move everything built at start-up (caches, plugins) out of the collector's sight; collect rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def share_the_interpreter(seconds: float = GIL_SWITCH_INTERVAL) -> None:
    """Let the event loop thread get the interpreter back sooner while processors run in a worker thread."""
    sys.setswitchinterval(seconds)


def shrink_tls_read_buffers(size: int = TLS_READ_BUFFER) -> None:
    """Cap the read buffer asyncio allocates per TLS connection (applies to connections made later)."""
    asyncio.sslproto.SSLProtocol.max_size = size


MALLOC_ARENAS = 1
"""glibc malloc arenas for the whole process (glibc's default is 8 per core). With one arena per thread, memory a
batch's decode freed in the scrape thread's arena could not serve the store's or the processors' thread: every
arena kept its own free, fragmented heap. ``bench/memory_breakdown.py --fill`` at 300 nodes: RSS -20 MiB
(bench/README.md, "One malloc arena"). The threads allocate while holding the interpreter lock almost always,
so they do not wait on the arena's lock."""

_M_ARENA_MAX = -8
"""``mallopt`` parameter of glibc's ``malloc.h``."""

MMAP_THRESHOLD = 128 * 1024
"""Bytes from which glibc's malloc maps a block of its own (and unmaps it when freed). glibc starts at this value
but raises it to the size of each mapped block freed, up to 32 MiB (and the size at which it trims its heap's top to
twice that): after the first window every array of a batch (a 1000-node batch's columns are 95,000 rows, ~0.75 MiB
each) came from the heap, and what the batch freed stayed resident there until the next ``malloc_trim``. Fixed
here, a batch's arrays are mapped and unmapped on their own and the heap's top is trimmed as it frees.
``processors_bench.py --nodes 1000 --cycles 12 --rss`` (the decode, join, processors and store's write of each
window, deterministic): each window's RSS high -15 to -18 MiB, the RSS once the batch is let go -20 to -35 MiB
(bench/README.md, "session 12, helper peak8")."""

_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter of glibc's ``malloc.h``; setting it also turns off the dynamic threshold."""


def _load_libc() -> ctypes.CDLL | None:
    """The C library's functions as the process has them linked (``ctypes.util.find_library`` would run
    ``ldconfig`` and load ``tempfile``, ``shutil``, ``bz2``, ``lzma``: 0.3 MiB the eventer keeps)."""
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):
        return None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (threads that have not allocated yet share them); call before starting threads.

    ``MALLOC_ARENA_MAX`` in the environment wins (the operator's choice). Returns whether the cap was set.
    """
    return _mallopt(_M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Map every malloc block of at least ``threshold`` bytes on its own, for good (see :data:`MMAP_THRESHOLD`).

    ``MALLOC_MMAP_THRESHOLD_`` in the environment wins (the operator's choice). Returns whether it was set.
    """
    return _mallopt(_M_MMAP_THRESHOLD, threshold, "MALLOC_MMAP_THRESHOLD_")


def _mallopt(param: int, value: int, environ_name: str) -> bool:
    """glibc's ``mallopt(param, value)`` unless ``environ_name`` is set (the operator's choice) or this is not glibc."""
    libc = _load_libc()
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):  # not glibc
        return False
    if os.environ.get(environ_name):
        return False
    return bool(libc.mallopt(param, value))


def _load_malloc_trim() -> Callable[[int], int] | None:
    libc = _load_libc()
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)  # None: not glibc
    return trim


_malloc_trim = _load_malloc_trim()


def release_free_memory() -> None:
    """Give the heap that a finished cycle freed back to the OS (glibc keeps it otherwise)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
