"""``python -m heapster_eventer``: the same as the ``eventer`` command."""

from __future__ import annotations

from heapster_eventer.launch import run

run()
