"""A gRPC test double's plumbing: its own event loop thread, a free loopback port, start/stop/shutdown.

Subclasses (the Cloud Monitoring and Cloud Logging doubles) give the service, the method and its handler.
``grpc`` is imported only when a double starts, so core does not depend on it.
"""

from __future__ import annotations

import threading
from typing import Any

from heapster.testing.net import LoopThread, free_port


class GrpcDouble:
    """One unary gRPC method served on ``127.0.0.1:<free port>`` from a background thread."""

    service = ""
    method = ""
    server_options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, name: str) -> None:
        self._loop_thread = LoopThread(name)
        self.loop = self._loop_thread.loop
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = free_port()
        self.fail_with: Any = None
        """A ``grpc.StatusCode``: when set, every request is refused with it and nothing is written."""

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def healthy(self) -> Any:
        """Serving and not failing, whatever an earlier test did (for a double shared by a session); returns it."""
        self.fail_with = None
        if not self.running:
            self.start()
        return self

    async def refuse_if_failing(self, context: Any) -> None:
        """Abort the call with :attr:`fail_with` when it is set (call first in a handler)."""
        if self.fail_with is not None:
            await context.abort(self.fail_with, "the test double is failing on purpose")

    def handler(self) -> Any:
        """The ``grpc`` RPC method handler of :attr:`method` (``grpc.unary_unary_rpc_method_handler(...)``)."""
        raise NotImplementedError

    def _run(self, coroutine: Any) -> Any:
        return self._loop_thread.run(coroutine, 15)

    def start(self) -> Any:
        """Listen (again, on the same port); returns the double."""
        import grpc

        async def listen() -> None:
            server = grpc.aio.server(options=list(self.server_options))
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(self.service, {self.method: self.handler()}),))
            server.add_insecure_port(self.endpoint)
            await server.start()
            self._server = server

        self._run(listen())
        return self

    def stop(self) -> None:
        """Stop listening (an outage); :meth:`start` listens again."""
        async def close() -> None:
            if self._server is not None:
                server, self._server = self._server, None
                await server.stop(grace=None)

        self._run(close())

    def shutdown(self) -> None:
        """Stop for good and end the thread."""
        self.stop()
        self._loop_thread.close()
