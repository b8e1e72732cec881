"""Kubernetes source for heapster: reads every kubelet's summary API and the cluster's events"""
