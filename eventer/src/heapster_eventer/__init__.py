"""heapster's eventer: ships Kubernetes events to the sinks, exactly once"""
