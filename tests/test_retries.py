"""Retries: what is retried, how often, and Retry-After."""

from __future__ import annotations

import time

import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, START, ClientFactory

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "fault",
    [Fault.http(500), Fault.http(502), Fault.http(503), Fault.http(429), Fault.status("-18")],
    ids=["500", "502", "503", "429", "-18"],
)
async def test_transient_faults_are_retried(
    client: itnio.ItnioClient, fake: FakeItnio, fault: Fault
) -> None:
    """5xx, 429 and -18 are retried and the call then succeeds."""
    fake.add_fault(fault)
    fake.add_fault(fault)
    page = await client.voice.record_sip_query(START, END)
    assert page.total > 0
    assert fake.request_count == 3


async def test_retry_limit(make_client: ClientFactory, fake: FakeItnio) -> None:
    """After max_retries retries the last error is raised."""
    fake.add_fault(Fault.http(503, count=5))
    async with make_client(max_retries=3) as client:
        with pytest.raises(itnio.HttpStatusError) as info:
            await client.voice.record_sip_query(START, END)
    assert info.value.status_code == 503
    assert fake.request_count == 4


async def test_no_retries_when_max_retries_is_zero(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """max_retries=0 sends exactly one request."""
    fake.add_fault(Fault.drop())
    async with make_client(max_retries=0) as client:
        with pytest.raises(itnio.TransportError):
            await client.voice.record_sip("1")
    assert fake.request_count == 1


async def test_retry_after_is_honoured(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A 429 with Retry-After: 1 waits at least that long before the retry."""
    fake.add_fault(Fault.http(429, retry_after=1))
    started = time.monotonic()
    await client.voice.record_sip("1")
    assert time.monotonic() - started >= 0.9
    assert fake.request_count == 2


async def test_each_attempt_is_signed_anew(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """Every attempt carries its own Timestamp and a Sign that matches it."""
    from itniotech_async._auth import compute_sign

    from .conftest import KEY, SECRET

    fake.add_fault(Fault.http(503))
    await client.voice.record_sip("1")
    assert len(fake.requests) == 2
    for req in fake.requests:
        ts = req.headers["timestamp"]
        assert req.headers["api-key"] == KEY
        assert req.headers["sign"] == compute_sign(KEY, SECRET, ts)
