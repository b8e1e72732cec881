"""Small asyncio helpers shared by the daemon's parts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def unless_set(work: Awaitable[Any], event: asyncio.Event) -> tuple[bool, Any]:
    """Run ``work`` until it ends, or until ``event`` is set first (``work`` is then cancelled and awaited).

    Returns ``(True, result)`` when ``work`` ended (its exception, if any, is raised), else ``(False, None)``.
    When the caller is cancelled meanwhile, ``work`` is cancelled too.
    """
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False, None
