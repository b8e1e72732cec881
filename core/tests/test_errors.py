"""Error texts for logs: connection failures read as host, port and cause, never as object reprs."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from heapster.errors import PermanentError, Rejections, describe_error
from heapster.testing.net import free_port


@pytest.mark.parametrize("with_context", [True, False])
async def test_a_refused_connection_is_described_without_the_ssl_context(with_context: bool) -> None:
    port = free_port()  # nothing listens there
    context = ssl.create_default_context() if with_context else None
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"https://127.0.0.1:{port}/", ssl=context if with_context else True)
    if with_context:
        assert "SSLContext object at 0x" in str(caught.value)  # what aiohttp itself renders
    text = describe_error(caught.value)
    assert text.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert "refused" in text.lower() or "connect call failed" in text.lower()
    assert "SSLContext" not in text and " at 0x" not in text


def test_other_errors_keep_their_type_and_text() -> None:
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert describe_error(ValueError("bad value")) == "ValueError: bad value"


def test_rejections_count_every_value_and_keep_the_first() -> None:
    out = Rejections()
    out.reject("a = nan")
    out.reject("b = inf")
    assert (out.rejected, out.first_rejected) == (2, "a = nan")


def test_rejections_raise_a_permanent_error_dropping_them() -> None:
    out = Rejections()
    out.raise_if_any("value(s) cannot be written")  # nothing left out: nothing raised
    out.reject("a = nan")
    with pytest.raises(PermanentError, match=r"^1 value\(s\) cannot be written, e\.g\. a = nan$") as caught:
        out.raise_if_any("value(s) cannot be written")
    assert caught.value.dropped == 1
