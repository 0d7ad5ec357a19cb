"""Record streams over HTTP: exactly once, limits, caps, errors and clean exits."""

from __future__ import annotations

import contextvars
import gc
import warnings
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, FakeRequest, Fault

from .conftest import KEY, NOW, SECRET, ClientFactory

pytestmark = pytest.mark.anyio

# 50 days: two windows (31 + 19 days).
LONG_START = NOW - timedelta(days=55)
LONG_END = NOW - timedelta(days=5)


def expected_ids(records: list[dict[str, Any]], start: datetime, end: datetime) -> list[str]:
    return [
        str(r["voiceId"])
        for r in records
        if start <= datetime.fromisoformat(str(r["submitTime"])) <= end
    ]


@pytest.mark.parametrize("form", ["async-for", "async-with"])
@pytest.mark.parametrize("ordered", [True, False])
async def test_long_range_exactly_once(
    client: itnio.ItnioClient, fake: FakeItnio, form: str, ordered: bool
) -> None:
    """A range over two windows yields every record of the range exactly once."""
    stream = client.voice.iter_sip_records(
        LONG_START, LONG_END, page_size=37, concurrency=5, ordered=ordered
    )
    assert stream.windows == 2
    got: list[str] = []
    if form == "async-for":
        async for rec in stream:
            assert isinstance(rec, itnio.SipCallRecord)
            got.append(str(rec.voice_id))
    else:
        async with stream as records:
            async for rec in records:
                got.append(str(rec.voice_id))
    want = expected_ids(fake.sip_records, LONG_START, LONG_END)
    assert Counter(got) == Counter(want)
    if ordered:
        # Window by window, each in the server's page order.
        boundary = LONG_START + timedelta(days=31)
        first = expected_ids(fake.sip_records, LONG_START, boundary)
        second = [v for v in expected_ids(fake.sip_records, boundary, LONG_END) if v not in first]
        assert got == first + second
    assert stream.records_done == len(want)
    assert stream.total is not None and stream.total >= len(want)


async def test_boundary_record_is_yielded_once(transport: str) -> None:
    """A record stamped exactly on a window boundary, served by both windows, comes once."""
    start = NOW - timedelta(days=40)
    boundary = start + timedelta(days=31)
    records = [
        {"voiceId": f"{i:019d}", "submitTime": (start + timedelta(hours=i)).isoformat()}
        for i in range(0, 900, 7)
    ]
    records.append({"voiceId": "7" * 19, "submitTime": boundary.isoformat()})
    fake = FakeItnio(KEY, SECRET, group_records=records, sip_records=[], now=NOW)
    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        got = [r.voice_id async for r in client.voice.iter_group_records(start, NOW, page_size=10)]
    assert Counter(got) == Counter(expected_ids(records, start, NOW))
    assert got.count("7" * 19) == 1


async def test_pages_view(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """stream.pages() yields Page objects covering the same records."""
    start, end = NOW - timedelta(days=20), NOW - timedelta(days=2)
    pages = [p async for p in client.voice.iter_group_records(start, end, page_size=50).pages()]
    assert all(isinstance(p, itnio.Page) for p in pages)
    assert [p.current for p in pages] == list(range(1, len(pages) + 1))
    got = [r.voice_id for p in pages for r in p.records]
    assert got == expected_ids(fake.group_records, start, end)


@pytest.mark.parametrize("limit", [1, 99, 100, 101, 250])
async def test_limit_stops_fetching(client: itnio.ItnioClient, fake: FakeItnio, limit: int) -> None:
    """limit=N yields N records and requests only the pages they need."""
    got = [
        r
        async for r in client.voice.iter_sip_records(
            LONG_START, LONG_END, limit=limit, concurrency=8
        )
    ]
    assert len(got) == limit
    assert fake.request_count == -(-limit // 100)


async def test_concurrency_is_capped_per_stream_and_client(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """A stream keeps at most `concurrency` requests in flight; the client cap binds all streams."""
    fake.latency = (0.005, 0.02)
    async with make_client(max_concurrency=5) as client:
        n = 0
        async for _ in client.voice.iter_sip_records(
            LONG_START, LONG_END, page_size=20, concurrency=3
        ):
            n += 1
        assert fake.peak_in_flight == 3
        fake.reset_counters()

        async def drain(stream: Any) -> None:
            async for _ in stream:
                pass

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(
                    drain,
                    client.voice.iter_sip_records(
                        LONG_START, LONG_END, page_size=20, concurrency=4
                    ),
                )
        assert fake.peak_in_flight == 5
    assert n > 0


async def test_fault_on_one_page_retries_only_that_page(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """A transient fault mid-walk costs one extra request, not a restart of the walk."""
    start, end = NOW - timedelta(days=30), NOW - timedelta(days=1)

    def on_request(req: FakeRequest) -> None:
        if fake.request_count == 4:
            fake.add_fault(Fault.http(503))

    # The same walk without the fault, first: what it costs.
    plain = [r.voice_id async for r in client.voice.iter_sip_records(start, end, page_size=25)]
    without = fake.request_count
    fake.reset_counters()
    fake.on_request(on_request)
    got = [r.voice_id async for r in client.voice.iter_sip_records(start, end, page_size=25)]
    want = expected_ids(fake.sip_records, start, end)
    assert got == plain == want
    assert fake.request_count == without + 1
    # The pages and the count that proves the window complete, plus any probe
    # of two pages sharing a second.
    assert -(-len(want) // 25) + 1 <= without <= -(-len(want) // 25) + 4


async def test_single_failure_is_not_wrapped(make_client: ClientFactory, fake: FakeItnio) -> None:
    """A failing page raises its own error, never an ExceptionGroup, in both forms."""
    async with make_client(max_retries=0) as client:
        fake.add_fault(Fault.status("-22"))
        with pytest.raises(itnio.ParameterError):
            async for _ in client.voice.iter_sip_records(LONG_START, LONG_END):
                pass
        fake.add_fault(Fault.http(503, count=50))
        with pytest.raises(itnio.HttpStatusError):
            async with client.voice.iter_group_records(LONG_START, LONG_END, page_size=10) as recs:
                async for _ in recs:
                    pass


async def test_arrivals_mid_walk(make_client: ClientFactory, fake: FakeItnio) -> None:
    """Calls arriving while pages are fetched lose and repeat nothing."""
    start, end = NOW - timedelta(days=30), NOW - timedelta(days=1)
    before = expected_ids(fake.sip_records, start, end)
    fake.latency = (0.0, 0.01)
    counter = iter(range(10**6))

    def on_request(req: FakeRequest) -> None:
        if req.path.endswith("Query"):
            n = next(counter)
            when = end - timedelta(minutes=n + 1)  # newest first: shifts every page
            fake.add_records("sip", [{"voiceId": f"9{n:018d}", "submitTime": when.isoformat()}])

    fake.on_request(on_request)
    async with make_client() as client:
        got = [
            r.voice_id
            async for r in client.voice.iter_sip_records(start, end, page_size=20, concurrency=6)
        ]
    assert len(got) == len(set(got))
    assert set(before) <= set(got)


async def test_chaos(make_client: ClientFactory, fake: FakeItnio) -> None:
    """Faults on a share of requests plus arrivals mid-walk: every record exactly once."""
    start, end = NOW - timedelta(days=58), NOW - timedelta(days=1)
    before = expected_ids(fake.group_records, start, end)
    fake.latency = (0.0, 0.005)
    fake.set_chaos(
        0.15,
        [
            Fault.http(500),
            Fault.http(503),
            Fault.http(429, retry_after=0),
            Fault.status("-18"),
            Fault.drop(),
            Fault.slow(0.05),
        ],
        seed=3,
    )
    counter = iter(range(10**6))

    def on_request(req: FakeRequest) -> None:
        n = next(counter)
        if n % 3 == 0:
            when = start + timedelta(hours=n)
            fake.add_records("group", [{"voiceId": f"8{n:018d}", "submitTime": when.isoformat()}])

    fake.on_request(on_request)
    async with make_client(max_retries=8) as client:
        got = [
            r.voice_id
            async for r in client.voice.iter_group_records(start, end, page_size=30, concurrency=6)
        ]
    assert len(got) == len(set(got)), "a record was yielded twice"
    assert set(before) <= set(got), "a record was lost"


def assert_no_leaks() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.collect()


@pytest.mark.parametrize("form", ["async-for", "async-with"])
async def test_break_stops_in_flight_requests(
    make_client: ClientFactory, fake: FakeItnio, form: str
) -> None:
    """Breaking out stops the walk promptly: no further requests, no warnings."""
    fake.latency = 0.05
    async with make_client() as client:
        stream = client.voice.iter_sip_records(LONG_START, LONG_END, page_size=10, concurrency=4)
        if form == "async-for":
            async for _ in stream:
                break
        else:
            async with stream as records:
                async for _ in records:
                    break
        gc.collect()
        await anyio.sleep(0.1)
        settled = fake.request_count
        await anyio.sleep(0.2)
        assert fake.request_count == settled
        assert settled <= 1 + 4 * 3 + 4 + 1  # page 1, the lookahead, the channel buffer
    assert_no_leaks()


@pytest.mark.parametrize("form", ["async-for", "async-with"])
async def test_exception_in_loop_body_propagates(
    make_client: ClientFactory, fake: FakeItnio, form: str
) -> None:
    """An exception in the consumer's loop body propagates unwrapped and stops the walk."""
    async with make_client() as client:
        stream = client.voice.iter_group_records(LONG_START, LONG_END, page_size=10)
        with pytest.raises(KeyError):
            if form == "async-for":
                async for _ in stream:
                    raise KeyError("boom")
            else:
                async with stream as records:
                    async for _ in records:
                        raise KeyError("boom")
    assert_no_leaks()


@pytest.mark.parametrize("form", ["async-for", "async-with"])
async def test_cancelling_the_scope(make_client: ClientFactory, fake: FakeItnio, form: str) -> None:
    """move_on_after around a slow walk cancels it promptly and cleanly."""
    fake.latency = 0.3
    async with make_client() as client:
        with anyio.move_on_after(0.1) as scope:
            if form == "async-for":
                async for _ in client.voice.iter_sip_records(LONG_START, LONG_END):
                    pass
            else:
                async with client.voice.iter_sip_records(LONG_START, LONG_END) as records:
                    async for _ in records:
                        pass
        assert scope.cancelled_caught
        with anyio.fail_after(2):
            await client.voice.record_sip("1")  # the client is still usable
    assert_no_leaks()


async def test_plain_for_without_client_scope(fake: FakeItnio, transport: str) -> None:
    """A client never entered with async with still streams (in batches), exactly once."""
    import httpx

    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http)
        try:
            got = [
                r.voice_id
                async for r in client.voice.iter_sip_records(LONG_START, LONG_END, page_size=50)
            ]
            assert Counter(got) == Counter(expected_ids(fake.sip_records, LONG_START, LONG_END))
            async for _ in client.voice.iter_sip_records(LONG_START, LONG_END):
                break
        finally:
            await client.aclose()
    assert_no_leaks()


async def test_progress_without_extra_requests(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """total, records_done and pages_done track the walk for a progress bar, at no extra cost."""
    stream = client.voice.iter_group_records(LONG_START, LONG_END, page_size=100)
    assert stream.total is None
    assert stream.windows == 2
    seen = 0
    async with stream as records:
        async for _ in records:
            seen += 1
            assert stream.records_done == seen
    assert stream.total == seen
    # Besides the pages: one count per window, and at most one query of the seam.
    assert stream.pages_done + 2 <= fake.request_count <= stream.pages_done + 3
    assert stream.pages_fetched <= fake.request_count  # (a seam query may be cut short)


CALLER_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var")


async def test_producer_sees_the_callers_contextvars(fake: FakeItnio) -> None:
    """A contextvar set by the caller is visible in the requests a stream's producer sends."""
    import httpx

    seen: list[str | None] = []

    async def note(request: httpx.Request) -> None:
        seen.append(CALLER_VAR.get(None))

    async with httpx.AsyncClient(transport=fake.transport, event_hooks={"request": [note]}) as http:
        token = CALLER_VAR.set("trace-42")
        try:
            async with itnio.ItnioClient(KEY, SECRET, http_client=http) as client:
                stream = client.voice.iter_sip_records(LONG_START, LONG_END, page_size=50)
                got = [record async for record in stream]
        finally:
            CALLER_VAR.reset(token)
    assert got
    assert len(seen) > 1
    assert set(seen) == {"trace-42"}
