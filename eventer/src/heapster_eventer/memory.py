"""Give freed heap memory back to the operating system between export cycles (glibc's ``malloc_trim``).

Each cycle decodes a whole batch and the sinks format it; once exported, that memory is free but
glibc keeps it mapped, so the process would stay at its largest batch. Trimming keeps RSS flat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_loaded = False


def release_free_memory() -> bool:
    """Call ``malloc_trim(0)`` where glibc provides it; ``False`` elsewhere."""
    global _trim, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim = libc.malloc_trim
        except (OSError, AttributeError):
            _trim = None
    if _trim is None:
        return False
    _trim(0)
    return True
