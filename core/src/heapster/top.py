"""``heapster top node|pod [NAME]``: ``kubectl top`` tables read from a running heapster over HTTP.

Usage comes from heapster's ``metrics.k8s.io/v1beta1`` API (what ``kubectl top`` reads: CPU rate and working
set, label selectors applied by the server); node allocatable/capacity and the lists used to explain an empty
answer come from the Model API.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from heapster.errors import RuntimeFailure, UsageError
from heapster.flags import FlagParser
from heapster.tables import render_table

DEFAULT_SERVER = "http://127.0.0.1:8082"
MODEL = "/api/v1/model"
METRICS = "/apis/metrics.k8s.io/v1beta1"
MISSING_SHARDS = "X-Heapster-Missing-Shards"
"""Header of a sharded heapster's answers that lack some shards (heapster.shards.MISSING_HEADER)."""
CONCURRENCY = 32

CPU_ALLOCATABLE, MEMORY_ALLOCATABLE = "cpu/node_allocatable", "memory/node_allocatable"
CPU_CAPACITY, MEMORY_CAPACITY = "cpu/node_capacity", "memory/node_capacity"
MI = 1024 * 1024
POD_FIELDS = ("metadata.name", "metadata.namespace")
"""Fields ``--field-selector`` can use: those metrics-server filters pod metrics on."""
SHOWN_NAMES = 10
"""Known names listed in an error message."""


@dataclass
class Usage:
    """One table row: CPU in millicores and memory in bytes (None when not reported yet)."""

    namespace: str
    name: str
    cpu: float | None
    memory: float | None
    cpu_total: float | None = None
    memory_total: float | None = None
    container: str = ""


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


def _with_sum(header: Sequence[str], rows: list[list[str]], usage: Sequence[Usage], show_sum: bool) -> str:
    """The table, plus kubectl's ``________`` line and the totals under CPU and memory with ``--sum``."""
    if show_sum:
        blanks = [""] * (len(header) - 2)
        known_cpu = [r.cpu for r in usage if r.cpu is not None]
        known_memory = [r.memory for r in usage if r.memory is not None]
        rows = [*rows, [*blanks, "________", "________"],
                [*blanks, format_cpu(sum(known_cpu)), format_memory(sum(known_memory))]]
    return render_table(header, rows)


def node_table(rows: Sequence[Usage]) -> str:
    """``NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)``, as kubectl 1.32 prints it."""
    return render_table(
        ("NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"),
        ((r.name, format_cpu(r.cpu), format_percent(r.cpu, r.cpu_total), format_memory(r.memory),
          format_percent(r.memory, r.memory_total)) for r in rows),
    )


def pod_table(rows: Sequence[Usage], all_namespaces: bool, containers: bool = False, show_sum: bool = False) -> str:
    """``[NAMESPACE] NAME CPU(cores) MEMORY(bytes)``; ``[NAMESPACE] POD NAME ...`` per container."""
    header = ["NAMESPACE"] if all_namespaces else []
    header += ["POD", "NAME"] if containers else ["NAME"]
    header += ["CPU(cores)", "MEMORY(bytes)"]
    cells = []
    for r in rows:
        row = [r.namespace] if all_namespaces else []
        row += [r.name, r.container] if containers else [r.name]
        cells.append([*row, format_cpu(r.cpu), format_memory(r.memory)])
    return _with_sum(header, cells, rows, show_sum)


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
        return sorted(rows, key=lambda r: (-(r.cpu or 0), r.namespace, r.name, r.container))
    if sort_by == "memory":
        return sorted(rows, key=lambda r: (-(r.memory or 0), r.namespace, r.name, r.container))
    return sorted(rows, key=lambda r: (r.namespace, r.name, r.container))


# --- quantities and selectors ------------------------------------------------------------------------------
def _usage(usage: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``{"cpu": "250m", "memory": "512Mi"}`` as (millicores, bytes)."""
    from heapster.processors.quantity import parse_quantity

    try:
        cpu = float(parse_quantity(usage["cpu"]) * 1000) if "cpu" in usage else None
        memory = float(parse_quantity(usage["memory"])) if "memory" in usage else None
    except (ValueError, ArithmeticError) as exc:
        msg = f"heapster answered a usage heapster top cannot read: {dict(usage)}: {exc}"
        raise RuntimeFailure(msg) from None
    return cpu, memory


def check_label_selector(text: str | None) -> None:
    """UsageError (exit 2) naming what is wrong with a ``-l`` selector."""
    from heapster.selectors import parse_selector

    try:
        parse_selector(text)
    except ValueError as exc:
        msg = f"-l/--selector {text!r}: {exc}"
        raise UsageError(msg) from None


def field_selector(text: str | None) -> Callable[[str, str], bool]:
    """A predicate over (namespace, name) from ``--field-selector`` (``metadata.name``/``metadata.namespace``
    with ``=``, ``==``, ``!=``, comma-separated); UsageError naming the bad term and the valid fields."""
    from heapster.selectors import parse_field_selector

    try:
        selector = parse_field_selector(text)
    except ValueError as exc:
        msg = f"--field-selector: {exc}"
        raise UsageError(msg) from None
    unknown = sorted(selector.fields - set(POD_FIELDS))
    if unknown:
        msg = f"--field-selector: field {unknown[0]!r} is not supported; use {' or '.join(POD_FIELDS)}"
        raise UsageError(msg)

    def matches(namespace: str, name: str) -> bool:
        return selector.matches({"metadata.name": name, "metadata.namespace": namespace})

    return matches


# --- HTTP --------------------------------------------------------------------------------------------------
class HeapsterClient:
    """A small reader of heapster's HTTP API with bounded concurrency and one-line errors."""

    def __init__(self, server: str, timeout: float) -> None:
        import aiohttp

        self.server = server.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self.missing_shards: set[str] = set()
        """Shards a sharded heapster answered without (its ``X-Heapster-Missing-Shards`` header)."""

    async def close(self) -> None:
        await self._session.close()

    async def get(self, path: str, *, missing: Any = None, what: str = "Model API") -> Any:
        """GET ``path`` as JSON; :class:`RuntimeFailure` naming the server on any failure.

        A 404 returns ``missing`` when given (an entity the server does not know), else it means the
        server does not serve ``what`` at all.
        """
        import aiohttp

        url = f"{self.server}{path}"
        try:
            async with self._limit, self._session.get(url) as resp:
                self.missing_shards.update(filter(None, resp.headers.get(MISSING_SHARDS, "").split(",")))
                if resp.status == 404 and missing is not None:
                    return missing
                if resp.status == 404:
                    msg = (f"{self.server} serves no {what} ({url}: 404); is heapster running with its "
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

    async def metrics(self, path: str, selector: str | None) -> list[dict[str, Any]]:
        """The items of a ``metrics.k8s.io/v1beta1`` list."""
        query = f"?{urlencode({'labelSelector': selector})}" if selector else ""
        body = await self.get(f"{METRICS}{path}{query}", what="metrics.k8s.io API")
        items = (body or {}).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def model_list(self, path: str) -> list[str]:
        """A Model API name list (``/nodes/``, ``/namespaces/``, ...); empty when the server has none."""
        found = await self.get(f"{MODEL}{path}", missing=[])
        return [str(name) for name in found] if isinstance(found, list) else []

    async def model_metric(self, path: str, name: str) -> float | None:
        return latest_value(await self.get(f"{MODEL}{path}/metrics/{name}", missing={}))


# --- collection --------------------------------------------------------------------------------------------
async def node_usage(client: HeapsterClient, name: str | None, selector: str | None,
                     capacity: bool = False) -> list[Usage]:
    """Usage of the nodes (one when ``name``), with allocatable (or capacity) for the percentages."""
    cpu_total, memory_total = (CPU_CAPACITY, MEMORY_CAPACITY) if capacity else (CPU_ALLOCATABLE, MEMORY_ALLOCATABLE)

    async def one(item: dict[str, Any]) -> Usage:
        node = str((item.get("metadata") or {}).get("name", ""))
        cpu, memory = _usage(item.get("usage") or {})
        path = f"/nodes/{quote(node, safe='')}"
        cpu_of, memory_of = await asyncio.gather(client.model_metric(path, cpu_total),
                                                 client.model_metric(path, memory_total))
        if not capacity and not cpu_of:
            cpu_of = await client.model_metric(path, CPU_CAPACITY)
        if not capacity and not memory_of:
            memory_of = await client.model_metric(path, MEMORY_CAPACITY)
        return Usage("", node, cpu, memory, cpu_of, memory_of)

    items = await client.metrics("/nodes", selector)
    if name is not None:
        items = [item for item in items if (item.get("metadata") or {}).get("name") == name]
    return list(await asyncio.gather(*(one(item) for item in items)))


async def pod_usage(client: HeapsterClient, namespace: str | None, name: str | None, selector: str | None,
                    fields: Callable[[str, str], bool], containers: bool) -> list[Usage]:
    """Usage of the pods in ``namespace`` (all when None), one row per pod or per container."""
    path = f"/namespaces/{quote(namespace, safe='')}/pods" if namespace else "/pods"
    rows = []
    for item in await client.metrics(path, selector):
        meta = item.get("metadata") or {}
        ns, pod = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if (name is not None and pod != name) or not fields(ns, pod):
            continue
        usages = [(str(c.get("name", "")), *_usage(c.get("usage") or {})) for c in item.get("containers") or []]
        if containers:
            rows += [Usage(ns, pod, cpu, memory, container=container) for container, cpu, memory in usages]
        else:
            cpus = [cpu for _, cpu, _ in usages]
            memories = [memory for _, _, memory in usages]
            rows.append(Usage(ns, pod, None if None in cpus else sum(c or 0 for c in cpus),
                              None if None in memories else sum(m or 0 for m in memories)))
    return rows


def _known(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


async def explain_no_nodes(client: HeapsterClient, name: str | None, selector: str | None) -> str:
    """Why no node row came back: an unknown node, a selector matching nothing, or no scrape yet."""
    known = await client.model_list("/nodes/")
    if name is not None and known and name not in known:
        return (f"node {name!r} not found: heapster at {client.server} has metrics of {len(known)} nodes: "
                f"{_known(known)}")
    if name is not None and known:
        return f"node {name!r} has no CPU and memory usage in heapster at {client.server} yet"
    if selector and known:
        return f"no node matches -l {selector!r} (heapster at {client.server} has metrics of {len(known)} nodes)"
    return (f"no nodes in heapster at {client.server} yet: metrics appear after the first scrape "
            "(one --metric_resolution after start)")


async def explain_no_pods(client: HeapsterClient, namespace: str | None, name: str | None,
                          filtered: bool) -> str:
    """Why no pod row came back: an unknown namespace or pod, selectors matching nothing, or no scrape yet."""
    namespaces = await client.model_list("/namespaces/")
    where = f"namespace {namespace!r}" if namespace else "any namespace"
    if not namespaces:
        return (f"no pods in heapster at {client.server} yet: metrics appear after the first scrape "
                "(one --metric_resolution after start)")
    if namespace and namespace not in namespaces:
        return (f"namespace {namespace!r} not found: heapster at {client.server} has metrics of "
                f"{len(namespaces)} namespaces: {_known(namespaces)}")
    if name is not None:
        pods = await client.model_list(f"/namespaces/{quote(namespace, safe='')}/pods/") if namespace else []
        if namespace and name not in pods:
            return f"pod {name!r} not found in namespace {namespace!r} (heapster has metrics of {len(pods)} pods there)"
        return f"pod {name!r} has no CPU and memory usage in {where} yet" + (" or does not match the selectors"
                                                                               if filtered else "")
    if filtered:
        return f"no pod in {where} matches the selectors"
    return f"no pods with CPU and memory usage in {where} yet"


# --- the command -------------------------------------------------------------------------------------------
def top_parser() -> FlagParser:
    """``heapster top node|pod [NAME]`` flags (kubectl top's, plus --server)."""
    p = FlagParser(prog="heapster top", allow_abbrev=False,
                   description="Show CPU and memory (working set) of nodes, pods or containers from a running "
                               "heapster, as kubectl top does.")
    p.add_argument("resource", choices=("nodes", "node", "no", "pods", "pod", "po"),
                   help="what to show: nodes or pods")
    p.add_argument("name", nargs="?", default=None, help="only this node or pod")
    p.add_argument("-n", "--namespace", default=None,
                   help="namespace of the pods (default: 'default'; -A for all)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("-l", "--selector", default=None,
                   help="label selector (=, ==, !=, in, notin, exists), applied by heapster")
    p.add_argument("--field-selector", default=None,
                   help=f"pods only: {' / '.join(POD_FIELDS)} with =, == or !=, comma-separated")
    p.add_argument("--containers", action="store_true", help="pods only: one row per container")
    p.add_argument("--sum", action="store_true", help="pods only: print the total CPU and memory under the table")
    p.add_argument("--show-capacity", action="store_true",
                   help="nodes only: percentages of the capacity instead of the allocatable")
    p.add_argument("--use-protocol-buffers", action="store_true",
                   help="accepted for kubectl compatibility; heapster answers in JSON")
    p.add_argument("--server", default=os.environ.get("HEAPSTER_SERVER", DEFAULT_SERVER),
                   help=f"heapster's HTTP API (default $HEAPSTER_SERVER or {DEFAULT_SERVER})")
    p.add_argument("--sort-by", choices=("name", "cpu", "memory"), default="name", help="row order")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)")
    p.add_argument("--no-headers", action="store_true", help="omit the header line")
    return p


def _check_usage(options: argparse.Namespace, pods: bool) -> None:
    if not options.server.startswith(("http://", "https://")):
        msg = f"--server must be an http:// or https:// URL, got {options.server!r}"
        raise UsageError(msg)
    if not pods:
        misplaced = [flag for flag, given in (("-n/--namespace", options.namespace), ("-A", options.all_namespaces),
                                               ("--field-selector", options.field_selector),
                                               ("--containers", options.containers), ("--sum", options.sum))
                     if given]
        if misplaced:
            msg = f"{', '.join(misplaced)}: only for 'heapster top pods'"
            raise UsageError(msg)
    elif options.show_capacity:
        msg = "--show-capacity: only for 'heapster top nodes'"
        raise UsageError(msg)
    if options.name is not None and options.selector:
        msg = "a NAME and -l/--selector cannot be combined (as in kubectl top)"
        raise UsageError(msg)
    if options.name is not None and options.all_namespaces:
        msg = "a pod NAME needs one namespace (-n), not -A"
        raise UsageError(msg)
    check_label_selector(options.selector)


async def _collect(options: argparse.Namespace, pods: bool) -> list[Usage]:
    client = HeapsterClient(options.server, options.timeout)
    try:
        return await _collect_from(client, options, pods)
    finally:
        if client.missing_shards:
            sys.stderr.write(f"warning: heapster answered without shard(s) {', '.join(sorted(client.missing_shards))}: "
                             "their nodes and pods are missing from this table\n")
        await client.close()


async def _collect_from(client: HeapsterClient, options: argparse.Namespace, pods: bool) -> list[Usage]:
    if not pods:
        rows = await node_usage(client, options.name, options.selector, options.show_capacity)
        if not rows:
            raise RuntimeFailure(await explain_no_nodes(client, options.name, options.selector))
        return rows
    namespace = None if options.all_namespaces else (options.namespace or "default")
    fields = field_selector(options.field_selector)
    rows = await pod_usage(client, namespace, options.name, options.selector, fields, options.containers)
    if not rows:
        filtered = bool(options.selector or options.field_selector)
        raise RuntimeFailure(await explain_no_pods(client, namespace, options.name, filtered))
    return rows


def top_command(argv: Sequence[str]) -> int:
    """Run ``heapster top``; raises :class:`UsageError` (exit 2) or :class:`RuntimeFailure` (exit 1)."""
    options, extra = top_parser().parse_known_args(list(argv))
    if extra and not extra[0].startswith("-"):
        msg = f"one NAME at most, got {options.name!r} and {extra[0]!r}"
        raise UsageError(msg)
    if extra:
        top_parser().parse_args(list(argv))  # names the unknown flag
    pods = options.resource.startswith("po")
    _check_usage(options, pods)
    if pods:
        field_selector(options.field_selector)  # a bad selector is a usage error before any request
    rows = sort_rows(asyncio.run(_collect(options, pods)), options.sort_by)
    table = pod_table(rows, options.all_namespaces, options.containers, options.sum) if pods else node_table(rows)
    if options.no_headers:
        table = table.split("\n", 1)[1]
    sys.stdout.write(table)
    return 0
