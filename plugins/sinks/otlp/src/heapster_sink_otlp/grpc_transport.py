"""OTLP/gRPC: the collector's ``MetricsService/Export`` and ``LogsService/Export`` over one channel.

The bodies the encoders make are serialized ``Export*ServiceRequest`` messages, so they are sent as they
are (no serializer); gzip is gRPC's own message compression. Failures come back as :class:`PostResult`
with the gRPC code, retryable as the OTLP spec says (:data:`RETRYABLE_GRPC_CODES`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import grpc

from heapster_sink_otlp.config import OtlpConfig
from heapster_sink_otlp.transport import MAX_ERROR_CHARS, USER_AGENT, PostResult

METRICS_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
DEFAULT_GRPC_PORT = 4317


class GrpcTransport:
    """Sends serialized export requests on one gRPC channel (same interface as ``OtlpTransport``)."""

    def __init__(self, config: OtlpConfig) -> None:
        self.config = config
        parts = urlsplit(config.endpoint)
        self.target = f"{parts.hostname}:{parts.port or DEFAULT_GRPC_PORT}"
        self.secure = parts.scheme == "https"
        self._metadata = tuple((name.lower(), value) for name, value in config.headers.items())
        self._channel: Any = None
        self._methods: dict[str, Any] = {}

    def _method(self, path: str) -> Any:
        if self._channel is None:
            options = [("grpc.primary_user_agent", USER_AGENT)]
            compression = grpc.Compression.Gzip if self.config.gzip else grpc.Compression.NoCompression
            if self.secure:
                self._channel = grpc.aio.secure_channel(self.target, grpc.ssl_channel_credentials(),
                                                        options=options, compression=compression)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, options=options, compression=compression)
            self._methods = {}
        name = LOGS_METHOD if path == self.config.logs_path else METRICS_METHOD
        found = self._methods.get(name)
        if found is None:
            found = self._methods[name] = self._channel.unary_unary(name)  # bytes in, bytes out
        return found

    async def compress(self, body: bytes) -> bytes:
        """Unchanged: gRPC compresses the message itself."""
        return body

    async def post(self, path: str, body: bytes) -> PostResult:
        """Call Export with a serialized request; never raises for network trouble."""
        try:
            answer = await self._method(path)(body, timeout=self.config.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            message = self.config.redact(str(exc.details() or ""))[:MAX_ERROR_CHARS]
            return PostResult(1, message, grpc_code=exc.code().name)
        return PostResult(200, body=bytes(answer or b""))

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
