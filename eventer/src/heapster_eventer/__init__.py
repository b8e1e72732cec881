"""heapster's eventer: ships Kubernetes events to the sinks, exactly once."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("heapster-eventer")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"
