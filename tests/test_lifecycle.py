"""Client and stream lifecycles: closing mid-stream, tasks, re-entry, limits that never hang."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, FakeRequest

from .conftest import KEY, NOW, SECRET

pytestmark = pytest.mark.anyio

START, END = NOW - timedelta(days=50), NOW - timedelta(days=1)


async def test_client_closing_under_a_stream_is_an_error(fake: FakeItnio) -> None:
    """A stream whose client closes mid-walk raises ItnioError instead of ending short."""
    fake.latency = 0.02
    outcome: list[object] = []

    async def consume(client: itnio.ItnioClient) -> None:
        n = 0
        try:
            async for _ in client.voice.iter_sip_records(START, END, page_size=10, concurrency=2):
                n += 1
        except itnio.ItnioError as exc:
            outcome.append(exc)
        else:
            outcome.append(n)

    async with fake.serve() as url, anyio.create_task_group() as tg:
        client = itnio.ItnioClient(KEY, SECRET, base_url=url)
        tg.start_soon(consume, client)
        await anyio.sleep(0.2)
        await client.aclose()
    assert len(outcome) == 1
    assert isinstance(outcome[0], itnio.ItnioError), f"stream ended quietly after {outcome[0]}"
    assert "closed" in str(outcome[0])


async def test_user_generator_may_yield_inside_the_client(fake: FakeItnio) -> None:
    """An async generator of the user's that yields inside `async with client` can be left
    and closed from another task (as event-loop finalisers do) without breaking anything."""

    async def records(url: str) -> AsyncIterator[itnio.SipCallRecord]:
        async with itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
            async for record in client.voice.iter_sip_records(START, END, page_size=10):
                yield record

    async with fake.serve() as url:
        gen = records(url)
        async for _ in gen:
            break
        async with anyio.create_task_group() as tg:
            tg.start_soon(gen.aclose)  # closed by another task
        with anyio.fail_after(2):
            async with httpx.AsyncClient() as http:
                assert (await http.get(url + "/nothing")).status_code == 404


async def test_enter_and_exit_in_different_tasks(fake: FakeItnio) -> None:
    """A client opened in one task (a startup hook) may be closed in another (shutdown)."""
    async with fake.serve() as url:
        client = itnio.ItnioClient(KEY, SECRET, base_url=url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.__aenter__)
        got = [r async for r in client.voice.iter_sip_records(START, END, limit=30)]
        assert len(got) == 30
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.__aexit__, None, None, None)
        assert client.is_closed


async def test_client_cannot_be_entered_twice(fake: FakeItnio) -> None:
    """Re-entering an open client is refused with a clear error, as httpx does."""
    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http)
        async with client:
            with pytest.raises(itnio.ItnioError, match="already open"):
                await client.__aenter__()
        with pytest.raises(itnio.ItnioError, match="closed"):
            await client.__aenter__()


async def test_closed_injected_http_client_is_an_itnio_error(fake: FakeItnio) -> None:
    """An http_client the caller already closed gives ItnioError, not a raw RuntimeError."""
    http = httpx.AsyncClient(transport=fake.transport)
    await http.aclose()
    client = itnio.ItnioClient(KEY, SECRET, http_client=http)
    with pytest.raises(itnio.ItnioError, match="http_client"):
        await client.voice.record_sip("1")
    assert fake.request_count == 0


async def test_iterator_aclose_waits_for_the_producer(fake: FakeItnio) -> None:
    """An iterator kept in a variable can be closed explicitly; no request follows."""
    fake.latency = 0.02
    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http)
        iterator = aiter(client.voice.iter_sip_records(START, END, page_size=10))
        await anext(iterator)
        await iterator.aclose()  # type: ignore[attr-defined]
        settled = fake.request_count
        await anyio.sleep(0.1)
        assert fake.request_count == settled
        await client.aclose()


@pytest.mark.parametrize("ordered", [True, False])
async def test_limit_does_not_hang_when_an_earlier_window_grows(ordered: bool) -> None:
    """With a limit, calls arriving in an earlier window while later ones are held never stall."""
    start = NOW - timedelta(days=40)
    boundary = start + timedelta(days=31)

    def rec(i: int, when: object) -> dict[str, object]:
        return {"voiceId": f"{i:019d}", "submitTime": when.isoformat(timespec="seconds")}  # type: ignore[attr-defined]

    first = [rec(i, start + timedelta(days=1, minutes=i)) for i in range(25)]
    second = [rec(1000 + i, boundary + timedelta(days=1, minutes=i)) for i in range(200)]
    fake = FakeItnio(KEY, SECRET, sip_records=first + second, group_records=[], now=NOW)
    added: list[int] = []

    async def slow_second_page(req: FakeRequest) -> None:
        body = req.json or {}
        if body.get("current") == 2 and body["params"]["strTime"] == start.isoformat():
            await anyio.sleep(0.2)
            if not added:
                added.append(1)
                fake.add_records(
                    "sip", [rec(5000 + i, start + timedelta(days=2, minutes=i)) for i in range(10)]
                )

    fake.on_request(slow_second_page)
    async with (
        httpx.AsyncClient(transport=fake.transport) as http,
        itnio.ItnioClient(KEY, SECRET, http_client=http) as client,
    ):
        with anyio.fail_after(10):
            got = [
                r
                async for r in client.voice.iter_sip_records(
                    start, NOW - timedelta(hours=1), page_size=10, limit=100, ordered=ordered
                )
            ]
    assert len(got) == 100
    assert len({r.voice_id for r in got}) == 100


async def test_sub_second_range_sends_nothing(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A range inside one second holds no record stamp: empty results, no request."""
    at = (NOW - timedelta(days=3)).replace(microsecond=500_000)
    page = await client.voice.record_sip_query(at, at + timedelta(microseconds=300_000))
    assert page.records == ()
    assert page.total == 0
    assert [r async for r in client.voice.iter_group_records(at, at)] == []
    assert fake.request_count == 0


def test_one_client_per_event_loop() -> None:
    """The aiohttp transport used on a second asyncio loop says so instead of leaking."""
    import asyncio
    import gc
    import warnings

    from itniotech_async._transport import AutoTransport, aiohttp_available

    if not aiohttp_available():
        pytest.skip("without aiohttp the transport keeps no per-loop session")
    fake = FakeItnio(KEY, SECRET, n_records=10, now=NOW)
    transports = [AutoTransport(max_connections=2)]

    async def get() -> int:
        async with fake.serve() as url:
            request = httpx.Request("GET", url + "/x")
            response = await transports[0].handle_async_request(request)
            await response.aread()
            return response.status_code

    assert asyncio.run(get()) == 404
    with pytest.raises(itnio.ItnioError, match="event loop"):
        asyncio.run(get())
    # The first loop's session could not be closed from the second: that is
    # the leak the error reports, and aiohttp warns about it when collected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        transports.clear()
        gc.collect()


async def test_own_http_client_keeps_the_cookies_an_answer_sets() -> None:
    """The jar of the client's own httpx client skips only answers that set no cookie."""
    from itniotech_async._http import HttpClient

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Set-Cookie": "session=abc; Path=/"} if request.url.path == "/set" else {}
        return httpx.Response(200, headers=headers, json={})

    async with HttpClient(timeout=5.0, transport=httpx.MockTransport(answer)) as http:
        await http.get("http://api.test/plain")
        assert dict(http.cookies) == {}
        await http.get("http://api.test/set")
        assert dict(http.cookies) == {"session": "abc"}
        sent = await http.get("http://api.test/plain")
        assert sent.request.headers["Cookie"] == "session=abc"
    client = itnio.ItnioClient(KEY, SECRET)
    assert isinstance(client._requester.http, HttpClient)
    await client.aclose()


async def test_voice_and_streams_keep_their_client_alive(fake: FakeItnio) -> None:
    """A client no longer named stays alive while its .voice or one of its streams is held."""
    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http)
        alive = weakref.ref(client)
        voice = client.voice
        stream = voice.iter_sip_records(START, END, limit=5)
        del client
        gc.collect()
        assert alive() is not None
        del voice
        gc.collect()
        assert alive() is not None
        assert len([record async for record in stream]) == 5
