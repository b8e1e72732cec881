"""OpenTSDB (HTTP /api/put) sink for heapster."""
