"""The ``eventer`` command (skeleton)."""

from __future__ import annotations


def main() -> int:
    """Run the eventer."""
    raise SystemExit("eventer: not built yet")
