"""A strict Riemann server double for tests: Riemann's TCP framing and protobuf, on loopback, in a thread.

Like Riemann's TCP server it reads 4-byte big-endian length-prefixed ``Msg`` frames, answers each
with a ``Msg`` (``ok: true``, or ``ok: false`` and ``error`` when the frame does not decode, e.g. an
``Attribute`` without its required ``key``), and keeps the connection open. Received events are kept
(also across :meth:`RiemannServer.stop` / :meth:`RiemannServer.start`, which simulate an outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from google.protobuf.message import DecodeError

from heapster.testing.net import TcpServerThread
from heapster.testing.servers import started
from heapster_sink_riemann.client import frame, read_frame
from heapster_sink_riemann.proto import Msg


class RiemannServer(TcpServerThread):
    """Riemann's TCP protocol on 127.0.0.1; ``events`` holds every event received (decoded ``Event`` messages)."""

    def __init__(self) -> None:
        super().__init__(self._serve_frames, name="riemann-double")
        self._lock = threading.Lock()
        self._events: list[Any] = []
        self.messages = 0
        self.errors: list[str] = []
        self.stream_error: str | None = None
        """When set, every message is answered ``ok: false`` with this error, as Riemann does when a stream
        of its configuration throws."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def events(self) -> list[Any]:
        with self._lock:
            return list(self._events)

    def shutdown(self) -> None:
        self.close()

    async def _serve_frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                payload = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(frame(self._handle(payload)))
            await writer.drain()

    def _handle(self, payload: bytes) -> Any:
        try:
            message = Msg.FromString(payload)
            if not message.IsInitialized():  # Java's parseFrom refuses a message missing required fields
                missing = ", ".join(message.FindInitializationErrors())
                raise DecodeError(f"Message missing required fields: {missing}")
        except DecodeError as exc:
            with self._lock:
                self.errors.append(str(exc))
            return Msg(ok=False, error=f"decode error: {exc}")
        if self.stream_error is not None:
            return Msg(ok=False, error=self.stream_error)
        if message.HasField("query"):
            return Msg(ok=False, error="this test double does not answer queries")
        with self._lock:
            self.messages += 1
            self._events.extend(message.events)
        return Msg(ok=True)


def riemann_server() -> contextlib.AbstractContextManager[RiemannServer]:
    """A started Riemann double for the duration of the block."""
    return started(RiemannServer(), "shutdown")
