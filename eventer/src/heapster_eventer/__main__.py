"""``python -m heapster_eventer``: the same as the ``eventer`` command."""

from __future__ import annotations

import sys

from heapster_eventer.cli import main

sys.exit(main())
