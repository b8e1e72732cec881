"""Every real-world Heapster command line with a opentsdb sink is accepted; a bad opentsdb URI exits 2."""

from __future__ import annotations

from heapster.testing.compat import SinkCompatSuite


class TestCompat(SinkCompatSuite):
    sink = "opentsdb"
    bad_uris = (
        "opentsdb:http://t:x",
        "opentsdb:?cluster=a%20b",
        "opentsdb:?clustr=a",
    )
