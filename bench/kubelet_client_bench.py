"""Heapster's CPU per kubelet summary GET: the aiohttp client heapster used before, against the lean client.

    .venv/bin/python bench/kubelet_client_bench.py [--kubelets 200] [--cycles 6] [--rounds 2]
        [--encoding length|chunked] [--chunk-size 0] [--clients aiohttp,lean] [--loops asyncio,uvloop]

Starts, in another process, `--kubelets` minimal HTTPS kubelets (one listening port each on 127.0.0.1, a trustme
certificate, keep-alive, a bearer token required) that all serve one summary rendered by the cluster simulator
(`--pods-per-node` pods x 2 containers: about 119 KB), with `Content-Length` (as the simulator) or chunked (as a Go
kubelet: one chunk of the whole body, or `--chunk-size` bytes each). This process then scrapes every kubelet
`--cycles` times, the starts of a cycle spread over `--spread` seconds, and prints per GET the CPU time of this
process (time.process_time; the server's is not counted), the first cycle (connections and TLS handshakes) apart
from the steady ones, and the growth of this process's RSS per kubelet over the run (after a collection and
malloc_trim: mostly what a kept-alive connection holds). Variants run interleaved (A B A B, `--rounds` times) so
the load of other processes on the machine hits each alike.

Clients (`--clients`):
- `aiohttp`: heapster's ClientSession client before `heapster.http1.Client` (same session settings, same body reading);
- `lean`: `KubeletClient.get_summary` as the source calls it (semaphore, timeout, self-metrics) on
  `heapster.http1.Client`;
- `threads`: blocking sockets + ssl in a pool of `--threads` threads (reads release the GIL), same parser;
- `floor`: `threads` run one GET at a time on the loop's thread: TLS, kernel and parsing with no concurrency
  machinery, the least a client can cost here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import trustme

from heapster import selfmetrics
from heapster.http1.client import _Exchange
from heapster.memory import release_free_memory, shrink_tls_read_buffers
from heapster_source_kubernetes.kubelet import SUMMARY_PATH, KubeletClient, KubeletSettings, KubeletTarget, ScrapeError

TOKEN = "bench-token"


# --- the kubelets (server process) ------------------------------------------------------------------------------


def _response(body: bytes, encoding: str, chunk_size: int) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Tue, 01 Dec 2026 23:00:00 GMT\r\n"
    if encoding == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    size = chunk_size or len(body)
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


class Kubelet(asyncio.Protocol):
    """A kubelet answering every request that carries the token with the same prepared response."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.pending = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            head, _, self.pending = self.pending.partition(b"\r\n\r\n")
            if f"authorization: bearer {TOKEN}".encode() not in head.lower():
                self.transport.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            else:
                self.transport.write(self.answer)


async def _serve(args: argparse.Namespace) -> None:
    from heapster_simulator.config import SimulatorConfig
    from heapster_simulator.simulation import Simulation
    from heapster_simulator.summary import node_summary

    node = Simulation(SimulatorConfig(nodes=1, pods_per_node=args.pods_per_node)).model.nodes[0]
    body = orjson.dumps(node_summary(node, args.pods_per_node, time.time()))
    answer = _response(body, args.encoding, args.chunk_size)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: Kubelet(answer), "127.0.0.1", 0, ssl=ctx, backlog=256)
               for _ in range(args.kubelets)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    ready = orjson.dumps({"ports": ports, "body_bytes": len(body)})
    await loop.run_in_executor(None, Path(args.serve).write_bytes, ready)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


# --- the baseline: heapster's aiohttp client before the lean one ------------------------------------------------


class AiohttpKubeletClient:
    """heapster's aiohttp ``ClientSession`` summary client as it was before ``heapster.http1.Client`` (the baseline)."""

    def __init__(self, settings: KubeletSettings, ssl_context: ssl.SSLContext, token: Callable[[], str]) -> None:
        self.settings = settings
        self._ssl = ssl_context
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def get_summary(self, target: KubeletTarget) -> bytes:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=90)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, raise_for_status=False,
                headers={"Accept": "application/json", "User-Agent": "heapster-python"})
        async with self._slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.timeout):
                    headers = {"Authorization": f"Bearer {self._token()}"}
                    async with self._session.get(target.url, headers=headers, ssl=self._ssl,
                                                 allow_redirects=False) as resp:
                        if resp.status != 200:
                            raise ScrapeError(f"http_{resp.status}", "bad status")
                        if resp.content_length is not None and "Content-Encoding" not in resp.headers:
                            return await resp.read()
                        chunks = []
                        async for chunk in resp.content.iter_any():
                            chunks.append(chunk)
                        return b"".join(chunks)
            finally:
                selfmetrics.kubelet_summary_request_duration.labels(node=target.hostname).observe(
                    (time.monotonic() - started) * 1000.0)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- candidate 3: blocking sockets + ssl in a thread pool (the lean client's parser, run to completion) --------


class _Done:
    """The part of a future :class:`heapster.http1.client._Exchange` uses, for a blocking read."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.finished = False

    def done(self) -> bool:
        return self.finished

    def set_result(self, _: object) -> None:
        self.finished = True

    def set_exception(self, error: BaseException) -> None:
        self.error, self.finished = error, True


class ThreadedKubeletClient:
    """GETs with blocking sockets in a thread pool (reads release the GIL); keep-alive per kubelet."""

    def __init__(self, settings: KubeletSettings, ssl_context: ssl.SSLContext, token: Callable[[], str],
                 workers: int) -> None:
        self.settings = settings
        self._ssl = ssl_context
        self._token = token
        self._pool = ThreadPoolExecutor(workers)
        self._idle: dict[str, socket.socket] = {}
        self.inline = False
        """True: each GET blocks the loop, one at a time (the floor: TLS, kernel and parse without concurrency)."""

    def _get(self, target: KubeletTarget) -> bytes:
        sock = self._idle.pop(target.host_port, None)
        if sock is None:
            raw = socket.create_connection((target.address, target.port), timeout=self.settings.timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = self._ssl.wrap_socket(raw, server_hostname=target.address)
        sock.sendall(f"GET {SUMMARY_PATH} HTTP/1.1\r\nHost: {target.host_port}\r\n"
                     f"Authorization: Bearer {self._token()}\r\n\r\n".encode())
        done = _Done()
        exchange = _Exchange(sock, done, self.settings.max_bytes)  # type: ignore[arg-type]
        while not done.done():
            exchange.on_readable()
        if exchange.error is not None:
            sock.close()
            raise exchange.error
        self._idle[target.host_port] = sock
        return exchange.answer().body

    async def get_summary(self, target: KubeletTarget) -> bytes:
        started = time.monotonic()
        try:
            if self.inline:
                return self._get(target)
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._get, target)
        finally:
            selfmetrics.kubelet_summary_request_duration.labels(node=target.hostname).observe(
                (time.monotonic() - started) * 1000.0)

    async def close(self) -> None:
        self._pool.shutdown()
        for sock in self._idle.values():
            sock.close()


# --- the measurement (client process) ---------------------------------------------------------------------------


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


async def _one_variant(client_name: str, ports: list[int], ctx: ssl.SSLContext, args: argparse.Namespace,
                       body_bytes: int) -> tuple[float, float, float, float]:
    settings = KubeletSettings(timeout=30.0)
    client: Any
    if client_name == "aiohttp":
        client = AiohttpKubeletClient(settings, ctx, lambda: TOKEN)
    elif client_name in ("threads", "floor"):
        client = ThreadedKubeletClient(settings, ctx, lambda: TOKEN, args.threads)
        client.inline = client_name == "floor"
    else:
        client = KubeletClient(settings, ssl_context=ctx, token=lambda: TOKEN)
    targets = [KubeletTarget(f"node-{i}", f"node-{i}", "", "127.0.0.1", port, "https")
               for i, port in enumerate(ports)]
    rng = random.Random(1)
    offsets = [rng.uniform(0, args.spread) for _ in targets]

    async def scrape(target: KubeletTarget, delay: float) -> int:
        await asyncio.sleep(delay)
        return len(await client.get_summary(target))

    per_cycle = []
    system = 0.0
    gc.collect()
    release_free_memory()
    rss_before = _rss_kib()
    try:
        for cycle in range(args.cycles):
            began, times = time.process_time(), os.times()
            sizes = await asyncio.gather(*(scrape(t, d) for t, d in zip(targets, offsets, strict=True)))
            per_cycle.append((time.process_time() - began) / len(targets) * 1000)
            if cycle:
                system += (os.times().system - times.system) / len(targets) * 1000
            assert set(sizes) == {body_bytes}, f"{client_name}: bodies of {set(sizes)} bytes"
        del sizes
        gc.collect()
        release_free_memory()
        rss_per_kubelet = (_rss_kib() - rss_before) / len(targets)  # the kept-alive connections, mostly
    finally:
        await client.close()
    steady = per_cycle[1:]
    return per_cycle[0], sum(steady) / len(steady), system / len(steady), rss_per_kubelet


def _rss_kib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return 0.0


def _measure(args: argparse.Namespace) -> None:
    shrink_tls_read_buffers()  # as the daemon does
    with tempfile.TemporaryDirectory() as tmp:
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(f"{tmp}/cert.pem")
        portfile = Path(tmp) / "ports.json"
        server_args = [sys.executable, __file__, "--serve", str(portfile), "--cert", f"{tmp}/cert.pem",
                       "--kubelets", str(args.kubelets), "--encoding", args.encoding,
                       "--chunk-size", str(args.chunk_size), "--pods-per-node", str(args.pods_per_node)]
        server = subprocess.Popen(server_args, stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not portfile.exists() or not portfile.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the kubelet server did not start")
                time.sleep(0.05)
            info = orjson.loads(portfile.read_text())
            ctx = ssl.create_default_context()
            ca.configure_trust(ctx)
            variants = [(c, lp) for lp in args.loops.split(",") for c in args.clients.split(",")]
            results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {v: [] for v in variants}
            print(f"{args.kubelets} kubelets, {info['body_bytes']} byte summaries, {args.encoding}"
                  f"{f' ({args.chunk_size}-byte chunks)' if args.chunk_size else ''}, {args.cycles} cycles, "
                  f"starts spread over {args.spread:g} s, load {os.getloadavg()[0]:.1f}")
            for round_ in range(args.rounds):
                for client_name, loop_name in variants:
                    with asyncio.Runner(loop_factory=_loop_factory(loop_name)) as runner:
                        run = runner.run(_one_variant(client_name, info["ports"], ctx, args, info["body_bytes"]))
                    results[(client_name, loop_name)].append(run)
                    first, steady, system, rss = run
                    print(f"  round {round_ + 1} {client_name:8s} {loop_name:8s} first cycle {first:6.3f} ms/GET, "
                          f"steady {steady:6.3f} ms/GET (of which kernel {system:5.3f}), "
                          f"RSS {rss:5.1f} KiB per kept-alive kubelet", flush=True)
            print(f"mean over rounds (CPU ms per GET, this process), load {os.getloadavg()[0]:.1f}:")
            for (client_name, loop_name), runs in results.items():
                first = sum(r[0] for r in runs) / len(runs)
                steady = sum(r[1] for r in runs) / len(runs)
                system = sum(r[2] for r in runs) / len(runs)
                rss = sum(r[3] for r in runs) / len(runs)
                print(f"  {client_name:8s} {loop_name:8s} first cycle {first:6.3f}  steady {steady:6.3f}"
                      f"  (kernel {system:5.3f})  RSS {rss:5.1f} KiB per kubelet")
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(10)


def main() -> None:
    """Parse the options; serve (the child process) or measure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubelets", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--spread", type=float, default=2.0, help="seconds over which a cycle's GETs start")
    parser.add_argument("--encoding", choices=("length", "chunked"), default="length")
    parser.add_argument("--chunk-size", type=int, default=0, help="chunked: bytes per chunk (0: one chunk)")
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--clients", default="aiohttp,lean", help="comma-separated: aiohttp, lean, threads, floor")
    parser.add_argument("--threads", type=int, default=16, help="threads: the pool's size")
    parser.add_argument("--loops", default="asyncio", help="comma-separated: asyncio, uvloop")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(_serve(args))
    else:
        _measure(args)


if __name__ == "__main__":
    main()
