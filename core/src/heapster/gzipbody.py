"""Gzipped request bodies for sinks: a fast level, and large bodies compressed off the event loop."""

from __future__ import annotations

import asyncio
import gzip

GZIP_LEVEL = 1
"""Fast compression: most of the size gain of higher levels at a fraction of the CPU."""

IN_THREAD_ABOVE = 65536
"""Bodies larger than this (bytes) are compressed in a worker thread (zlib releases the GIL)."""


async def gzip_body(body: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``body`` gzipped; in a thread when large, so the event loop keeps scraping meanwhile."""
    if len(body) > IN_THREAD_ABOVE:
        return await asyncio.to_thread(gzip.compress, body, level)
    return gzip.compress(body, level)
