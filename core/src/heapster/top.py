"""``heapster top nodes|pods``: kubectl-top style tables read from the Model API over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import FlagParser

DEFAULT_SERVER = "http://127.0.0.1:8082"
MODEL = "/api/v1/model"
CONCURRENCY = 32
PODS_PER_REQUEST = 100
"""Pods named in one ``pod-list`` request (keeps URLs short)."""

CPU_USAGE, MEMORY_USAGE = "cpu/usage_rate", "memory/working_set"
CPU_ALLOCATABLE, MEMORY_ALLOCATABLE = "cpu/node_allocatable", "memory/node_allocatable"
CPU_CAPACITY, MEMORY_CAPACITY = "cpu/node_capacity", "memory/node_capacity"
MI = 1024 * 1024


@dataclass
class Usage:
    """One table row: CPU in millicores and memory in bytes (None when not reported yet)."""

    namespace: str
    name: str
    cpu: float | None
    memory: float | None
    cpu_total: float | None = None
    memory_total: float | None = None


def format_cpu(millicores: float | None) -> str:
    """``250m`` as kubectl prints CPU usage."""
    return "<unknown>" if millicores is None else f"{int(millicores)}m"


def format_memory(value: float | None) -> str:
    """``512Mi`` as kubectl prints memory usage (whole mebibytes)."""
    return "<unknown>" if value is None else f"{int(value) // MI}Mi"


def format_percent(used: float | None, total: float | None) -> str:
    """``42%`` of the node's allocatable (kubectl's integer rounding down)."""
    if used is None or not total:
        return "<unknown>"
    return f"{int(used * 100 // total)}%"


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, as kubectl's tabwriter prints them."""
    table = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def node_table(rows: Sequence[Usage]) -> str:
    """``NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%``."""
    return render_table(
        ("NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"),
        ((r.name, format_cpu(r.cpu), format_percent(r.cpu, r.cpu_total), format_memory(r.memory),
          format_percent(r.memory, r.memory_total)) for r in rows),
    )


def pod_table(rows: Sequence[Usage], all_namespaces: bool) -> str:
    """``[NAMESPACE] NAME CPU(cores) MEMORY(bytes)``."""
    if all_namespaces:
        return render_table(("NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"),
                            ((r.namespace, r.name, format_cpu(r.cpu), format_memory(r.memory)) for r in rows))
    return render_table(("NAME", "CPU(cores)", "MEMORY(bytes)"),
                        ((r.name, format_cpu(r.cpu), format_memory(r.memory)) for r in rows))


def latest_value(result: Any) -> float | None:
    """The newest value of a Model API MetricResult (``{"metrics": [...], "latestTimestamp": ...}``)."""
    points = (result or {}).get("metrics") or []
    if not points:
        return None
    newest = max(points, key=lambda p: str(p.get("timestamp", "")))
    value = newest.get("value")
    return float(value) if isinstance(value, int | float) else None


def sort_rows(rows: list[Usage], sort_by: str) -> list[Usage]:
    """By name (default, grouped by namespace), or by cpu/memory, largest first."""
    if sort_by == "cpu":
        return sorted(rows, key=lambda r: (-(r.cpu or 0), r.namespace, r.name))
    if sort_by == "memory":
        return sorted(rows, key=lambda r: (-(r.memory or 0), r.namespace, r.name))
    return sorted(rows, key=lambda r: (r.namespace, r.name))


class ModelClient:
    """A small Model API reader with bounded concurrency and one-line errors."""

    def __init__(self, server: str, timeout: float) -> None:
        import aiohttp

        self.server = server.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def close(self) -> None:
        await self._session.close()

    async def get(self, path: str, *, missing: Any = None) -> Any:
        """GET ``MODEL + path`` as JSON; :class:`RuntimeFailure` naming the server on any failure.

        A 404 returns ``missing`` when given (an entity the store does not know), else it means
        the server has no Model API at all.
        """
        import aiohttp

        url = f"{self.server}{MODEL}{path}"
        try:
            async with self._limit, self._session.get(url) as resp:
                if resp.status == 404 and missing is not None:
                    return missing
                if resp.status == 404:
                    msg = (f"{self.server} serves no Model API ({url}: 404); is heapster running with its "
                           "in-memory store (not --disable_metric_sink)?")
                    raise RuntimeFailure(msg)
                if resp.status != 200:
                    body = (await resp.text())[:200].strip()
                    msg = f"{url}: HTTP {resp.status}: {body}"
                    raise RuntimeFailure(msg)
                return await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            msg = f"cannot reach heapster at {self.server}: {exc.os_error or exc}"
            raise RuntimeFailure(msg) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            msg = f"request to {url} failed: {type(exc).__name__} {exc}".rstrip()
            raise RuntimeFailure(msg) from None
        except ValueError as exc:
            msg = f"{url} did not return JSON: {exc}"
            raise RuntimeFailure(msg) from None

    async def metric(self, path: str, name: str) -> float | None:
        return latest_value(await self.get(f"{path}/metrics/{name}", missing={}))


async def node_usage(client: ModelClient) -> list[Usage]:
    """Usage and allocatable of every node the store knows."""

    async def one(node: str) -> Usage:
        path = f"/nodes/{quote(node, safe='')}"
        cpu, mem, cpu_alloc, mem_alloc = await asyncio.gather(
            client.metric(path, CPU_USAGE), client.metric(path, MEMORY_USAGE),
            client.metric(path, CPU_ALLOCATABLE), client.metric(path, MEMORY_ALLOCATABLE))
        if not cpu_alloc:
            cpu_alloc = await client.metric(path, CPU_CAPACITY)
        if not mem_alloc:
            mem_alloc = await client.metric(path, MEMORY_CAPACITY)
        return Usage("", node, cpu, mem, cpu_alloc, mem_alloc)

    nodes = await client.get("/nodes/") or []
    return list(await asyncio.gather(*(one(n) for n in nodes)))


async def pod_usage(client: ModelClient, namespace: str | None) -> list[Usage]:
    """Usage of every pod in ``namespace`` (all namespaces when None), via ``pod-list`` requests."""

    async def chunk(ns: str, pods: list[str]) -> list[Usage]:
        base = f"/namespaces/{quote(ns, safe='')}/pod-list/{','.join(quote(p, safe='') for p in pods)}"
        cpu, mem = await asyncio.gather(client.get(f"{base}/metrics/{CPU_USAGE}"),
                                        client.get(f"{base}/metrics/{MEMORY_USAGE}"))
        cpu_items = (cpu or {}).get("items") or []
        mem_items = (mem or {}).get("items") or []
        return [Usage(ns, pod, latest_value(cpu_items[i] if i < len(cpu_items) else None),
                      latest_value(mem_items[i] if i < len(mem_items) else None))
                for i, pod in enumerate(pods)]

    async def in_namespace(ns: str) -> list[Usage]:
        pods = sorted(await client.get(f"/namespaces/{quote(ns, safe='')}/pods/", missing=[]) or [])
        parts = await asyncio.gather(*(chunk(ns, pods[i:i + PODS_PER_REQUEST])
                                       for i in range(0, len(pods), PODS_PER_REQUEST)))
        return [row for part in parts for row in part]

    namespaces = [namespace] if namespace else sorted(await client.get("/namespaces/") or [])
    groups = await asyncio.gather(*(in_namespace(ns) for ns in namespaces))
    return [row for group in groups for row in group]


def top_parser() -> FlagParser:
    """``heapster top nodes|pods`` flags."""
    p = FlagParser(prog="heapster top", allow_abbrev=False,
                   description="Show CPU and memory of nodes or pods from a running heapster's Model API.")
    p.add_argument("resource", choices=("nodes", "node", "no", "pods", "pod", "po"),
                   help="what to show: nodes or pods")
    p.add_argument("-n", "--namespace", default=None,
                   help="namespace of the pods (default: 'default'; -A for all)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("--server", default=os.environ.get("HEAPSTER_SERVER", DEFAULT_SERVER),
                   help=f"heapster's HTTP API (default $HEAPSTER_SERVER or {DEFAULT_SERVER})")
    p.add_argument("--sort-by", choices=("name", "cpu", "memory"), default="name", help="row order")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)")
    p.add_argument("--no-headers", action="store_true", help="omit the header line")
    return p


async def _collect(options: argparse.Namespace, pods: bool) -> list[Usage]:
    client = ModelClient(options.server, options.timeout)
    try:
        if pods:
            namespace = None if options.all_namespaces else (options.namespace or "default")
            return await pod_usage(client, namespace)
        return await node_usage(client)
    finally:
        await client.close()


def top_command(argv: Sequence[str]) -> int:
    """Run ``heapster top``; raises :class:`UsageError` (exit 2) or :class:`RuntimeFailure` (exit 1)."""
    options = top_parser().parse_args(list(argv))
    if not options.server.startswith(("http://", "https://")):
        msg = f"--server must be an http:// or https:// URL, got {options.server!r}"
        raise UsageError(msg)
    pods = options.resource.startswith("po")
    if not pods and (options.namespace or options.all_namespaces):
        msg = "-n/--namespace and -A apply to 'heapster top pods' only"
        raise UsageError(msg)
    rows = sort_rows(asyncio.run(_collect(options, pods)), options.sort_by)
    if not rows:
        what = "pods" if pods else "nodes"
        where = "" if not pods or options.all_namespaces else f" in namespace {options.namespace or 'default'!r}"
        msg = (f"no {what}{where} in the Model API at {options.server} yet: metrics appear after the first "
               "scrape (one --metric_resolution after start)")
        raise RuntimeFailure(msg)
    table = pod_table(rows, options.all_namespaces) if pods else node_table(rows)
    if options.no_headers:
        table = table.split("\n", 1)[1]
    sys.stdout.write(table)
    return 0
