"""heapster's eventer: ships Kubernetes events to the sinks, exactly once."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use: importing the package (:mod:`.lazyssl` first) loads nothing else."""
    if name != "__version__":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    from heapster.distributions import PackageNotFoundError, version

    try:
        return version("heapster-eventer")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"
