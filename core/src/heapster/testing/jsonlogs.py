"""Reading the JSON log lines (``--log-format=json``) a daemon under test wrote to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_log_records(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """Every JSON object line of ``path`` (those whose ``event`` is ``event`` only, if given); other lines
    (a traceback, a line cut short by a crash) are skipped."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (event is None or record.get("event") == event):
            records.append(record)
    return records
