"""heapster.timeouts: asyncio.timeout's behaviour with one timer per span of deadlines."""

from __future__ import annotations

import asyncio

import pytest

from heapster.testing.net import async_wait_until
from heapster.timeouts import SharedTimeouts


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_late_body_is_cut_with_timeout_error_never_before_its_delay() -> None:
    shared = SharedTimeouts(granularity=0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    timeout = shared.timeout(0.1)
    with pytest.raises(TimeoutError):
        async with timeout:
            await _forever()
    assert timeout.expired
    assert loop.time() >= began + 0.1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_uses_begun_together_share_one_timer_and_all_time_out() -> None:
    shared = SharedTimeouts(granularity=0.5)  # the deadlines of uses begun together: one span
    entered = asyncio.Event()
    inside = 0

    async def use(delay: float) -> str:
        nonlocal inside
        try:
            async with shared.timeout(delay):
                inside += 1
                if inside == 10:
                    entered.set()
                await _forever()
        except TimeoutError:
            return "timeout"
        return "done"

    tasks = [asyncio.create_task(use(0.01)) for _ in range(10)]
    await entered.wait()
    assert shared.timers() == 1
    assert await asyncio.gather(*tasks) == ["timeout"] * 10
    assert shared.timers() == 0


async def test_a_body_done_in_time_is_left_alone_when_the_timer_fires() -> None:
    shared = SharedTimeouts(granularity=0.01)
    timeout = shared.timeout(0.02)
    async with timeout:
        await asyncio.sleep(0)
    await async_wait_until(lambda: shared.timers() == 0, timeout=10.0, interval=0.01)  # the timer has fired
    assert not timeout.expired
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # not cancelled


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    shared = SharedTimeouts()
    started = asyncio.Event()

    async def use() -> None:
        async with shared.timeout(30.0):
            started.set()
            await _forever()

    task = asyncio.create_task(use())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_uses_cut_together_raise_one_timeout_error_at_the_outer_one() -> None:
    shared = SharedTimeouts(granularity=0.5)  # the scheduler's node timeout around the client's request timeout
    outer, inner = shared.timeout(0.01), shared.timeout(0.01)
    with pytest.raises(TimeoutError):
        async with outer:
            try:
                async with inner:
                    await _forever()
            except TimeoutError:
                pytest.fail("the inner timeout took the outer one's cancellation")
    assert outer.expired
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_none_is_no_timeout() -> None:
    shared = SharedTimeouts()
    async with shared.timeout(None) as timeout:
        await asyncio.sleep(0)
    assert shared.timers() == 0 and not timeout.expired



async def test_no_time_is_cut_at_once() -> None:
    shared = SharedTimeouts(granularity=60.0)
    with pytest.raises(TimeoutError):
        async with shared.timeout(0.0):
            await _forever()
