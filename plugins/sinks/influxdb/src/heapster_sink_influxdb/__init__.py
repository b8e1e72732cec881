"""InfluxDB sink for heapster: metrics, events and the historical API"""
