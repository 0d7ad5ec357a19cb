"""The client's own transport: aiohttp on asyncio when installed, else httpx's; TLS verified."""

from __future__ import annotations

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, KEY, SECRET, START

pytestmark = pytest.mark.anyio


async def test_transport_follows_the_backend(fake: FakeItnio, anyio_backend: str) -> None:
    """The client's own transport uses aiohttp on asyncio (when installed), httpx on trio."""
    from itniotech_async._transport import AutoTransport, aiohttp_available

    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        assert await client.voice.record_sip("1") is None
        transport = client._requester.http._transport
        assert isinstance(transport, AutoTransport)
        via_aiohttp = transport._session is not None
        assert via_aiohttp == (anyio_backend == "asyncio" and aiohttp_available())


async def test_httpx_transport_on_asyncio(fake: FakeItnio, anyio_backend: str) -> None:
    """Without aiohttp the client's transport is httpx's own, on either backend."""
    from itniotech_async._transport import AutoTransport

    transport = AutoTransport(max_connections=4, use_aiohttp=False)
    fake.add_fault(Fault.drop())
    async with fake.serve() as url, httpx.AsyncClient(transport=transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, base_url=url, http_client=http)
        page = await client.voice.record_sip_query(START, END)
        assert page.total > 0
        assert fake.request_count == 2  # the dropped connection was retried
        assert transport._session is None


def test_tls_context_verifies_and_is_made_once() -> None:
    """Both transports verify TLS with one shared context, not one per client."""
    import ssl

    from itniotech_async._transport import ssl_context

    context = ssl_context()
    assert context is ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


async def test_aiohttp_responses_are_freed_once_read(fake: FakeItnio, anyio_backend: str) -> None:
    """A read aiohttp response is let go at once, not kept for the garbage collector.

    httpx's response and its stream refer to each other, so whatever the
    stream holds lives until the next collection unless the stream drops it.
    """
    import gc

    from itniotech_async._transport import aiohttp_available

    if anyio_backend != "asyncio" or not aiohttp_available():
        pytest.skip("aiohttp serves only asyncio")
    import aiohttp

    def alive() -> int:
        return sum(isinstance(o, aiohttp.ClientResponse) for o in gc.get_objects())

    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        gc.collect()
        gc.disable()
        try:
            before = alive()
            for _ in range(5):
                page = await client.voice.record_sip_query(START, END)
                assert page.records
            left = alive() - before
        finally:
            gc.enable()
    assert left == 0
