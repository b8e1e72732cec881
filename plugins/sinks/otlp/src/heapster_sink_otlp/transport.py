"""POSTing OTLP/HTTP protobuf bodies and sorting the answers into retry / drop, as the OTLP spec says.

Retryable: 429, 502, 503, 504 (and any other 5xx), and no answer at all. Anything else >= 300 is
permanent. A ``200`` with ``partial_success.rejected_*`` counts the rejected items as dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from heapster.gzipbody import gzip_body
from heapster.httpsession import LazySession
from heapster_sink_otlp.config import OtlpConfig

MAX_ERROR_CHARS = 300
USER_AGENT = "heapster-sink-otlp/1.0"


@dataclass(frozen=True, slots=True)
class PostResult:
    """What happened to one request: ``status`` 0 when the receiver could not be reached."""

    status: int
    error: str = ""
    body: bytes = b""
    grpc_code: str = ""
    """The gRPC status code name of a failed OTLP/gRPC call (``status`` is then 1)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.grpc_code:
            return self.grpc_code in RETRYABLE_GRPC_CODES
        return self.status in {0, 429} or self.status >= 500

    def describe(self) -> str:
        """What went wrong, for errors and logs."""
        if self.grpc_code:
            return f"gRPC {self.grpc_code}: {self.error}"
        return self.error if self.status == 0 else f"HTTP {self.status}: {self.error}"


RETRYABLE_GRPC_CODES = frozenset({"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE",
                                  "DATA_LOSS", "RESOURCE_EXHAUSTED"})
"""OTLP/gRPC: the codes a client retries (RESOURCE_EXHAUSTED too: receivers send it when overloaded);
never INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ..."""


def _status_message(body: bytes, content_type: str) -> str:
    if content_type == "application/x-protobuf":  # a google.rpc.Status: its message is field 2
        return body.decode(errors="replace").strip("\x00\x08\x10\x12").strip()
    return body.decode(errors="replace").strip()


class OtlpTransport:
    """One aiohttp session posting protobuf bodies to the receiver's paths."""

    def __init__(self, config: OtlpConfig) -> None:
        self.config = config
        self._session = LazySession(self._new_session)
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT}
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=not self.config.insecure_ssl),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            headers={**self._headers, **self.config.headers})

    async def compress(self, body: bytes) -> bytes:
        """The body as sent (gzip in a thread when large)."""
        if not self.config.gzip:
            return body
        return await gzip_body(body)

    async def post(self, path: str, body: bytes) -> PostResult:
        """POST an already compressed body; never raises for network trouble."""
        try:
            async with self._session.get().post(self.config.endpoint + path, data=body) as resp:
                data = await resp.read()
                if 200 <= resp.status < 300:
                    return PostResult(resp.status, body=data)
                message = _status_message(data, resp.content_type)[:MAX_ERROR_CHARS]
                return PostResult(resp.status, self.config.redact(message))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return PostResult(0, f"{type(exc).__name__}: receiver unreachable")

    async def close(self) -> None:
        await self._session.close()
