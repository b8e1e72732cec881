"""`python -m heapster_simulator` runs the simulator command line."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
