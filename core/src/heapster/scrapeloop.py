"""An event loop in a thread of its own for the scrape units, so the HTTP API's loop stays responsive.

Thousands of kubelet answers arrive in bursts; on one event loop each loop iteration decodes every answer
that is ready (TLS, HTTP parsing, the summary decode) before a waiting API request gets its turn, which
measured as stalls of hundreds of milliseconds for a one-series query. On their own loop the scrapes share
the interpreter with the API by the GIL's switch interval instead (:func:`heapster.memory.share_the_interpreter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT = 5.0
"""Seconds :meth:`ScrapeLoop.close` waits for the thread to finish."""


class ScrapeLoop:
    """A daemon thread running an event loop; :meth:`run` awaits a coroutine on it from another loop."""

    def __init__(self, name: str = "heapster-scrape",
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        from heapster.cli import event_loop_factory  # here: the CLI module is not needed to import this one

        # The daemon's loop kind (uvloop with HEAPSTER_UVLOOP=1 when installed) for the scrapes as well, unless
        # the caller makes its own.
        self.loop = (loop_factory or event_loop_factory() or asyncio.new_event_loop)()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the scrape loop; cancelling the caller cancels it there too."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    def close(self) -> None:
        """Stop the loop and its thread (tasks still running there are cancelled)."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(cancel_all(), self.loop)
            with contextlib.suppress(Exception):  # stopping anyway
                future.result(STOP_TIMEOUT)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()
