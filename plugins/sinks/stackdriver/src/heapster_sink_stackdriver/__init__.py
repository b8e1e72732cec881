"""Stackdriver (Cloud Monitoring v3) sink for heapster: Heapster's time series through the official client."""
