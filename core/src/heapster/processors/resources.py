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


_KNOWN: dict[tuple[tuple[Any, ...], tuple[Any, ...]], dict[str, int]] = {}
"""Results by (requests, limits) items: most containers of a cluster share a few resource specs."""
_KNOWN_SIZE = 10_000


def container_resources(container: Mapping[str, Any]) -> dict[str, int]:
    """Metric name -> value for one spec container: every request, and cpu/memory/ephemeral limits.

    Missing cpu, memory and ephemeral-storage requests and limits are 0, as in Heapster;
    any other requested resource ``R`` becomes ``R/request``. A malformed quantity is
    logged and skipped (every time: specs with one are not remembered).
    """
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    spec: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
    known = None
    if isinstance(requests, dict) and isinstance(limits, dict) and all(
            type(q) is str for q in (*requests.values(), *limits.values())):  # 1 == 1.0 == True: strings only
        spec = (tuple(requests.items()), tuple(limits.items()))
        known = _KNOWN.get(spec)
    if known is not None:
        return dict(known)
    out, clean = _resources(container, requests, limits)
    if clean and spec is not None:
        if len(_KNOWN) >= _KNOWN_SIZE:
            _KNOWN.clear()
        _KNOWN[spec] = dict(out)
    return out


def _resources(container: Mapping[str, Any], requests: Mapping[str, Any],
               limits: Mapping[str, Any]) -> tuple[dict[str, int], bool]:
    clean = True
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
                clean = False
                log.warning("pod.resource.invalid", container=container.get("name"), resource=resource,
                            quantity=str(quantity))
    return out, clean
