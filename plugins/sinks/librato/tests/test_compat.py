"""Every real-world Heapster command line with a librato sink is accepted; a bad librato URI exits 2."""

from __future__ import annotations

from heapster.testing.compat import SinkCompatSuite


class TestCompat(SinkCompatSuite):
    sink = "librato"
    bad_uris = (
        "librato:?username=u",
        "librato:?token=t0psecret",
        "librato:?username=u&token=t0psecret&tagcluster=a",
    )
