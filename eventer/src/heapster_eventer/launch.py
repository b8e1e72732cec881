"""The process entry (``eventer``, ``python -m heapster_eventer``): the allocator is chosen before any import."""

from __future__ import annotations

import os
import sys


def run() -> None:
    """The ``eventer`` command and ``python -m heapster_eventer``: :func:`.cli.main` under the C allocator on Linux.

    Python's own allocator keeps every 1 MiB arena a decoded batch touched as long as one small
    long-lived object sits in it, so RSS stays at the last batch's peak. Under ``malloc`` the
    export loop's ``malloc_trim`` after each batch gives that memory back (about 4 MiB less at
    200 events/s and a 10 s period). ``PYTHONMALLOC`` can only be chosen before the interpreter
    starts, so the process re-executes itself once, keeping its PID; a ``PYTHONMALLOC`` already
    set (e.g. ``pymalloc``) is respected.
    """
    if sys.platform == "linux" and "PYTHONMALLOC" not in os.environ and sys.executable:
        os.environ["PYTHONMALLOC"] = "malloc"
        os.execv(sys.executable, sys.orig_argv)
    from heapster_eventer.cli import main

    sys.exit(main())
