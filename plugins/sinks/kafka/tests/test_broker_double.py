"""The outage double itself: a pause is in effect when it returns, on the broker the sinks talk to."""

from __future__ import annotations

from pathlib import Path

from heapster.testing.servers import started
from heapster_sink_kafka.testing import KafkaBroker, holds_listener, thread_states


def test_pause_returns_once_every_broker_thread_is_stopped(broker: KafkaBroker) -> None:
    assert broker.process is not None
    pid = broker.process.pid
    for _ in range(20):  # os.kill returns before the threads stop; pause() must not
        broker.pause()
        assert set(thread_states(pid)) == {"T"}
        broker.resume()
        assert "T" not in thread_states(pid)


def test_a_broker_that_lost_its_port_to_another_moves_to_a_port_of_its_own(broker: KafkaBroker,
                                                                           tmp_path: Path) -> None:
    """Another run's broker on the port would answer while this one is 'paused': never pass for started there."""
    late = KafkaBroker(tmp_path / "tansu.log")
    late.port = broker.port
    with started(late):
        assert late.port != broker.port and late.process is not None
        assert holds_listener(late.process.pid, late.port)
        assert "Address in use" in late.log_tail(20_000)
    assert broker.process is not None and holds_listener(broker.process.pid, broker.port)
