"""Entry-point module of heapster-source-kubernetes (skeleton; filled in by the Kubernetes source issue)."""
