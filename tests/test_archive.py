"""The archive: ground truth after syncs, incremental re-reads, gaps, bad input, two workers."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import itniotech_async as itnio
from itniotech_async.archive import Archive, ArchiveError, ArchiveVersionError
from itniotech_async.testing import FakeItnio, Fault, generate_records

from ._archive_support import Target, make_target, submitted, truth
from .conftest import KEY, NOW, SECRET

pytestmark = pytest.mark.anyio

DAYS = 50  # the fake's data: inside the archive's default 59-day history
LOOKBACK = timedelta(hours=6)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield from make_target(str(request.param), tmp_path)


@pytest.fixture
def fake() -> FakeItnio:
    return FakeItnio(KEY, SECRET, seed=5, n_records=1200, days=DAYS, now=NOW)


@pytest.fixture
async def client(fake: FakeItnio) -> AsyncIterator[itnio.ItnioClient]:
    async with fake.serve() as base_url, itnio.ItnioClient(KEY, SECRET, base_url=base_url) as c:
        yield c


def archive(target: Target) -> Archive:
    return Archive.open(target.url, schema=target.schema)


def query_starts(fake: FakeItnio) -> list[datetime]:
    """The start of every query window the fake was asked for, in order."""
    return [
        datetime.fromisoformat(r.json["params"]["strTime"])
        for r in fake.requests
        if r.path.endswith("Query") and r.json is not None
    ]


async def test_first_sync_archives_every_record_once(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """A first sync holds exactly the fake's records, every field equal, one row each."""
    async with archive(target) as a:
        report = await a.sync(client, "sip", until=NOW)
        group_report = await a.sync(client, "group", until=NOW)
        sip = await a.records("sip")
        group = await a.records("group")
        ranges = await a.ranges("sip")
    expected = truth(fake, "sip")
    assert len(expected) == 1200
    assert {r.voice_id: r for r in sip} == expected
    assert len(sip) == len(expected)  # no duplicate rows
    assert {r.voice_id: r for r in group} == truth(fake, "group")
    assert report.inserted == 1200 and report.updated == 0
    assert group_report.inserted == 1200
    assert ranges == [(NOW - timedelta(days=59), NOW)]
    (rows,) = target.query("SELECT count(*) FROM call_records")
    assert rows[0] == 2400


async def test_records_on_a_chunk_boundary_are_counted_once(target: Target) -> None:
    """A record stamped on the second two chunks share is fetched by both, counted once."""
    fake = FakeItnio(KEY, SECRET, seed=2, n_records=30, days=5, now=NOW)
    boundary = datetime(NOW.year, NOW.month, NOW.day, 6, tzinfo=timezone.utc) - timedelta(days=1)
    moved = [dict(r, submitTime=boundary.isoformat()) for r in fake.sip_records[:3]]
    fake.update_records("sip", moved)
    async with (
        fake.serve() as base_url,
        itnio.ItnioClient(KEY, SECRET, base_url=base_url) as client,
        archive(target) as a,
    ):
        report = await a.sync(client, "sip", until=NOW)
        rows = await a.records("sip")
    assert len(rows) == 30
    assert report.inserted == 30
    assert report.records == 30


async def test_columns_are_typed_exact_and_indexed(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """Money is stored exactly (numeric / decimal text), times as UTC instants, never float."""
    async with archive(target) as a:
        await a.sync(client, "sip", until=NOW)
    source = {r["voiceId"]: r for r in fake.sip_records}
    rows = target.query("SELECT voice_id, cost, rate, submit_time FROM call_records")
    for voice_id, cost, rate, submit in rows[:200]:
        assert not isinstance(cost, float) and not isinstance(rate, float)
        assert Decimal(str(cost)) == Decimal(source[voice_id]["cost"])
        assert Decimal(str(rate)) == Decimal(source[voice_id]["rate"])
        moment = submit if isinstance(submit, datetime) else datetime.fromisoformat(submit)
        assert moment.utcoffset() is not None
        assert moment == datetime.fromisoformat(source[voice_id]["submitTime"])
    if target.store == "sqlite":
        indexes = target.query("SELECT name FROM sqlite_master WHERE type = 'index'")
        (types,) = target.query("SELECT typeof(cost) FROM call_records LIMIT 1")
        assert types == ("text",)
    else:
        indexes = target.query(
            f"SELECT indexname FROM pg_indexes WHERE schemaname = '{target.schema}'"
        )
        types = dict(
            target.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = '{target.schema}' AND table_name = 'call_records'"
            )
        )
        assert types["cost"] == "numeric"
        assert types["submit_time"] == "timestamp with time zone"
        assert types["call_duration"] == "bigint"
    assert ("call_records_submit_time",) in indexes


async def test_second_sync_rereads_the_lookback_and_upserts_late_calls(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """Calls written late (stamped in the past) and calls completed later both reach the archive."""
    async with archive(target) as a:
        await a.sync(client, "sip", until=NOW)
        later = NOW + timedelta(hours=2)
        fake.now = later
        known = {r["voiceId"] for r in fake.sip_records}
        # Arrived after the first run, half of them stamped before its end.
        fresh = [
            r
            for r in generate_records("sip", 60, seed=99, now=later, days=3 / 24)
            if r["voiceId"] not in known
        ]
        assert any(submitted(r) < NOW for r in fresh)
        fake.add_records("sip", fresh)
        # Unanswered calls from the last hours, completed since the first run.
        completed = []
        for record in fake.sip_records:
            if NOW - LOOKBACK < submitted(record) <= NOW and record["voiceId"] not in {
                r["voiceId"] for r in fresh
            }:
                record = dict(record, terminationCode="200", callDuration=77, cost="9.8765")
                completed.append(record)
        assert completed
        fake.update_records("sip", completed)
        fake.reset_counters()

        report = await a.sync(client, "sip", until=later, lookback=LOOKBACK)
        archived = {r.voice_id: r for r in await a.records("sip")}
        again = await a.sync(client, "sip", until=later, lookback=LOOKBACK)
    assert archived == truth(fake, "sip")
    assert report.inserted == len(fresh)
    assert report.updated == len(completed)
    assert archived[completed[0]["voiceId"]].cost == Decimal("9.8765")
    # Only the look-back and the new hours were read: nothing before NOW - LOOKBACK.
    starts = query_starts(fake)
    assert starts and min(starts) == NOW - LOOKBACK
    # The same sync again changes nothing.
    assert (again.inserted, again.updated) == (0, 0)


async def test_gap_past_the_history_is_reported_recorded_and_the_rest_synced(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A run after more than two months says which range is lost for good, and syncs the rest."""
    async with archive(target) as a:
        await a.sync(client, "sip", until=NOW)
        much_later = NOW + timedelta(days=80)
        fake.now = much_later
        new = generate_records("sip", 500, seed=3, now=much_later, days=DAYS)
        fake.add_records("sip", new)
        with caplog.at_level(logging.ERROR, logger="itniotech_async.archive"):
            report = await a.sync(client, "sip", until=much_later)
        lost = await a.lost_ranges("sip")
        ranges = await a.ranges("sip")
        archived = {r.voice_id: r for r in await a.records("sip")}
        shown = await a.report("sip")
        other_kind = await a.report("group")
    floor = much_later - timedelta(days=59)
    assert shown.lost == (("sip", NOW, floor),)
    assert other_kind.lost == ()
    assert report.lost == ((NOW, floor),)
    assert lost == [(NOW, floor)]
    assert "LOST FOR GOOD" in str(report)
    assert any("lost for good" in message for message in caplog.messages)
    assert ranges == [(NOW - timedelta(days=59), NOW), (floor, much_later)]
    expected = truth(fake, "sip", high=NOW) | truth(fake, "sip", low=floor)
    assert archived == expected
    assert report.inserted == len(new)


async def test_an_overdue_archive_warns(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """An archive whose end is nearly two months old says the next run is due."""
    async with archive(target) as a:
        # NOW lies months before the real clock: the next run is overdue.
        stale = await a.sync(client, "sip", until=NOW)
    assert stale.warn_next_run
    assert "run again before" in str(stale)
    assert stale.next_run_by == NOW - timedelta(hours=6) + timedelta(days=59)


async def test_sync_refuses_bad_input_before_fetching(
    tmp_path: Path, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """Bad arguments raise InvalidArgumentError and send nothing."""
    async with Archive.open(str(tmp_path / "a.db")) as a:
        future = datetime.now(timezone.utc) + timedelta(days=1)
        bad: list[dict[str, Any]] = [
            {"kind": "both"},
            {"kind": "group", "sip_group_name": "sales"},
            {"kind": "sip", "until": future},
            {"kind": "sip", "until": datetime(2026, 1, 1)},  # naive
            {"kind": "sip", "start": NOW, "until": NOW},
            {"kind": "sip", "lookback": timedelta(days=-1)},
            {"kind": "sip", "chunk": timedelta(days=40)},
            {"kind": "sip", "parallel": 0},
        ]
        for kwargs in bad:
            with pytest.raises(itnio.InvalidArgumentError):
                await a.sync(client, **kwargs)
        ranges = await a.ranges("sip")
    assert fake.request_count == 0
    assert ranges == []


async def test_bad_urls_and_unwritable_files_are_clear_errors(tmp_path: Path) -> None:
    """An unknown scheme is refused at once; an unwritable file on opening, changing nothing."""
    for url in ("mysql://me@db/calls", "https://example.com/db", "sqlite://", ":memory:"):
        with pytest.raises(itnio.InvalidArgumentError):
            Archive.open(url)
    with pytest.raises(ArchiveError, match="does not exist"):
        async with Archive.open(str(tmp_path / "missing" / "a.db")):
            pass
    readonly = tmp_path / "ro.db"
    readonly.write_bytes(b"")
    readonly.chmod(0o444)
    if os.geteuid() != 0:  # root writes anyway
        with pytest.raises(ArchiveError):
            async with Archive.open(str(readonly)):
                pass
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ArchiveError):
        async with Archive.open(str(garbage)):
            pass
    assert garbage.read_bytes() == b"not a database at all" * 100
    with pytest.raises(ArchiveError) as caught:
        async with Archive.open("postgresql://nobody:hunter2secret@127.0.0.1:1/none"):
            pass
    assert "hunter2secret" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_an_archive_from_a_newer_version_is_refused(target: Target) -> None:
    """A schema version above ours is a clear error, not a silent misreading."""
    async with archive(target):
        pass
    target.execute("UPDATE archive_schema SET version = 99")
    with pytest.raises(ArchiveVersionError, match="99"):
        async with archive(target):
            pass


@pytest.fixture
def pg_target(tmp_path: Path) -> Iterator[Target]:
    yield from make_target("postgres", tmp_path)


async def test_two_postgres_workers_never_fetch_the_same_range(
    pg_target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """While one worker syncs a scope, another skips it; rows and progress stay whole."""
    target = pg_target
    first_request = anyio.Event()
    second_done = anyio.Event()

    @fake.on_request
    async def hold(request: object) -> None:
        # The first worker is mid-sync (lock held) until the second one has tried.
        first_request.set()
        await second_done.wait()

    results: dict[str, Any] = {}

    async def worker(name: str, wait: anyio.Event | None) -> None:
        if wait is not None:
            await wait.wait()
        async with archive(target) as a:
            results[name] = await a.sync(client, "sip", until=NOW)
        if wait is not None:
            second_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "one", None)
        tg.start_soon(worker, "two", first_request)
    one, two = results["one"], results["two"]
    assert not one.busy and two.busy
    assert two.requests == 0
    assert fake.request_count == one.requests
    # Different scopes (one per phone group) run side by side.
    fake.reset_counters()
    async with anyio.create_task_group() as tg:
        for group in ("sales", "support"):
            tg.start_soon(_sync_group, target, client, group, results)
    assert not results["sales"].busy and not results["support"].busy
    async with archive(target) as a:
        archived = {r.voice_id: r for r in await a.records("sip")}
    assert archived == truth(fake, "sip")


async def _sync_group(
    target: Target, client: itnio.ItnioClient, group: str, results: dict[str, Any]
) -> None:
    async with archive(target) as a:
        results[group] = await a.sync(client, "sip", sip_group_name=group, until=NOW)


def test_fake_update_records_replaces_by_voice_id() -> None:
    """FakeItnio.update_records replaces whole records and refuses unknown ids."""
    fake = FakeItnio(KEY, SECRET, seed=1, n_records=20, days=5, now=NOW)
    first = fake.sip_records[3]
    moved = dict(first, cost="1.2345", submitTime=(NOW - timedelta(days=9)).isoformat())
    fake.update_records("sip", [moved])
    records = fake.sip_records
    assert len(records) == 20
    assert records[-1] == moved  # oldest now, served last
    with pytest.raises(ValueError, match="unknown"):
        fake.update_records("sip", [dict(first, voiceId="nope")])
    with pytest.raises(ValueError, match="repeated"):
        fake.update_records("sip", [moved, moved])
    assert fake.sip_records == records


def test_sqlite_archive_is_wal(tmp_path: Path) -> None:
    """The SQLite archive runs in WAL mode, so readers never block the writer."""

    async def make() -> None:
        async with Archive.open(f"sqlite:///{tmp_path}/w.db"):
            pass

    anyio.run(make)
    with sqlite3.connect(tmp_path / "w.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_archive_all_is_complete_and_sorted() -> None:
    """The archive package's __all__ is sorted and names every public object."""
    import itniotech_async.archive as package

    assert package.__all__ == sorted(package.__all__)
    public = {n for n in dir(package) if not n.startswith("_")}
    assert public <= set(package.__all__)


async def test_a_failing_service_raises_its_error_and_records_no_progress(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """Chunks failing together raise the SDK's own error (not a group); no range is recorded."""
    fake.set_chaos(1.0, [Fault.status("-22")])
    async with archive(target) as a:
        with pytest.raises(itnio.ParameterError):
            await a.sync(client, "sip", until=NOW)
        ranges = await a.ranges("sip")
        records = await a.records("sip")
    assert ranges == [] and records == []


async def test_chunks_the_service_refuses_as_too_old_are_recorded_lost(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """If the service keeps less than the assumed history, the refused chunks are lost, loudly."""
    fake.now = NOW + timedelta(days=10)  # the fake keeps 62 days: from NOW - 52 days
    async with archive(target) as a:
        report = await a.sync(client, "sip", until=NOW)
        lost = await a.lost_ranges("sip")
        ranges = await a.ranges("sip")
        archived = {r.voice_id: r for r in await a.records("sip")}
    kept_from = NOW - timedelta(days=52)
    # 6-hour chunks from NOW - 59 days: every chunk starting before kept_from is refused.
    assert report.lost == ((NOW - timedelta(days=59), kept_from),)
    assert lost == [(NOW - timedelta(days=59), kept_from)]
    assert ranges == [(kept_from, NOW)]
    assert archived == truth(fake, "sip", low=kept_from)
    assert "LOST FOR GOOD" in str(report)


async def test_two_tasks_sharing_one_archive_do_not_sync_one_scope_twice(
    target: Target, fake: FakeItnio, client: itnio.ItnioClient
) -> None:
    """Two syncs of one scope through one archive object: the second is skipped."""
    results = []
    async with archive(target) as a:

        async def sync() -> None:
            results.append(await a.sync(client, "sip", until=NOW))

        async with anyio.create_task_group() as tg:
            tg.start_soon(sync)
            tg.start_soon(sync)
    assert sorted(r.busy for r in results) == [False, True]
    assert fake.request_count == next(r.requests for r in results if not r.busy)


async def test_a_time_without_offset_is_refused_not_guessed(target: Target) -> None:
    """A record time the service sent without a UTC offset stops the sync with a clear error."""
    records = [
        {"voiceId": "1", "submitTime": "2026-02-28T10:00:00+08:00"},
        {"voiceId": "2", "submitTime": "2026-02-28T11:00:00+08:00",
         "answerTime": "2026-02-28T11:00:05"},
    ]  # fmt: skip
    fake = FakeItnio(KEY, SECRET, sip_records=records, group_records=(), now=NOW)
    async with (
        fake.serve() as base_url,
        itnio.ItnioClient(KEY, SECRET, base_url=base_url) as client,
        archive(target) as a,
    ):
        # The converter refuses it (a naive time is never guessed) before the archive sees it.
        with pytest.raises(itnio.ResponseValidationError, match=r"with a UTC offset"):
            await a.sync(client, "sip", until=NOW)
        ranges = await a.ranges("sip")
    # The chunk holding the bad record is not recorded as complete; the ones before are.
    stamped = datetime(2026, 2, 28, 3, tzinfo=timezone.utc)
    assert ranges and all(end < stamped for _, end in ranges)
