"""Record streams: concurrent auto-pagination across pages and 31-day windows.

How a walk works
================

The range ``[start, end]`` is split into windows of at most 31 days that share
their boundaries. Each window is walked page 1 first (to learn ``total`` and
``pages``), then the remaining pages concurrently; the next window's page 1 is
fetched as soon as the current window has no page left to start, so windows
overlap at their seams. At most ``concurrency`` requests are in flight per
stream, and the client's ``max_concurrency`` caps all streams together.

Exactly once
------------

The service pages over a live result set and recomputes ``total`` on every
request, so ``total`` works as a version number: arriving calls only make it
grow. A page fetched at a version at least that of the page before it cannot
leave a gap between the two (records only move towards later pages). So pages
are checked in page order: a page whose ``total`` is lower than its
predecessor's was fetched from an older snapshot and is fetched again. Moves
the other way only repeat records; those are dropped by voice id against the
few preceding pages they can have come from (how many follows from how much
``total`` grew). A record stamped on a window boundary can come back in the
next window; records within a second of a boundary are checked against a set
kept for that boundary. Memory is therefore bounded by ``concurrency`` pages
plus what calls arriving during the walk add, never by the records streamed.

A record that arrives while the walk runs may or may not be yielded, but never
twice. Records without a ``voice_id`` cannot be matched and are always yielded.

Concurrency without PEP 789 hazards
-----------------------------------

Nothing here yields from inside a task group, and no task group of ours ever
wraps the user's code. The planning above is plain synchronous state
(:class:`_Walk`). Its producer, the one task that starts requests (in child
tasks of its own task group, each reused from page to page) and feeds a
bounded memory stream, runs
detached (see :mod:`._background`): an asyncio task or a trio system task in
its own cancel scope, owned by the iterator that reads the stream and tracked
by the client.

- Plain ``async for``: the iterator is a plain object, not an async generator.
  Breaking out, an exception in the loop body, or a cancelled ``__anext__``
  closes it, which cancels the producer; so does the client closing, and the
  consumer then gets :class:`ItnioError` rather than a silently short stream.
- ``async with stream as records``: the same, and leaving the block also
  waits until the producer has stopped.

Both forms keep full concurrency whether or not the client was opened with
``async with``, and a user's own async generator may yield inside either.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._background import Background
from ._errors import ItnioError, PaginationError
from ._iterator import StreamIterator
from ._models import CallRecord, Page
from ._voice import MAX_WINDOW, Endpoint, QueryBody, has_whole_second, utc

if TYPE_CHECKING:
    from ._client import ItnioClient

__all__ = ["PageStream", "RecordStream", "StreamQuery", "plan_pages", "split_windows"]

R = TypeVar("R", bound=CallRecord)
T = TypeVar("T")

# A page fetched from an older snapshot than its predecessor is fetched again
# at most this many times before the walk gives up with PaginationError.
MAX_REFETCH = 8
# A walk keeps at most this many pages per unit of concurrency in flight,
# held back for order, or waiting for the consumer.
LOOKAHEAD = 3
# Ids of at least this many records beyond the lookahead are kept while calls
# arrive, so that arrivals outpacing small pages do not stop the walk.
RETAIN_EXTRA = 1000
_NEAR = timedelta(seconds=1)


def split_windows(
    start: datetime, end: datetime, span: timedelta = MAX_WINDOW
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end]`` into windows of at most ``span`` sharing their boundaries.

    Spans are measured in UTC (real elapsed time); the boundaries inside the
    range are UTC datetimes, ``start`` and ``end`` keep their own offsets.
    """
    end_utc = utc(end)
    windows = []
    lo, lo_utc = start, utc(start)
    while True:
        hi_utc = min(lo_utc + span, end_utc)
        hi = end if hi_utc == end_utc else hi_utc
        windows.append((lo, hi))
        if hi_utc >= end_utc:
            return windows
        lo, lo_utc = hi, hi_utc


def plan_pages(total: int, size: int) -> int:
    """How many pages of ``size`` hold ``total`` records."""
    return max(0, math.ceil(total / size))


@attrs.define(eq=False)
class _Window:
    index: int
    start: datetime
    end: datetime
    body: QueryBody  # the request body of each page
    pages: int | None = None  # None until page 1 has answered
    total: int | None = None  # the latest total seen
    next_page: int = 1  # the next page to start for the first time
    frontier: int = 1  # the next page to check (and, when ordered, to yield)
    in_flight: set[int] = attrs.Factory(set)
    last_total: int = -1  # total of the last checked page
    low_total: int | None = None
    high_total: int = 0
    results: dict[int, Page[Any]] = attrs.Factory(dict)
    refetch: deque[int] = attrs.Factory(deque)
    refetches: dict[int, int] = attrs.Factory(dict)
    seen: dict[int, tuple[int, set[str]]] = attrs.Factory(dict)  # page -> (total, ids)
    checked: deque[int] = attrs.Factory(deque)  # pages behind the frontier, maybe in seen
    # min(total - page * size) over pages whose ids were dropped (see _forget)
    forgotten_floor: int | None = None
    done: bool = False

    def changing(self) -> bool:
        """Whether pages of this window answered with different totals."""
        return self.low_total is not None and self.high_total != self.low_total

    def expected(self, page: int, size: int) -> int:
        """Records page ``page`` should hold, as far as we know."""
        if self.total is None:
            return size
        return max(0, min(size, self.total - (page - 1) * size))


@attrs.frozen
class StreamQuery(Generic[R]):
    """What a stream walks: one endpoint over ``[start, end]``, and how."""

    endpoint: Endpoint[R]
    start: datetime
    end: datetime
    filters: Mapping[str, str]
    page_size: int
    concurrency: int
    limit: int | None
    ordered: bool


class _Handoff:
    """How an idle child task of the producer is handed its next job."""

    __slots__ = ("event", "job")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.job: _Job | None = None

    def give(self, job: _Job) -> None:
        self.job = job
        self.event.set()


@attrs.define(eq=False)
class _Job:
    window: _Window
    page: int
    refetched: bool
    requesting: bool = True  # its request is still out


class _Walk(Generic[R]):
    """The state of one walk over a range; synchronous, moved by the drivers."""

    def __init__(self, client: ItnioClient, query: StreamQuery[R]) -> None:
        self._client = client
        self._endpoint = query.endpoint
        self.size = query.page_size
        self.concurrency = query.concurrency
        self.limit = query.limit
        self.ordered = query.ordered
        # A window inside one second holds no record stamp: it is not walked.
        spans = [w for w in split_windows(query.start, query.end) if has_whole_second(*w)]
        self.windows = [
            _Window(i, lo, hi, QueryBody(lo, hi, self.size, query.filters))
            for i, (lo, hi) in enumerate(spans)
        ]
        self._open_windows = len(self.windows)  # not yet done
        bounds = [w.start for w in self.windows[1:]]
        self._boundaries = [(b - _NEAR, b + _NEAR) for b in bounds]
        self._boundary_seen: list[set[str]] = [set() for _ in bounds]
        self._timeless_seen: set[str] = set()
        self.ready: deque[Page[R]] = deque()
        self.error: BaseException | None = None
        self.in_flight = 0  # pages started and not yet done
        self.requesting = 0  # of those, the ones whose request is still out
        self.emitted = 0
        self.pages_fetched = 0
        self.records_done = 0  # handed to the consumer
        self.pages_done = 0
        self.wake: anyio.Event | None = None  # made by a driver, inside the event loop
        self._idle: list[_Handoff] = []  # child tasks waiting for a job

    # -- progress ------------------------------------------------------------

    @property
    def total(self) -> int | None:
        totals = [w.total for w in self.windows]
        if any(t is None for t in totals):
            return None
        known = sum(t for t in totals if t is not None)
        return known if self.limit is None else min(known, self.limit)

    @property
    def finished(self) -> bool:
        return self.error is not None or self._limit_reached() or not self._open_windows

    def _limit_reached(self) -> bool:
        return self.limit is not None and self.emitted >= self.limit

    # -- planning ------------------------------------------------------------

    def next_job(self) -> _Job | None:
        """The next request to start, or ``None`` if none may start now."""
        if self.finished or self.requesting >= self.concurrency:
            return None
        for w in self.windows:
            if w.done:
                continue
            if w.refetch:
                return self._start(w, w.refetch.popleft(), refetched=True)
            if w.pages is None:
                if w.next_page == 1 and self._may_open(w):
                    return self._start(w, 1, refetched=False)
                continue
            if w.next_page <= w.pages and self._may_start(w, w.next_page):
                return self._start(w, w.next_page, refetched=False)
        return None

    def _may_open(self, window: _Window) -> bool:
        # With a limit, a window is opened only once every earlier one is
        # planned and still leaves records to fetch: no wasted requests.
        if self.limit is not None and any(
            w.pages is None for w in self.windows[: window.index] if not w.done
        ):
            return False
        return self._may_start(window, 1)

    def _may_start(self, window: _Window, page: int) -> bool:
        # Only pages of this window and earlier ones count: when ordered, later
        # windows' pages wait for this one, so letting them block it would
        # deadlock (they are bounded by the same rule when they start). Pages
        # in flight, held back for order, or waiting for the consumer all
        # count, so a consumer slower than the network bounds the walk.
        earlier = [w for w in self.windows[: window.index + 1] if not w.done]
        held = sum(len(w.results) for w in earlier) if self.ordered else 0
        if held + len(self.ready) + self.in_flight >= LOOKAHEAD * self.concurrency:
            return False
        if self.limit is None:
            return True
        pending = sum(
            w.expected(p, self.size)
            for w in earlier
            for p in (*w.in_flight, *(w.results if self.ordered else ()))
        )
        return self.emitted + pending < self.limit

    def _start(self, window: _Window, page: int, *, refetched: bool) -> _Job:
        if not refetched:
            window.next_page = page + 1
        window.in_flight.add(page)
        self.in_flight += 1
        self.requesting += 1
        return _Job(window, page, refetched)

    # -- results -------------------------------------------------------------

    def request_done(self, job: _Job) -> None:
        """The job's request is answered (its page may still be being parsed)."""
        if job.requesting:
            job.requesting = False
            self.requesting -= 1

    def job_done(self, job: _Job, page: Page[R]) -> None:
        self.request_done(job)
        w = job.window
        w.in_flight.discard(job.page)
        self.in_flight -= 1
        self.pages_fetched += 1
        if w.done or self.finished:
            return
        w.low_total = page.total if w.low_total is None else min(w.low_total, page.total)
        w.high_total = max(w.high_total, page.total)
        w.total = max(w.total or 0, page.total)
        reported = max(page.pages, plan_pages(page.total, self.size))
        w.pages = reported if w.pages is None else max(w.pages, reported)
        if self.ordered:
            w.results[job.page] = page
        else:
            self._yield(w, job.page, page)
            w.results[job.page] = Page((), page.total, page.pages, page.current, page.size)
        self._check(w)
        self._close_finished_windows()

    def job_failed(self, job: _Job, error: BaseException) -> None:
        self.request_done(job)
        job.window.in_flight.discard(job.page)
        self.in_flight -= 1
        if self.error is None:
            self.error = error

    def _check(self, w: _Window) -> None:
        """Check the window's pages in page order; yield them when ordered."""
        while w.frontier in w.results:
            if self.ordered and self._ordered_blocked(w):
                return
            number = w.frontier
            page = w.results.pop(number)
            if number > 1 and page.total < w.last_total:
                # Fetched from an older snapshot than the page before it:
                # records may have slipped between the two. Fetch it again.
                count = w.refetches.get(number, 0) + 1
                if count > MAX_REFETCH:
                    self.error = PaginationError(
                        f"page {number} of window {w.start.isoformat()}..{w.end.isoformat()} "
                        f"kept coming from an older snapshot ({count - 1} refetches); "
                        "the result set is changing faster than it can be walked"
                    )
                    return
                w.refetches[number] = count
                w.refetch.append(number)
                return
            w.refetches.pop(number, None)
            if self.ordered:
                self._yield(w, number, page)
            w.last_total = page.total
            w.frontier += 1
            w.checked.append(number)
            self._forget(w)
            if self._limit_reached():
                return

    def _ordered_blocked(self, w: _Window) -> bool:
        # When ordered, a window yields only after every earlier one is done.
        return any(not v.done for v in self.windows[: w.index])

    def _close_finished_windows(self) -> None:
        for w in self.windows:
            if (
                not w.done
                and w.pages is not None
                and w.frontier > w.pages
                and not w.in_flight
                and not w.refetch
            ):
                w.done = True
                self._open_windows -= 1
                w.results.clear()
                w.seen.clear()
                w.checked.clear()
                if self.ordered:
                    # The next window may have been waiting to yield.
                    nxt = self.windows[w.index + 1] if w.index + 1 < len(self.windows) else None
                    if nxt is not None:
                        self._check(nxt)
            if self.ordered and not w.done:
                break

    def _forget(self, w: _Window) -> None:
        """Drop the ids of pages too far back to repeat a record.

        Records only move forward, by at most the growth of ``total``. A record
        yielded from page ``p`` (answered with total ``T_p``) can come back in
        page ``q`` (total ``T_q``) only if ``T_q - (q-1)*size > T_p - p*size``.
        The left side is known for the frontier; a page is dropped once its
        right side exceeds it by a lookahead's worth of records. Without calls
        arriving that keeps the last lookahead of pages; once they arrive it
        keeps more, plus RETAIN_EXTRA records. A later page that could still
        repeat a dropped one stops the walk with PaginationError rather than
        risk it (see _dedupe).
        """
        size = self.size
        margin = LOOKAHEAD * self.concurrency * size
        if w.changing():
            margin += RETAIN_EXTRA
        reach = w.high_total - (w.frontier - 1) * size + margin
        # Checked pages are looked at oldest first, and only until one must be
        # kept: while totals hold still, the pages after it must be kept too.
        # When they grow, stopping early only keeps ids longer.
        checked = w.checked
        while checked:
            number = checked[0]
            entry = w.seen.get(number)
            if entry is not None:
                floor = entry[0] - number * size
                if floor < reach:
                    return
                del w.seen[number]
                if w.forgotten_floor is None or floor < w.forgotten_floor:
                    w.forgotten_floor = floor
            checked.popleft()

    def _yield(self, w: _Window, number: int, page: Page[R]) -> None:
        records = page.records
        keep = self._dedupe(w, number, page)
        if self.limit is not None:
            keep = keep[: self.limit - self.emitted]
        self.emitted += len(keep)
        if len(keep) != len(records):
            page = Page(tuple(keep), page.total, page.pages, page.current, page.size)
        self.ready.append(page)

    def _dedupe(self, w: _Window, number: int, page: Page[R]) -> list[R]:
        ids = w.seen.setdefault(number, (page.total, set()))[1]
        others: list[set[str]] = []
        if w.changing():
            others = [s for n, (_, s) in w.seen.items() if n != number]
            reach = page.total - (number - 1) * self.size
            if w.forgotten_floor is not None and reach > w.forgotten_floor:
                growth = page.total - (w.low_total or 0)
                self.error = PaginationError(
                    f"the result set grew by {growth} records during the walk, faster than "
                    "the stream can reconcile without risking a repeated record"
                )
                return []
        boundaries = self._window_boundaries(w)
        records = page.records
        fresh = {record.voice_id for record in records}
        if (
            len(fresh) == len(records)
            and None not in fresh
            and fresh.isdisjoint(ids)
            and all(fresh.isdisjoint(s) for s in others)
        ):
            # The usual page: every id new. Set operations in C instead of a
            # check per record; only records near a window boundary go on to
            # the boundary check.
            ids |= fresh
            if not boundaries:
                return list(records)
            return [r for r in records if self._first_at_boundary(r, r.voice_id, boundaries)]
        keep: list[R] = []
        for record in records:
            vid = record.voice_id
            if vid is None:
                keep.append(record)
                continue
            if vid in ids or (others and any(vid in s for s in others)):
                continue
            ids.add(vid)
            if boundaries and not self._first_at_boundary(record, vid, boundaries):
                continue
            keep.append(record)
        return keep

    def _window_boundaries(self, w: _Window) -> list[int]:
        if not self._boundaries:
            return []
        return [i for i in (w.index - 1, w.index) if 0 <= i < len(self._boundaries)]

    def _first_at_boundary(self, record: CallRecord, vid: str, boundaries: list[int]) -> bool:
        """False if this record, stamped near a shared boundary, was yielded already."""
        times = [
            t
            for t in (
                record.submit_time,
                record.call_time,
                record.ringing_time,
                record.answer_time,
                record.hangup_time,
            )
            if t is not None and t.tzinfo is not None
        ]
        if not times:
            if vid in self._timeless_seen:
                return False
            self._timeless_seen.add(vid)
            return True
        for i in boundaries:
            lo, hi = self._boundaries[i]
            if any(lo <= t <= hi for t in times):
                seen = self._boundary_seen[i]
                if vid in seen:
                    return False
                seen.add(vid)
        return True

    # -- drivers -------------------------------------------------------------

    async def _fetch(self, job: _Job, tg: TaskGroup) -> None:
        w = job.window
        voice = self._client.voice
        try:
            try:
                data = await voice.fetch_page_data(self._endpoint, w.body(job.page))
            finally:
                self.request_done(job)
            # Refill the request slot before the CPU work of structuring the
            # page, and let the new request go out while this one is parsed.
            self._start_jobs(tg)
            await anyio.lowlevel.checkpoint()
            page = voice.parse_page(self._endpoint, data, job.page, self.size)
        except Exception as exc:
            self.job_failed(job, exc)
        else:
            self.job_done(job, page)
        finally:
            if self.wake is not None:
                self.wake.set()

    async def _work(self, job: _Job, tg: TaskGroup) -> None:
        """Fetch ``job``, then whatever job comes next; idle until handed one.

        Child tasks are reused because starting one costs several times what
        waking an idle one does, and a walk starts one job per page.
        """
        while True:
            await self._fetch(job, tg)
            following = self.next_job()
            while following is None:
                handoff = _Handoff()
                self._idle.append(handoff)
                await handoff.event.wait()
                following = handoff.job
            job = following

    def _start_jobs(self, tg: TaskGroup) -> None:
        while (job := self.next_job()) is not None:
            if self._idle:
                self._idle.pop().give(job)
            else:
                tg.start_soon(self._work, job, tg)

    async def _wait(self) -> None:
        if self.wake is not None:
            await self.wake.wait()
        self.wake = anyio.Event()

    async def produce(self, send: MemoryObjectSendStream[Page[R]]) -> None:
        """Run the walk in the background, feeding ``send`` until done."""
        self.wake = anyio.Event()
        with send:
            async with anyio.create_task_group() as tg:
                try:
                    while True:
                        self._start_jobs(tg)
                        while self.ready:
                            await send.send(self.ready.popleft())
                            self._start_jobs(tg)
                        if self.finished:
                            break
                        await self._wait()
                except anyio.BrokenResourceError:
                    pass  # the consumer has gone: stop
                except Exception as exc:  # pragma: no cover - a bug; still reach the user
                    self.error = exc
                finally:
                    tg.cancel_scope.cancel()


class _Iterator(Generic[R, T]):
    """The consumer's side of a walk; not an async generator (see the module doc)."""

    def __init__(
        self,
        walk: _Walk[R],
        flatten: bool,
        receive: MemoryObjectReceiveStream[Page[R]],
        producer: Background,
    ) -> None:
        self._walk = walk
        self._flatten = flatten
        self._receive = receive
        self._producer = producer
        self._records: tuple[R, ...] = ()
        self._index = 0
        self._closed = False

    def __aiter__(self) -> _Iterator[R, T]:
        return self

    async def __anext__(self) -> T:
        if self._flatten:
            while self._index >= len(self._records):
                page = await self._next_page()
                self._records = page.records
                self._index = 0
            record = self._records[self._index]
            self._index += 1
            self._walk.records_done += 1
            return record  # type: ignore[return-value]
        page = await self._next_page()
        self._walk.records_done += len(page.records)
        return page  # type: ignore[return-value]

    async def _next_page(self) -> Page[R]:
        if self._closed:
            raise StopAsyncIteration
        try:
            page = await self._receive.receive()
        except anyio.EndOfStream:
            self.close()
            walk = self._walk
            if walk.error is not None:
                raise walk.error from None
            if not walk.finished:
                raise ItnioError(
                    "the stream stopped before its end: its client was closed "
                    "(or the event loop is shutting down)"
                ) from None
            raise StopAsyncIteration from None
        except BaseException:
            self.close()
            raise
        self._walk.pages_done += 1
        return page

    def close(self) -> None:
        """Stop the walk: close the channel and cancel the producer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._receive.close()
        self._producer.cancel()

    async def aclose(self) -> None:
        """Stop the walk and wait until its requests have stopped."""
        self.close()
        await self._producer.join()

    def __del__(self) -> None:
        # Breaking out of ``async for`` drops the iterator without a call:
        # closing here is what stops its producer.
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


class _Stream(Generic[R, T]):
    _flatten: bool

    def __init__(self, client: ItnioClient, query: StreamQuery[R]) -> None:
        self._client = client
        self._query = query
        self._walk: _Walk[R] | None = None
        # Only the ``async with`` form keeps its iterator: plain ``async for``
        # must be able to drop it (see _Iterator.__del__).
        self._iterator: _Iterator[R, T] | None = None

    def _new_walk(self) -> _Walk[R]:
        if self._client.is_closed:
            raise ItnioError("this client is closed")
        self._walk = _Walk(self._client, self._query)
        return self._walk

    def __repr__(self) -> str:
        q = self._query
        filters = "".join(f", {k}={v!r}" for k, v in q.filters.items() if v)
        limit = "" if q.limit is None else f", limit={q.limit}"
        total = "?" if self.total is None else f"{self.total:,}"
        return (
            f"<{type(self).__name__} {q.start.isoformat()} .. "
            f"{q.end.isoformat()}{filters}, page_size={q.page_size}, "
            f"concurrency={q.concurrency}{limit}: {self.records_done:,} of {total} records, "
            f"{self.pages_done:,} page{'' if self.pages_done == 1 else 's'}>"
        )

    # -- progress (for progress bars; no extra requests) ---------------------

    @property
    def total(self) -> int | None:
        """Records the walk will yield at most, once every window's page 1 has answered."""
        return self._walk.total if self._walk is not None else None

    @property
    def records_done(self) -> int:
        """Records handed to the consumer so far."""
        return self._walk.records_done if self._walk is not None else 0

    @property
    def pages_done(self) -> int:
        """Pages handed to the consumer so far."""
        return self._walk.pages_done if self._walk is not None else 0

    @property
    def pages_fetched(self) -> int:
        """Page requests answered so far (refetches included)."""
        return self._walk.pages_fetched if self._walk is not None else 0

    @property
    def windows(self) -> int:
        """How many windows of at most 31 days the range was split into."""
        return len(split_windows(self._query.start, self._query.end))

    # -- iteration -----------------------------------------------------------

    def _start(self) -> _Iterator[R, T]:
        walk = self._new_walk()
        send, receive = anyio.create_memory_object_stream[Page[R]](walk.concurrency)
        try:
            producer = self._client._spawn(partial(walk.produce, send))
        except BaseException:
            send.close()
            receive.close()
            raise
        return _Iterator[R, T](walk, self._flatten, receive, producer)

    def __aiter__(self) -> StreamIterator[T]:
        return self._start()

    async def __aenter__(self) -> StreamIterator[T]:
        if self._iterator is not None:
            raise ItnioError("this stream is already open")
        self._iterator = self._start()
        return self._iterator

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            await iterator.aclose()


class RecordStream(_Stream[R, R]):
    """Every record in a range, fetched concurrently, each exactly once.

    Use it directly or as a context manager (see the module documentation of
    ``itniotech_async._pagination`` for how each form runs)::

        async for record in client.voice.iter_sip_records(start, end):
            ...

        async with client.voice.iter_sip_records(start, end) as records:
            async for record in records:
                ...

    :meth:`pages` gives whole :class:`Page` objects instead. ``total``,
    ``records_done`` and ``pages_done`` feed a progress bar.
    """

    _flatten = True

    def pages(self) -> PageStream[R]:
        """The same walk, yielding each page (its duplicates removed) as a :class:`Page`."""
        return PageStream(self._client, self._query)


class PageStream(_Stream[R, Page[R]]):
    """Like :class:`RecordStream`, but yields :class:`Page` objects."""

    _flatten = False
