"""LazySession: built on first use inside the loop, built again after a close."""

from __future__ import annotations

import aiohttp

from heapster.httpsession import LazySession


async def test_the_session_is_built_once_and_again_after_close() -> None:
    built: list[aiohttp.ClientSession] = []

    def make() -> aiohttp.ClientSession:
        built.append(aiohttp.ClientSession())
        return built[-1]

    http = LazySession(make)
    await http.close()  # nothing built yet: nothing to close
    assert built == []
    first = http.get()
    assert http.get() is first and len(built) == 1
    await http.close()
    assert first.closed
    second = http.get()
    assert second is not first and not second.closed
    await http.close()
