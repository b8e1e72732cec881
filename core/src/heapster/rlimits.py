"""Process limits the daemon sets for itself at start."""

from __future__ import annotations

import resource


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft limit of open descriptors to the hard limit, as Go's runtime does; ``(before, after)``.

    heapster keeps one connection alive per kubelet: 5000 nodes need far more than the usual soft limit of
    1024. When the kernel refuses the hard limit (an unlimited one above ``fs.nr_open``), the soft limit stays.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, hard
