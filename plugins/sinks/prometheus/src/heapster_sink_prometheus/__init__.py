"""Prometheus scrape-endpoint sink for heapster."""
