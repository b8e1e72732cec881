"""Plain-text line protocols over TCP and UDP (Graphite, StatsD, the Wavefront proxy), with delivery checks.

These protocols have no acknowledgements. To still tell a delivered batch from a lost one:

* TCP: one connection per send; after the payload we close our half of the connection and wait for
  the server to close its half. A line server closes when it has read our end of stream, so that
  close means every byte before it was read. A server that keeps the connection open past
  ``confirm_timeout`` is taken as having received the data (logged at debug level).
* UDP: the socket is connected, so an ICMP "port unreachable" (nobody listening) turns into an
  error on the next send or in ``SO_ERROR``, which is read after the last datagram.

Either way a failure raises :class:`RetryableError`, and the sink queue sends the batch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Iterable

import structlog

from heapster.errors import RetryableError

log = structlog.get_logger(__name__)


def split_host_port(hostport: str, default_host: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``host`` or ``""`` to ``(host, port)``; ``ValueError`` on a bad port."""
    host, port_text = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            msg = f"missing ']' in {hostport!r}"
            raise ValueError(msg)
        host, rest = hostport[1:end], hostport[end + 1:]
        if rest and not rest.startswith(":"):
            msg = f"unexpected {rest!r} after ']' in {hostport!r}"
            raise ValueError(msg)
        port_text = rest[1:]
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        msg = f"bad port {port_text!r} in {hostport!r}"
        raise ValueError(msg)
    return host or default_host, int(port_text) if port_text else default_port


class TcpLineSender:
    """Sends one payload per connection and waits for the server to have read all of it."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0, confirm_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def send(self, payload: bytes) -> None:
        """Write ``payload`` on a new connection; :class:`RetryableError` if it may not have arrived."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise RetryableError(f"cannot connect to {self.address}: {_reason(exc)}") from None
        try:
            writer.write(payload)
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            await self._wait_for_close(reader)
        except OSError as exc:
            raise RetryableError(f"sending to {self.address} failed: {_reason(exc)}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _wait_for_close(self, reader: asyncio.StreamReader) -> None:
        try:
            async with asyncio.timeout(self.confirm_timeout):
                while await reader.read(65536):
                    pass
        except TimeoutError:
            log.debug("lines.tcp.unconfirmed", address=self.address, waited=self.confirm_timeout)


class UdpLineSender:
    """Sends datagrams on a connected UDP socket, noticing "port unreachable" answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def _socket(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise RetryableError(f"cannot resolve {self.host!r}: {_reason(exc)}") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise RetryableError(f"cannot reach {self.address}: {_reason(exc)}") from None
        self._sock = sock
        return sock

    async def send(self, datagrams: Iterable[bytes]) -> None:
        """Send every datagram; :class:`RetryableError` when the destination reported it unreachable."""
        sock = await self._socket()
        loop = asyncio.get_running_loop()
        try:
            self._raise_pending(sock)
            for datagram in datagrams:
                await loop.sock_sendall(sock, datagram)
            await asyncio.sleep(0)  # let a loopback ICMP answer land before reading SO_ERROR
            self._raise_pending(sock)
        except OSError as exc:
            raise RetryableError(f"sending to {self.address} failed: {_reason(exc)}") from None

    @staticmethod
    def _raise_pending(sock: socket.socket) -> None:
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in errno.errorcode:
        return f"{errno.errorcode[exc.errno]} {exc.strerror}"
    return str(exc) or type(exc).__name__
