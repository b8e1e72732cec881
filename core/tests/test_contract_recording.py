"""Core's own sinks pass the sink contract suite shipped in heapster.testing."""

from __future__ import annotations

from typing import Any

import pytest

from heapster.batchcodec import DATA_BATCH_CODEC
from heapster.errors import PermanentError
from heapster.model import DataBatch
from heapster.testing import RecordingSink, SinkContract


class RejectingRecordingSink(RecordingSink):
    """A recording sink whose backend rejects batches without metric sets, and can go down."""

    def __init__(self) -> None:
        super().__init__("contract-recording-sink")
        self.down = False

    async def export(self, batch: DataBatch) -> None:
        if self.down:
            self.fail_retryable(1)
        if not batch.metric_sets:
            msg = "empty batch rejected"
            raise PermanentError(msg)
        await super().export(batch)


class Outage:
    def __init__(self, sink: RejectingRecordingSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink.down = True

    async def start(self) -> None:
        self.sink.down = False


class TestRecordingSinkContract(SinkContract):
    async def contains(self, sink: Any, batch: DataBatch) -> bool:
        # by content: a batch from a queue on disk is a decoded copy
        return DATA_BATCH_CODEC.encode(batch) in {DATA_BATCH_CODEC.encode(b) for b in sink.batches}

    @pytest.fixture
    def contract_sink(self) -> RejectingRecordingSink:
        return RejectingRecordingSink()

    @pytest.fixture
    def contract_outage(self, contract_sink: RejectingRecordingSink) -> Outage:
        return Outage(contract_sink)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        from datetime import UTC, datetime

        return DataBatch(datetime(2020, 1, 1, tzinfo=UTC))
