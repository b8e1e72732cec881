"""The ``eventer`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from heapster.cli import version_text
from heapster.errors import HeapsterError
from heapster.logs import configure
from heapster_eventer import __version__
from heapster_eventer.flags import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the eventer; exit 2 with one line on a usage error, 1 on a runtime failure."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        if options.version:
            print(version_text(__version__))
            return 0
        configure(options.verbose, options.log_format)
        from heapster_eventer.app import Eventer

        return asyncio.run(Eventer(options).run())
    except HeapsterError as exc:
        print(f"eventer: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


def run() -> None:
    """The ``eventer`` command and ``python -m heapster_eventer``: :func:`main`, under the C allocator on Linux.

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
    sys.exit(main())
