"""Riemann sink for heapster: metrics and events as Riemann events (protobuf over TCP)."""
