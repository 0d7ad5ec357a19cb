"""Property tests of the window split and the page planning (no network).

The planner is driven by hand against a simulated live result set: requests
complete in random order and calls arrive between them, as on the real service.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from itniotech_async import Page, SipCallRecord
from itniotech_async._pagination import StreamQuery, _Job, _Walk, plan_pages, split_windows
from itniotech_async._voice import MAX_WINDOW, SIP

UTC = timezone.utc
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    start_s=st.integers(0, 10**8),
    length_s=st.integers(0, 400 * 86400),
    offset_h=st.integers(-12, 14),
)
def test_split_windows_covers_the_range(start_s: int, length_s: int, offset_h: int) -> None:
    """Windows are at most 31 days, contiguous, share boundaries and cover [start, end]."""
    tz = timezone(timedelta(hours=offset_h))
    start = (BASE + timedelta(seconds=start_s)).astimezone(tz)
    end = start + timedelta(seconds=length_s)
    windows = split_windows(start, end)
    assert windows[0][0] == start
    assert windows[-1][1] == end
    assert len(windows) == max(1, math.ceil(length_s / MAX_WINDOW.total_seconds()))
    for lo, hi in windows:
        assert lo <= hi
        assert hi - lo <= MAX_WINDOW
    for (_, hi), (lo, _) in itertools.pairwise(windows):
        assert hi == lo


@given(total=st.integers(0, 10**6), size=st.integers(1, 100))
def test_plan_pages(total: int, size: int) -> None:
    """plan_pages is the least page count whose pages hold total records."""
    pages = plan_pages(total, size)
    assert pages * size >= total
    assert (pages - 1) * size < total or pages == 0


class LiveSet:
    """A result set ordered newest first that grows as calls arrive."""

    def __init__(self, n: int, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 0
        self.items: list[tuple[int, str]] = []  # (second in window, voice id), sorted desc
        for _ in range(n):
            self.add()

    def add(self) -> str:
        vid = f"{self.next_id:08d}"
        self.next_id += 1
        item = (self.rng.randrange(0, 86400), vid)
        self.items.append(item)
        self.items.sort(reverse=True)
        return vid

    def page(self, number: int, size: int) -> Page[SipCallRecord]:
        chunk = self.items[(number - 1) * size : number * size]
        records = tuple(
            SipCallRecord(voice_id=vid, submit_time=BASE + timedelta(seconds=sec))
            for sec, vid in chunk
        )
        total = len(self.items)
        return Page(records, total, plan_pages(total, size), number, size)


def drive(walk: _Walk[Any], live: LiveSet, rng: random.Random, arrivals: float) -> list[str]:
    """Run the walk to the end, completing jobs in random order; return the yielded ids."""
    in_flight: list[tuple[_Job, Page[SipCallRecord] | None]] = []
    out: list[str] = []
    for _ in range(100_000):
        while walk.ready:
            out.extend(r.voice_id for r in walk.ready.popleft().records if r.voice_id)
        while (job := walk.next_job()) is not None:
            # A request may be answered now or later: snapshot now or at completion.
            snap = live.page(job.page, walk.size) if rng.random() < 0.5 else None
            in_flight.append((job, snap))
        if walk.finished:
            break
        assert in_flight, "the planner stalled with nothing in flight"
        job, snap = in_flight.pop(rng.randrange(len(in_flight)))
        if rng.random() < arrivals:
            live.add()
        walk.job_done(job, snap if snap is not None else live.page(job.page, walk.size))
    while walk.ready:
        out.extend(r.voice_id for r in walk.ready.popleft().records if r.voice_id)
    assert walk.error is None
    return out


def make_walk(size: int, concurrency: int, limit: int | None, ordered: bool) -> _Walk[Any]:
    query = StreamQuery(SIP, BASE, BASE + timedelta(days=1), {}, size, concurrency, limit, ordered)
    return _Walk(None, query)  # type: ignore[arg-type]  # never fetches: driven by hand


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 700),
    size=st.integers(1, 60),
    concurrency=st.integers(1, 12),
    ordered=st.booleans(),
    arrivals=st.sampled_from([0.0, 0.05, 0.3]),
    seed=st.integers(0, 2**32),
)
def test_exactly_once_under_arrivals(
    n: int, size: int, concurrency: int, ordered: bool, arrivals: float, seed: int
) -> None:
    """Every record present from the start is yielded once, arrivals at most once."""
    rng = random.Random(seed)
    live = LiveSet(n, rng)
    before = {vid for _, vid in live.items}
    out = drive(make_walk(size, concurrency, None, ordered), live, rng, arrivals)
    assert len(out) == len(set(out)), "a record was yielded twice"
    assert before <= set(out), f"lost {len(before - set(out))} records"
    assert set(out) <= {vid for _, vid in live.items}


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 500),
    size=st.integers(1, 50),
    concurrency=st.integers(1, 10),
    limit=st.integers(1, 600),
    seed=st.integers(0, 2**32),
)
def test_limit_requests_only_needed_pages(
    n: int, size: int, concurrency: int, limit: int, seed: int
) -> None:
    """limit=N yields min(N, total) records and requests no page it does not need."""
    rng = random.Random(seed)
    live = LiveSet(n, rng)
    walk = make_walk(size, concurrency, limit, ordered=True)
    out = drive(walk, live, rng, 0.0)
    assert len(out) == min(limit, n)
    assert walk.pages_fetched <= max(1, math.ceil(min(limit, n) / size))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 400), size=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_ordered_walk_follows_page_order(n: int, size: int, seed: int) -> None:
    """With ordered=True and a still data set, records come in the server's order."""
    rng = random.Random(seed)
    live = LiveSet(n, rng)
    expected = [vid for _, vid in live.items]
    assert drive(make_walk(size, 8, None, ordered=True), live, rng, 0.0) == expected


@pytest.mark.parametrize("ordered", [True, False])
def test_pages_stay_bounded_for_a_slow_consumer(ordered: bool) -> None:
    """However long the walk and however slow the consumer, pages in memory stay bounded."""
    rng = random.Random(1)
    live = LiveSet(5000, rng)
    walk = make_walk(10, 4, None, ordered=ordered)
    peak = peak_ids = consumed = 0
    in_flight: list[_Job] = []
    while not walk.finished or walk.ready:
        while (job := walk.next_job()) is not None:
            in_flight.append(job)
        held = sum(len(w.results) for w in walk.windows) if ordered else 0
        peak = max(peak, held + len(walk.ready) + walk.in_flight)
        peak_ids = max(peak_ids, sum(len(ids) for w in walk.windows for _, ids in w.seen.values()))
        if walk.ready and (not in_flight or rng.random() < 0.3):  # the consumer lags behind
            consumed += len(walk.ready.popleft().records)
        if in_flight:
            job = in_flight.pop(rng.randrange(len(in_flight)))
            walk.job_done(job, live.page(job.page, 10))
    assert consumed == 5000
    assert walk.pages_fetched == 500
    assert peak <= 3 * 4
    # Behind the checked frontier a lookahead of ids; unordered walks also ahead of it.
    assert 0 < peak_ids <= (2 * 3 * 4 + 2) * 10


def test_planner_example_with_heavy_arrivals() -> None:
    """A walk of one-record pages with a call arriving every third answer stays exact."""
    rng = random.Random(60)
    live = LiveSet(107, rng)
    before = {vid for _, vid in live.items}
    out = drive(make_walk(1, 3, None, ordered=True), live, rng, 0.3)
    assert len(out) == len(set(out))
    assert before <= set(out)


def test_split_windows_across_dst_uses_real_time() -> None:
    """Windows are at most 31 days of elapsed time, also when a zone changes its offset."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 10, 1, tzinfo=berlin)
    end = datetime(2025, 12, 1, tzinfo=berlin)
    windows = split_windows(start, end)
    assert windows[0][0] is start
    assert windows[-1][1] is end
    for lo, hi in windows:
        assert hi.astimezone(UTC) - lo.astimezone(UTC) <= MAX_WINDOW
