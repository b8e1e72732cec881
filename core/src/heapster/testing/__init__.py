"""Test helpers for heapster and its plugin authors."""
