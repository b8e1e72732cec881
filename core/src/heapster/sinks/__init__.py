"""Sinks built into heapster-core."""
