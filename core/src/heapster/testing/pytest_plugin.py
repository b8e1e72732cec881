"""pytest plugin of heapster.testing (fixtures for plugin authors)."""
