"""Etsy's statsd daemon (npm ``statsd``, run with Debian's nodejs) for tests, on loopback ports.

The daemon runs with ``dumpMessages`` (it logs every line it receives) and a small backend written
here that, at each flush, saves the daemon's parsed gauges and its ``bad_lines_seen`` counter as JSON.
So a test sees both the raw lines that arrived and what statsd made of them.

The daemon is looked for in ``$HEAPSTER_NPM_DIR/node_modules/statsd`` (default
``~/.cache/heapster/npm``, where ``./dev setup`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import start_process, stop_process
from heapster.testing.servers import started

_BACKEND = """\
const fs = require('fs');
exports.init = function (startupTime, config, events, logger) {
  let last = {};
  events.on('flush', function (timestamp, metrics) {
    const state = {timestamp: timestamp, gauges: metrics.gauges,
                   bad_lines_seen: metrics.counters[config.prefixStats + '.bad_lines_seen'] || 0};
    last = state;
    fs.writeFileSync(config.heapsterStateFile + '.tmp', JSON.stringify(state));
    fs.renameSync(config.heapsterStateFile + '.tmp', config.heapsterStateFile);
  });
  return true;
};
"""
_DUMPED = re.compile(r" - DEBUG: (.*)$")


def statsd_daemon_dir() -> Path:
    """Where ``./dev setup`` installed the npm ``statsd`` package."""
    base = os.environ.get("HEAPSTER_NPM_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "heapster" / "npm")
    return Path(base) / "node_modules" / "statsd"


class StatsdDaemon:
    """One statsd process with its own config and ports; restartable on the same ports."""

    def __init__(self, root: Path, flush_ms: int = 200) -> None:
        self.root = root
        self.port = free_port(socket.SOCK_DGRAM)
        self.mgmt_port = free_port()
        self.state_file = root / "state.json"
        self.log_file = root / "statsd.out"
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "heapster_backend.js").write_text(_BACKEND)
        config = {"port": self.port, "address": "127.0.0.1", "mgmt_port": self.mgmt_port,
                  "mgmt_address": "127.0.0.1", "dumpMessages": True, "flushInterval": flush_ms,
                  "backends": [str(root / "heapster_backend.js")], "prefixStats": "statsd",
                  "heapsterStateFile": str(self.state_file), "deleteIdleStats": False}
        (root / "config.js").write_text(f"({json.dumps(config)})\n")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = PATIENCE) -> None:
        """Start the daemon and wait until its management port answers ``health: up``."""
        node = shutil.which("node") or shutil.which("nodejs")
        script = statsd_daemon_dir() / "stats.js"
        if node is None or not script.is_file():
            msg = f"statsd daemon not found (node={node}, {script}): run ./dev setup (nodejs, npm install statsd)"
            raise RuntimeError(msg)
        self.process = start_process([node, str(script), str(self.root / "config.js")], self.log_file, self._healthy,
                                     what="the statsd daemon", timeout=timeout, cwd=script.parent)

    def _healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.mgmt_port), 0.5) as sock:
                sock.sendall(b"health\n")
                return b"health: up" in sock.recv(100)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def received_lines(self) -> list[str]:
        """Every line the daemon received so far (from its ``dumpMessages`` log), bad ones included."""
        if not self.log_file.is_file():
            return []
        lines = []
        for row in self.log_file.read_text(errors="replace").splitlines():
            match = _DUMPED.search(row)
            if match and not match.group(1).startswith("Bad line: "):
                lines.append(match.group(1))
        return lines

    def state(self) -> dict[str, Any]:
        """The daemon's state at its last flush: ``gauges`` (sanitised name -> value), ``bad_lines_seen``."""
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(self.state_file.read_text()))
        return {"gauges": {}, "bad_lines_seen": 0}


def statsd_daemon(root: Path) -> contextlib.AbstractContextManager[StatsdDaemon]:
    """A started :class:`StatsdDaemon` in ``root``, stopped on exit."""
    return started(StatsdDaemon(root))
