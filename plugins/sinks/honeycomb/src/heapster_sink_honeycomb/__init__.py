"""Honeycomb sink for heapster: metric sets and events sent to the Honeycomb batch events API."""
