"""Pausing the cyclic garbage collector around bursts of acyclic allocations (decoded JSON)."""

from __future__ import annotations

import gc


class paused_gc:  # named as the function it replaced: ``with paused_gc():``
    """Keep the cyclic collector off for the duration of a synchronous block.

    Decoding a kubelet summary or a list page allocates thousands of containers that form no
    cycles; with the collector on, each decode triggers several collections that traverse every
    young object and, as a cycle's results pile up, the older generations too. Measured on a
    30 pods x 2 containers summary with 300 results kept alive: 3.6 ms per summary with the
    collector on, 1.4 ms paused. Use only around code without ``await`` (no other task runs);
    if the collector was already off it stays off.

    A class rather than a ``contextlib.contextmanager`` generator: entered once per node per window, and the
    generator's machinery (a generator, its wrapper, two resumptions) cost 4x as much (timeit, load 11: 14.7
    against 3.7 us per use).
    """

    __slots__ = ("_was_on",)

    def __enter__(self) -> None:
        self._was_on = gc.isenabled()
        if self._was_on:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_on:
            gc.enable()
