"""An ``elastic_transport`` transport that speaks each server's own media types.

The ``elasticsearch`` 8/9 client rewrites every ``application/json`` and ``application/x-ndjson``
to ``application/vnd.elasticsearch+...; compatible-with=<client major>``, which OpenSearch and
Elasticsearch 7 reject and Elasticsearch 8 rejects from a 9.x client. The client hands every
request to its transport, so this transport sets the media types the detected server takes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from elastic_transport import AsyncTransport, HttpHeaders, TransportApiResponse

from heapster_sink_elasticsearch.server import MediaTypes

_MEDIA_HEADERS = ("accept", "content-type")


class NegotiatingTransport(AsyncTransport):
    """Rewrites ``Accept``/``Content-Type`` to :attr:`media` once the server is known.

    Before detection (:attr:`media` is ``None``) only body-less requests go out and they carry
    no media headers, which every server answers with JSON. ``vouch_for_product`` is set for a
    detected OpenSearch or Elasticsearch 7.0-7.13: those send no ``X-Elastic-Product`` header, and
    the client would refuse them although we checked the product ourselves on ``GET /``.
    """

    media: MediaTypes | None = None
    vouch_for_product: bool = False
    auth_header: str = ""
    """``Authorization`` for requests the client makes below its own API (``GET /``, sniffing)."""

    async def perform_request(  # type: ignore[override]
        self, method: str, target: str, *, headers: Any = None, **kwargs: Any
    ) -> TransportApiResponse:
        request_headers = HttpHeaders(headers if isinstance(headers, Mapping) else {})
        if self.auth_header and "authorization" not in request_headers:
            request_headers["authorization"] = self.auth_header
        for name in _MEDIA_HEADERS:
            value = request_headers.get(name)
            if value is None:
                continue
            if self.media is None:
                if name == "accept":
                    del request_headers[name]
            else:
                request_headers[name] = self.media.rewrite(value)
        response = await super().perform_request(method, target, headers=request_headers, **kwargs)
        if self.vouch_for_product and "x-elastic-product" not in response.meta.headers:
            vouched = response.meta.headers.copy()
            vouched["x-elastic-product"] = "Elasticsearch"
            meta = dataclasses.replace(response.meta, headers=vouched)
            return TransportApiResponse(meta, response.body)
        return response
