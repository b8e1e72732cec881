"""TLS between shards: the client side of every peer call, and a start-up check that peers will accept it.

A shard's HTTP API with ``--tls_client_ca`` wants a client certificate on every request (the peers' fan-out
and partials requests included). A shard presents ``--shard_client_cert``/``--shard_client_key``, by default
its own serving certificate (``--tls_cert``/``--tls_key``) when that one may authenticate a client (extended
key usage ``clientAuth``, or none). It verifies its peers' serving certificates with ``--shard_peer_ca`` (the
system's trust store when empty). :func:`peer_ssl_context` checks at start, by a TLS handshake in memory
against a server configured as every shard's API is (same ``--tls_client_ca``), that peers will take the
client certificate, and that its CN is in ``--allowed_users`` when that list is set: a shard that peers would
refuse exits 2 naming the flags instead of answering for itself alone forever.
"""

from __future__ import annotations

import ssl
from typing import Any

from heapster.api.security import common_name
from heapster.api.security import load_tls as _load
from heapster.errors import UsageError
from heapster.settings import HeapsterSettings

_FLAGS = "--shard_client_cert/--shard_client_key"


def client_certificate(settings: HeapsterSettings) -> tuple[str, str, str]:
    """``(cert, key, from which flags)`` a shard presents to its peers; ``("", "", "")`` for none."""
    if settings.shard_client_cert:
        return settings.shard_client_cert, settings.shard_client_key, _FLAGS
    if settings.tls_client_ca:
        return settings.tls_cert, settings.tls_key, "--tls_cert/--tls_key"
    return "", "", ""


def peer_ssl_context(settings: HeapsterSettings) -> ssl.SSLContext | None:
    """The client TLS context of calls to peers (None when peers serve plain HTTP); :class:`UsageError` when the
    files cannot be loaded or peers would refuse the client certificate."""
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.shard_peer_ca:
        _load(lambda: context.load_verify_locations(cafile=settings.shard_peer_ca), "--shard_peer_ca")
    cert, key, flags = client_certificate(settings)
    if cert:
        _load(lambda: context.load_cert_chain(cert, key or None), flags)
    if settings.tls_client_ca:
        check_accepted(settings, cert, key, flags)
    return context


def check_accepted(settings: HeapsterSettings, cert: str, key: str, flags: str) -> None:
    """:class:`UsageError` unless a server with this shard's ``--tls_cert``, ``--tls_client_ca`` and
    ``--allowed_users`` accepts ``cert`` as a client certificate."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load(lambda: server.load_cert_chain(settings.tls_cert, settings.tls_key or None), "--tls_cert/--tls_key")
    _load(lambda: server.load_verify_locations(cafile=settings.tls_client_ca), "--tls_client_ca")
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # only the server's verdict on the client certificate matters here
    client.load_cert_chain(cert, key or None)
    try:
        peercert = handshake(server, client)
    except ssl.SSLError as exc:
        reason = getattr(exc, "verify_message", "") or exc.reason or str(exc)
        msg = (f"peer shards would refuse the client certificate of {flags} ({cert}): {reason}; with --tls_client_ca "
               f"a shard needs a certificate signed by that CA with extended key usage clientAuth "
               f"(give one with {_FLAGS} when the serving certificate is not one)")
        raise UsageError(msg) from None
    user = common_name(peercert)
    allowed = {u for u in settings.allowed_users if u}
    if allowed and user not in allowed:
        msg = (f"peer shards would answer 403: the CN {user!r} of the client certificate of {flags} is not in "
               f"--allowed_users; add it")
        raise UsageError(msg)


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> dict[str, Any]:
    """Run a TLS handshake between the two contexts in memory; the client certificate as the server saw it.

    Raises the server's :class:`ssl.SSLError` when it refuses the client's certificate.
    """
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, client_in = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server.wrap_bio(server_in, to_client, server_side=True)
    client_end = client.wrap_bio(client_in, to_server, server_side=False)
    done = {"client": False, "server": False}
    for _ in range(16):
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(to_server.read())
        client_in.write(to_client.read())
        if done["server"]:
            return server_end.getpeercert() or {}
    msg = "the TLS handshake did not finish"
    raise ssl.SSLError(msg)

