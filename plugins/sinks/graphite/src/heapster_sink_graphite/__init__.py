"""Graphite (carbon plaintext protocol) sink for heapster."""
