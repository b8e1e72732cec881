"""A real carbon-cache (Debian ``graphite-carbon``) for tests, on loopback ports, reading back its whisper files.

``carbon_server(tmp_path)`` writes a carbon.conf and storage-schemas.conf into a temporary directory,
starts ``carbon-cache --nodaemon`` with them and waits for the line receiver. ``CarbonServer.series()``
reads what carbon wrote: one whisper file per metric path, parsed here (the whisper format is a small
fixed header, archive table, then ``(uint32 time, float64 value)`` points).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
from pathlib import Path

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import listening, start_process, stop_process
from heapster.testing.servers import started

CARBON_CACHE = "carbon-cache"
RETENTION = "1s:1h"
"""One point per second for an hour: the contract's batches are up to 30 minutes old."""


def read_whisper(path: Path) -> dict[int, float]:
    """Every stored point of the finest archive of a whisper file, ``{unix seconds: value}``."""
    data = path.read_bytes()
    _aggregation, _max_retention, _xff, archives = struct.unpack_from("!2LfL", data, 0)
    if not archives:
        return {}
    offset, _seconds_per_point, points = struct.unpack_from("!3L", data, 16)
    out: dict[int, float] = {}
    for i in range(points):
        timestamp, value = struct.unpack_from("!Ld", data, offset + 12 * i)
        if timestamp:
            out[timestamp] = value
    return out


class CarbonServer:
    """One carbon-cache process with its own config, storage and ports; restartable on the same ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.line_port = free_port()
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.pickle_port = free_port()
        self.query_port = free_port()
        self.whisper_dir = root / "storage" / "whisper"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        conf = self.root / "conf"
        for folder in (conf, self.whisper_dir, self.root / "log", self.root / "run", self.root / "storage" / "lists"):
            folder.mkdir(parents=True, exist_ok=True)
        (conf / "carbon.conf").write_text(f"""[cache]
STORAGE_DIR = {self.root / 'storage'}/
LOCAL_DATA_DIR = {self.whisper_dir}/
WHITELISTS_DIR = {self.root / 'storage' / 'lists'}/
CONF_DIR = {conf}/
LOG_DIR = {self.root / 'log'}/
PID_DIR = {self.root / 'run'}/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {self.line_port}
ENABLE_UDP_LISTENER = True
UDP_RECEIVER_INTERFACE = 127.0.0.1
UDP_RECEIVER_PORT = {self.udp_port}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {self.pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {self.query_port}
USE_FLOW_CONTROL = True
LOG_LISTENER_CONNECTIONS = False
ENABLE_TAGS = False
CACHE_WRITE_STRATEGY = sorted
WHISPER_AUTOFLUSH = True
WHISPER_FALLOCATE_CREATE = False
""")
        (conf / "storage-schemas.conf").write_text(f"[everything]\npattern = .*\nretentions = {RETENTION}\n")
        (conf / "storage-aggregation.conf").write_text(
            "[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = last\n")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_file(self) -> Path:
        return self.root / "carbon.out"

    def start(self, timeout: float = PATIENCE) -> None:
        """Start carbon-cache and wait until its line receiver accepts connections."""
        binary = shutil.which(CARBON_CACHE)
        if binary is None:
            msg = "carbon-cache not found: install the Debian package graphite-carbon (./dev setup does)"
            raise RuntimeError(msg)
        command = [binary, f"--config={self.root / 'conf' / 'carbon.conf'}", "--nodaemon", "--logfile=-",
                   f"--pidfile={self.root / 'run' / 'carbon.pid'}", "start"]
        self.process = start_process(command, self.log_file, lambda: listening(self.line_port), what="carbon-cache",
                                     timeout=timeout, cwd=self.root)

    def stop(self) -> None:
        """Stop carbon-cache (it writes its cache out first)."""
        if self.process is None:
            return
        stop_process(self.process, grace=20)
        self.process = None

    def whisper_path(self, metric: str) -> Path:
        return self.whisper_dir.joinpath(*metric.split(".")).with_suffix(".wsp")

    def series(self, metric: str) -> dict[int, float]:
        """The stored points of one metric path (empty if carbon has not written it yet)."""
        path = self.whisper_path(metric)
        if not path.is_file():
            return {}
        with contextlib.suppress(struct.error):
            return read_whisper(path)
        return {}

    def metrics(self, below: str = "") -> list[str]:
        """Every metric path carbon has a whisper file for, optionally under a dotted prefix."""
        root = self.whisper_dir.joinpath(*below.split(".")) if below else self.whisper_dir
        found = [p.relative_to(self.whisper_dir).with_suffix("") for p in root.rglob("*.wsp")]
        return sorted(".".join(p.parts) for p in found)


def carbon_server(root: Path) -> contextlib.AbstractContextManager[CarbonServer]:
    """A started :class:`CarbonServer` in ``root``, stopped on exit."""
    return started(CarbonServer(root))
