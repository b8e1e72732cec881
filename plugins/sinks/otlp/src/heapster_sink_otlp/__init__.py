"""OpenTelemetry OTLP/HTTP sink for heapster and the eventer."""
