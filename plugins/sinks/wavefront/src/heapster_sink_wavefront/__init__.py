"""Wavefront proxy sink for heapster."""
