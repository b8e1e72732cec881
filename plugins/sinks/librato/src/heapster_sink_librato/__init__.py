"""Librato (SolarWinds AppOptics) metrics API sink for heapster."""
