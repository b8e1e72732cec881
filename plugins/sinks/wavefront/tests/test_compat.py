"""Every real-world Heapster command line with a wavefront sink is accepted; a bad wavefront URI exits 2."""

from __future__ import annotations

from heapster.testing.compat import SinkCompatSuite


class TestCompat(SinkCompatSuite):
    sink = "wavefront"
    bad_uris = (
        "wavefront:proxy:notaport",
        "wavefront:proxy:2878?includeContainers=maybe",
        "wavefront:proxy:2878?clustername=a",
    )
