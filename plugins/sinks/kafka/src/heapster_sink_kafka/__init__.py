"""Apache Kafka sink for heapster: metrics and events as Heapster's JSON messages."""
