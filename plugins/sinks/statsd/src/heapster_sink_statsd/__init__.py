"""StatsD sink for heapster (Etsy and InfluxDB statsd line formats over UDP)."""
