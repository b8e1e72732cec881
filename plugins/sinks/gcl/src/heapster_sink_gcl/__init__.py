"""Google Cloud Logging (gcl) event sink for heapster's eventer: Kubernetes events as log entries."""
