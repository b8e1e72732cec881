"""Demo: heapster and the eventer against the cluster simulator; prints `heapster top` tables and the dashboard URL.

    ./dev demo                 # runs until Ctrl-C
    ./dev demo --once          # prints the tables and exits 0 (what the tests run)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from heapster.testing.net import free_port, wait_until

PY = sys.executable
MAX_POD_ROWS = 15


def say(text: str = "") -> None:
    """One line for the person watching."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class DemoError(Exception):
    """Something did not start; the message says what and where its log is."""


@dataclass
class Child:
    """A started process and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stdout: Path | None = None

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise DemoError(f"{self.name} exited with status {code}; last lines of {self.log}:\n{tail(self.log)}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Demo:
    """The running processes and the state directory they share."""

    state: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], *, stdout_file: bool = False) -> Child:
        log = self.state / f"{name}.log"
        out = self.state / f"{name}.out" if stdout_file else None
        with log.open("wb") as err, (out.open("wb") if out else open(os.devnull, "wb")) as std:
            process = subprocess.Popen(list(command), stdout=std, stderr=err, stdin=subprocess.DEVNULL,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        child = Child(name, process, log, out)
        self.children.append(child)
        return child

    def check(self) -> None:
        for child in self.children:
            child.check()

    def stop(self) -> None:
        """SIGTERM every process at once, then wait for each (SIGKILL after its grace period)."""
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.stop(5.0 if child.name == "simulator" else 20.0)  # the simulator keeps nothing worth flushing


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def get_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def log_events(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON log lines written so far."""
    if not path.exists():
        return
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                yield event


def wait_for(what: str, check: Any, demo: Demo, timeout: float, interval: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds (or at
    once when a child process has exited)."""
    def checked() -> Any:
        demo.check()
        return check()

    try:
        return wait_until(checked, timeout, interval, what)
    except AssertionError as exc:
        raise DemoError(str(exc)) from None


def start_simulator(demo: Demo, nodes: int, pods_per_node: int, heapster_url: str) -> dict[str, Any]:
    sim_dir = demo.state / "simulator"
    demo.start("simulator", [PY, "-m", "heapster_simulator", "--nodes", str(nodes), "--pods-per-node",
                             str(pods_per_node), "--api-scheme", "https", "--events-per-second", "2",
                             "--state-dir", str(sim_dir), "--apiservice", f"metrics.k8s.io/v1beta1={heapster_url}"])
    say(f"==> starting the cluster simulator ({nodes} nodes, {pods_per_node} pods each, HTTPS API and kubelets)")
    ready_file = sim_dir / "ready.json"
    wait_for("the simulator's ready.json", ready_file.exists, demo, 60)
    ready: dict[str, Any] = json.loads(ready_file.read_text())
    say(f"    API server {ready['api']}, kubelets on 127.0.0.2.. port {ready['kubelet_port']}, "
        f"kubeconfig {sim_dir / 'kubeconfig'}")
    return ready


def source_uri(ready: dict[str, Any], kubeconfig: Path) -> str:
    """The Heapster-style source flag for the simulator (kubelets verified with the simulator's CA)."""
    return f"kubernetes:{ready['api']}?inClusterConfig=false&auth={kubeconfig}"


def start_heapster(demo: Demo, source: str, port: int, resolution: str) -> Child:
    command = [PY, "-m", "heapster.cli", f"--source={source}", f"--metric_resolution={resolution}",
               f"--heapster-port={port}", "--listen-ip=127.0.0.1", "--log-format=json"]
    say(f"==> starting heapster: heapster --source='{source}' --metric_resolution={resolution} "
        f"--heapster-port={port}")
    return demo.start("heapster", command)


def start_eventer(demo: Demo, source: str, port: int) -> Child:
    command = [PY, "-m", "heapster_eventer", f"--source={source}", "--sink=log", "--frequency=5s",
               "--healthz-ip=127.0.0.1", f"--healthz-port={port}", "--log-format=json"]
    say(f"==> starting the eventer: eventer --source='{source}' --sink=log --frequency=5s")
    return demo.start("eventer", command, stdout_file=True)


def find_log(child: Child, event: str) -> dict[str, Any] | None:
    return next((e for e in log_events(child.log) if e.get("event") == event), None)


def has_cpu(url: str) -> bool:
    """Whether the Model API has a CPU rate for the cluster (needs two scrapes)."""
    try:
        result = get_json(f"{url}/api/v1/model/metrics/cpu/usage_rate")
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return bool(result.get("metrics"))


def wait_for_metrics(demo: Demo, heapster: Child, url: str, resolution: float) -> None:
    started = time.monotonic()
    running = wait_for("heapster to start", lambda: find_log(heapster, "scrape.waiting"), demo, 90)
    listening = find_log(heapster, "api.listening") or {}
    say(f"    API listening on {listening.get('url', url)}")
    say(f"==> waiting for the first scrape (window ends at {running['window_end']}, "
        f"batch due at {running['first_batch_at']})")
    wait_for("the first batch", lambda: find_log(heapster, "batch.exported"), demo, resolution * 2 + 30)
    second = datetime.fromtimestamp((time.time() // resolution + 1) * resolution, UTC).strftime("%H:%M:%SZ")
    say(f"==> first batch stored; CPU rates need a second scrape (window ends at {second})")
    wait_for("CPU rates in the Model API", lambda: has_cpu(url), demo, resolution * 2 + 30)
    say(f"    metrics ready {time.monotonic() - started:.0f}s after heapster started")


def top(url: str, *args: str) -> str:
    command = [PY, "-m", "heapster.cli", "top", *args, "--server", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DemoError(f"heapster top {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def show_tables(url: str) -> None:
    say()
    say(f"$ heapster top nodes --server {url}")
    sys.stdout.write(top(url, "nodes"))
    say()
    say(f"$ heapster top pods -A --sort-by=cpu --server {url}    (first {MAX_POD_ROWS} rows)")
    lines = top(url, "pods", "-A", "--sort-by=cpu").splitlines()
    for line in lines[:MAX_POD_ROWS + 1]:
        say(line)
    if len(lines) > MAX_POD_ROWS + 1:
        say(f"... and {len(lines) - MAX_POD_ROWS - 1} more pods")


def show_events(eventer: Child) -> None:
    lines = [line for line in tail(eventer.stdout, 200).splitlines() if "(cnt:" in line]
    say()
    if lines:
        say(f"==> eventer (log sink): {len(lines)} events exported so far, the latest:")
        for line in lines[-3:]:
            say(f"    {line.strip()}")
    else:
        say("==> eventer: running, no new events exported yet (it exports every 5s)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=5, help="simulated nodes (default 5)")
    p.add_argument("--pods-per-node", type=int, default=10, help="pods per node (default 10)")
    p.add_argument("--resolution", default="10s", help="heapster --metric_resolution (default 10s, at least 5s)")
    p.add_argument("--port", type=int, default=8082, help="heapster's API port (default 8082, or a free one)")
    p.add_argument("--once", action="store_true", help="print the tables and exit instead of running until Ctrl-C")
    p.add_argument("--keep", action="store_true", help="keep the state directory (logs) after exit")
    return p.parse_args(argv)


def run(args: argparse.Namespace, resolution: float) -> int:
    state = Path(tempfile.mkdtemp(prefix="heapster-demo-"))
    demo = Demo(state)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started with SIGINT ignored
    try:
        port = free_port(preferred=args.port)
        if port != args.port:
            say(f"==> port {args.port} is in use; heapster will listen on {port}")
        url = f"http://127.0.0.1:{port}"
        ready = start_simulator(demo, args.nodes, args.pods_per_node, url)
        kubeconfig = state / "simulator" / "kubeconfig"
        source = source_uri(ready, kubeconfig)
        heapster = start_heapster(demo, source, port, args.resolution)
        eventer = start_eventer(demo, source, free_port())
        wait_for_metrics(demo, heapster, url, resolution)
        show_tables(url)
        show_events(eventer)
        say()
        say(f"==> dashboard: {url}/   (cluster, node and pod CPU and memory, last 15 minutes)")
        say(f"    Model API: {url}/api/v1/model/nodes/   metrics API: {url}/apis/metrics.k8s.io/v1beta1/nodes")
        say(f"    kubectl through the simulator's aggregation layer: KUBECONFIG={kubeconfig} kubectl top nodes")
        bin_dir = Path(sys.executable).parent
        say(f"==> commands: {bin_dir}/heapster, {bin_dir}/eventer, {bin_dir}/heapster-simulator "
            f"(or `. {bin_dir}/activate` first), e.g. {bin_dir}/heapster top pods -A --server {url}")
        say(f"    logs: {state}" + ("" if args.keep else " (removed on exit unless --keep)"))
        if args.once:
            return 0
        say("==> running; press Ctrl-C to stop")
        while True:
            demo.check()
            time.sleep(1)
    except KeyboardInterrupt:
        stopping = True
        say("\n==> stopping")
        return 0
    except DemoError as exc:
        sys.stderr.write(f"demo: {exc}\n")
        args.keep = True
        sys.stderr.write(f"demo: logs kept in {state}\n")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        demo.stop()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)
        elif stopping:
            say(f"    logs kept in {state}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        resolution = float(args.resolution.removesuffix("s"))
    except ValueError:
        resolution = 0.0
    if resolution < 5 or not args.resolution.endswith("s"):
        sys.stderr.write("demo: --resolution must be seconds, at least 5s (e.g. 10s)\n")
        return 2
    return run(args, resolution)


if __name__ == "__main__":
    sys.exit(main())
