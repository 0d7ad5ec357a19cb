"""Property tests of the planner against a simulated hostile service (no network).

The planner is plain synchronous state: these tests build it without a client
and drive it against :mod:`tests.simserver`, whose answers come back in a
random order while calls arrive, counts are read at other instants than rows,
rows sharing a second are reordered on every request, and range ends follow
any of the four rules. Ground truth is taken from the simulated service before
the walk.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from itniotech_async import Page, PaginationError, ResponseValidationError, SipCallRecord
from itniotech_async._planner import (
    COUNT,
    DENSE,
    PROBE,
    SLICE,
    VERIFYING,
    Planner,
    _BatchReads,
    _enough_reads,
    _Part,
    _reads,
    _reads_needed,
    plan_pages,
)
from itniotech_async._times import epoch_seconds, floor_seconds, whole_second_span, window_spans
from tests.simserver import DAY, SimServer, in_range, make_planner, run

FIRST = 1_767_225_600  # 2026-01-01T00:00:00Z
ENDS = ["[]", "[)", "(]", "()"]


def build(
    rng: random.Random,
    *,
    days: float,
    n: int,
    dense: int,
    dense_size: int,
    blank: float = 0.0,
    drift: int = 0,
    **server: Any,
) -> tuple[SimServer, int, int]:
    """A simulated service holding ``n`` records over ``days``, dense seconds and seam records."""
    last = FIRST + int(days * DAY)
    sim = SimServer(rng, arrival_span=(FIRST - 2, last + 2), **server)
    for _ in range(n):
        sim.add(
            rng.randint(FIRST - 2, last + 2),
            blank=rng.random() < blank,
            drift=rng.randint(-drift, drift),
        )
    for _ in range(dense):  # batch calls: many callees submitted in one second
        second = rng.randint(FIRST, last)
        for _ in range(dense_size):
            sim.add(second, blank=rng.random() < blank)
    for k in range(1, 4):  # records on and around the seams between windows
        seam = FIRST + k * (31 * DAY - 1)
        for d in range(-2, 3):
            if seam + d <= last:
                sim.add(seam + d, blank=rng.random() < blank)
    return sim, FIRST, last


def check(sim: SimServer, planner: Planner[Any], *, allow_error: bool = False) -> list[str]:
    """Run the walk; nothing present from the start may be lost, nothing yielded twice."""
    first, last = FIRST, planner.windows[-1].hi if planner.windows else FIRST
    before = in_range(sim, first, last)
    outcome = run(planner, sim)
    got = outcome.yielded
    assert len(got) == len(set(got)), "a record was yielded twice"
    assert set(got) <= in_range(sim, first, last), "a record outside the range was yielded"
    if outcome.error is None:
        missing = before - set(got)
        assert not missing, f"lost {len(missing)} records silently"
    else:
        assert allow_error, f"unexpected error: {outcome.error!r}"
    return got


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ends=st.sampled_from(ENDS),
    days=st.sampled_from([0.5, 20, 70]),
    n=st.integers(0, 400),
    size=st.integers(3, 40),
    concurrency=st.integers(1, 10),
    dense=st.integers(0, 4),
    ordered=st.booleans(),
    skew=st.booleans(),
    arrivals=st.sampled_from([0.0, 0.1, 0.4]),
    blank=st.sampled_from([0.0, 0.1]),
)
def test_exactly_once_against_a_hostile_service(
    seed: int,
    ends: str,
    days: float,
    n: int,
    size: int,
    concurrency: int,
    dense: int,
    ordered: bool,
    skew: bool,
    arrivals: float,
    blank: float,
) -> None:
    """Every record present from the start is yielded exactly once, whatever the service does."""
    rng = random.Random(seed)
    sim, first, last = build(
        rng,
        days=days,
        n=n,
        dense=dense,
        dense_size=rng.randint(size, 4 * size),
        blank=blank,
        ends=ends,
        ties="shuffle",
        skew=skew,
        arrivals=arrivals,
    )
    planner = make_planner(first, last, size=size, concurrency=concurrency, ordered=ordered)
    check(sim, planner)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), ends=st.sampled_from(ENDS), arrivals=st.sampled_from([0.0, 0.2]))
def test_stamps_that_mislead_are_not_trusted(seed: int, ends: str, arrivals: float) -> None:
    """A service filtering on a stamp seconds away from the submitTime it serves loses nothing."""
    rng = random.Random(seed)
    sim, first, last = build(
        rng,
        days=20,
        n=300,
        dense=2,
        dense_size=30,
        drift=3,
        ends=ends,
        skew=True,
        arrivals=arrivals,
    )
    check(sim, make_planner(first, last, size=10, concurrency=4))


def test_ties_reordered_on_every_request() -> None:
    """Ten batches of 150 same-second calls, reordered per request: none lost, none repeated.

    A walk that trusts one stable order loses about a fifth of these records.
    """
    for seed in range(5):
        rng = random.Random(seed)
        sim, first, last = build(rng, days=10, n=0, dense=10, dense_size=150, ends="[]")
        got = check(sim, make_planner(first, last, size=100, concurrency=8))
        assert len(got) == 1500 + 0  # the seam records lie past the 10 days


def test_still_data_costs_its_pages_plus_one_count() -> None:
    """With data holding still, a window costs its pages and one count, nothing more."""
    rng = random.Random(3)
    sim, first, last = build(rng, days=20, n=3000, dense=0, dense_size=0, ties="stable")
    planner = make_planner(first, last, size=100, concurrency=8)
    check(sim, planner)
    assert sim.requests == math.ceil(len(in_range(sim, first, last)) / 100) + 1


@pytest.mark.parametrize("n", [0, 1, 60, 99])
def test_a_window_held_by_page_1_costs_one_request(n: int) -> None:
    """Fewer rows than the page holds are every row the query matched: nothing to count."""
    rng = random.Random(n)
    sim, first, last = build(rng, days=5, n=n, dense=0, dense_size=0, ties="stable")
    got = check(sim, make_planner(first, last, size=100, concurrency=8))
    assert len(got) == n
    assert sim.requests == 1


@pytest.mark.parametrize("n", [100, 101])
def test_a_window_that_fills_page_1_is_counted(n: int) -> None:
    """A full page 1 proves nothing by itself: the rest is walked and counted."""
    rng = random.Random(n)
    sim, first, last = build(rng, days=5, n=n, dense=0, dense_size=0, ties="stable")
    got = check(sim, make_planner(first, last, size=100, concurrency=8))
    assert len(got) == n
    assert sim.requests == math.ceil(n / 100) + 1


def test_page_1_short_of_its_own_total_is_not_taken_as_whole() -> None:
    """Page 1 holding fewer rows than both its size and its total is walked on and counted."""

    first = {"left": 1}

    def cut(page: Page[SipCallRecord]) -> Page[SipCallRecord]:
        if first["left"]:  # the walk's page 1 (later ones, of parts, are honest)
            first["left"] = 0
            return Page(page.records[:10], page.total, page.pages, page.current, page.size)
        return page

    sim, before = walked_whole(cut)
    assert sim.requests > math.ceil(len(before) / 25)


def test_two_windows_cost_their_pages_two_counts_and_a_seam() -> None:
    """Two windows: their pages, a count each, and one query of the seconds they share."""
    rng = random.Random(4)
    sim, first, last = build(rng, days=40, n=2000, dense=0, dense_size=0, ties="stable")
    planner = make_planner(first, last, size=100, concurrency=1, ordered=True)
    check(sim, planner)
    (lo0, hi0), (lo1, hi1) = window_spans(first, last)
    pages = sum(math.ceil(len(in_range(sim, lo, hi)) / 100) for lo, hi in [(lo0, hi0), (lo1, hi1)])
    assert sim.requests == pages + 2 + 1


@pytest.mark.parametrize("ordered", [True, False])
def test_ids_of_a_finished_window_are_forgotten(ordered: bool) -> None:
    """Once a window is proven and its neighbour passed the seam, only seam ids are kept."""
    rng = random.Random(5)
    sim, first, last = build(rng, days=70, n=3000, dense=0, dense_size=0, ties="stable")
    planner = make_planner(first, last, size=50, concurrency=4, ordered=ordered)
    peak = 0
    in_flight: list[Any] = []
    while not planner.finished:
        while (job := planner.next_job()) is not None:
            in_flight.append(job)
        planner.ready.clear()
        peak = max(peak, sum(len(w.ids) for w in planner.windows))
        if in_flight:
            job = in_flight.pop(rng.randrange(len(in_flight)))
            planner.request_done(job)
            planner.answered(job, sim.answer(job.content()))
    per_window = max(len(in_range(sim, w.lo, w.hi)) for w in planner.windows)
    # One window's ids and part of the next one's: never two whole windows.
    assert peak < 2 * per_window


@pytest.mark.parametrize("ordered", [True, False])
def test_pages_stay_bounded_for_a_slow_consumer(ordered: bool) -> None:
    """However slow the consumer, pages held in memory stay within the lookahead."""
    rng = random.Random(1)
    sim, first, last = build(rng, days=20, n=5000, dense=0, dense_size=0, ties="stable")
    planner = make_planner(first, last, size=10, concurrency=4, ordered=ordered)
    peak = consumed = 0
    in_flight: list[Any] = []
    while not planner.finished or planner.ready:
        while (job := planner.next_job()) is not None:
            in_flight.append(job)
        held = sum(len(w.held) for w in planner.windows)
        peak = max(peak, held + len(planner.ready) + planner.in_flight)
        if planner.ready and (not in_flight or rng.random() < 0.3):  # the consumer lags
            consumed += len(planner.ready.popleft().records)
        if in_flight:
            job = in_flight.pop(rng.randrange(len(in_flight)))
            planner.request_done(job)
            planner.answered(job, sim.answer(job.content()))
    assert consumed == len(in_range(sim, first, last))
    assert peak <= 3 * 4 + 1  # the lookahead, and the count in flight


@settings(max_examples=100, deadline=None)
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
    """limit=N yields min(N, total) records, once each, and requests no page it does not need."""
    rng = random.Random(seed)
    sim, first, last = build(rng, days=5, n=n, dense=0, dense_size=0, ties="stable")
    planner = make_planner(first, last, size=size, concurrency=concurrency, limit=limit)
    # (build places records up to two seconds outside [first, last] too.)
    wanted = min(limit, len(in_range(sim, first, last)))
    got = run(planner, sim).yielded
    assert planner.error is None
    assert len(got) == len(set(got)) == wanted
    # Pages for the records, and a count when the window ends short of the limit.
    assert sim.requests <= max(1, math.ceil(wanted / size)) + 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), size=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_ordered_walk_follows_page_order(n: int, size: int, seed: int) -> None:
    """With ordered=True, a still data set and a stable order, records come in serving order."""
    rng = random.Random(seed)
    sim, first, last = build(rng, days=5, n=n, dense=0, dense_size=0, ties="stable")
    expected = sorted(
        in_range(sim, first, last),
        key=lambda v: (-next(r.stamp for r in sim.records if r.vid == v), v),
    )
    assert check(sim, make_planner(first, last, size=size, concurrency=8, ordered=True)) == expected


# -- what the service may not get away with ------------------------------------


class Tamper(SimServer):
    """A service whose answers are changed by ``rewrite`` before they leave."""

    rewrite: Any = None

    def answer(self, body: bytes) -> Page[SipCallRecord]:
        page = super().answer(body)
        return self.rewrite(page) if self.rewrite is not None else page


def tampered(rewrite: Any, *, n: int = 300) -> tuple[Tamper, Planner[Any]]:
    rng = random.Random(9)
    sim = Tamper(rng, ties="stable")
    for _ in range(n):
        sim.add(rng.randint(FIRST, FIRST + 5 * DAY))
    sim.rewrite = rewrite
    return sim, make_planner(FIRST, FIRST + 5 * DAY, size=25, concurrency=4)


def walked_whole(rewrite: Any) -> tuple[Tamper, set[str]]:
    """Walk :func:`tampered` data served through ``rewrite``: every record, no error."""
    sim, planner = tampered(rewrite)
    before = in_range(sim, FIRST, FIRST + 5 * DAY)
    outcome = run(planner, sim)
    assert outcome.error is None
    assert sorted(outcome.yielded) == sorted(before)
    return sim, before


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (lambda p: Page(p.records, p.total, p.pages, p.current + 1, p.size), "not page"),
        (lambda p: Page(p.records, -1, 0, p.current, p.size), "negative"),
        (lambda p: Page(p.records, p.total, p.pages + 1, p.current, p.size), "does not fit"),
        (lambda p: Page(p.records, p.total, p.pages, p.current, p.size * 2), "page size"),
        (lambda p: Page(p.records * 2, p.total, p.pages, p.current, p.size), "records on a page"),
    ],
)
def test_a_malformed_page_is_refetched_then_raised(rewrite: Any, message: str) -> None:
    """A page that cannot be the answer asked for is fetched again, then the walk raises."""
    sim, planner = tampered(rewrite)
    outcome = run(planner, sim)
    assert isinstance(outcome.error, ResponseValidationError)
    assert message in str(outcome.error)
    assert "window 2026-01-01T00:00:00+00:00..2026-01-06T00:00:00+00:00" in str(outcome.error)
    assert sim.requests == 4  # page 1, then three more tries


def test_a_transient_malformed_page_is_refetched() -> None:
    """One bad answer costs one more request; the walk is still complete."""
    bad = {"left": 1}

    def once(page: Page[SipCallRecord]) -> Page[SipCallRecord]:
        if page.current == 2 and bad["left"]:
            bad["left"] -= 1
            return Page((), page.total, page.pages, 7, page.size)
        return page

    sim, before = walked_whole(once)
    assert sim.requests == math.ceil(len(before) / 25) + 1 + 1


@pytest.mark.parametrize("short", ["empty", "half"])
def test_pages_shorter_than_their_total_are_found_out(short: str) -> None:
    """Pages that hold fewer records than their total says never lose records silently."""

    def cut(page: Page[SipCallRecord]) -> Page[SipCallRecord]:
        if page.size > 1 and page.current == 3:  # the walk's page 3, every time
            keep = () if short == "empty" else page.records[: len(page.records) // 2]
            return Page(keep, page.total, page.pages, page.current, page.size)
        return page

    walked_whole(cut)


@pytest.mark.parametrize("total", [10**9, 10**12, 2**62])
def test_absurd_totals_raise_instead_of_walking_forever(total: int) -> None:
    """A total far beyond the rows served ends in PaginationError after bounded work."""

    def inflate(page: Page[SipCallRecord]) -> Page[SipCallRecord]:
        return Page(page.records, total, plan_pages(total, page.size), page.current, page.size)

    sim, planner = tampered(inflate)
    outcome = run(planner, sim)
    assert isinstance(outcome.error, PaginationError)
    assert sim.requests < 2000


def test_a_count_below_the_records_collected_raises() -> None:
    """Fewer records counted than different ones served means deletion: the walk raises."""

    def deflate(page: Page[SipCallRecord]) -> Page[SipCallRecord]:
        if page.size == 1:
            return Page(page.records, 5, 5, page.current, page.size)
        return page

    sim, planner = tampered(deflate)
    outcome = run(planner, sim)
    assert isinstance(outcome.error, PaginationError)
    assert "counts 5 records" in str(outcome.error)


def test_the_row_of_a_window_count_is_not_counted_against_it() -> None:
    """A window count read before a call arrived, with that call as its row, proves nothing.

    Four records a, b, c, x are present; the walk misses x. The count says 4,
    counted before y arrived, and its one row is y. Counting y's stamp among
    the records collected before the count would make 4 == 4 and lose x.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=3, concurrency=1)

    def rec(vid: str, offset: int) -> SipCallRecord:
        return SipCallRecord(
            voice_id=vid, submit_time=datetime.fromtimestamp(first + offset, timezone.utc)
        )

    job = planner.next_job()
    assert job is not None and job.page == 1
    planner.answered(job, Page((rec("a", 900), rec("b", 600), rec("c", 300)), 4, 2, 1, 3))
    job = planner.next_job()
    assert job is not None and job.page == 2
    planner.answered(job, Page((), 4, 2, 2, 3))  # x slipped away
    count = planner.next_job()
    assert count is not None and count.size == 1
    planner.answered(count, Page((rec("y", 500),), 4, 4, 1, 1))
    assert not planner.finished
    assert planner.next_job() is not None  # it goes on looking for x


def spaced_page(first: int, current: int, names: range) -> Page[SipCallRecord]:
    """Page ``current`` (of 5, pages of 10, 50 records) showing r{i} for ``i`` in ``names``.

    Record r{i} is stamped ``first + 1000 - 10 * i``: one every ten seconds, newest first.
    """
    records = tuple(
        SipCallRecord(
            voice_id=f"r{i:02d}",
            submit_time=datetime.fromtimestamp(first + 1000 - 10 * i, timezone.utc),
        )
        for i in names
    )
    return Page(records, 50, 5, current, 10)


def test_a_record_pushed_between_two_pages_by_an_arrival_is_probed() -> None:
    """The upper page read after a call arrived above, the lower one before it.

    Fifty records r01..r50, one every ten seconds, in pages of ten. Page 3 is
    answered first, from before a call arrived above everything; pages 1 and 2
    after it, so both are shifted by one: page 2 starts with r10 (which page 1
    also shows) and ends with r19, and r20, pushed onto page 3, is on no page.
    Every total is 50, so nothing moved by the counts. The seam between pages
    2 and 3 is probed: its upper page was read later, and the seam above it
    shows one record twice.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=3)

    page = functools.partial(spaced_page, first)

    job = planner.next_job()
    assert job is not None and job.page == 1
    planner.answered(job, page(1, range(1, 11)))  # r01..r10
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    assert {2, 3} <= set(jobs)
    planner.answered(jobs[3], page(3, range(21, 31)))  # read before the arrival
    planner.answered(jobs[2], page(2, range(10, 20)))  # read after: r10 again, r20 gone
    probes = [j for j in iter(planner.next_job, None) if j.kind == PROBE]
    lost = first + 1000 - 10 * 20
    assert any(p.part is not None and p.part.lo <= lost <= p.part.hi for p in probes), probes


def test_without_a_sign_of_a_shift_no_seam_is_probed() -> None:
    """The same pages read in order, with no record shown twice: nothing to probe."""
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=3)

    def page(current: int) -> Page[SipCallRecord]:
        records = tuple(
            SipCallRecord(
                voice_id=f"r{i:02d}",
                submit_time=datetime.fromtimestamp(first + 1000 - 10 * i, timezone.utc),
            )
            for i in range(10 * current - 9, 10 * current + 1)
        )
        return Page(records, 50, 5, current, 10)

    job = planner.next_job()
    assert job is not None
    planner.answered(job, page(1))
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    planner.answered(jobs[3], page(3))
    planner.answered(jobs[2], page(2))
    assert not [j for j in iter(planner.next_job, None) if j.kind == PROBE]


def test_a_shift_read_the_other_way_round_is_not_probed_above() -> None:
    """Pages 1 and 2 read before a call arrived, page 3 after: r20 shows twice, none is lost.

    Page 3 starts with r20, which page 2 ends with. The seam between pages 1
    and 2 lies next to that seam, but its upper page was read first: nothing
    can have fallen between them, and it is not probed.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=3)

    def stamp(i: int) -> int:
        return first + 1000 - 10 * i

    page = functools.partial(spaced_page, first)

    job = planner.next_job()
    assert job is not None
    planner.answered(job, page(1, range(1, 11)))
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    planner.answered(jobs[2], page(2, range(11, 21)))
    planner.answered(jobs[3], page(3, range(20, 30)))  # shifted: r20 again
    probes = [j.part for j in iter(planner.next_job, None) if j.kind == PROBE]
    assert not any(p is not None and p.lo <= stamp(10) and stamp(11) <= p.hi for p in probes)


@pytest.mark.parametrize(
    ("upper_shows", "lower_shows", "lower_total", "probed"),
    [
        ("a", "b", 40, False),  # two of the second's rows, one on each page: both seen
        ("a", "a", 40, True),  # one row on both pages: the other on neither
        ("ab", "c", 40, False),  # three rows split two and one, none shown twice
        ("ab", "b", 40, True),
        ("a", "b", 39, True),  # the upper page counts more: rows may have slipped below it
        # The lower page, read later, counts one more: a call arrived above and
        # moved the rows down by one, so one row shown twice is explained...
        ("a", "ab", 41, False),
        # ...but not two: the second's third row is on neither page.
        ("ab", "ab", 41, True),
    ],
)
def test_a_second_straddling_two_pages_is_probed_when_a_row_may_be_on_neither(
    upper_shows: str, lower_shows: str, lower_total: int, probed: bool
) -> None:
    """Pages 1 and 2 meet inside one second; page 1 is read first.

    Page 1 holds r01..r10 at one record every ten seconds, its last rows being
    the straddled second's rows it shows; page 2 starts with the rows it shows
    of that second, then r21... The second's rows are consecutive in the
    order, so two pages that show disjoint sets of them show them all.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=3)
    shared = first + 500

    def record(name: str, seconds: int) -> SipCallRecord:
        return SipCallRecord(
            voice_id=name, submit_time=datetime.fromtimestamp(seconds, timezone.utc)
        )

    def page(current: int, shows: str, total: int) -> Page[SipCallRecord]:
        at = [record(f"s-{c}", shared) for c in shows]
        if current == 1:
            rows = [record(f"r{i:02d}", shared + 10 * (11 - i)) for i in range(1, 11 - len(at))]
            rows += at
        else:
            rows = at + [
                record(f"r{i:02d}", shared - 10 * (i - 20)) for i in range(21, 31 - len(at))
            ]
        return Page(tuple(rows), total, -(-total // 10), current, 10)

    job = planner.next_job()
    assert job is not None
    planner.answered(job, page(1, upper_shows, 40))
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    planner.answered(jobs[2], page(2, lower_shows, lower_total))
    probes = [j.part for j in iter(planner.next_job, None) if j.kind == PROBE]
    hit = any(p is not None and p.lo <= shared <= p.hi for p in probes)
    assert hit == probed, probes


@pytest.mark.parametrize(
    ("pages", "reads", "expected"),
    [
        (1, 5, [1]),  # a page with room to spare holds every row: one read
        (2, 4, [1, 2, 1, 1]),  # each page once, then the full one again
        (3, 6, [1, 2, 3, 1, 2, 1]),
        (3, 2, [1, 2, 3]),  # never fewer than every page once
    ],
)
def test_read_patterns(pages: int, reads: int, expected: list[int]) -> None:
    assert _reads(pages, reads) == expected


@pytest.mark.parametrize(
    ("missing", "share", "expected"),
    [
        # 36 missing, each read returns 2/3 of the rows: 36 / 3**k < 0.1 from k = 6 (0.049;
        # k = 5 leaves 0.148).
        (36, 2 / 3, 6),
        # One missing, half the rows per read: 1 / 2**k < 0.1 from k = 4 (0.0625).
        (1, 0.5, 4),
        # A read that returns every row finds everything at once.
        (50, 1.0, 1),
        (3, 1.5, 1),
    ],
)
def test_reads_needed(missing: int, share: float, expected: int) -> None:
    assert _reads_needed(missing, share) == expected


def test_enough_reads_for_a_batch_call() -> None:
    """150 rows in one second, 35 of them missing, pages of 100.

    Page 1 leaves a missing record unread with a chance of 1/3, page 2 (50
    rows) of 2/3: 35 -> 11.67 -> 7.78, then page 1 again: 2.59, 0.864, 0.288,
    0.096 < 0.1 after six reads. With one missing: 0.333, 0.222, 0.074.
    """
    assert _enough_reads(2, 150, 100, 35) == [1, 2, 1, 1, 1, 1]
    assert _enough_reads(2, 150, 100, 1) == [1, 2, 1]
    # Capped at twice the pages plus three, however many are missing.
    assert _enough_reads(2, 150, 100, 10**6) == [1, 2, 1, 1, 1, 1, 1]


# -- windows and pages ---------------------------------------------------------


@settings(deadline=None)
@given(
    first=st.integers(0, 10**9),
    length=st.integers(0, 400 * DAY),
    span=st.integers(DAY, 40 * DAY),
)
def test_windows_cover_every_second_whatever_the_end_rule(
    first: int, length: int, span: int
) -> None:
    """Windows span at most ``span`` seconds and, under every end rule, cover every second."""
    last = first + length
    windows = window_spans(first, last, span)
    assert windows[0][0] == first
    assert windows[-1][1] == last
    for lo, hi in windows:
        assert 0 <= hi - lo <= span
    for (_, hi), (lo, _) in itertools.pairwise(windows):
        # Under exclusive ends, window i holds up to hi - 1 and window i+1 from lo + 1.
        assert lo == hi - 1
    assert len(windows) == max(1, math.ceil((length - 1) / (span - 1))) if length > 1 else 1


def test_windows_across_dst_use_real_time() -> None:
    """Windows are 31 days of elapsed time, also when a zone changes its offset."""
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 10, 1, tzinfo=berlin)
    end = datetime(2025, 12, 1, tzinfo=berlin)
    span = whole_second_span(start, end)
    assert span == (1759269600, 1764543600)  # computed independently: both at 00:00 Berlin
    for lo, hi in window_spans(*span):
        assert hi - lo <= 31 * 86400


def test_whole_seconds_round_inwards() -> None:
    """A range is sent as the whole seconds it holds: start rounded up, end rounded down."""
    utc = timezone.utc
    start = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=utc)
    assert epoch_seconds(start, ceil=True) == FIRST + 1
    assert epoch_seconds(start) == FIRST
    assert whole_second_span(start, start + timedelta(milliseconds=400)) is None
    assert whole_second_span(start, start + timedelta(milliseconds=600)) == (FIRST + 1, FIRST + 1)


def test_floor_seconds_known_answers() -> None:
    """The planner's fast conversion: worked by hand, in any zone, skipping None."""
    cn = timezone(timedelta(hours=8))
    odd = timezone(timedelta(hours=-3, minutes=-30, seconds=-15))
    berlin = ZoneInfo("Europe/Berlin")
    values = [
        datetime(2026, 1, 1, 8, 0, 0, tzinfo=cn),  # 00:00 UTC
        None,
        datetime(2026, 1, 1, 0, 0, 59, 999_999, tzinfo=timezone.utc),  # rounded down
        datetime(2025, 12, 31, 20, 29, 45, tzinfo=odd),  # 2026-01-01T00:00:00Z
        datetime(2025, 10, 26, 2, 30, fold=0, tzinfo=berlin),  # CEST: 00:30 UTC
        datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=berlin),  # CET: 01:30 UTC
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=timezone.utc),  # before the epoch
    ]
    assert floor_seconds(values) == [
        FIRST,
        FIRST + 59,
        FIRST,
        1761438600,
        1761442200,
        -1,
    ]
    assert floor_seconds([]) == []
    with pytest.raises(ValueError, match="aware"):
        floor_seconds([datetime(2026, 1, 1)])


@given(
    st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1)),
            st.integers(-86_399_999_999, 86_399_999_999),
        ),
        max_size=20,
    )
)
def test_floor_seconds_agrees_with_the_calendar(values: list[tuple[datetime, int]]) -> None:
    """Against the standard library's own UTC arithmetic, offsets down to microseconds."""
    aware = [
        local.replace(tzinfo=timezone(timedelta(microseconds=offset))) for local, offset in values
    ]
    expected = [calendar.timegm(t.utctimetuple()) for t in aware]
    # utctimetuple drops the microseconds of the UTC time, which is rounding down.
    assert floor_seconds(aware) == expected
    assert floor_seconds(aware) == [epoch_seconds(t) for t in aware]


@given(total=st.integers(0, 10**6), size=st.integers(1, 100))
def test_plan_pages(total: int, size: int) -> None:
    """plan_pages is the least page count whose pages hold total records."""
    pages = plan_pages(total, size)
    assert pages * size >= total
    assert (pages - 1) * size < total or pages == 0


@pytest.mark.parametrize(
    ("found", "total", "walking", "more"),
    [
        # Pages of the walk left to start: one more read at a time while any is missing.
        (114, 150, True, 1),
        (148, 150, True, 1),
        # Every row counted is found: no more reads, the chunk's count comes next.
        (150, 150, True, 0),
        # Request slots free: 150 rows in the second, pages of 100, so each read
        # returns 2/3 of them. 36 still missing: 6 more reads at once
        # (36 / 3**6 = 0.049 < 0.1); 2 missing: 3 more (2 / 27 = 0.074).
        (114, 150, False, 6),
        (148, 150, False, 3),
    ],
)
def test_a_chunks_batch_second_is_read_until_its_reads_find_what_they_count(
    found: int, total: int, walking: bool, more: int
) -> None:
    """Reads of a batch call's second, for a chunk, are added by what the reads count."""
    first = 1_700_000_000
    planner = make_planner(first, first + 10_000, size=100, concurrency=4)
    w = planner.windows[0]
    if not walking:
        w.state = VERIFYING  # (no page of the walk to start: request slots are free)
    second = first + 5_000
    a, b = second - 2, second + 2
    when = datetime.fromtimestamp(second, timezone.utc)
    records = [SipCallRecord(voice_id=f"b{i:03d}", submit_time=when) for i in range(found)]
    w.stamps.extend([second] * found)
    w.ids.update(r.voice_id for r in records)
    part = _Part(first, first + 10_000, w.generation)
    w.parts_open += 1  # (as a chunk is carved)
    reads = w.batch_reads[a, b] = _BatchReads(pages=2)
    planner._read_batch(w, part, reads, a, b, 3)
    jobs = list(w.queue)
    assert [(j.kind, j.page, j.span) for j in jobs] == [(DENSE, 1, (a, b))] * 3
    w.queue.clear()
    for job in jobs:  # each read returns rows already found, and counts the second
        planner._start(job)
        planner.answered(job, Page(tuple(records[:100]), total, 2, 1, 100))
    queued = list(w.queue)
    assert all(j.invalid == 0 for j in queued)
    assert part.dense_left == more
    if more:
        assert [(j.kind, j.page, j.span) for j in queued] == [(DENSE, 1, (a, b))] * more
    else:  # the chunk is counted now (its count read after these reads)
        assert [(j.kind, j.part) for j in queued] == [(COUNT, part)]


def test_a_parts_count_waits_for_the_looks_between_pages_inside_it() -> None:
    """A count queued before a probe inside its part is sent after the probe has answered.

    Another part's count, which the probe does not touch, goes at once.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 10_000, size=100, concurrency=4)
    w = planner.windows[0]
    w.state = VERIFYING  # (no page of the walk to start)
    inside = _Part(first + 1_000, first + 2_000, w.generation)
    outside = _Part(first + 5_000, first + 6_000, w.generation)
    planner._ask_count(w, inside)
    planner._probe(w, first + 1_400, first + 1_402)
    planner._ask_count(w, outside)
    probe = planner.next_job()
    assert probe is not None and probe.kind == PROBE
    other = planner.next_job()
    assert other is not None and (other.kind, other.part) == (COUNT, outside)
    assert planner.next_job() is None  # the count of ``inside`` waits for the probe
    when = datetime.fromtimestamp(first + 1_401, timezone.utc)
    found = SipCallRecord(voice_id="slipped", submit_time=when)
    planner.answered(probe, Page((found,), 1, 1, 1, 100))
    count = planner.next_job()
    assert count is not None and (count.kind, count.part) == (COUNT, inside)
    assert inside.local_at_send == 1  # what the probe found is counted in the part


def test_the_last_part_is_carved_while_looks_between_pages_are_out() -> None:
    """Once every page has answered, proving the rest does not wait for the probes.

    The walk of the probe test above: page 2 shows r10 again, so the window
    is proven by parts, and two seams are probed. Pages 4 and 5 answer while
    both probes are still out: the rest of the window is carved at once, and
    its slices (each proven by holding fewer rows than its size, whatever the
    probes find) start beside the probes.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=4)
    w = planner.windows[0]

    page = functools.partial(spaced_page, first)

    job = planner.next_job()
    assert job is not None
    planner.answered(job, page(1, range(1, 11)))
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    assert set(jobs) == {2, 3, 4, 5}
    planner.answered(jobs[3], page(3, range(21, 31)))
    planner.answered(jobs[2], page(2, range(10, 20)))  # r10 again: proven by parts
    probes = list(iter(planner.next_job, None))
    assert [j.kind for j in probes] == [PROBE, PROBE]
    for n in (4, 5):
        planner.answered(jobs[n], page(n, range(10 * n - 9, 10 * n + 1)))
    assert w.state == VERIFYING
    started = list(iter(planner.next_job, None))
    assert started and all(j.kind == SLICE for j in started)
    assert planner.requesting == len(probes) + len(started)  # the probes are still out


def test_a_batch_second_the_walk_meets_is_read_again_before_its_chunk_is_carved() -> None:
    """Once the walk is proven by parts, a batch call's second is read again as soon as it is met.

    Page 2 shows r10 again (so the window is proven by parts) and ends with
    four calls of one second, a batch call's at pages of ten: that second is
    read again at once, three times, with no chunk carved yet. Page 3 starts
    with two more calls of it: where the two pages meet is not probed, the
    reads look there already. A part's count that takes the second in waits
    for those reads, as it waits for probes.
    """
    first = 1_700_000_000
    planner = make_planner(first, first + 1000, size=10, concurrency=8)
    w = planner.windows[0]
    batch = first + 830

    def record(name: str, seconds: int) -> SipCallRecord:
        return SipCallRecord(
            voice_id=name, submit_time=datetime.fromtimestamp(seconds, timezone.utc)
        )

    def walked(names: range) -> list[SipCallRecord]:
        return [record(f"r{i:02d}", first + 1000 - 10 * i) for i in names]

    def page(current: int, records: list[SipCallRecord]) -> Page[SipCallRecord]:
        return Page(tuple(records), 40, 4, current, 10)

    calls = [record(f"b{i}", batch) for i in range(6)]
    job = planner.next_job()
    assert job is not None
    planner.answered(job, page(1, walked(range(1, 11))))
    jobs = {j.page: j for j in iter(planner.next_job, None)}
    assert set(jobs) == {2, 3, 4}
    planner.answered(jobs[2], page(2, [*walked(range(10, 16)), *calls[:4]]))
    started = list(iter(planner.next_job, None))
    reads = [j for j in started if j.kind == DENSE]
    assert [(j.page, j.span) for j in reads] == [(1, (batch - 2, batch + 2))] * 3
    planner.answered(jobs[3], page(3, [*calls[4:], *walked(range(18, 26))]))
    probes = [j.part for j in iter(planner.next_job, None) if j.kind == PROBE]
    assert not any(p is not None and p.lo <= batch <= p.hi for p in probes), probes
    part = _Part(batch - 5, batch + 5, w.generation)
    w.parts_open += 1
    planner._ask_count(w, part)
    assert planner.next_job() is None  # the count waits for the reads
    for read in reads:  # each shows the six calls, all collected: no more reads
        planner.answered(read, Page(tuple(calls), 6, 1, 1, 10))
    count = planner.next_job()
    assert count is not None and (count.kind, count.part) == (COUNT, part)
    assert part.local_at_send == 6
