"""Entry-point module of heapster-sink-elasticsearch (skeleton)."""
