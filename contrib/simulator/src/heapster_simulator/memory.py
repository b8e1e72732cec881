"""Hand freed heap memory back to the OS (glibc keeps it after bursts of large summaries over TLS)."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
except (OSError, AttributeError):  # not glibc: nothing to do
    _trim = None


def release_free_memory() -> bool:
    """Call glibc's malloc_trim(0); returns False where it does not exist."""
    if _trim is None:
        return False
    _trim(0)
    return True
