"""Eventer memory in steady state: RSS while the simulator makes events at a steady rate into the log sink.

Issue 17's comparison: at 200 events/s into the log sink Go's eventer holds 23 MiB; target <= 30 MiB.
Everything is real: the cluster simulator (subprocess, ``--events-per-second``), the eventer as a subprocess
(``python -m heapster_eventer --source=kubernetes:... --sink=log``, which re-executes itself under
``PYTHONMALLOC=malloc`` as the ``eventer`` command does). RSS (VmRSS, and its anonymous and
file-backed parts) is sampled every 0.5 s once the first export cycles are done. Also prints what the
modules alone cost (fresh interpreters importing them), to show where the memory goes.

    .venv/bin/python bench/eventer_memory_bench.py [--rate 200] [--seconds 60] [--frequency 10s] [--api https]

``--api https`` is the deployment case: the simulator's API server speaks TLS and wants a bearer token,
and the eventer runs with the in-cluster configuration (``kubernetes:``, ``KUBERNETES_SERVICE_HOST``/
``_PORT``, the service account's ``token`` and ``ca.crt`` under ``/var/run/secrets/kubernetes.io/
serviceaccount``). The service account directory exists only in the eventer's own mount namespace
(``unshare --mount``, a tmpfs on ``/run``: needs root or unprivileged user namespaces), so nothing on
the machine changes and the eventer's code path is the one a pod takes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from heapster_eventer.launch import INTERPRETER
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import simulator_process

FLOORS = {
    "python": "",
    "+ ssl": "import ssl",
    "+ asyncio": "import ssl, asyncio",
    "+ structlog": "import ssl, asyncio, structlog",
    "+ importlib.metadata (plugin discovery)": "import ssl, asyncio, structlog, importlib.metadata",
    "+ heapster's core package (pluggy, hookspecs, interfaces, model, settings, self-metrics registry)": (
        "import ssl, asyncio, structlog, importlib.metadata, heapster.promregistry"),
    "+ tenacity, orjson": (
        "import ssl, asyncio, structlog, importlib.metadata, heapster.promregistry, pluggy, tenacity, orjson"),
    "the eventer's modules (kubernetes event source, log sink)": (
        "import heapster_eventer.app, heapster_source_kubernetes.events, heapster.sinks.log"),
    "+ every installed plugin loaded": (
        "import heapster_eventer.app, heapster_source_kubernetes.events, heapster.sinks.log\n"
        "import heapster.plugins; heapster.plugins.load_plugins()"),
    "the eventer as launched: ssl (OpenSSL) deferred until TLS is spoken, every plugin loaded": (
        "from heapster_eventer.lazyssl import defer_ssl; defer_ssl()\n"
        "import heapster_eventer.app, heapster_source_kubernetes.events, heapster.sinks.log\n"
        "import heapster.plugins; heapster.plugins.load_plugins()"),
    "+ a TLS context (an https API server; none for http)": (
        "import heapster_eventer.app, heapster_source_kubernetes.events, heapster.sinks.log\n"
        "import heapster.plugins; heapster.plugins.load_plugins()\n"
        "import ssl; context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)"),
    "the eventer as launched, only the plugins its flags name (kubernetes, log), a TLS context": (
        "from heapster_eventer.lazyssl import defer_ssl; defer_ssl()\n"
        "import heapster_eventer.cli, heapster_eventer.app, heapster_source_kubernetes.events, heapster.sinks.log\n"
        "from heapster_eventer.flags import parse_args\n"
        "heapster_eventer.app.load_named_plugins(parse_args(['--source=kubernetes:', '--sink=log']))\n"
        "import ssl; context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)"),
    "for reference, not loaded by the eventer: aiohttp": "import asyncio, aiohttp.web",
    "for reference, not loaded by the eventer: prometheus-client (with asyncio, ssl, structlog)": (
        "import ssl, asyncio, structlog, importlib.metadata, prometheus_client"),
    "for reference, not loaded by the eventer: the kubernetes client": "import kubernetes.client",
}
"""Fresh interpreters, run as the eventer runs (:data:`heapster_eventer.launch.INTERPRETER`)."""


def memory(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            out[name] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def libraries(pid: int) -> list[str]:
    """OpenSSL's libraries mapped into the process (none while no TLS is spoken and nothing hashes with it)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return sorted({Path(line.split()[-1]).name for line in maps if "/libssl" in line or "/libcrypto" in line})


TRIM = "import gc, ctypes; gc.collect(); ctypes.CDLL(None).malloc_trim(0)\n"
"""What the eventer's export loop does after each batch (:func:`heapster.memory.release_free_memory`)."""


def floor(code: str, *, trimmed: bool = False) -> float:
    """VmRSS (MiB) of a fresh interpreter after running ``code`` (then ``gc`` and ``malloc_trim`` if ``trimmed``).

    Untrimmed, the figure includes what compiling modules from source left free on the heap (this
    machine has no ``-OO`` bytecode for site-packages); trimmed, it is what stays once the eventer's
    first export cycle has trimmed (``ctypes`` is loaded for the trim; the eventer loads it too).
    """
    probe = f"{code}\n{TRIM if trimmed else ''}" \
            "print([l for l in open('/proc/self/status').read().splitlines() if l.startswith('VmRSS')][0])"
    env = {**os.environ, **{k: v for k, v in INTERPRETER.items() if k not in os.environ}}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.splitlines()[-1].split()[1]) / 1024


SERVICE_ACCOUNT = "/run/secrets/kubernetes.io/serviceaccount"
IN_POD = ('mount -t tmpfs tmpfs /run && mkdir -p "$1" && cp "$0/token" "$0/ca.crt" "$1/" && shift && exec "$@"')
"""Run in the eventer's own mount namespace: put the service account where a pod has it, then exec the eventer."""


def in_cluster(ready: dict[str, object], workdir: Path) -> tuple[list[str], dict[str, str]]:
    """The wrapper and environment that run the eventer as in a pod of the simulated cluster."""
    account = workdir / "serviceaccount"
    account.mkdir()
    shutil.copy(str(ready["token"]), account / "token")
    shutil.copy(str(ready["ca"]), account / "ca.crt")
    host, _, port = str(ready["api"]).removeprefix("https://").rpartition(":")
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_POD, str(account), SERVICE_ACCOUNT]
    return wrapper, {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}


def mappings(pid: int) -> dict[str, float]:
    """Rss (MiB) of the process by mapping: ``[heap]``, other anonymous memory, each file; largest first."""
    sizes: dict[str, float] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            name = Path(fields[5]).name if len(fields) > 5 and fields[5].startswith("/") else (
                fields[5] if len(fields) > 5 else "[anon]")
        elif fields and fields[0] == "Rss:":
            sizes[name] = sizes.get(name, 0.0) + int(fields[1]) / 1024
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def exported(eventer: EventerProcess) -> float:
    return sum(v for k, v in eventer.metrics().items() if k.startswith("eventer_exported_events_total{"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="events the simulator makes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long RSS is sampled in steady state")
    parser.add_argument("--frequency", default="10s", help="the eventer's export period")
    parser.add_argument("--no-floors", action="store_true", help="skip the fresh-interpreter module costs")
    parser.add_argument("--warm-cycles", type=int, default=2, help="export cycles before sampling starts")
    parser.add_argument("--api", choices=("http", "https"), default="http",
                        help="http: a plain API server URL; https: TLS, a token and the in-cluster configuration")
    parser.add_argument("--series", action="store_true",
                        help="also print every RSS sample (MiB, every 0.5 s): where in the export cycle it rises")
    parser.add_argument("--pythonpath", default="",
                        help="PYTHONPATH for the eventer only (A/B runs: the src directories of an exported commit)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eventer-mem-") as tmp:
        workdir = Path(tmp)
        tls = {"api_scheme": "https", "token": "eventer-bench"} if args.api == "https" else {}
        with simulator_process(workdir, nodes=4, pods_per_node=10, events_per_second=args.rate, **tls) as ready:
            wrapper: list[str] = []
            env: dict[str, str] = {}
            if args.api == "https":
                source = "kubernetes:"
                wrapper, env = in_cluster(ready, workdir)
            else:
                source = f"kubernetes:{ready['api']}?inClusterConfig=false"
            if args.pythonpath:
                env["PYTHONPATH"] = args.pythonpath
            eventer = EventerProcess([f"--source={source}", "--sink=log", f"--frequency={args.frequency}"],
                                     workdir / "eventer.log", wrapper=wrapper, env=env).start()
            assert eventer.process is not None
            pid = eventer.process.pid
            try:
                started = memory(pid)
                eventer.wait_for(lambda: len(eventer.logs("eventer.exporting")) >= args.warm_cycles, 120,
                                 f"{args.warm_cycles} export cycles")
                base = exported(eventer)
                cpu_base = cpu_seconds(pid)
                samples: list[dict[str, float]] = []
                began = time.monotonic()
                while time.monotonic() - began < args.seconds:
                    samples.append(memory(pid))
                    time.sleep(0.5)
                count = exported(eventer) - base
                cpu = cpu_seconds(pid) - cpu_base
                elapsed = time.monotonic() - began
                mapped = libraries(pid)
                by_mapping = mappings(pid)
            finally:
                eventer.stop()
    rss = [s["VmRSS"] for s in samples]
    print(f"eventer steady state: simulator at {args.rate} events/s, {args.api} API server"
          f"{' (in-cluster configuration)' if args.api == 'https' else ''}, log sink, --frequency={args.frequency}, "
          f"{len(samples)} samples over {elapsed:.0f} s (target <= 30 MiB; Go's eventer: 23 MiB)")
    print(f"  exported {count:.0f} events in the sampled time ({count / elapsed:.0f}/s); "
          f"CPU {cpu * 1e6 / max(count, 1):.0f} ms per 1000 events (user+system of the eventer's process)")
    quartiles = statistics.quantiles(rss, n=4)
    print(f"  RSS at start {started['VmRSS']:.1f} MiB; steady median {statistics.median(rss):.1f} MiB, "
          f"min {min(rss):.1f}, quartiles {quartiles[0]:.1f}/{quartiles[2]:.1f}, "
          f"max {max(rss):.1f} MiB (anonymous {max(s['RssAnon'] for s in samples):.1f} MiB, "
          f"files {max(s['RssFile'] for s in samples):.1f} MiB)")
    print(f"  OpenSSL mapped: {', '.join(mapped) or 'no'}")
    if args.series:
        print("  RSS by mapping at the end (MiB): " + ", ".join(
            f"{name} {size:.2f}" for name, size in by_mapping.items() if size >= 0.05))
        print("  RSS samples (MiB): " + " ".join(f"{value:.1f}" for value in rss))
    if args.no_floors:
        return 0
    print("  what the modules alone cost (fresh interpreter, VmRSS, as the eventer runs: "
          + ", ".join(f"{k}={v}" for k, v in INTERPRETER.items()) + "; as imported / after gc and malloc_trim):")
    for what, code in FLOORS.items():
        print(f"    {what:60s} {floor(code):5.1f} / {floor(code, trimmed=True):5.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
