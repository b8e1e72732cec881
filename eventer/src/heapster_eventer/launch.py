"""The process entry (``eventer``, ``python -m heapster_eventer``): allocator and bytecode chosen before any import."""

from __future__ import annotations

import os
import sys

INTERPRETER = {"PYTHONMALLOC": "malloc", "PYTHONOPTIMIZE": "2"}
"""How the eventer's interpreter runs, unless the environment already says otherwise."""


def run() -> None:
    """The ``eventer`` command and ``python -m heapster_eventer``: :func:`.cli.main` in a lean interpreter on Linux.

    Python's own allocator keeps every 1 MiB arena a decoded batch touched as long as one small
    long-lived object sits in it, so RSS stays at the last batch's peak. Under ``malloc`` the
    export loop's ``malloc_trim`` after each batch gives that memory back (about 4 MiB less at
    200 events/s and a 10 s period). ``PYTHONOPTIMIZE=2`` (``-OO``) loads no docstrings: the
    eventer's modules and libraries carry 1.25 MiB of them and nothing reads them at run time
    (its ``assert`` statements only narrow types). Both can only be chosen before the interpreter
    starts, so the process re-executes itself once, keeping its PID; a value already set (e.g.
    ``PYTHONMALLOC=pymalloc``, ``PYTHONOPTIMIZE=0``) is respected. OpenSSL is loaded only once
    something speaks TLS (:mod:`.lazyssl`: 4.5 MiB less with an ``http://`` API server and plain sinks).
    """
    missing = {name: value for name, value in INTERPRETER.items() if name not in os.environ}
    if sys.platform == "linux" and missing and sys.executable:
        os.environ.update(missing)
        os.execv(sys.executable, sys.orig_argv)
    from heapster_eventer.lazyssl import defer_ssl

    defer_ssl()
    from heapster_eventer.cli import main

    sys.exit(main())
