"""heapster: scrape kubelets, process, keep recent history, ship metrics and events to sinks."""

from __future__ import annotations

from heapster.distributions import PackageNotFoundError, version
from heapster.hookspecs import hookimpl

try:
    __version__ = version("heapster-core")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
