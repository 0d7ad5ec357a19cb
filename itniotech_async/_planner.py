"""The walk of a record stream as plain synchronous state: what to ask next, what answers prove.

The planner sends nothing. A driver (:mod:`._pagination`) asks it for the next
request (:meth:`Planner.next_job`), sends it, and hands back the answer
(:meth:`Planner.answered`), an unusable answer (:meth:`Planner.invalid`) or a
failure (:meth:`Planner.failed`). Records to hand to the consumer collect in
:attr:`Planner.ready`. The README's "Exactly once" section says the same for
users; the design in short:

What the service does not promise
---------------------------------

A page's ``total`` and its rows may be read at two different instants; rows
that share a sort key may come back in another order on every request (so one
page number can hold different rows each time); whether a range's ends are
inclusive is not published; any field, ``submitTime`` included, may be empty.
What holds: one page answer is one consistent read of its rows (read, like
its count, after the request was sent), a query returns only records of its
range, and records are not deleted.

How a window is proven complete
-------------------------------

1. **Walk.** The window's pages are fetched (page 1 first, then the rest
   concurrently) and every record is kept by id. Ids seen are counted per
   window; repeats are dropped.
2. **Count.** Once every page has answered, one more request (``size=1``)
   reads the window's count. That count is read after every row collected,
   and nothing is deleted, so it counts a set holding every id collected: if
   the ids collected number exactly that count, the window is complete. This
   is the fast path: the window's pages plus one request. A page 1 holding
   fewer rows than its size (and no fewer than its count) is every row the
   window matched, in one read: the window is complete with it alone.
3. **Locate.** If fewer, records were missed (rows reordered between pages,
   pages shifted by calls arriving) or have arrived since. The window is cut
   into parts at gaps between the stamps collected, and each part is proven
   on its own: by a count (read after the part's rows were collected) equal
   to the records collected whose ``submitTime`` lies in it, none of them
   within ``EDGE`` seconds of its ends, or by one page
   holding fewer rows than its size (every row its query matched), or, for a
   second holding more than a page (a batch call), by re-reading it until the
   ids its queries returned reach its count. Parts that cannot be proven yet
   are cut again. Each part is proven at its own instant, so calls arriving
   meanwhile cannot keep the walk from ending.

4. **Prove as the walk goes.** Once the service is seen changing under the
   walk (a page's total moves, a page repeats ids, a probe finds a record that
   slipped), runs of ``CHUNK_PAGES`` answered pages (``TAIL_CHUNK_PAGES`` once
   every page is started) become parts of their own, cut in a gap of the
   stamps between two pages. Each batch-call second the walk meets is read
   again at once (page 1 ``BATCH_READS`` times, then once at a time while
   those reads count more records than were found, :meth:`Planner._read_early`),
   and one count read after those answers usually proves the chunk (a count
   waits for the looks between pages and the reads inside its part,
   :meth:`Planner._startable`).
   Calls arriving later elsewhere then cost nothing, and locating overlaps the
   walk. The rest is a last part, carved once every page has answered; the
   window is proven once every part is. Once no page is left to start, free
   request slots are spent on cutting finer and reading more at once
   (:meth:`Planner._spare`), which saves rounds.

The parts' stamps only decide where to look. If the service's answers
contradict them (a part counting fewer records than were collected in it, a
record served outside the part asked for), the window is proven again without
them, by pages that hold fewer rows than their size.

Neighbouring windows and parts overlap by two seconds, so every second lies in
one of them whatever the end rule; a record two windows share is yielded once,
by id. When a window is complete, a query of the seconds it shares with a
neighbour (sent after its last record was collected) holds every record it
could share with that neighbour; the window's other ids are then forgotten.

Everything is bounded: a page is started only when the records already seen
justify it, an unusable answer is fetched again a few times, and the work to
locate missing records is capped by the records the window holds. Past any
bound the walk raises :class:`PaginationError` or
:class:`ResponseValidationError`, naming the window and the page.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from array import array
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any, Generic, TypeVar

import attrs

from ._errors import PaginationError, ResponseValidationError
from ._models import CallRecord, Page
from ._query import QueryBody
from ._times import epoch_seconds, floor_seconds, seconds_to_datetime, window_spans

__all__ = ["Job", "Planner", "plan_pages"]

R = TypeVar("R", bound=CallRecord)

_SUBMIT_TIME = operator.attrgetter("submit_time")
_VOICE_ID = operator.attrgetter("voice_id")

#: A walk keeps at most this many pages per unit of concurrency in flight,
#: held back for order, or waiting for the consumer.
LOOKAHEAD = 3
#: An unusable answer is fetched again at most this many times.
MAX_INVALID = 3
#: A second holding more than a page is re-read at most this many rounds.
MAX_DENSE_ROUNDS = 12
#: Each round reads a dense part's pages this many times.
DENSE_READS = 2
#: A batch call's second in a chunk is read this many times before the chunk is counted.
BATCH_READS = 3
#: And at most this many times in all, while its reads' counts say rows are missing.
MAX_BATCH_READS = 10
#: A window's work to locate missing records is capped at this many requests,
#: plus SLOW_BUDGET_PER_PAGE for each page of records the window holds.
SLOW_BUDGET = 256
SLOW_BUDGET_PER_PAGE = 8
#: A part is cut into at most this many parts at a time.
MAX_PARTS = 32
#: A window whose service changes under the walk is proven in chunks of this
#: many pages as the walk goes, each by a count read soon after its rows.
CHUNK_PAGES = 32
#: And of this many once every page of the walk is started: less is left at the end.
TAIL_CHUNK_PAGES = 8
#: A part shorter than this many seconds is not cut.
MIN_CUT = 8
#: A part expected to hold up to this share of a page is fetched as one page.
SLICE_FILL = 0.7
#: A part's count proves it complete only while no record collected lies within
#: this many seconds of its ends: whether an end is inclusive is not published,
#: and the second a record is filed under may differ a little from its submitTime.
EDGE = 2

# The kinds of request.
PAGE = "page"  # a page of a window's walk
COUNT = "count"  # a count (size=1) of a window or a part
SLICE = "slice"  # one page that should hold a whole part
DENSE = "dense"  # a page of a part too dense to cut
SEAM = "seam"  # the seconds a finished window shares with a neighbour
PROBE = "probe"  # where two pages of the walk meet suspiciously: look for what slipped

# A window's states.
WALKING = 0
VERIFYING = 1
PROVEN = 2


def plan_pages(total: int, size: int) -> int:
    """How many pages of ``size`` hold ``total`` records."""
    return max(0, math.ceil(total / size))


@attrs.define(eq=False)
class _Part:
    """A range of seconds inside a window, proven complete on its own."""

    lo: int
    hi: int
    generation: int
    count: int | None = None
    local_at_send: int = 0  # records collected in it when its count was asked
    dense: bool = False  # too dense to cut: read again until its count is reached
    dense_ids: set[str] | None = None  # ids its own queries (and probes inside it) returned
    edgy: bool = False  # a stamp lay near its ends when its count was asked
    dense_rounds: int = 0
    dense_left: int = 0  # pages of the current dense round not yet answered
    round_total: int = 0  # the most records the current dense round's reads counted
    proven: bool = False


@attrs.define(eq=False)
class _BatchReads:
    """The reads of a batch call's second for a chunk: sent, answered, and the most they counted."""

    pages: int
    sent: int = 0
    answered: int = 0
    total: int = 0


@attrs.define(eq=False)
class Job:
    """One request the driver is to send: ``body`` for page ``page`` of a range."""

    window: _Window
    kind: str
    page: int
    body: QueryBody
    part: _Part | None = None
    generation: int = 0
    neighbour: int = -1  # for a seam query: the neighbouring window's index
    invalid: int = 0  # unusable answers so far
    requesting: bool = True  # its request is still out
    seen_at_send: int = 0  # the window's ids when a window count was sent
    stamps_at_send: int = 0  # and the stamps collected in it
    span: tuple[int, int] | None = None  # a batch second read for a chunk: its range

    @property
    def size(self) -> int:
        return self.body.size

    def content(self) -> bytes:
        """The request body to send."""
        return self.body(self.page)


@attrs.define(eq=False)
class _Window:
    index: int
    lo: int
    hi: int
    body: QueryBody
    label: str
    state: int = WALKING
    total: int | None = None  # the largest total a page of the walk gave
    pages: int | None = None  # None until page 1 has answered
    next_page: int = 1
    rows: int = 0  # rows the walk's pages gave, repeats included
    jobs: int = 0  # requests started and not yet finished
    ids: set[str] = attrs.Factory(set)  # ids its queries returned
    stamps: array[int] = attrs.Factory(lambda: array("q"))  # submit seconds not yet sorted
    sorted_stamps: list[int] = attrs.Factory(list)  # submit seconds sorted so far
    # Ids collected at seconds that held many records on one page (batch calls).
    heavy: dict[int, set[str]] = attrs.Factory(dict)
    # Ranges holding a batch call's second, read again for their chunk, and those reads
    batch_reads: dict[tuple[int, int], _BatchReads] = attrs.Factory(dict)
    by_parts: bool = False  # proven part by part, without a count of the whole window
    whole: bool = False  # page 1 held every row of the window (fewer than its size)
    eager: bool = False  # the service changes under the walk: prove chunks as it goes
    fence: int = 0  # with ``eager``: the newest second not yet in a chunk
    fence_page: int = 0  # with ``eager``: pages 1..fence_page lie in chunks
    walk_jobs: int = 0  # pages in flight
    # Looks in flight: probes, and early reads of batch seconds (see _is_look).
    looking: list[Job] = attrs.Factory(list)
    batch_seen: list[int] = attrs.Factory(list)  # batch seconds the walk met, not yet read again
    trusted: bool = True  # stamps agree with the service's answers so far
    generation: int = 0  # bumped when locating starts over without stamps
    queue: deque[Job] = attrs.Factory(deque)  # requests waiting to start
    parts_open: int = 0
    spent: int = 0  # requests spent locating
    # Ordered streams: new records per page, released in page order.
    held: dict[int, tuple[Any, ...]] = attrs.Factory(dict)
    meta: dict[int, Page[Any]] = attrs.Factory(dict)
    frontier: int = 1
    tail: deque[Page[Any]] = attrs.Factory(deque)
    released: bool = False
    # Per page of the walk: (oldest stamp, newest stamp, total), for probes.
    edges: dict[int, tuple[int, int, int]] = attrs.Factory(dict)
    # And (oldest id, newest id, answers before it): which pages were read later.
    ends: dict[int, tuple[str, str, int]] = attrs.Factory(dict)
    # And the ids at its oldest second and at its newest one.
    rims: dict[int, tuple[frozenset[str], frozenset[str]]] = attrs.Factory(dict)
    # (lo, hi, page, read) probed already: ``read`` counts reads of one page
    probed: set[tuple[int, int, int, int]] = attrs.Factory(set)
    probe_ids: list[tuple[int, int, set[str]]] = attrs.Factory(list)  # what probes returned
    # Ids in the seconds shared with each running neighbour; None until known.
    seams: dict[int, set[str] | None] = attrs.Factory(dict)
    forgotten: bool = False  # ids reduced to the seams, or dropped

    def expected(self, page: int, size: int) -> int:
        """Records page ``page`` should hold, as far as we know."""
        if self.total is None:
            return size
        return max(0, min(size, self.total - (page - 1) * size))


class Planner(Generic[R]):
    """The state of one walk over ``span``, whole seconds since the epoch; see the module doc.

    ``span`` is ``None`` for a range that holds no whole second: nothing to walk.
    """

    def __init__(
        self,
        span: tuple[int, int] | None,
        tz: tzinfo | None,
        filters: Mapping[str, str],
        *,
        size: int,
        concurrency: int,
        limit: int | None = None,
        ordered: bool = True,
    ) -> None:
        self.size = size
        # A second holding this many records of a page or more is a batch call's.
        self._least = max(3, size // 10)
        self.concurrency = concurrency
        self.limit = limit
        self.ordered = ordered
        self._tz = tz
        self._filters = dict(filters)
        self.windows: list[_Window] = []
        for index, (lo, hi) in enumerate(window_spans(*span) if span is not None else ()):
            body = self._body(lo, hi, size)
            label = f"{self._time(lo).isoformat()}..{self._time(hi).isoformat()}"
            self.windows.append(_Window(index, lo, hi, body, label))
        self._open = len(self.windows)  # windows not yet proven
        self.ready: deque[Page[R]] = deque()
        self.error: BaseException | None = None
        self.in_flight = 0  # jobs started and not finished
        self.requesting = 0  # of those, the ones whose request is still out
        self.emitted = 0  # records put in ``ready``
        self.answers = 0  # answers received, any kind
        self._released = 0  # windows whose records were all released (ordered)

    # -- helpers ---------------------------------------------------------------

    def _time(self, seconds: int) -> datetime:
        return seconds_to_datetime(seconds, self._tz)

    def _body(self, lo: int, hi: int, size: int) -> QueryBody:
        return QueryBody(self._time(lo), self._time(hi), size, self._filters)

    # -- progress --------------------------------------------------------------

    @property
    def total(self) -> int | None:
        """Records the walk should yield, once every window's page 1 has answered."""
        totals = [w.total for w in self.windows]
        if any(t is None for t in totals):
            return None
        known = sum(t for t in totals if t is not None)
        return known if self.limit is None else min(known, self.limit)

    @property
    def finished(self) -> bool:
        """Whether the walk is over: failed, at its limit, or every window proven."""
        if self.error is not None or self._limit_reached():
            return True
        return not self._open and (not self.ordered or self._released == len(self.windows))

    def _limit_reached(self) -> bool:
        return self.limit is not None and self.emitted >= self.limit

    # -- planning --------------------------------------------------------------

    def next_job(self) -> Job | None:
        """The next request to send, or ``None`` if none may start now."""
        if self.finished or self.requesting >= self.concurrency:
            return None
        for w in self.windows:
            if w.queue:
                job = self._startable(w)
                if job is not None:
                    return self._start(job)
            if w.state != WALKING:
                continue
            if w.pages is None:
                if w.next_page == 1 and self._may_open(w):
                    w.next_page = 2
                    return self._start(Job(w, PAGE, 1, w.body))
                continue
            if w.next_page <= w.pages and self._may_start(w, w.next_page):
                page = w.next_page
                w.next_page += 1
                return self._start(Job(w, PAGE, page, w.body))
        return None

    def _startable(self, w: _Window) -> Job | None:
        """Take the first queued job of ``w`` that may start now.

        A count of a part waits for the looks between pages and the early
        reads of batch seconds inside it (queued or in flight): what they
        find is then collected before the count is read, and the count finds
        nothing missing more often.
        """
        queue = w.queue
        for index, job in enumerate(queue):
            if job.kind != COUNT or job.part is None or not self._probed(w, job.part):
                del queue[index]
                return job
        return None

    def _probed(self, w: _Window, part: _Part) -> bool:
        """Whether a look between pages or an early read inside ``part`` is queued or in flight."""
        return any(
            _is_look(look)
            and look.part is not None
            and look.part.hi >= part.lo
            and look.part.lo <= part.hi
            for look in itertools.chain(w.looking, w.queue)
        )

    def _may_open(self, window: _Window) -> bool:
        # With a limit, a window is opened only once every earlier one is
        # planned and still leaves records to fetch: no wasted requests.
        if self.limit is not None and any(
            w.pages is None for w in self.windows[: window.index] if w.state == WALKING
        ):
            return False
        return self._may_start(window, 1)

    def _may_start(self, window: _Window, page: int) -> bool:
        # Pages in flight, held back for order, or waiting for the consumer
        # all count, so a consumer slower than the network bounds the walk.
        # Only pages of this window and earlier ones count when ordered: later
        # windows wait for this one, so letting them block it would deadlock.
        # (Records found by probes and while proving a window wait in its tail,
        # which must not stop the walk that proves it.)
        held = 0
        if self.ordered:
            held = sum(len(w.held) for w in self.windows[: window.index + 1])
        if held + len(self.ready) + self.in_flight >= LOOKAHEAD * self.concurrency:
            return False
        # Bounded work: a page is started only when the rows already seen
        # make it plausible, whatever ``total`` claims.
        if page > 1 and (page - 1) * self.size > window.rows + self.concurrency * self.size:
            return False
        if self.limit is None:
            return True
        pending = sum(
            w.expected(p, self.size) for w in self.windows[: window.index + 1] for p in w.held
        )
        pending += self.in_flight * self.size
        return self.emitted + pending < self.limit

    def _start(self, job: Job) -> Job:
        job.requesting = True
        job.window.jobs += 1
        if job.kind == PAGE:
            job.window.walk_jobs += 1
        elif _is_look(job):
            job.window.looking.append(job)
        if job.kind == COUNT:
            part = job.part
            if part is None:
                job.seen_at_send = len(job.window.ids)
                job.stamps_at_send = len(job.window.stamps) + len(job.window.sorted_stamps)
            elif part.dense_ids is not None:
                part.local_at_send = len(part.dense_ids)
            else:
                part.local_at_send = self._local(job.window, part)
                part.edgy = self._near_ends(job.window, part)
        self.in_flight += 1
        self.requesting += 1
        return job

    def request_done(self, job: Job) -> None:
        """The job's request is answered (its page may still be being parsed)."""
        if job.requesting:
            job.requesting = False
            self.requesting -= 1

    def _finish(self, job: Job) -> None:
        self.request_done(job)
        self.in_flight -= 1
        job.window.jobs -= 1
        if job.kind == PAGE:
            job.window.walk_jobs -= 1
        elif _is_look(job):
            job.window.looking.remove(job)

    # -- answers ---------------------------------------------------------------

    def failed(self, job: Job, error: BaseException) -> None:
        """The job's request failed for good (retries exhausted): the walk fails."""
        self._finish(job)
        if self.error is None:
            self.error = error

    def invalid(self, job: Job, reason: str, cause: BaseException | None = None) -> None:
        """The answer to ``job`` is unusable: fetch it again, a few times at most."""
        self._finish(job)
        if self.error is not None:
            return
        job.invalid += 1
        if job.invalid > MAX_INVALID:
            error = ResponseValidationError(
                f"window {job.window.label}, {self._describe(job)}: {reason} "
                f"(the same after {MAX_INVALID} more tries)"
            )
            error.__cause__ = cause
            self.error = error
            return
        job.window.queue.append(job)

    def _describe(self, job: Job) -> str:
        if job.part is None:
            return "count" if job.kind == COUNT else f"page {job.page}"
        span = f"{self._time(job.part.lo).isoformat()}..{self._time(job.part.hi).isoformat()}"
        return f"{job.kind} query of {span}, page {job.page}"

    def answered(self, job: Job, page: Page[R]) -> None:
        """Take the answer to ``job``."""
        reason = self._check(job, page)
        if reason is not None:
            self.invalid(job, reason)
            return
        self._finish(job)
        self.answers += 1
        if self.error is not None or self._limit_reached():
            return
        w = job.window
        if job.kind == SEAM:
            self._seam_answered(w, job, page)
        else:
            new = self._collect(w, job, page)
            if job.kind == PAGE:
                self._page_answered(w, job, page, new)
            elif job.kind == PROBE:
                self._emit(w, page, new, tail=True)
                self._probe_answered(w, job, page, new)
            else:
                self._emit(w, page, new, tail=True)
                self._part_answered(w, job, page)
        self._advance(w)

    def _check(self, job: Job, page: Page[R]) -> str | None:
        """Why ``page`` cannot be the answer to ``job``, or None if it can."""
        size = job.size
        if page.current != job.page:
            return f"the answer is for page {page.current}, not page {job.page}"
        if page.size != size:
            return f"the answer has page size {page.size}, not {size}"
        if page.total < 0 or page.pages < 0:
            return f"negative total ({page.total}) or pages ({page.pages})"
        if page.pages != plan_pages(page.total, size):
            return f"pages ({page.pages}) does not fit total ({page.total}) at size {size}"
        if len(page.records) > size:
            return f"{len(page.records)} records on a page of size {size}"
        return None

    def _collect(self, w: _Window, job: Job, page: Page[R]) -> list[R]:
        """Keep the ids and stamps of the page's records; return the ones new to ``w``."""
        records = page.records
        part = job.part
        if part is not None and part.dense_ids is not None:
            part.dense_ids.update(map(_VOICE_ID, records))
        if job.kind == PROBE and part is not None:
            w.probe_ids.append((part.lo, part.hi, set(map(_VOICE_ID, records))))
        elif job.span is not None:
            w.probe_ids.append((*job.span, set(map(_VOICE_ID, records))))
        ids = w.ids
        fresh = set(map(_VOICE_ID, records))  # (a loop in C: this runs for every page)
        if len(fresh) == len(records) and fresh.isdisjoint(ids):
            # The usual page: every id new. Set operations in C.
            ids |= fresh
            new = list(records)
        else:
            new = []
            for record in records:
                vid = record.voice_id
                if vid in ids:
                    continue
                ids.add(vid)
                new.append(record)
        if new:
            self._stamp(w, job, new)
        if job.part is not None and w.trusted and len(new) < len(records):
            # Records met again must lie in the part too, or the stamps mislead.
            lo, hi = job.part.lo, job.part.hi
            for record in records:
                t = record.submit_time
                if t is not None and not lo <= epoch_seconds(t) <= hi:
                    self._distrust(w)
                    break
        return new

    def _stamp(self, w: _Window, job: Job, records: list[R]) -> None:
        """Keep the submit seconds of ``records``, new to ``w``, and check they lie in the query."""
        lo, hi = (job.part.lo, job.part.hi) if job.part is not None else (w.lo, w.hi)
        # (Record times are always aware: the converter refuses naive ones.)
        stamps = floor_seconds(map(_SUBMIT_TIME, records))
        if stamps and w.trusted and (min(stamps) < lo or max(stamps) > hi):
            # The service does not filter on submitTime as we read it.
            self._distrust(w)
        w.stamps.extend(array("q", stamps))  # (twice as fast as from the list)
        repeats = len(stamps) - len(set(stamps))
        if repeats and (w.heavy or repeats >= self._least - 1):
            self._heavy(w, records)  # (a batch call may be on this page)

    def _emit(self, w: _Window, page: Page[R], new: list[R], *, tail: bool) -> None:
        """Hand ``new`` records of ``w`` to the consumer, or hold them back for order."""
        if self.ordered:
            if tail and new:
                w.tail.append(_page(page, new))
            return
        self._release(w, page, new)

    def _release(
        self, w: _Window, page: Page[R], records: list[R] | tuple[R, ...], *, walk: bool = False
    ) -> None:
        """Hand out ``records`` of ``w`` that no neighbour handed out: a page of the walk
        always (it may be empty), any other answer only when it brings records."""
        keep = list(records)
        others = [ids for ids in self._neighbour_ids(w) if ids]
        if others and keep:
            fresh = set(map(_VOICE_ID, keep))
            if not all(fresh.isdisjoint(ids) for ids in others):
                keep = [r for r in keep if not any(r.voice_id in ids for ids in others)]
        if self.limit is not None:
            keep = keep[: self.limit - self.emitted]
        self.emitted += len(keep)
        if keep or walk:
            self.ready.append(_page(page, keep))

    def _neighbour_ids(self, w: _Window) -> list[set[str]]:
        """The ids of the neighbours of ``w`` that may have handed out records it meets."""
        windows = self.windows
        found = []
        for index in (w.index - 1, w.index + 1):
            if 0 <= index < len(windows) and not (self.ordered and index > w.index):
                # (When ordered, later windows are released after this one.)
                found.append(windows[index].ids)
        return found

    # -- the walk and its count ------------------------------------------------

    def _page_answered(self, w: _Window, job: Job, page: Page[R], new: list[R]) -> None:
        if w.trusted and self.limit is None:  # (a limited walk asks only what it needs)
            if w.total is not None and (page.total != w.total or len(new) < len(page.records)):
                w.eager = True  # the service changes under the walk
            if w.eager:
                self._read_early(w)  # (before the probes, which it may spare)
            self._probe_edges(w, job.page, page)
            if w.eager:
                self._chunk(w)
        w.rows += len(page.records)
        w.total = max(w.total or 0, page.total)
        reported = page.pages
        w.pages = reported if w.pages is None else max(w.pages, reported)
        if job.page == 1 and page.total <= len(page.records) < job.size and not w.by_parts:
            # Fewer rows than the page holds: every row the window's query
            # matched, one consistent read. (Its count agrees: a page 1 short
            # of its own total is not taken as whole.)
            w.whole = True
            w.pages = 1
        if self.ordered:
            w.held[job.page] = tuple(new)
            w.meta[job.page] = page
        else:
            self._release(w, page, new, walk=True)

    def _probe_edges(self, w: _Window, number: int, page: Page[R]) -> None:
        """Look again where this page meets its neighbours, if records may have slipped there.

        Records slip between two pages when a second's rows straddle them (and
        come back in another order each time) or when a call arriving between
        the two reads shifted the rows. Probes only collect what they find: the
        window is still proven by its count. They run while the walk goes on,
        so that the count finds nothing missing more often.
        """
        records = page.records
        if not records:
            return
        newest, oldest = records[0].submit_time, records[-1].submit_time
        if newest is None or oldest is None or newest.tzinfo is None or oldest.tzinfo is None:
            return
        w.edges[number] = (epoch_seconds(oldest), epoch_seconds(newest), page.total)
        w.ends[number] = (records[-1].voice_id, records[0].voice_id, self.answers)
        w.rims[number] = (_rim(reversed(records)), _rim(records))
        for upper in range(number - 2, number + 2):  # its seams and their neighbours
            self._probe_seam(w, upper)

    def _probe_seam(self, w: _Window, upper: int) -> None:
        """Probe where pages ``upper`` and ``upper + 1`` meet, if a record may have slipped."""
        above, below = w.edges.get(upper), w.edges.get(upper + 1)
        if above is None or below is None:
            return
        top, bottom = above[0], below[1]  # the upper page's oldest, the lower's newest
        if bottom > top:
            return  # the pages overlap in time: nothing lies between them
        # Calls that arrived between the two reads shifted the rows, and the
        # upper page was read after the lower one: a record pushed from it
        # onto the lower page fell between them. Seen as the upper page
        # counting more, or as a neighbouring seam showing one record twice
        # (the shift, read the other way round).
        shifted = above[2] > below[2] or (
            w.ends[upper][2] > w.ends[upper + 1][2]
            and (self._shifted(w, upper - 1) or self._shifted(w, upper + 1))
        )
        # Or a second straddles the two pages. Its rows are consecutive, so if
        # the pages show disjoint sets of them, they show them all; if both
        # show one record (rows sharing a second come back in another order
        # each time), another was on neither. Unless calls arriving between
        # the two reads explain it: the lower page, read later and counting
        # ``d`` more, shows ``d`` rows of the upper page again when the calls
        # arrived above the seam. (If they arrived below it, a record may
        # still have slipped: rarely, and the part's count finds it.) Also
        # looked at a batch call's second.
        twice = len(w.rims[upper][0] & w.rims[upper + 1][1])
        straddled = top == bottom and (
            len(w.heavy.get(top, ())) >= self._least or twice > max(0, below[2] - above[2])
        )
        if shifted or straddled:
            self._probe(w, bottom - 1, top + 1)

    def _shifted(self, w: _Window, upper: int) -> bool:
        """Whether pages ``upper`` and ``upper + 1`` show the same record where they meet."""
        above, below = w.ends.get(upper), w.ends.get(upper + 1)
        return above is not None and below is not None and above[0] == below[1]

    def _probe(self, w: _Window, lo: int, hi: int, page: int = 1, read: int = 0) -> None:
        lo, hi = max(lo, w.lo), min(hi, w.hi)
        if lo > hi or (lo, hi, page, read) in w.probed:
            return
        if any(a <= lo and hi <= b for a, b in w.batch_reads):
            return  # a batch second read again: those reads look here already
        w.probed.add((lo, hi, page, read))
        part = _Part(lo, hi, -1)  # not part of any proof
        w.queue.append(Job(w, PROBE, page, self._body(lo, hi, self.size), part, -1))

    def _probe_answered(self, w: _Window, job: Job, page: Page[R], new: list[R]) -> None:
        """A probe that found a range denser than a page reads its other pages too.

        (Not once chunks are proven as the walk goes: a batch call's second
        is then read again before its chunk is counted, see :meth:`_carve`.)
        """
        if new and w.trusted and w.state == WALKING:
            w.eager = True  # records slipped between pages
        if w.eager:
            self._chunk(w)
            return
        part = job.part
        if job.page == 1 and part is not None and page.total > job.size:
            for number in range(2, min(plan_pages(page.total, job.size), 8) + 1):
                self._probe(w, part.lo, part.hi, number)

    def _chunk(self, w: _Window) -> None:
        """Prove the walk's answered pages in chunks, each by its own count, as the walk goes.

        A chunk ends between two answered pages whose stamps leave a gap of
        five seconds or more; its count is read soon after its rows, so calls
        arriving later elsewhere in the window cost nothing. The rest of the
        window is one last part, counted when the walk is over.
        """
        if w.pages is None or w.state != WALKING:
            return
        if not w.by_parts:
            w.by_parts = True
            w.fence = w.hi
        edges = w.edges
        while True:
            # Once every page is started, shorter chunks: less is left at the end.
            pages = CHUNK_PAGES if w.next_page <= w.pages else TAIL_CHUNK_PAGES
            if w.fence_page + pages >= w.pages:
                return
            first = w.fence_page + 1
            if any(number not in edges for number in range(first, first + pages)):
                return
            number = first + pages - 1
            while True:  # the first boundary past the chunk that leaves a gap
                if number + 1 not in edges or number + 1 >= w.pages:
                    return
                cut = edges[number][0] - EDGE - 1  # the page's oldest stamp is past the cut's ends
                if (
                    edges[number + 1][1] <= cut - EDGE
                    and w.lo + 2 * EDGE < cut
                    and cut + 1 + 2 * EDGE < w.fence
                    and not _stamped(self._sorted(w), cut)
                ):
                    break
                number += 1
            self._carve(w, cut, w.fence)
            w.fence, w.fence_page = cut + 1, number

    def _advance(self, w: _Window) -> None:
        """Move ``w`` on when its pending work is done; release ordered records."""
        if self.error is None:
            if w.state == WALKING and w.pages is not None:
                walked = w.next_page > w.pages or not self._may_grow(w)
                # Proven by parts, the rest is carved at once: its counts wait
                # for the looks inside them (see _startable). Otherwise the
                # window's count waits for every look.
                if (
                    walked
                    and not w.walk_jobs
                    and not any(j.kind == PAGE for j in w.queue)
                    and (w.eager or not (w.looking or any(map(_is_look, w.queue))))
                ):
                    w.state = VERIFYING
                    if not w.by_parts and not w.whole:  # the fast path: one count
                        w.queue.append(Job(w, COUNT, 1, self._body(w.lo, w.hi, 1)))
                    elif w.eager:  # the rest of the window is the last chunk
                        self._carve(w, w.lo, w.fence)
            if w.state == VERIFYING and not w.parts_open and not w.jobs and not w.queue:
                self._proven(w)  # (parts proven while the walk went on included)
        if self.ordered:
            self._release_ordered()
        self._forget()

    def _may_grow(self, w: _Window) -> bool:
        # Pages past what the rows seen justify are never started (see _may_start).
        return (w.next_page - 1) * self.size <= w.rows + self.concurrency * self.size

    def _proven(self, w: _Window) -> None:
        w.state = PROVEN
        self._open -= 1
        w.stamps = array("q")
        w.sorted_stamps = []
        w.heavy = {}
        w.edges, w.ends, w.rims, w.probed, w.probe_ids = {}, {}, {}, set(), []
        w.batch_reads = {}
        w.batch_seen = []
        # A neighbour still running may yet meet records this window handed
        # out, but only in the seconds they share: ask for those, to keep
        # only their ids (see _seam_answered).
        for n in self._dependants(w):
            lo, hi = (w.lo, w.lo + 1) if n.index < w.index else (w.hi - 1, w.hi)
            w.seams[n.index] = None
            w.queue.append(Job(w, SEAM, 1, self._body(lo, hi, self.size), neighbour=n.index))

    def _dependants(self, w: _Window) -> list[_Window]:
        """Neighbours of ``w`` that may still hand out records checked against its ids."""
        windows = self.windows
        if self.ordered:  # only the next window checks against this one (see _shared)
            after = windows[w.index + 1 : w.index + 2]
            return [n for n in after if not n.released]
        near = windows[max(0, w.index - 1) : w.index] + windows[w.index + 1 : w.index + 2]
        return [n for n in near if n.state != PROVEN]

    def _window_counted(self, w: _Window, job: Job, count: int) -> None:
        seen = job.seen_at_send
        if seen == count or w.parts_open:
            return  # proven once nothing else is pending (see _advance)
        if seen > count:
            self.error = PaginationError(
                f"window {w.label}: the service counts {count} records, but "
                f"{seen} different ones were collected from it; records were deleted "
                "or served outside the range asked for"
            )
            return
        self._locate(w, count, job.stamps_at_send)

    # -- locating missing records ---------------------------------------------

    def _locate(self, w: _Window, count: int, local: int) -> None:
        """Start proving ``w`` part by part.

        ``count`` is the window's latest count, ``local`` the stamps collected
        before it was asked (not those of the count's own row, read with it).
        """
        w.by_parts = True
        root = _Part(w.lo, w.hi, w.generation)
        w.parts_open += 1
        if w.trusted:
            self._settle(w, root, count, local=local)
        else:
            self._ask_count(w, root)

    def _distrust(self, w: _Window) -> None:
        """The service contradicts the stamps: prove the window again without them."""
        w.trusted = False
        w.eager = False
        if not w.by_parts:
            return  # not locating yet: it will start without them
        w.generation += 1
        w.parts_open = 0
        w.queue = deque(job for job in w.queue if job.part is None or job.kind == PROBE)
        if w.state == WALKING:
            # Drop the chunks, which rest on stamps: the walk ends with one
            # count of the whole window, which does not.
            w.by_parts = False
            return
        root = _Part(w.lo, w.hi, w.generation)
        w.parts_open += 1
        self._ask_count(w, root)

    def _sorted(self, w: _Window) -> list[int]:
        """The submit seconds collected in ``w``, sorted."""
        if w.stamps:
            w.sorted_stamps.extend(w.stamps)
            w.sorted_stamps.sort()  # (a sorted run and a short tail: about linear)
            w.stamps = array("q")
        return w.sorted_stamps

    def _heavy(self, w: _Window, records: list[R]) -> None:
        """Keep the ids of ``records`` at seconds that many of them share (a batch call)."""
        least = self._least
        by_second: dict[int, list[str]] = {}
        for record in records:
            if (t := record.submit_time) is not None:
                by_second.setdefault(epoch_seconds(t), []).append(record.voice_id)
        for second, ids in by_second.items():
            if len(ids) >= least or second in w.heavy:
                if second not in w.heavy:
                    w.batch_seen.append(second)
                w.heavy.setdefault(second, set()).update(ids)

    def _near_ends(self, w: _Window, part: _Part) -> bool:
        stamps = self._sorted(w)
        for lo, hi in ((part.lo, part.lo + EDGE), (part.hi - EDGE, part.hi)):
            i = bisect.bisect_left(stamps, lo)
            if i < len(stamps) and stamps[i] <= hi:
                return True
        return False

    def _local(self, w: _Window, part: _Part) -> int:
        return self._stamps_in(w, part.lo, part.hi)

    def _stamps_in(self, w: _Window, lo: int, hi: int) -> int:
        """How many records collected in ``w`` are stamped in ``[lo, hi]``."""
        stamps = self._sorted(w)
        return bisect.bisect_right(stamps, hi) - bisect.bisect_left(stamps, lo)

    def _spend(self, w: _Window, job: Job) -> None:
        budget = SLOW_BUDGET + SLOW_BUDGET_PER_PAGE * math.ceil(len(w.ids) / self.size)
        w.spent += 1
        if w.spent > budget:
            self.error = PaginationError(
                f"window {w.label}: the service counts more records than could be found "
                f"in {budget} requests ({len(w.ids)} found); the result set is changing "
                "faster than it can be walked, or its counts do not match its rows"
            )
            return
        w.queue.append(job)

    def _ask_count(self, w: _Window, part: _Part) -> None:
        self._spend(w, Job(w, COUNT, 1, self._body(part.lo, part.hi, 1), part, part.generation))

    def _ask_slice(self, w: _Window, part: _Part) -> None:
        body = self._body(part.lo, part.hi, self.size)
        self._spend(w, Job(w, SLICE, 1, body, part, part.generation))

    def _part_answered(self, w: _Window, job: Job, page: Page[R]) -> None:
        part = job.part
        if part is None:  # the window's own count
            self._window_counted(w, job, page.total)
            return
        if _is_look(job):  # an early read of a batch second (see _read_early)
            if job.span is not None and w.trusted:
                self._batch_answered(w, part, job, page)
            return
        if part.generation != w.generation or part.proven:
            return  # from before locating started over; its records were kept
        if job.kind == COUNT:
            if part.dense:
                self._dense_counted(w, part, page.total)
            else:
                self._settle(w, part, page.total, local=part.local_at_send)
        elif job.kind == SLICE:
            if len(page.records) < job.size:
                self._prove(w, part)  # every row the query matched
            else:
                self._settle(w, part, max(page.total, job.size + 1), local=None)
        elif job.kind == DENSE:
            part.dense_left -= 1
            if job.span is not None:
                self._batch_answered(w, part, job, page)
            else:
                part.round_total = max(part.round_total, page.total)
            if part.dense_left == 0 and part.dense and len(part.dense_ids or ()) < part.round_total:
                # The round's own reads count more records than they returned:
                # read again at once, not after a count that would say the same.
                self._dense_round(w, part, part.round_total)
            elif part.dense_left == 0 and (part.dense or self._spare() <= 1):
                self._ask_count(w, part)
            elif part.dense_left == 0:  # a chunk's batch seconds are read, the walk is over
                self._prove(w, part)  # replaced by its parts
                self._split(w, part.lo, part.hi, self._fine_cuts(w, part.lo, part.hi), 0)

    def _prove(self, w: _Window, part: _Part) -> None:
        part.proven = True
        w.parts_open -= 1

    def _settle(self, w: _Window, part: _Part, count: int, *, local: int | None) -> None:
        """Decide what proves ``part``, which holds ``count`` records by the service's count.

        ``local`` is how many records collected before that count was asked
        have their stamp in the part, or None when the count is not one read
        after them.
        """
        if w.trusted and local is not None and not part.edgy:
            if count == local:
                self._prove(w, part)
                return
            if count < local:
                self._distrust(w)
                return
        if count <= self.size * SLICE_FILL or count < self.size // 2:
            self._ask_slice(w, part)
            return
        cuts = self._cuts(w, part, count)
        if not cuts:
            dense_ids = self._make_dense(w, part)
            if len(dense_ids) >= count:
                self._ask_count(w, part)  # maybe every record is in already
            else:
                self._dense_round(w, part, count)
            return
        self._prove(w, part)  # replaced by its parts
        self._split(w, part.lo, part.hi, cuts, max(0, count - (local or 0)))

    def _split(self, w: _Window, lo: int, hi: int, cuts: list[int], missing: int) -> None:
        """Prove ``[lo, hi]`` as parts ``[lo, c1 + 1]``, ``[c1, c2 + 1]``, ... ``[ck, hi]``.

        ``missing`` records are expected besides those collected, anywhere.
        """
        bounds = [lo, *cuts, hi]
        for a, b in itertools.pairwise(bounds):
            # Parts overlap by two seconds: [a, cut + 1] and [cut, b].
            child = _Part(a, b if b == hi else b + 1, w.generation)
            w.parts_open += 1
            expected = self._local(w, child) + missing / len(bounds)
            if expected <= self.size * SLICE_FILL:
                self._ask_slice(w, child)
            elif w.trusted and child.hi - child.lo < MIN_CUT and self._batch_in(w, child):
                # A batch call: its rows slip between pages, so read it before
                # counting it, unless it was read again already (see _carve).
                found = self._make_dense(w, child)
                if any(child.lo < a and b < child.hi for a, b in w.batch_reads):
                    self._ask_count(w, child)
                else:
                    # (The walk's pages miss about a third of a batch call's rows.)
                    known = max(len(found), self._local(w, child))
                    self._dense_round(w, child, known + max(1, known // 3))
            else:
                self._ask_count(w, child)

    def _batch_in(self, w: _Window, part: _Part) -> bool:
        """Whether a batch call's second lies in ``part``, by the stamps collected."""
        return self._local(w, part) >= self._least

    def _make_dense(self, w: _Window, part: _Part) -> set[str]:
        """Mark ``part`` as read again until its count is reached; the ids that prove it."""
        part.dense = True
        # Only ids that queries of ranges inside the part returned count.
        part.dense_ids = set()
        for lo, hi, ids in w.probe_ids:
            if part.lo < lo and hi < part.hi:
                part.dense_ids |= ids
        if w.trusted:
            # And records stamped well inside it, as a count proof trusts them.
            for second, ids in w.heavy.items():
                if part.lo + EDGE < second < part.hi - EDGE:
                    part.dense_ids |= ids
        return part.dense_ids

    def _heavy_seconds(self, inside: list[int]) -> list[int]:
        """The seconds among the sorted stamps ``inside`` that hold a batch call's records."""
        least = self._least
        return [sec for sec, run in itertools.groupby(inside) if sum(1 for _ in run) >= least]

    def _read_early(self, w: _Window) -> None:
        """Read the batch-call seconds the walk has met again, before their chunk is carved.

        The chunk's count then waits for these reads only where they are
        still out (:meth:`_startable`), not for a round of them started
        once the chunk is whole: it is read sooner after the chunk's rows,
        and fewer calls arrive in between to be located.
        """
        seen, w.batch_seen = w.batch_seen, []
        for second in seen:
            if len(w.heavy.get(second, ())) < self._least or self._reread(w, second):
                continue
            a, b = max(w.lo, second - EDGE), min(w.hi, second + EDGE)
            self._read_batch(w, _Part(a, b, -1), self._batch_reads(w, a, b), a, b, BATCH_READS)

    def _carve(self, w: _Window, lo: int, hi: int) -> None:
        """Prove ``[lo, hi]``, a chunk of the walk.

        While the walk goes on, requests are dear: each batch call's second
        in the chunk is read again first (its rows slip between pages, see
        :func:`_reads`), then one count read after those answers usually
        proves the whole chunk. Once the walk is over, request slots are
        free: the chunk is cut at once into parts counted side by side, each
        batch second apart, which saves rounds when something is missing.
        """
        stamps = self._sorted(w)
        inside = stamps[bisect.bisect_left(stamps, lo) : bisect.bisect_right(stamps, hi)]
        heavy = [s for s in self._heavy_seconds(inside) if not self._reread(w, s)]
        if not heavy or self._spare() > 1:
            self._split(w, lo, hi, self._fine_cuts(w, lo, hi), 0)
            return
        part = _Part(lo, hi, w.generation)
        w.parts_open += 1
        for second in heavy:
            a, b = max(lo, second - EDGE), min(hi, second + EDGE)
            self._read_batch(w, part, self._batch_reads(w, a, b), a, b, BATCH_READS)

    def _batch_reads(self, w: _Window, a: int, b: int) -> _BatchReads:
        """Start keeping the reads of the batch call's range ``[a, b]``."""
        reads = w.batch_reads[a, b] = _BatchReads(
            plan_pages(self._stamps_in(w, a, b) + 1, self.size)
        )
        return reads

    def _read_batch(
        self, w: _Window, part: _Part, reads: _BatchReads, a: int, b: int, n: int
    ) -> None:
        """Read the batch call's range ``[a, b]`` ``n`` more times, for ``part``'s count."""
        body = self._body(a, b, self.size)
        # Full pages only: each holds a fresh share of rows whose order changes per request.
        full = max(1, reads.pages - 1)
        for _ in range(n):
            number = 1 + reads.sent % full
            reads.sent += 1
            part.dense_left += 1
            self._spend(w, Job(w, DENSE, number, body, part, part.generation, span=(a, b)))

    def _batch_answered(self, w: _Window, part: _Part, job: Job, page: Page[R]) -> None:
        """A read of a chunk's batch second answered: once its round is in, read more if short.

        The reads' counts say how many records the range holds (a guide only:
        the chunk's count proves it). While pages of the walk are left,
        request slots are dear: one read at a time, stopping as soon as none
        is missing. Once they are free, reads are added at once until the
        records still missing would all have been read with a chance of about 90 %.
        """
        assert job.span is not None
        reads = w.batch_reads.get(job.span)
        if reads is None:
            return
        reads.answered += 1
        reads.total = max(reads.total, page.total)
        if reads.answered < reads.sent or reads.sent >= MAX_BATCH_READS:
            return
        a, b = job.span
        missing = reads.total - self._stamps_in(w, a, b)
        if missing <= 0:
            return
        more = 1 if self._spare() <= 1 else _reads_needed(missing, job.size / reads.total)
        self._read_batch(w, part, reads, a, b, min(more, MAX_BATCH_READS - reads.sent))

    def _fine_cuts(self, w: _Window, lo: int, hi: int) -> list[int]:
        """Where to cut ``[lo, hi]`` before its first count: finely if request slots are free.

        Once the walk is over, counting many small parts side by side costs
        no time, and locates a missing record a round or two sooner.
        """
        if self._spare() <= 1:
            return []
        part = _Part(lo, hi, w.generation)
        return self._cuts(w, part, self._local(w, part) + 1)

    def _reread(self, w: _Window, second: int) -> bool:
        """Whether the batch call's ``second`` was read again (by probes or for a chunk)."""
        return any(a <= second <= b for a, b in w.batch_reads)

    def _usable(self, stamps: list[int], lo: int, hi: int, cut: int) -> bool:
        """Whether ``[lo, hi]`` may be cut at ``cut``: no stamp near the parts' ends."""
        return lo + EDGE < cut and cut + 1 + EDGE < hi and not _stamped(stamps, cut)

    def _spare(self) -> int:
        """Request slots free for locating: none while any window has pages to walk."""
        if any(w.state == WALKING for w in self.windows):
            return 0
        queued = sum(len(w.queue) for w in self.windows)
        return max(0, self.concurrency - self.requesting - queued)

    def _cuts(self, w: _Window, part: _Part, count: int) -> list[int]:
        """Where to cut ``part``: seconds ``c`` with no stamp at ``c`` or ``c + 1``.

        Candidates lie on both sides of every gap between the stamps collected
        (so that a dense second ends up in a part of its own) and, where stamps
        are few, at even steps of time; the cuts chosen share the stamps out
        about evenly.
        """
        lo, hi = part.lo, part.hi
        if hi - lo < MIN_CUT:
            return []
        # Few enough records to fetch every part as one page: cut that fine
        # (one round). Otherwise cut in about two parts per missing record, so
        # that most parts hold none and are proven by their count alone.
        stamps = self._sorted(w)
        inside = stamps[bisect.bisect_left(stamps, lo) : bisect.bisect_right(stamps, hi)]
        # A second holding many records (a batch call) gets a part of its own,
        # read until its count is reached, so that its neighbours stay cheap.
        heavy = self._heavy_seconds(inside)
        slices = math.ceil(count / (self.size * SLICE_FILL))
        missing = max(1, count - len(inside))
        wanted = slices if slices <= 8 else min(MAX_PARTS, slices, max(4, 2 * missing))
        if heavy:
            # Rows of a batch call slip between pages: what is missing is most
            # likely there, so cut coarsely around it first.
            wanted = min(wanted, 4)
        # Request slots that no walk will take are free: cut finer, saving rounds.
        wanted = max(wanted, min(self._spare(), slices))
        candidates: set[int] = set()
        edges = [lo - 2, *sorted(set(inside)), hi + 2]
        for a, b in itertools.pairwise(edges):
            if b - a >= 5:
                candidates.update((a + 2, b - 3))
        if len(inside) < wanted:
            step = (hi - lo) / wanted
            candidates.update(lo + int(i * step) for i in range(1, wanted))
        for second in heavy:
            candidates.update((second - 3, second + 2))
        usable = sorted(c for c in candidates if self._usable(stamps, lo, hi, c))
        if not usable:
            return []
        allowed = set(usable)
        # How many stamps lie below each candidate (or, with none, its rank):
        # both grow with the candidate, so the nearest to a share is bisected.
        positions = [bisect.bisect_right(inside, c) for c in usable] if inside else None
        key = positions or list(range(len(usable)))
        total = len(inside) if inside else len(usable)
        chosen: set[int] = set()
        for k in range(1, wanted):
            target = k * total / wanted
            j = bisect.bisect_left(key, target)
            near = [i for i in (j - 1, j) if 0 <= i < len(usable)]
            chosen.add(usable[min(near, key=lambda i: abs(key[i] - target))])
        for second in heavy:
            chosen.update(c for c in (second - 3, second + 2) if c in allowed)
        return _spaced(sorted(chosen))

    def _dense_round(self, w: _Window, part: _Part, count: int) -> None:
        """Read a part too dense to cut (:func:`_reads`), then count it again.

        ``count`` is its count, or a guess. Enough reads are made that, if
        rows sharing a second come back in a fresh order on every request,
        the records still missing would be read with a chance of about 90 %.
        """
        part.dense_rounds += 1
        part.round_total = 0
        if part.dense_rounds > MAX_DENSE_ROUNDS:
            span = f"{self._time(part.lo).isoformat()}..{self._time(part.hi).isoformat()}"
            self.error = PaginationError(
                f"window {w.label}: the {count} records of {span} could not all be read "
                f"in {MAX_DENSE_ROUNDS} rounds ({len(part.dense_ids or ())} found)"
            )
            return
        body = self._body(part.lo, part.hi, self.size)
        pages = plan_pages(count, self.size)
        missing = max(1, count - len(part.dense_ids or ()))
        for number in _enough_reads(pages, count, self.size, missing):
            if self.error is not None:
                return
            part.dense_left += 1
            self._spend(w, Job(w, DENSE, number, body, part, part.generation))

    def _dense_counted(self, w: _Window, part: _Part, count: int) -> None:
        """A dense part's count, after a round of reads: proven, or another round.

        It is compared with the ids that queries of ranges inside the part
        returned (its own reads, and probes of its seconds during the walk):
        the service placed those in the part, whatever the stamps say.
        """
        found = part.local_at_send
        if found == count:
            self._prove(w, part)
        elif found < count:
            self._dense_round(w, part, count)
        else:
            self.error = PaginationError(
                f"window {w.label}: a part counts {count} records but its own queries "
                f"returned {found} different ones; records were deleted"
            )

    # -- seams, forgetting, order ------------------------------------------------

    def _seam_answered(self, w: _Window, job: Job, page: Page[R]) -> None:
        """Keep only the ids ``w`` shares with running neighbours, once every seam answered.

        The seam query was sent after ``w``'s last record was collected, and
        records are not deleted, so it holds every record of ``w`` that a
        neighbour can also return. A seam too dense for one page keeps them all.
        """
        if len(page.records) >= job.size:
            return
        w.seams[job.neighbour] = set(map(_VOICE_ID, page.records))
        if all(s is not None for s in w.seams.values()) and not w.forgotten:
            keep: set[str] = set()
            for s in w.seams.values():
                keep |= s or set()
            w.ids &= keep
            w.forgotten = True

    def _forget(self) -> None:
        """Drop the ids of proven windows that no neighbour checks against any more."""
        for w in self.windows:
            if w.state == PROVEN and w.ids and not w.jobs and not self._dependants(w):
                w.ids = set()
                w.forgotten = True

    def _release_ordered(self) -> None:
        """Hand out held records in window and page order."""
        for w in self.windows:
            if w.released:
                continue
            while w.frontier in w.held:
                number = w.frontier
                records = w.held.pop(number)
                self._release(w, w.meta.pop(number), records, walk=True)
                w.frontier += 1
            if w.state == PROVEN:
                while w.tail:
                    page = w.tail.popleft()
                    self._release(w, page, page.records)
                if not w.held:
                    w.released = True
                    self._released += 1
                    continue
            return


def _is_look(job: Job) -> bool:
    """Whether ``job`` only collects, as no part of a proof: a probe or an early batch read."""
    return job.part is not None and job.part.generation < 0


def _reads(pages: int, reads: int) -> list[int]:
    """Which pages to read, ``reads`` times in all, to collect every row of a dense second.

    Each page once first (so a service with a fixed order of ties is read
    whole); then full pages again: each holds a fresh share of rows whose
    order changes per request, the last page a smaller one. A second that
    fits one page is read once: a page with room to spare holds every row.
    """
    if pages <= 1:
        return [1]
    numbers = list(range(1, pages + 1))
    extra = itertools.cycle(range(1, pages))
    while len(numbers) < reads:
        numbers.append(next(extra))
    return numbers


def _reads_needed(missing: int, share: float) -> int:
    """Reads, each returning a fresh ``share`` of a range's rows, that find ``missing`` of them.

    Enough that fewer than 0.1 of the missing records would be left unread.
    """
    if share >= 1:
        return 1
    return max(1, math.ceil(math.log(0.1 / missing) / math.log(1 - share)))


def _enough_reads(pages: int, count: int, size: int, missing: int) -> list[int]:
    """:func:`_reads` of a dense part of ``count`` records: enough to find ``missing`` of them.

    A read of a page of ``n`` rows, drawn afresh from the part's ``count``,
    misses a given record with a chance of ``1 - n / count``; reads are added
    until fewer than 0.1 of the ``missing`` records would be left unread, at
    most DENSE_READS times the pages plus 3.
    """
    numbers: list[int] = []
    left = float(missing)
    for number in _reads(pages, DENSE_READS * pages + 3):
        numbers.append(number)
        rows = size if number < pages else count - (pages - 1) * size
        left *= max(0.0, 1 - rows / count)
        if len(numbers) >= pages and left < 0.1:
            break
    return numbers


def _rim(records: Iterable[CallRecord]) -> frozenset[str]:
    """The ids of the first of ``records`` and of those that follow it in the same second."""
    ids: list[str] = []
    second: int | None = None
    for record in records:
        t = record.submit_time
        stamp = None if t is None else epoch_seconds(t)
        if ids and stamp != second:
            break
        second = stamp
        ids.append(record.voice_id)
    return frozenset(ids)


def _spaced(cuts: list[int]) -> list[int]:
    """The sorted ``cuts`` without any next to the one before (no part shorter than 2 s)."""
    kept: list[int] = []
    for c in cuts:
        if not kept or c > kept[-1] + 1:
            kept.append(c)
    return kept


def _stamped(stamps: list[int], cut: int) -> bool:
    """Whether a stamp lies near a cut at ``cut``: in the parts' ends ``[cut - 1, cut + 2]``."""
    i = bisect.bisect_left(stamps, cut + 1 - EDGE)
    return i < len(stamps) and stamps[i] <= cut + EDGE


def _page(page: Page[R], records: list[R] | tuple[R, ...]) -> Page[R]:
    if len(records) == len(page.records):
        return page
    return Page(tuple(records), page.total, page.pages, page.current, page.size)
