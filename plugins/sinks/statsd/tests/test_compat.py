"""Every real-world Heapster command line with a statsd sink is accepted; a bad statsd URI exits 2."""

from __future__ import annotations

from heapster.testing.compat import SinkCompatSuite


class TestCompat(SinkCompatSuite):
    sink = "statsd"
    bad_uris = (
        "statsd:udp://d:1?protocolType=dogstatsd",
        "statsd:udp://d:notaport",
        "statsd:udp://d:8125?numMetricsPerMsg=0",
    )
