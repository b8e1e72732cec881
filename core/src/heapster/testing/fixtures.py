"""Where the recorded Kubernetes payloads (kubelet summaries, nodes, pods, events) used by the tests live."""

from __future__ import annotations

import copy
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from heapster.timefmt import parse_rfc3339


def fixtures_dir() -> Path:
    """``$HEAPSTER_FIXTURES``, else the repository's ``tests/fixtures`` found above the working directory
    or above this file (an editable install)."""
    override = os.environ.get("HEAPSTER_FIXTURES")
    if override:
        return Path(override)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "tests" / "fixtures"
            if (candidate / "kubelet-stats-summary-v1.35.json").is_file():
                return candidate
    msg = "tests/fixtures not found: run from the repository or set HEAPSTER_FIXTURES"
    raise FileNotFoundError(msg)


FIXTURES = fixtures_dir()


def shifted(summary: dict[str, Any], seconds: int) -> dict[str, Any]:
    """A copy of a kubelet summary with every sample ``time`` moved ``seconds`` later (a later scrape)."""
    out = copy.deepcopy(summary)

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "time" and isinstance(value, str):
                    obj[key] = (parse_rfc3339(value) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
                else:
                    walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(out)
    return out


def pod_of(summary: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The first pod of a summary whose name starts with ``prefix``."""
    pod: dict[str, Any] = next(p for p in summary["pods"] if p["podRef"]["name"].startswith(prefix))
    return pod
