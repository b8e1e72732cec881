"""Riemann's TCP protocol: each ``Msg`` is sent with a 4-byte big-endian length and answered the same way."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from heapster_sink_riemann.proto import Msg

_LENGTH = struct.Struct(">I")


def frame(message: Any) -> bytes:
    """A message with its length prefix, ready for the socket."""
    data: bytes = message.SerializeToString()
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One length-prefixed frame's payload (``IncompleteReadError`` if the peer closes mid-frame)."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return await reader.readexactly(length)


class RiemannConnection:
    """One TCP connection to a Riemann server; messages are sent one at a time and each reply is awaited."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @property
    def connected(self) -> bool:
        return self._streams is not None

    async def connect(self) -> None:
        if self._streams is None:
            self._streams = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)

    async def send(self, message: Any) -> Any:
        """Send one ``Msg`` and return the server's reply ``Msg``; the connection is dropped on any failure."""
        await self.connect()
        assert self._streams is not None
        reader, writer = self._streams
        try:
            writer.write(frame(message))
            await asyncio.wait_for(writer.drain(), self.timeout)
            return Msg.FromString(await asyncio.wait_for(read_frame(reader), self.timeout))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
