"""Requests and limits of a pod's containers as Heapster's pod enricher turns them into metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from heapster.processors.quantity import milli_value, value

log = structlog.get_logger(__name__)

CPU, MEMORY, EPHEMERAL = "cpu", "memory", "ephemeral-storage"
_NAMED = {CPU: "cpu", MEMORY: "memory", EPHEMERAL: "ephemeral_storage"}


def _amount(resource: str, quantity: Any) -> int:
    return milli_value(quantity) if resource == CPU else value(quantity)


def container_resources(container: Mapping[str, Any]) -> dict[str, int]:
    """Metric name -> value for one spec container: every request, and cpu/memory/ephemeral limits.

    Missing cpu, memory and ephemeral-storage requests and limits are 0, as in Heapster;
    any other requested resource ``R`` becomes ``R/request``. A malformed quantity is
    logged and skipped.
    """
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    out: dict[str, int] = {}
    for named in _NAMED.values():
        out[f"{named}/request"] = 0
        out[f"{named}/limit"] = 0
    for kind, given in (("request", requests), ("limit", limits)):
        for resource, quantity in given.items():
            prefix = _NAMED.get(resource)
            if prefix is None and kind == "limit":
                continue  # Heapster exports no limits of other resources
            try:
                out[f"{prefix or resource}/{kind}"] = _amount(resource, quantity)
            except ValueError:
                log.warning("pod.resource.invalid", container=container.get("name"), resource=resource,
                            quantity=str(quantity))
    return out
