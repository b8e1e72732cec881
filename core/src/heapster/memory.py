"""Process-level memory tuning for a long-running daemon with large, bursty cycles."""

from __future__ import annotations

import asyncio.sslproto
import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable
from typing import Any

GC_THRESHOLDS = (100_000, 50, 100)
"""A scrape cycle allocates millions of short-lived, acyclic objects; with the default gen-0 threshold
(700) the cyclic collector re-walks the long-lived caches and store thousands of times per cycle, which
measured as more than half of the CPU at 1000 nodes."""

TLS_READ_BUFFER = 32 * 1024
"""asyncio gives every TLS connection a 256 KiB read buffer, and OpenSSL's incoming memory BIO grows to 4/3 of
the biggest read and keeps that: with one kept-alive connection per kubelet, 2.3 x this size per node. Measured
(200 kubelets, 116 KiB summaries): 479 KiB of malloc per connection at 256 KiB, 223 at 64, 117 at 32 with the
idle buffer dropped (:func:`release_tls_read_buffer`), 95 at 16 KiB, which cost ~15% more CPU per scrape;
32 KiB cost the same CPU as 64."""


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


def release_tls_read_buffer(transport: Any) -> None:
    """Drop the read buffer of an idle asyncio TLS connection; its next read allocates it again.

    A kept-alive kubelet connection is idle but for one summary per window, yet asyncio keeps its
    ``max_size`` read buffer for ever (see :data:`TLS_READ_BUFFER`). Only a selector loop's TLS transport
    has one; anything else (plain TCP, uvloop) is left alone. Call it between reads, never from inside one.
    """
    protocol: Any = getattr(transport, "_ssl_protocol", None)
    if not isinstance(protocol, asyncio.sslproto.SSLProtocol):
        return
    held: Any = protocol  # the buffer is private to asyncio (3.11-3.13 alike)
    if len(getattr(held, "_ssl_buffer", b"")):
        held._ssl_buffer = bytearray()
        held._ssl_buffer_view = memoryview(held._ssl_buffer)


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def release_free_memory() -> None:
    """Give the heap that a finished cycle freed back to the OS (glibc keeps it otherwise)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
