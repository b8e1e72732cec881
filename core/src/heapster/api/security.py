"""TLS for the HTTP API and client-certificate authentication with ``--allowed_users`` (HEAPSTER.md §1.1)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from heapster.api.instrument import Handler
from heapster.api.responses import error_response
from heapster.errors import UsageError
from heapster.settings import HeapsterSettings

UNWRAPPED_PREFIX = "/healthz"
PROBES = frozenset({"/readyz", "/livez"})
"""Probe endpoints that, like Heapster's /healthz, need no client certificate (they reveal only ok/not ok)."""


def load_tls(load: Callable[[], object], flags: str) -> None:
    """Run ``load`` (a context's ``load_cert_chain``/``load_verify_locations``); :class:`UsageError` naming the
    ``flags`` whose files could not be read (missing, not PEM, key not matching)."""
    try:
        load()
    except (OSError, ssl.SSLError) as exc:
        msg = f"cannot load {flags}: {getattr(exc, 'strerror', None) or exc}"
        raise UsageError(msg) from None


def ssl_context(settings: HeapsterSettings) -> ssl.SSLContext | None:
    """The server TLS context from ``tls_cert``/``tls_key`` (and ``tls_client_ca``), or None for plain HTTP;
    :class:`UsageError` naming the flag whose file cannot be loaded."""
    cert = settings.tls_cert
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    load_tls(lambda: context.load_cert_chain(cert, settings.tls_key or None), "--tls_cert/--tls_key")
    ca = settings.tls_client_ca
    if ca:
        load_tls(lambda: context.load_verify_locations(cafile=ca), "--tls_client_ca")
        # Certificates are verified when given; requests without one get 401 from the middleware.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def common_name(peercert: Mapping[str, Any] | None) -> str | None:
    """The subject CN of a verified peer certificate (``SSLSocket.getpeercert()`` form).

    With several CNs in the subject the last one counts, as in Go's ``pkix.Name`` that Heapster used.
    """
    if not peercert:
        return None
    names = [str(value) for rdn in peercert.get("subject", ()) for key, value in rdn if key == "commonName"]
    return names[-1] if names else None


def client_cert_middleware(allowed_users: Iterable[str]) -> Any:
    """401 without a verified client certificate, 403 when its CN is not an allowed user; probes are open."""
    allowed = frozenset(user for user in allowed_users if user)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == UNWRAPPED_PREFIX or path.startswith(UNWRAPPED_PREFIX + "/") or path in PROBES:
            return await handler(request)
        transport = request.transport
        user = common_name(transport.get_extra_info("peercert") if transport is not None else None)
        if user is None:
            return error_response(401, "Unauthorized")
        if allowed and user not in allowed:
            return error_response(403, f"Forbidden: user {user!r} is not allowed")
        return await handler(request)

    return authenticate
