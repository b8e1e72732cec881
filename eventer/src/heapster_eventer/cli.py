"""The ``eventer`` command."""

from __future__ import annotations

import asyncio
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

