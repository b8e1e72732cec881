"""An aiohttp client session for a sink or source: made on first use, made again after a close.

aiohttp wants its ``ClientSession`` created inside the running event loop, so plugins build it
lazily, on their first request, not in ``__init__``::

    self.http = LazySession(lambda: aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)))
    async with self.http.get().post(url, data=body) as resp: ...
    await self.http.close()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp


class LazySession:
    """The session ``make()`` builds, built when first needed and again once it has been closed."""

    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        """The open session (built now if there is none)."""
        if self._session is None or self._session.closed:
            self._session = self._make()
        return self._session

    async def close(self) -> None:
        """Close the session, if one was built; the next :meth:`get` builds a new one."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
