"""Servers shared by a test session: opened once, handed out ready for each test.

A sink distribution's ``conftest.py`` says how its server (a real one or a strict double) is opened
and gets two fixtures, one for the session and one for each test::

    influxd, server = shared_server(lambda tmp: influxd_server(), session="influxd", each="server")

The per-test fixture hands out the session's server ready for the next test: listening again (an
outage test may have stopped it) and, for a double with ``healthy()``, without the faults an earlier
test injected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pytest

S = TypeVar("S")


@contextlib.contextmanager
def started(server: S, end: str = "stop") -> Iterator[S]:
    """``server`` started (``server.start()``) for the block and ended after it (``server.<end>()``)."""
    server.start()  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        getattr(server, end)()


def ready_for_next_test(server: Any) -> Any:
    """``server.healthy()`` where the server has it; else ``server.start()`` unless it is ``running``."""
    healthy = getattr(server, "healthy", None)
    if healthy is not None:
        return healthy()
    if not server.running:
        server.start()
    return server


def shared_server(open_server: Callable[[pytest.TempPathFactory], AbstractContextManager[Any]], *, session: str,
                  each: str, ready: Callable[[Any], Any] = ready_for_next_test) -> tuple[Any, Any]:
    """The fixtures ``(session, each)`` of a server shared by the session, by those names.

    ``open_server(tmp_path_factory)`` opens the server for the whole session (a context manager);
    the ``each`` fixture gives every test ``ready(server)`` (default :func:`ready_for_next_test`).
    """
    import pytest

    @pytest.fixture(scope="session", name=session)
    def session_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        with open_server(tmp_path_factory) as server:
            yield server

    @pytest.fixture(name=each)
    def each_fixture(request: pytest.FixtureRequest) -> Any:
        """The session's server, ready for this test (serving, no faults left over from an earlier one)."""
        return ready(request.getfixturevalue(session))

    return session_fixture, each_fixture
