"""The ``heapster`` command (being written)."""

from __future__ import annotations


def main() -> int:
    """Run heapster."""
    return 0
