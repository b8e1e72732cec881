"""Pause points of the pipeline's worker threads: where a processor or the window's join lets the API go first.

The processors and the window's join run in worker threads (``asyncio.to_thread``) for tens of milliseconds at
1000 nodes. Python switches threads every millisecond or so, but only between two bytecodes: while such a thread
runs, an API request shares the interpreter with it, and waits through each of its C calls whole. They call
:func:`pause` between two bounded steps (a column, a run of rows, a part of a long comparison); the daemon makes
that :meth:`heapster.apifirst.ApiFirst.wait` (:func:`pause_with`), which sleeps while a young request is in flight,
as the store's writer does between its steps and the scrape loop after each unit. Anywhere else (tests, tools,
benchmarks) it does nothing.
"""

from __future__ import annotations

from collections.abc import Callable


def _no_pause() -> None:
    pass


_hook: Callable[[], None] = _no_pause


def pause() -> None:
    """A pause point: returns at once unless the daemon's API has a young request in flight."""
    _hook()


def pause_with(hook: Callable[[], None] | None) -> None:
    """Make :func:`pause` call ``hook`` (None: nothing again)."""
    global _hook
    _hook = hook if hook is not None else _no_pause
