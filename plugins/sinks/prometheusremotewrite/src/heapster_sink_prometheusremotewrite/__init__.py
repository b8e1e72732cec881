"""Prometheus remote-write sink for heapster."""
