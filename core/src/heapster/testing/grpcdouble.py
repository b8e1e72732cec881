"""A gRPC test double's plumbing: a :class:`~heapster.testing.net.ServerThread` serving unary methods.

Subclasses (the Cloud Monitoring, Cloud Logging and OTLP doubles) give the service, the method and its
handler (or :meth:`GrpcDouble.generic_handlers` for more). ``grpc`` is imported only when a double
starts, so core does not depend on it.
"""

from __future__ import annotations

import threading
from typing import Any

from heapster.testing.net import ServerThread, free_port


class _GrpcServer:
    """The double's ``grpc.aio`` server on 127.0.0.1:``port``, started and stopped on the loop thread."""

    def __init__(self, double: GrpcDouble, port: int) -> None:
        self.double = double
        self.port = port
        self._server: Any = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        import grpc

        if self._server is None:
            server = grpc.aio.server(options=list(self.double.server_options))
            server.add_generic_rpc_handlers(tuple(self.double.generic_handlers()))
            server.add_insecure_port(f"127.0.0.1:{self.port}")
            await server.start()
            self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(grace=None)


class GrpcDouble(ServerThread):
    """Unary gRPC methods served on ``127.0.0.1:<free port>`` from a background thread."""

    service = ""
    method = ""
    server_options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, name: str) -> None:
        super().__init__(_GrpcServer(self, free_port()), name=name)
        self._lock = threading.Lock()
        self.fail_with: Any = None
        """A ``grpc.StatusCode``: when set, every request is refused with it and nothing is written."""

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

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

    def generic_handlers(self) -> list[Any]:
        """The ``grpc`` generic handlers served: :attr:`method` of :attr:`service` (override for more services)."""
        import grpc

        return [grpc.method_handlers_generic_handler(self.service, {self.method: self.handler()})]

    def shutdown(self) -> None:
        """Stop for good and end the thread."""
        self.close()
