"""The :class:`Archive`: incremental, crash-safe syncs of call records into a database.

A sync of one *scope* (a kind and its filters) reads what the archive
already holds for that scope, then walks from there to now in chunks of
6 hours (:data:`DEFAULT_CHUNK`), four at a time (:data:`DEFAULT_PARALLEL`),
each with its own record stream. A chunk's rows are written in batches; its
last batch and the chunk's time range are written in one transaction, and
ranges are recorded in order, so the archive's progress is never ahead of
its rows. A crash at any moment therefore loses nothing: the next run
redoes at most the chunks that were in flight (one day by default) plus the
look-back.

Each run re-reads a look-back before the end of the last complete range
(:data:`DEFAULT_LOOKBACK`), because the service writes a call when it ends,
stamped with the time it was submitted: a record can appear in a range that
was already read. Upserts keyed by kind and voice id make re-reading harmless.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import anyio
import attrs

from .._client import ItnioClient
from .._errors import InvalidArgumentError, TimeRangeError
from .._models import CallRecord
from .._pagination import PageStream
from ._columns import KINDS, Kind, Scope
from ._report import Report, build_report
from ._store import Range, SQLiteStore, Store

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_HISTORY",
    "DEFAULT_LOOKBACK",
    "DEFAULT_PARALLEL",
    "Archive",
    "SyncProgress",
    "SyncReport",
    "open_store",
]

logger = logging.getLogger("itniotech_async.archive")

#: How far before the end of the last complete range each run re-reads.
DEFAULT_LOOKBACK = timedelta(hours=6)
#: How far back the service is assumed to still keep records ("about two months").
DEFAULT_HISTORY = timedelta(days=59)
#: The span of one chunk, the unit of progress.
DEFAULT_CHUNK = timedelta(hours=6)
#: Chunks fetched at once. A crash redoes at most this many chunks (one day by default).
DEFAULT_PARALLEL = 4
#: A run warns when the next one must come sooner than this to avoid a gap.
WARN_AHEAD = timedelta(days=3)
#: Rows written per transaction within a chunk, to bound memory on busy days.
FLUSH_RECORDS = 5_000
_FUTURE_SLACK = timedelta(minutes=5)
_MAX_HISTORY = timedelta(days=62)
_MAX_CHUNK = timedelta(days=31)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

T = TypeVar("T")


def _group_types() -> tuple[type[BaseException], ...]:
    # The built-in class from Python 3.11; before it, anyio raises the backport's.
    found = [getattr(builtins, "BaseExceptionGroup", None)]
    with contextlib.suppress(ImportError):
        found.append(importlib.import_module("exceptiongroup").BaseExceptionGroup)
    return tuple({kind for kind in found if isinstance(kind, type)})


_GROUPS = _group_types()


def open_store(url: str, schema: str = "public") -> Callable[[], Store]:
    """Check ``url`` and return a function that connects to it (blocking).

    ``postgresql://`` and ``postgres://`` URLs are PostgreSQL; ``sqlite:///path``,
    ``sqlite:path`` or a plain file path are SQLite. Anything else is refused.
    """
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError(f"an archive URL or path is needed, got {url!r}")
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        from ._postgres import PostgresStore

        return partial(PostgresStore, url, schema)
    if schema != "public":
        raise InvalidArgumentError("schema= applies to PostgreSQL archives only")
    if sep and scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise InvalidArgumentError(f"no file in the SQLite URL {url!r}")
        return partial(SQLiteStore, path)
    if sep or url.startswith(("postgresql:", "postgres:")):
        raise InvalidArgumentError(
            f"unknown archive scheme {scheme!r} in {url!r}: use a file path, sqlite:///PATH "
            "or postgresql://..."
        )
    if url.startswith("sqlite:"):
        url = url[len("sqlite:") :]
    if url == ":memory:":
        raise InvalidArgumentError("an archive in memory would be lost on exit: give a file")
    return partial(SQLiteStore, url)


@attrs.frozen(kw_only=True)
class SyncProgress:
    """Where a running sync is, for a progress display."""

    scope: Scope
    chunk: int
    chunks: int
    chunk_start: datetime
    records: int


@attrs.frozen(kw_only=True)
class SyncReport:
    """What one sync of one scope did.

    ``synced`` is the range now known complete by this run (``None`` when
    nothing was synced); ``lost`` the ranges found past the service's
    history, lost for good; ``busy`` is true when another worker held the
    scope and this run fetched nothing. ``requests`` counts page requests.
    ``next_run_by`` is when the next run must start, at the latest, to
    leave no gap.
    """

    scope: Scope
    synced: Range | None = None
    inserted: int = 0
    updated: int = 0
    records: int = 0
    requests: int = 0
    chunks: int = 0
    lost: tuple[Range, ...] = ()
    busy: bool = False
    next_run_by: datetime | None = None
    checked_at: datetime | None = None

    @property
    def warn_next_run(self) -> bool:
        """Whether the next run must come within a few days (of ``checked_at``) to avoid a gap."""
        if self.next_run_by is None or self.checked_at is None:
            return False
        return self.next_run_by - self.checked_at < WARN_AHEAD

    def __str__(self) -> str:
        if self.busy:
            return f"{self.scope}: skipped, another worker is syncing it"
        lines = []
        if self.synced is None:
            lines.append(f"{self.scope}: nothing to sync")
        else:
            start, end = self.synced
            lines.append(
                f"{self.scope}: synced {_iso(start)} .. {_iso(end)}: {self.records:,} records "
                f"read, {self.inserted:,} new, {self.updated:,} updated "
                f"({self.chunks} chunks, {self.requests:,} requests)"
            )
        for start, end in self.lost:
            lines.append(
                f"{self.scope}: LOST FOR GOOD: records of {_iso(start)} .. {_iso(end)}, older "
                "than the service keeps, were never archived"
            )
        if self.warn_next_run and self.next_run_by is not None:
            lines.append(
                f"{self.scope}: warning: run again before {_iso(self.next_run_by)} "
                "or records will be lost"
            )
        return "\n".join(lines)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidArgumentError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(timezone.utc)


def _span(name: str, value: object, low: timedelta, high: timedelta) -> timedelta:
    if not isinstance(value, timedelta) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be a timedelta in [{low}, {high}], got {value!r}")
    return value


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, _GROUPS):
        inner: tuple[BaseException, ...] = getattr(error, "exceptions", ())
        return [leaf for exc in inner for leaf in _leaves(exc)]
    return [error]


@contextlib.contextmanager
def _first_error() -> Iterator[None]:
    """Raise the first real error of a task group rather than the group.

    Chunks that fail together fail for one cause (the service or the network
    went away); the user gets that :class:`~itniotech_async.ItnioError`, not
    an ``ExceptionGroup``. A group holding anything but plain exceptions
    (Ctrl-C, say) is left as it is.
    """
    try:
        yield
    except _GROUPS as group:
        leaves = _leaves(group)
        if not leaves or not all(isinstance(leaf, Exception) for leaf in leaves):
            raise
        first = leaves[0]
        try:
            raise first from first.__cause__
        finally:
            del first, leaves


def chunks(start: datetime, end: datetime, size: timedelta) -> Iterator[Range]:
    """``[start, end]`` cut at multiples of ``size`` since the Unix epoch (UTC midnights)."""
    step = size.total_seconds()
    cursor = start
    while cursor < end:
        index = math.floor((cursor - _EPOCH).total_seconds() / step) + 1
        boundary = min(_EPOCH + timedelta(seconds=index * step), end)
        yield cursor, boundary
        cursor = boundary


class Archive:
    """An archive of call records in SQLite or PostgreSQL, kept up to date by :meth:`sync`.

    Open one with :meth:`open` and use it as an async context manager::

        async with ItnioClient() as client, Archive.open("calls.db") as archive:
            report = await archive.sync(client, "sip")
            print(report)

    Every database call runs in a worker thread, one at a time, so the event
    loop never blocks; this works the same on asyncio and trio.
    """

    def __init__(self, connect: Callable[[], Store]) -> None:
        self._connect = connect
        self._store: Store | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._syncing: set[str] = set()

    @classmethod
    def open(cls, url: str, *, schema: str = "public") -> Archive:
        """An archive at ``url``, connected when its ``async with`` block starts.

        ``url`` is a file path or ``sqlite:///PATH`` (SQLite, created if
        missing), or ``postgresql://user@host/db`` (needs the ``postgres``
        extra); ``schema`` picks the PostgreSQL schema. A bad URL raises
        :class:`~itniotech_async.InvalidArgumentError` here; a database that
        cannot be reached or written raises
        :class:`~itniotech_async.archive.ArchiveError` on entering the block.
        """
        return cls(open_store(url, schema))

    async def __aenter__(self) -> Archive:
        self._limiter = anyio.CapacityLimiter(1)
        self._store = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the database connection."""
        store, self._store = self._store, None
        if store is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.close, limiter=self._limiter)

    @property
    def location(self) -> str:
        """Where the archive lives (PostgreSQL passwords hidden)."""
        return self._require().location

    def _require(self) -> Store:
        if self._store is None:
            raise InvalidArgumentError(
                "this archive is not open: use 'async with Archive.open(...)'"
            )
        return self._store

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self._require()
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)

    # -- syncing -------------------------------------------------------------

    async def sync(
        self,
        client: ItnioClient,
        kind: str,
        *,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
        start: datetime | None = None,
        until: datetime | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        history: timedelta = DEFAULT_HISTORY,
        chunk: timedelta = DEFAULT_CHUNK,
        concurrency: int | None = None,
        parallel: int = DEFAULT_PARALLEL,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> SyncReport:
        """Bring the archive of ``kind`` (``"sip"`` or ``"group"``) up to ``until`` (now).

        The first sync of a scope starts at ``start`` (default: as far back
        as the service keeps, ``history``); later ones start ``lookback``
        before the end of what is archived. A range the service no longer
        keeps is reported in :attr:`SyncReport.lost` (and logged as an
        error), recorded in the archive, and the rest is synced. Arguments
        are checked before anything is fetched.

        ``chunk`` is the unit of progress and ``parallel`` how many chunks
        are fetched at once (at most ``chunk * parallel`` is redone after a
        crash); ``concurrency`` caps each chunk's page requests (default: the
        client's). ``progress`` is called with a :class:`SyncProgress` as
        chunks start. If another worker (or task) is syncing the same scope,
        nothing is fetched and the report says ``busy``.
        """
        store = self._require()
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be 'sip' or 'group', got {kind!r}")
        for name, value in (("sip_group_name", sip_group_name), ("phone_name", phone_name)):
            if value is not None and not isinstance(value, str):
                raise InvalidArgumentError(f"{name} must be a str or None, got {value!r}")
        if kind == "group" and (sip_group_name or phone_name):
            raise InvalidArgumentError("sip_group_name and phone_name apply to sip records only")
        scope = Scope(kind, sip_group_name or "", phone_name or "")
        now = datetime.now(timezone.utc)
        until = now if until is None else _aware("until", until)
        if until > now + _FUTURE_SLACK:
            raise InvalidArgumentError(f"until ({_iso(until)}) is in the future")
        until = until.replace(microsecond=0)
        if start is not None:
            start = _aware("start", start)
            if start >= until:
                raise InvalidArgumentError(f"start ({_iso(start)}) is not before {_iso(until)}")
        lookback = _span("lookback", lookback, timedelta(0), _MAX_HISTORY)
        history = _span("history", history, timedelta(days=1), _MAX_HISTORY)
        chunk = _span("chunk", chunk, timedelta(minutes=1), _MAX_CHUNK)
        if not isinstance(parallel, int) or isinstance(parallel, bool) or parallel < 1:
            raise InvalidArgumentError(f"parallel must be an integer >= 1, got {parallel!r}")

        # The database lock is per connection; two tasks sharing this archive
        # are told apart here, before the first await.
        if scope.key in self._syncing:
            logger.info("%s: another task is syncing it; skipped", scope)
            return SyncReport(scope=scope, busy=True, checked_at=now)
        self._syncing.add(scope.key)
        locked = False
        try:
            locked = await self._call(store.try_lock, scope)
        finally:
            if not locked:
                self._syncing.discard(scope.key)
        if not locked:
            logger.info("%s: another worker is syncing it; skipped", scope)
            return SyncReport(scope=scope, busy=True, checked_at=now)
        try:
            return await self._sync(
                client,
                store,
                scope,
                start,
                until,
                lookback,
                history,
                chunk,
                concurrency,
                parallel,
                progress,
                now,
            )
        finally:
            self._syncing.discard(scope.key)
            with anyio.CancelScope(shield=True):
                await self._call(store.unlock, scope)

    async def _sync(
        self,
        client: ItnioClient,
        store: Store,
        scope: Scope,
        start: datetime | None,
        until: datetime,
        lookback: timedelta,
        history: timedelta,
        chunk: timedelta,
        concurrency: int | None,
        parallel: int,
        progress: Callable[[SyncProgress], None] | None,
        now: datetime,
    ) -> SyncReport:
        ranges = await self._call(store.ranges, scope)
        floor = until - history
        lost: Range | None = None
        if ranges:
            last_end = max(end for _, end in ranges)
            begin = min(last_end - lookback, until)
            if last_end < floor:
                lost = (last_end, floor)
            begin = max(begin, floor)
        else:
            begin = start if start is not None else floor
            if begin < floor:
                lost = (begin, floor)
                begin = floor
        if lost is not None:
            logger.error(
                "%s: records of %s .. %s are older than the service keeps and are lost for good",
                scope,
                _iso(lost[0]),
                _iso(lost[1]),
            )
            await self._call(store.write, scope, (), None, lost)

        plan = list(chunks(begin, until, chunk))
        archived_end = max((end for _, end in ranges), default=None)
        run = _ChunkRun(self, client, store, scope, plan, concurrency, progress, archived_end)
        with _first_error():
            # The oldest chunks go first, one at a time: if the service keeps less
            # than ``history``, it refuses them (-25) and they are recorded as lost.
            await run.leading()
            async with anyio.create_task_group() as tg:
                for number in range(min(parallel, len(plan) - run.next_chunk)):
                    tg.start_soon(run.worker, number)
        inserted, updated, records, requests = run.inserted, run.updated, run.records, run.requests
        lost_ranges = ([lost] if lost is not None else []) + run.lost

        first = run.first_synced
        synced = (plan[first][0], plan[-1][1]) if first is not None else None
        archived_until = max([end for _, end in ranges] + ([synced[1]] if synced else [floor]))
        next_run_by = archived_until - lookback + history
        report = SyncReport(
            scope=scope,
            synced=synced,
            inserted=inserted,
            updated=updated,
            records=records,
            requests=requests,
            chunks=len(plan),
            lost=tuple(lost_ranges),
            next_run_by=next_run_by,
            checked_at=now,
        )
        if report.warn_next_run:
            logger.warning("%s: run again before %s to avoid a gap", scope, _iso(next_run_by))
        logger.info("%s", report)
        return report

    def _pages(
        self,
        client: ItnioClient,
        scope: Scope,
        low: datetime,
        high: datetime,
        concurrency: int | None,
    ) -> PageStream[Any]:
        if scope.kind == "sip":
            return client.voice.iter_sip_records(
                low,
                high,
                sip_group_name=scope.sip_group_name or None,
                phone_name=scope.phone_name or None,
                concurrency=concurrency,
            ).pages()
        return client.voice.iter_group_records(low, high, concurrency=concurrency).pages()

    # -- reading -------------------------------------------------------------

    async def ranges(self, kind: str, **filters: str) -> list[Range]:
        """The time ranges of a scope known complete, oldest first."""
        scope = Scope(kind, filters.get("sip_group_name", ""), filters.get("phone_name", ""))  # type: ignore[arg-type]
        return await self._call(self._require().ranges, scope)

    async def lost_ranges(self, kind: str, **filters: str) -> list[Range]:
        """The ranges of a scope recorded as lost for good."""
        scope = Scope(kind, filters.get("sip_group_name", ""), filters.get("phone_name", ""))  # type: ignore[arg-type]
        return await self._call(self._require().lost_ranges, scope)

    async def records(self, kind: str) -> list[CallRecord]:
        """Every archived record of ``kind`` as the SDK's record objects (times in UTC)."""
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be 'sip' or 'group', got {kind!r}")
        return await self._call(self._require().records, kind)

    async def report(
        self,
        kind: str = "sip",
        *,
        by: str = "day",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Report:
        """Per day, destination ``code`` or phone ``group``: calls, ASR, ACD, minutes, cost.

        Computed in a worker thread over the archived rows with exact decimals.
        """
        store = self._require()
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be 'sip' or 'group', got {kind!r}")
        if by not in ("day", "code", "group"):
            raise InvalidArgumentError(f"by must be 'day', 'code' or 'group', got {by!r}")
        if by == "group" and kind != "sip":
            raise InvalidArgumentError("phone groups exist for sip records only")
        low = _aware("start", start) if start is not None else None
        high = _aware("end", end) if end is not None else None
        typed_kind: Kind = kind

        def compute() -> Report:
            lost = tuple(
                (str(Scope.from_key(key)), start, end)
                for key, start, end in store.all_lost_ranges()
                if Scope.from_key(key).kind == typed_kind
                and (high is None or start <= high)
                and (low is None or end >= low)
            )
            return build_report(store.report_rows(typed_kind, low, high), by=by, lost=lost)

        return await self._call(compute)


class _ChunkRun:
    """The chunks of one sync, fetched ``parallel`` at a time, progress recorded in order.

    Rows may be written in any order (upserts commute per voice id), but the
    archive's progress must never cover a chunk whose rows are not all
    written. So a chunk's last batch is written, under a lock, in the same
    transaction as the longest run of finished chunks from the oldest
    unrecorded one: a chunk that finishes early waits to be covered by the
    transaction of the chunk before it.
    """

    def __init__(
        self,
        archive: Archive,
        client: ItnioClient,
        store: Store,
        scope: Scope,
        plan: list[Range],
        concurrency: int | None,
        progress: Callable[[SyncProgress], None] | None,
        archived_end: datetime | None,
    ) -> None:
        self._archive = archive
        self._archived_end = archived_end
        self.lost: list[Range] = []
        self.first_synced: int | None = None
        self._client = client
        self._store = store
        self._scope = scope
        self._plan = plan
        self._concurrency = concurrency
        self._progress = progress
        self._next_chunk = 0  # the next chunk a worker takes
        self._recorded = 0  # chunks before this one are recorded as complete
        self._finished: set[int] = set()
        self._lock = anyio.Lock()
        self.inserted = self.updated = self.records = self.requests = 0
        # Neighbouring chunks share their boundary second: a record stamped
        # there comes from both, and is counted once.
        self._boundaries = {int(high.timestamp()) for _, high in plan[:-1]}
        self._on_boundary: set[str] = set()

    @property
    def next_chunk(self) -> int:
        """The index of the next chunk to fetch."""
        return self._next_chunk

    async def leading(self) -> None:
        """Fetch the oldest chunks one by one until the service accepts one.

        A chunk refused as too old (status -25) is recorded as lost, but only
        the part past what the archive already holds: a refused look-back
        loses only the calls written late into it.
        """
        while self._next_chunk < len(self._plan):
            index = self._next_chunk
            self._next_chunk += 1
            try:
                await self._chunk(index)
            except TimeRangeError:
                low, high = self._plan[index]
                if self._archived_end is not None:
                    low = max(low, self._archived_end)
                if low < high:
                    logger.error(
                        "%s: the service no longer keeps %s .. %s: lost for good",
                        self._scope,
                        _iso(low),
                        _iso(high),
                    )
                    await self._archive._call(self._store.write, self._scope, (), None, (low, high))
                    if self.lost and self.lost[-1][1] >= low:
                        self.lost[-1] = (self.lost[-1][0], high)
                    else:
                        self.lost.append((low, high))
                self._recorded = index + 1
                continue
            return

    async def worker(self, _: int) -> None:
        while self._next_chunk < len(self._plan):
            index = self._next_chunk
            self._next_chunk += 1
            await self._chunk(index)

    def _repeats(self, records: Sequence[CallRecord]) -> int:
        """How many of ``records`` the neighbouring chunk has already counted."""
        repeats = 0
        for record in records:
            t = record.submit_time
            if t is not None and int(t.timestamp()) in self._boundaries:
                if record.voice_id in self._on_boundary:
                    repeats += 1
                self._on_boundary.add(record.voice_id)
        return repeats

    async def _write(self, batch: list[CallRecord], done: Range | None) -> None:
        new, changed = await self._archive._call(self._store.write, self._scope, batch, done)
        self.inserted += new
        self.updated += changed

    async def _chunk(self, index: int) -> None:
        low, high = self._plan[index]
        if self._progress is not None:
            self._progress(
                SyncProgress(
                    scope=self._scope,
                    chunk=self._recorded,
                    chunks=len(self._plan),
                    chunk_start=low,
                    records=self.records,
                )
            )
        stream = self._archive._pages(self._client, self._scope, low, high, self._concurrency)
        batch: list[CallRecord] = []
        async with stream as pages:
            async for page in pages:
                batch.extend(page.records)
                self.records += len(page.records) - self._repeats(page.records)
                if len(batch) >= FLUSH_RECORDS:
                    await self._write(batch, None)
                    batch = []
        self.requests += stream.pages_fetched
        async with self._lock:
            self._finished.add(index)
            first = last = self._recorded
            while last in self._finished:
                last += 1
            done = (self._plan[first][0], self._plan[last - 1][1]) if last > first else None
            await self._write(batch, done)
            self._recorded = last
            if self.first_synced is None or index < self.first_synced:
                self.first_synced = index
        if self._progress is not None and self._recorded == len(self._plan):
            self._progress(
                SyncProgress(
                    scope=self._scope,
                    chunk=len(self._plan),
                    chunks=len(self._plan),
                    chunk_start=low,
                    records=self.records,
                )
            )
