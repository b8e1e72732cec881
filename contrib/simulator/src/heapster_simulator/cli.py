"""`heapster-simulator`: run a simulated cluster until SIGTERM/SIGINT; prints ready.json as one line when ready."""

from __future__ import annotations

import argparse
import asyncio
import asyncio.sslproto
import signal
import sys
from pathlib import Path

import orjson

from .aggregator import parse_apiservice
from .cluster import SimulatedCluster, raise_fd_limit
from .config import NODE_FAULTS, SimulatorConfig


def _fault(text: str) -> tuple[str, str]:
    node, sep, kind = text.partition("=")
    if not sep or not node or kind not in NODE_FAULTS:
        raise argparse.ArgumentTypeError(f"expected NODE=KIND with KIND one of {', '.join(NODE_FAULTS)}, got {text!r}")
    return node, kind


def _apiservice(text: str) -> tuple[str, str]:
    try:
        service = parse_apiservice(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return service.group_version, service.url


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="heapster-simulator", description=__doc__)
    p.add_argument("--nodes", type=int, required=True, help="number of nodes (kubelets on 127.0.0.2, .3, ...)")
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--containers-per-pod", type=int, default=2)
    p.add_argument("--api-host", default="127.0.0.1")
    p.add_argument("--api-port", type=int, default=0)
    p.add_argument("--kubelet-port", type=int, default=0, help="shared by every kubelet (0: pick a free one)")
    p.add_argument("--kubelet-scheme", choices=("https", "http"), default="https")
    p.add_argument("--api-scheme", choices=("http", "https"), default="http")
    p.add_argument("--token", default=None, help="bearer token the API server requires (kubelets over HTTPS "
                                                 "always require a token; one is generated when not given)")
    p.add_argument("--state-dir", type=Path, default=None, help="write kubeconfig, ca.crt, token, ready.json here")
    p.add_argument("--events-per-second", type=float, default=0.0)
    p.add_argument("--churn-per-minute", type=float, default=0.0, help="pods replaced per minute")
    p.add_argument("--restarts-per-minute", type=float, default=0.0, help="container restarts per minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fault", type=_fault, action="append", default=[], metavar="NODE=KIND",
                   help=f"inject a fault at start; KIND: {', '.join(NODE_FAULTS)} (repeatable)")
    p.add_argument("--slow-seconds", type=float, default=60.0, help="delay of the `slow` fault")
    p.add_argument("--huge-bytes", type=int, default=200 * 1024 * 1024, help="body size of the `huge` fault")
    p.add_argument("--bookmark-interval", type=float, default=30.0, help="seconds between watch bookmarks")
    p.add_argument("--watch-history", type=int, default=20_000, help="changes kept per resource for watches")
    p.add_argument("--max-events", type=int, default=20_000, help="events kept (oldest deleted beyond)")
    p.add_argument("--prerender-summaries", action="store_true",
                   help="render each kubelet's next /stats/summary body in the background right after serving one "
                        "(the body served is then up to one scrape interval old, as a kubelet's cached stats are), "
                        "so a request costs a copy of ready bytes; for benchmarks at thousands of nodes")
    p.add_argument("--apiservice", type=_apiservice, action="append", default=[], metavar="GROUP/VERSION=URL",
                   help="aggregate an API served by URL, as kube-aggregator does (e.g. "
                        "metrics.k8s.io/v1beta1=http://127.0.0.1:8082; repeatable; also POST /simulator/apiservices)")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=HOST:PORT",
                   help="a process behind the headless peer Service, e.g. heapster-0=127.0.0.1:8082 (repeatable; "
                        "also POST /simulator/peers)")
    p.add_argument("--peer-service", default="heapster", help="name of the headless peer Service")
    p.add_argument("--peer-namespace", default="kube-system", help="namespace of the peer Service")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig the command line describes."""
    return SimulatorConfig(
        nodes=args.nodes, pods_per_node=args.pods_per_node, containers_per_pod=args.containers_per_pod,
        api_host=args.api_host, api_port=args.api_port, kubelet_port=args.kubelet_port,
        kubelet_scheme=args.kubelet_scheme, api_scheme=args.api_scheme, token=args.token, state_dir=args.state_dir,
        events_per_second=args.events_per_second, churn_per_minute=args.churn_per_minute,
        restarts_per_minute=args.restarts_per_minute, seed=args.seed, faults=dict(args.fault),
        slow_seconds=args.slow_seconds, huge_bytes=args.huge_bytes, bookmark_interval=args.bookmark_interval,
        watch_history=args.watch_history, max_events=args.max_events, apiservices=dict(args.apiservice),
        peers=list(args.peer), peer_service=args.peer_service, peer_namespace=args.peer_namespace,
        prerender_summaries=args.prerender_summaries,
    )


async def run(config: SimulatorConfig) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with SimulatedCluster(config) as cluster:
        sys.stdout.write(orjson.dumps(cluster.ready).decode() + "\n")
        sys.stdout.flush()
        await stop.wait()


def shrink_tls_read_buffers(size: int = 16 * 1024) -> None:
    """asyncio gives every TLS connection a 256 KiB read buffer; 5000 kept-alive kubelet connections would hold
    1.25 GiB for requests of a few hundred bytes. The simulator process reads small requests only."""
    asyncio.sslproto.SSLProtocol.max_size = size


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    args = parser().parse_args(argv)
    config = config_from_args(args)
    try:
        config.validate()
    except ValueError as exc:
        print(f"heapster-simulator: {exc}", file=sys.stderr)
        return 2
    raise_fd_limit()
    shrink_tls_read_buffers()
    try:
        asyncio.run(run(config))
    except OSError as exc:
        print(f"heapster-simulator: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
