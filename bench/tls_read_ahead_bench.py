"""Heapster's CPU per kubelet summary GET with OpenSSL's read-ahead off and at several read buffer sizes.

    .venv/bin/python bench/tls_read_ahead_bench.py [--kubelets 10] [--blocks 40] [--buffers 0,1,33792,131072]

Starts `--kubelets` HTTPS kubelets in another process (`kubelet_client_bench.py`'s: keep-alive, bearer token, the
simulator's 118 KB summary with `Content-Length`), then in this process one `heapster.http1.Client` per entry of
`--buffers` (each with a fresh TLS context: 0 = no read-ahead, 1 = OpenSSL's own read buffer, else the buffer's
bytes; :func:`heapster.http1.readahead.read_ahead`). Each block GETs every kubelet's summary once per client
round (all kubelets at once, as a start group of the scheduler), 50 GETs a block; the clients' blocks alternate,
so the machine's load falls on each alike. Prints the thread CPU time per GET (median, mean, min over the
blocks): the client's TLS reads, the kernel's copies and system calls, the HTTP parsing; not the kubelets'.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import trustme

sys.path.insert(0, str(Path(__file__).parent))
import kubelet_client_bench  # the same kubelet double

from heapster.http1 import Client, Origin

GETS_PER_BLOCK = 50


async def _run(ports: list[int], ca: trustme.CA, body_bytes: int, buffers: list[int], blocks: int) -> None:
    targets = [(Origin("https", "127.0.0.1", port),
                f"GET /stats/summary/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {kubelet_client_bench.TOKEN}\r\n\r\n".encode()) for port in ports]

    async def one(client: Client, origin: Origin, request: bytes) -> None:
        answer = await client.get(origin, request)
        assert answer.status == 200 and len(answer.body) == body_bytes
        client.recycle(answer.body)

    async def group(client: Client) -> None:
        await asyncio.gather(*(one(client, origin, request) for origin, request in targets))

    clients = {}
    for buffer in buffers:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        clients[buffer] = Client(context, max_bytes=1 << 24, read_ahead=buffer)
        assert clients[buffer].reads_ahead == bool(buffer)
        for _ in range(3):  # connections, TLS handshakes, warm buffers
            await group(clients[buffer])
    rounds = max(1, GETS_PER_BLOCK // len(targets))
    times: dict[int, list[float]] = {buffer: [] for buffer in buffers}
    for _ in range(blocks):
        for buffer, client in clients.items():
            began = time.thread_time()
            for _ in range(rounds):
                await group(client)
            times[buffer].append((time.thread_time() - began) / (rounds * len(targets)) * 1e6)
    for buffer, values in times.items():
        name = "off" if not buffer else "default" if buffer == 1 else f"{buffer} B"
        print(f"  read-ahead {name:9s} median {statistics.median(values):6.1f} us/GET  mean "
              f"{statistics.mean(values):6.1f}  min {min(values):6.1f}  (connections made: "
              f"{clients[buffer].connections_made})")
        clients[buffer].close()


def main() -> None:
    """Start the kubelets, run the blocks, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubelets", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--buffers", default="0,1,33792,131072")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(f"{tmp}/cert.pem")
        portfile = Path(tmp) / "ports.json"
        server = subprocess.Popen([sys.executable, kubelet_client_bench.__file__, "--serve", str(portfile), "--cert",
                                   f"{tmp}/cert.pem", "--kubelets", str(args.kubelets)], stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not portfile.exists() or not portfile.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the kubelets did not start")
                time.sleep(0.05)
            info = orjson.loads(portfile.read_text())
            print(f"{args.kubelets} kubelets, {info['body_bytes']} byte summaries, {args.blocks} blocks of "
                  f"{GETS_PER_BLOCK} GETs per variant, load {os.getloadavg()[0]:.1f}", flush=True)
            buffers = [int(b) for b in args.buffers.split(",")]
            asyncio.run(_run(info["ports"], ca, info["body_bytes"], buffers, args.blocks))
            print(f"load {os.getloadavg()[0]:.1f}")
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(10)


if __name__ == "__main__":
    main()
