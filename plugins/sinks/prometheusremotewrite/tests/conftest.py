"""One real Prometheus (remote-write receiver on) for the session, started again for each test if stopped."""

from __future__ import annotations

from heapster.testing.servers import shared_server
from heapster_sink_prometheus.testing import prometheus_server

prometheus, receiver = shared_server(lambda _: prometheus_server(), session="prometheus", each="receiver")
