"""Exactly once over HTTP against a fake that behaves as badly as the vendor allows.

Each walk runs against ``FakeItnio`` in process and on a loopback port, on
asyncio and trio. Ground truth is read from the fake before the walk starts:
every record in the range then must come out exactly once, or the stream
raises an ``ItnioError``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, FakeRequest

from .conftest import KEY, NOW, SECRET

pytestmark = pytest.mark.anyio

START = NOW - timedelta(days=50)
END = NOW - timedelta(days=2)


def in_range(fake: FakeItnio, start: datetime, end: datetime) -> set[str]:
    """Ids of the fake's phone records submitted in ``[start, end]``: the ground truth."""
    return {
        r["voiceId"]
        for r in fake.sip_records
        if start <= datetime.fromisoformat(r["submitTime"]) <= end
    }


@contextlib.asynccontextmanager
async def connect(
    fake: FakeItnio, transport: str, **kwargs: Any
) -> AsyncIterator[itnio.ItnioClient]:
    """A client of ``fake`` over the chosen transport."""
    kwargs.setdefault("retry_backoff", 0.001)
    async with contextlib.AsyncExitStack() as stack:
        if transport == "loopback":
            kwargs["base_url"] = await stack.enter_async_context(fake.serve())
        else:
            http = await stack.enter_async_context(httpx.AsyncClient(transport=fake.transport))
            kwargs["http_client"] = http
        client = await stack.enter_async_context(itnio.ItnioClient(KEY, SECRET, **kwargs))
        yield client


async def walk(client: itnio.ItnioClient, **kwargs: Any) -> list[str]:
    kwargs.setdefault("page_size", 100)
    stream = client.voice.iter_sip_records(START, END, **kwargs)
    async with stream as records:
        return [r.voice_id async for r in records if r.voice_id is not None]


def assert_exactly_once(got: list[str], truth: set[str], fake: FakeItnio) -> None:
    repeated = [v for v, n in Counter(got).items() if n > 1]
    assert not repeated, f"{len(repeated)} records yielded twice"
    lost = truth - set(got)
    assert not lost, f"{len(lost)} records lost"
    now = in_range(fake, START, END)
    assert set(got) <= now, "a record outside the range was yielded"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batches_reordered_on_every_request(transport: str, seed: int) -> None:
    """Batch calls of 150 same-second callees, reordered per request: none lost, none twice.

    A walk trusting one stable order lost about a fifth of such records.
    """
    fake = FakeItnio(
        KEY,
        SECRET,
        seed=seed,
        n_records=3000,
        days=60,
        now=NOW,
        tie_order="shuffle",
        batches=12,
        batch_size=150,
    )
    truth = in_range(fake, START, END)
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=8)
    assert_exactly_once(got, truth, fake)


@pytest.mark.parametrize("seed", [4, 5, 6])
async def test_calls_arriving_in_the_past_with_counts_read_apart(transport: str, seed: int) -> None:
    """Calls arriving anywhere in the past, counts and rows read apart, ties reordered."""
    fake = FakeItnio(
        KEY,
        SECRET,
        seed=seed,
        n_records=3000,
        days=60,
        now=NOW,
        tie_order="shuffle",
        count_skew=True,
        batches=4,
        batch_size=120,
    )
    truth = in_range(fake, START, END)
    fake.arrivals = 0.3  # from the first request of the walk on
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=6, page_size=50, ordered=seed % 2 == 0)
    assert_exactly_once(got, truth, fake)
    assert fake.request_count > 0


@pytest.mark.parametrize("ends", ["[]", "[)", "(]", "()"])
async def test_any_end_rule(transport: str, ends: str) -> None:
    """Inclusive or exclusive range ends, records on every seam second: each once."""
    fake = FakeItnio(KEY, SECRET, seed=9, n_records=1500, days=60, now=NOW, range_ends=ends)
    # The stream's first window ends 31 days after START; the next starts a
    # second earlier. Put calls on and around both of those seconds.
    seam = START + timedelta(days=31)
    extra = []
    for i, delta in enumerate(range(-3, 4)):
        moment = (seam + timedelta(seconds=delta)).isoformat()
        extra.append({"voiceId": f"seam{i:02d}", "submitTime": moment, "callTime": moment})
    fake.add_records("sip", extra)
    truth = {
        r["voiceId"]
        for r in fake.sip_records
        if (START < datetime.fromisoformat(r["submitTime"]) < END)
        or (ends[0] == "[" and datetime.fromisoformat(r["submitTime"]) == START)
        or (ends[1] == "]" and datetime.fromisoformat(r["submitTime"]) == END)
    }
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=4, page_size=40)
    assert Counter(got) == Counter(truth)
    assert {f"seam{i:02d}" for i in range(7)} <= set(got)


async def test_seam_record_without_stamps_is_yielded_once(transport: str) -> None:
    """A record on the seam served with every time empty comes out once, not twice."""
    fake = FakeItnio(KEY, SECRET, seed=10, n_records=1000, days=60, now=NOW, blank_stamps=0.2)
    seam = START + timedelta(days=31)
    moment = seam.isoformat()
    fake.add_records(
        "sip",
        [{"voiceId": f"blank{i}", "submitTime": moment, "callTime": moment} for i in range(40)],
    )
    fake.blank_stamps = 1.0  # now every record is served without times
    truth = in_range(fake, START, END)
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=4, page_size=30)
    assert_exactly_once(got, truth, fake)


# -- malformed pages: fetched again, or raised ------------------------------


def once(change: Callable[[Any], Any], when: Callable[[Any], bool]) -> Callable[[Any, Any], Any]:
    """A page rewriter that applies ``change`` to the first page ``when`` picks."""
    left = [1]

    def rewrite(request: FakeRequest, data: Any) -> Any:
        if left[0] and when(data):
            left[0] -= 1
            return change(data)
        return data

    return rewrite


def page(n: int, size: int = 50) -> Callable[[Any], bool]:
    return lambda data: data["current"] == n and data["size"] == size


BAD_PAGES: dict[str, Callable[[Any], Any]] = {
    "records missing": lambda d: {k: v for k, v in d.items() if k != "records"},
    "records null": lambda d: {**d, "records": None},
    "records empty": lambda d: {**d, "records": []},
    "half the records": lambda d: {**d, "records": d["records"][: len(d["records"]) // 2]},
    "data null": lambda d: None,
    "another page": lambda d: {**d, "current": d["current"] + 1},
    "negative total": lambda d: {**d, "total": -5, "pages": 0},
    "no count": lambda d: {**d, "searchCount": False},
}


@pytest.mark.parametrize("bad", sorted(BAD_PAGES))
@pytest.mark.parametrize("which", [1, 3])
async def test_a_bad_page_once_is_refetched_into_a_complete_walk(
    transport: str, bad: str, which: int
) -> None:
    """A page malformed once (page 1 or a later one) costs a request, never a record."""
    fake = FakeItnio(KEY, SECRET, seed=11, n_records=1200, days=60, now=NOW)
    fake.rewrite_pages(once(BAD_PAGES[bad], page(which)))
    truth = in_range(fake, START, END)
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=4, page_size=50)
    assert_exactly_once(got, truth, fake)


@pytest.mark.parametrize("bad", ["records missing", "data null", "another page", "negative total"])
async def test_a_page_bad_every_time_raises(transport: str, bad: str) -> None:
    """A page malformed on every try ends the walk with an error naming window and page."""
    fake = FakeItnio(KEY, SECRET, seed=12, n_records=1200, days=60, now=NOW)
    change = BAD_PAGES[bad]
    fake.rewrite_pages(lambda request, data: change(data) if page(2)(data) else data)
    async with connect(fake, transport) as client:
        with pytest.raises(itnio.ResponseValidationError, match=r"window .*page 2") as info:
            await walk(client, concurrency=4, page_size=50)
    assert "window" in str(info.value)


@pytest.mark.parametrize("total", [10**9, 10**15])
async def test_absurd_totals_end_in_an_error_not_an_endless_walk(
    transport: str, total: int
) -> None:
    """A total of a billion records that never come ends in PaginationError, soon."""
    fake = FakeItnio(KEY, SECRET, seed=13, n_records=600, days=60, now=NOW)

    def inflate(request: FakeRequest, data: Any) -> Any:
        return {**data, "total": total, "pages": -(-total // data["size"])}

    fake.rewrite_pages(inflate)
    async with connect(fake, transport) as client:
        with pytest.raises(itnio.PaginationError):
            await walk(client, concurrency=8, page_size=50)
    assert fake.request_count < 1500


async def test_pages_shorter_than_their_total_are_never_silent(transport: str) -> None:
    """Pages that drop records every time they are served end complete or in an error."""
    fake = FakeItnio(KEY, SECRET, seed=14, n_records=1200, days=60, now=NOW)

    def drop(request: FakeRequest, data: Any) -> Any:
        if data["size"] == 50 and data["current"] == 2:  # the walk's page 2, always
            return {**data, "records": data["records"][:10]}
        return data

    fake.rewrite_pages(drop)
    truth = in_range(fake, START, END)
    async with connect(fake, transport) as client:
        got = await walk(client, concurrency=4, page_size=50)
    assert_exactly_once(got, truth, fake)


async def test_still_data_costs_one_request_more_per_window(transport: str) -> None:
    """With nothing changing, a walk costs its pages, a count per window and a seam query."""
    fake = FakeItnio(KEY, SECRET, seed=15, n_records=3000, days=60, now=NOW)
    truth = in_range(fake, START, END)
    async with connect(fake, transport) as client:
        stream = client.voice.iter_sip_records(START, END, page_size=100, concurrency=4)
        async with stream as records:
            got = [r.voice_id async for r in records]
    assert Counter(got) == Counter(truth)
    pages = stream.pages_done
    assert pages + 2 <= fake.request_count <= pages + 3
