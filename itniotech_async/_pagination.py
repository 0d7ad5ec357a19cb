"""Record streams: the concurrent driver of a walk, and RecordStream/PageStream.

Design notes: docs/design.md, "Streams".
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._background import Background, BackgroundReader
from ._errors import ItnioError, ResponseValidationError
from ._iterator import OpenOnce, StreamIterator
from ._models import CallRecord, Page
from ._planner import Job, Planner
from ._times import whole_second_span, window_spans

__all__ = ["PageSource", "PageStream", "RecordStream", "StreamQuery"]

R = TypeVar("R", bound=CallRecord)
T = TypeVar("T")


@attrs.frozen
class StreamQuery:
    """What a stream walks: ``[start, end]`` with these filters, and how."""

    start: datetime
    end: datetime
    filters: Mapping[str, str]
    page_size: int
    concurrency: int
    limit: int | None
    ordered: bool


@attrs.frozen
class PageSource(Generic[R]):
    """What a stream needs from its client, handed in so that this module imports neither.

    ``fetch(body)`` sends one page query (an encoded JSON body) and returns
    the answer's ``data``; ``parse(data)`` structures it into a :class:`Page`,
    raising :class:`ResponseValidationError` when it does not fit; ``spawn``
    runs a producer in the background, stopped when the client closes;
    ``closed()`` tells whether the client is closed.
    """

    fetch: Callable[[bytes], Awaitable[Any]]
    parse: Callable[[Any], Page[R]]
    spawn: Callable[[Callable[[], Awaitable[None]]], Background]
    closed: Callable[[], bool]


def _planner(query: StreamQuery) -> Planner[Any]:
    return Planner(
        whole_second_span(query.start, query.end),
        query.start.tzinfo,
        query.filters,
        size=query.page_size,
        concurrency=query.concurrency,
        limit=query.limit,
        ordered=query.ordered,
    )


class _Handoff:
    """How an idle child task of the producer is handed its next job."""

    __slots__ = ("event", "job")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.job: Job | None = None

    def give(self, job: Job) -> None:
        self.job = job
        self.event.set()


class _Driver(Generic[R]):
    """Sends a planner's requests and feeds its records to the consumer."""

    def __init__(self, planner: Planner[R], source: PageSource[R]) -> None:
        self.planner = planner
        self._source = source
        self.pages_done = 0
        # Records handed to the consumer: those of the pages before the
        # current one, and how far the current page's iterator has gone.
        self._taken = 0
        self._current: Iterator[R] = iter(())
        self._current_size = 0
        self.wake: anyio.Event | None = None  # made inside the event loop
        self._idle: list[_Handoff] = []  # child tasks waiting for a job

    @property
    def records_done(self) -> int:
        return self._taken + self._current_size - operator.length_hint(self._current)

    def take(self, records: tuple[R, ...], *, whole: bool = False) -> Iterator[R]:
        """The records of the consumer's next page, as an iterator that counts for records_done.

        ``whole``: the page is handed out at once (a page stream), all of it counted now.
        """
        self._taken += self._current_size
        if whole:
            self._taken += len(records)
            records = ()
        self._current_size = len(records)
        self._current = iter(records)
        return self._current

    async def _fetch(self, job: Job, tg: TaskGroup) -> None:
        planner = self.planner
        try:
            try:
                data = await self._source.fetch(job.content())
            finally:
                planner.request_done(job)
            # Refill the request slot before the CPU work of structuring the
            # page, and let the new request go out while this one is parsed.
            # Two turns of the loop, not one: when answers arrive together
            # (a steady latency), the first turn runs the tasks just handed
            # jobs alongside the other answers' parsing, and a walk at a
            # steady 100 ms was measured 3-4 % slower that way (CHANGELOG).
            self._start_jobs(tg)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            try:
                page = self._source.parse(data)
            except ResponseValidationError as exc:
                planner.invalid(job, str(exc), exc)
            else:
                planner.answered(job, page)
        except Exception as exc:
            planner.failed(job, exc)
        finally:
            if self.wake is not None:
                self.wake.set()

    async def _work(self, job: Job, tg: TaskGroup) -> None:
        """Fetch ``job``, then whatever job comes next; idle until handed one.

        Child tasks are reused because starting one costs several times what
        waking an idle one does, and a walk starts one job per page.
        """
        while True:
            await self._fetch(job, tg)
            following = self.planner.next_job()
            while following is None:
                handoff = _Handoff()
                self._idle.append(handoff)
                await handoff.event.wait()
                following = handoff.job
            job = following

    def _start_jobs(self, tg: TaskGroup) -> None:
        while (job := self.planner.next_job()) is not None:
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
        planner = self.planner
        ready = planner.ready
        self.wake = anyio.Event()
        with send:
            async with anyio.create_task_group() as tg:
                try:
                    while True:
                        self._start_jobs(tg)
                        while ready:
                            await send.send(ready.popleft())
                            self._start_jobs(tg)
                        if planner.finished:
                            break
                        await self._wait()
                except anyio.BrokenResourceError:
                    pass  # the consumer has gone: stop
                except Exception as exc:  # pragma: no cover - a bug; still reach the user
                    planner.error = exc
                finally:
                    tg.cancel_scope.cancel()


class _Iterator(BackgroundReader[Page[R]], Generic[R, T]):
    """The consumer's side of a walk; not an async generator (docs/design.md, "Streams")."""

    _stopped_early = "the stream stopped before its end"

    def __init__(
        self,
        driver: _Driver[R],
        flatten: bool,
        receive: MemoryObjectReceiveStream[Page[R]],
        producer: Background,
    ) -> None:
        super().__init__(receive, producer)
        self._driver = driver
        self._flatten = flatten
        self._records: Iterator[R] = iter(())

    def __aiter__(self) -> _Iterator[R, T]:
        return self

    async def __anext__(self) -> T:
        if self._flatten:
            # The hot path of every stream: one step of a tuple iterator.
            for record in self._records:
                return record  # type: ignore[return-value]
            while True:
                page = await self._next_page()
                self._records = self._driver.take(page.records)
                for record in self._records:
                    return record  # type: ignore[return-value]
        page = await self._next_page()
        self._driver.take(page.records, whole=True)
        return page  # type: ignore[return-value]

    async def _next_page(self) -> Page[R]:
        page = await self._next()
        self._driver.pages_done += 1
        return page

    def _ended(self) -> tuple[BaseException | None, bool]:
        planner = self._driver.planner
        return planner.error, planner.finished


class _Stream(OpenOnce[StreamIterator[T]], Generic[R, T]):
    _flatten: bool

    def __init__(self, source: PageSource[R], query: StreamQuery) -> None:
        self._source = source
        self._query = query
        self._driver: _Driver[R] | None = None
        # Only the ``async with`` form keeps its iterator: plain ``async for``
        # must be able to drop it (see _Iterator.__del__).

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
        return self._driver.planner.total if self._driver is not None else None

    @property
    def records_done(self) -> int:
        """Records handed to the consumer so far."""
        return self._driver.records_done if self._driver is not None else 0

    @property
    def pages_done(self) -> int:
        """Pages handed to the consumer so far."""
        return self._driver.pages_done if self._driver is not None else 0

    @property
    def pages_fetched(self) -> int:
        """Answers received so far: pages, refetches and the checks that prove completeness."""
        return self._driver.planner.answers if self._driver is not None else 0

    @property
    def windows(self) -> int:
        """How many windows of at most 31 days the range was split into."""
        span = whole_second_span(self._query.start, self._query.end)
        return len(window_spans(*span)) if span is not None else 0

    # -- iteration -----------------------------------------------------------

    def _start(self) -> _Iterator[R, T]:
        if self._source.closed():
            raise ItnioError("this client is closed")
        driver = self._driver = _Driver(_planner(self._query), self._source)
        send, receive = anyio.create_memory_object_stream[Page[R]](self._query.concurrency)
        try:
            producer = self._source.spawn(partial(driver.produce, send))
        except BaseException:
            send.close()
            receive.close()
            raise
        return _Iterator[R, T](driver, self._flatten, receive, producer)


class RecordStream(_Stream[R, R]):
    """Every record in a range, fetched concurrently, each exactly once.

    Use it directly or as a context manager (the README's "How it runs" says
    how each form runs)::

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
        """The same walk, yielding each answer's new records as a :class:`Page`."""
        return PageStream(self._source, self._query)


class PageStream(_Stream[R, Page[R]]):
    """Like :class:`RecordStream`, but yields :class:`Page` objects."""

    _flatten = False
