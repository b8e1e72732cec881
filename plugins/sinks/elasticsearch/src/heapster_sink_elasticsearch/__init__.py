"""Elasticsearch and OpenSearch sink for heapster: metrics and events"""
