"""Every real-world Heapster command line with a graphite sink is accepted; a bad graphite URI exits 2."""

from __future__ import annotations

from heapster.testing.compat import SinkCompatSuite


class TestCompat(SinkCompatSuite):
    sink = "graphite"
    bad_uris = (
        "graphite:http://carbon:2003",
        "graphite:tcp://carbon:notaport",
        "graphite:tcp://carbon:2003?prefx=a",
    )
