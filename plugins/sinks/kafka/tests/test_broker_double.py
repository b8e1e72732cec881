"""The outage double itself: a pause is in effect when it returns, on the broker the sinks talk to."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster_sink_kafka.testing import KafkaBroker, holds_listener, thread_states


def test_pause_returns_once_every_broker_thread_is_stopped(broker: KafkaBroker) -> None:
    assert broker.process is not None
    pid = broker.process.pid
    for _ in range(20):  # os.kill returns before the threads stop; pause() must not
        broker.pause()
        assert set(thread_states(pid)) == {"T"}
        broker.resume()
        assert "T" not in thread_states(pid)


def test_a_broker_that_lost_its_port_to_another_does_not_pass_for_started(broker: KafkaBroker,
                                                                          tmp_path: Path) -> None:
    """Another run's broker on the port would answer while this one is 'paused': refuse to start."""
    loser = KafkaBroker(tmp_path / "tansu.log")
    loser.port = broker.port
    with pytest.raises(RuntimeError, match="tansu exited"):
        loser.start()
    assert broker.process is not None and holds_listener(broker.process.pid, broker.port)
