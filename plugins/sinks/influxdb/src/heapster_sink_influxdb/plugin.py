"""Entry-point module of heapster-sink-influxdb (skeleton)."""
