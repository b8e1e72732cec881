"""Fixtures of the Elasticsearch sink tests: the shared test servers and the fixture event."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from heapster.testing.fixtures import FIXTURES
from heapster_sink_elasticsearch.testing import opensearch_server, opensearch_url, strict_es

__all__ = ["opensearch_server", "opensearch_url", "strict_es"]



@pytest.fixture
def fixture_event() -> dict[str, Any]:
    """The real GKE core/v1 Event of the shared fixtures."""
    event: dict[str, Any] = json.loads((FIXTURES / "event-core-v1-gke-2019.json").read_text())
    return event


@pytest.fixture
def event_variant(fixture_event: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """Copies of the fixture event with their own uid and name and some top-level fields changed."""

    def make(n: int, **changes: Any) -> dict[str, Any]:
        copied = copy.deepcopy(fixture_event)
        copied["metadata"]["uid"] = f"{copied['metadata']['uid'][:-4]}{n:04d}"
        copied["metadata"]["name"] = f"{copied['metadata']['name']}-{n}"
        copied.update(changes)
        return copied

    return make
