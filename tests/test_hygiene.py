"""Secret hygiene, ownership of an injected HTTP client, and the public surface."""

from __future__ import annotations

import logging

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, KEY, SECRET, START, ClientFactory

pytestmark = pytest.mark.anyio


async def test_secret_and_signs_never_leak(
    make_client: ClientFactory, fake: FakeItnio, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the secret nor any Sign shows in reprs, DEBUG logs or error messages."""
    caplog.set_level(logging.DEBUG, logger="itniotech_async")
    texts: list[str] = []
    async with make_client(max_retries=1) as client:
        texts += [repr(client), str(client), repr(client.voice), repr(client._auth)]
        fake.clock_skew = 5000  # exercise the -16 path too
        await client.voice.record_sip_query(START, END)
        fake.add_fault(Fault.http(503, count=3))
        fake.add_fault(Fault.status("-1"))
        for call in (client.voice.record_sip("1"), client.voice.record_group("1")):
            try:
                await call
            except itnio.ItnioError as exc:
                texts += [str(exc), repr(exc), str(exc.__cause__)]
    texts += [r.getMessage() for r in caplog.records]
    signs = {req.headers["sign"] for req in fake.requests if "sign" in req.headers}
    assert signs
    blob = "\n".join(texts)
    assert SECRET not in blob
    for sign in signs:
        assert sign not in blob
    # The DEBUG log does record each request.
    assert any("/voice/recordSipQuery" in r.getMessage() for r in caplog.records)


async def test_injected_http_client_is_not_closed(fake: FakeItnio) -> None:
    """A client passed in as http_client stays open after the ItnioClient closes."""
    async with httpx.AsyncClient(transport=fake.transport) as http:
        async with itnio.ItnioClient(KEY, SECRET, http_client=http) as client:
            await client.voice.record_sip("1")
        assert not http.is_closed
        client2 = itnio.ItnioClient(KEY, SECRET, http_client=http)
        await client2.aclose()
        assert not http.is_closed
        assert (await http.get("https://api.itniotech.com/nothing")).status_code == 404


async def test_own_http_client_is_closed(fake: FakeItnio) -> None:
    """The httpx client the ItnioClient made is closed by aclose and by async with."""
    async with fake.serve() as url:
        async with itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
            await client.voice.record_sip("1")
        assert client._requester.http.is_closed
        client = itnio.ItnioClient(KEY, SECRET, base_url=url)
        await client.voice.record_sip("1")
        await client.aclose()
        assert client._requester.http.is_closed
        with pytest.raises(itnio.ItnioError, match="closed"):
            await client.voice.record_sip("1")


async def test_max_concurrency_caps_requests_in_flight(fake: FakeItnio) -> None:
    """max_concurrency caps concurrent requests across the whole client."""
    import anyio

    fake.latency = 0.02
    async with (
        fake.serve() as url,
        itnio.ItnioClient(KEY, SECRET, base_url=url, max_concurrency=3) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(12):
            tg.start_soon(client.voice.record_sip, "1")
    assert fake.request_count == 12
    assert fake.peak_in_flight == 3


def test_all_is_complete_and_sorted() -> None:
    """__all__ is sorted and names every public object of the package."""
    assert itnio.__all__ == sorted(itnio.__all__)
    public = {n for n in dir(itnio) if not n.startswith("_")} - {"testing", "archive"}
    assert public <= set(itnio.__all__)
    for name in itnio.__all__:
        assert hasattr(itnio, name)


def test_records_are_frozen_slotted() -> None:
    """Records are frozen attrs classes with slots."""
    rec = itnio.SipCallRecord(voice_id="1")
    assert not hasattr(rec, "__dict__")
    with pytest.raises(AttributeError):
        rec.voice_id = "2"  # type: ignore[misc]
