"""The archive's storage: a small synchronous interface and its SQLite implementation.

Every method runs in a worker thread (the :class:`~itniotech_async.archive.Archive`
calls them through ``anyio.to_thread`` one at a time), so a store is plain
blocking code. Each :meth:`Store.write` is one transaction holding the rows
of a batch *and*, when the batch completes a time range, that range: the
progress of a sync is never ahead of the rows it covers.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction
survives the process being killed at any moment (only a power loss can take
the last commits back, and then progress and rows go back together).
"""

from __future__ import annotations

import abc
import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs

from .._errors import ArchiveError, ArchiveVersionError
from .._models import CallRecord
from ._columns import COLUMNS, RECORD_TYPES, Kind, Scope, sqlite_time, values

__all__ = [
    "REPORT_COLUMNS",
    "SCHEMA_VERSION",
    "Range",
    "ReportRow",
    "SQLiteStore",
    "Store",
    "check_schema_version",
    "merge_ranges",
    "schema_statements",
]

#: The version of the tables this package writes; bumped on every change to them.
SCHEMA_VERSION = 1

Range = tuple[datetime, datetime]
#: submit_time, code, sip_group_name, termination_code, call_duration,
#: charged_duration, cost, currency
ReportRow = tuple[datetime | None, str | None, str | None, str | None, int | None, int | None,
                  Decimal | None, str | None]  # fmt: skip
REPORT_COLUMNS = (
    "submit_time",
    "code",
    "sip_group_name",
    "termination_code",
    "call_duration",
    "charged_duration",
    "cost",
    "currency",
)


def check_schema_version(location: str, version: int | None) -> None:
    """Refuse an archive (``location`` names it) written by a newer version of the package."""
    if version is not None and version > SCHEMA_VERSION:
        raise ArchiveVersionError(
            f"{location} has schema version {version}, newer than {SCHEMA_VERSION}, the newest "
            "this version of itniotech_async knows: upgrade itniotech_async to use it"
        )


def schema_statements(types: dict[str, str]) -> list[str]:
    """The statements that create a new archive's tables, in a database's column ``types``."""
    text, time = types["text"], types["time"]
    columns = ", ".join(
        f"{name} {types[kind]}" + (" NOT NULL" if name == "voice_id" else "")
        for name, kind in COLUMNS.items()
    )
    return [
        f"CREATE TABLE call_records (kind {text} NOT NULL, {columns}, "
        "PRIMARY KEY (kind, voice_id))",
        "CREATE INDEX call_records_submit_time ON call_records (kind, submit_time)",
        *(
            f"CREATE TABLE {table} (scope {text} NOT NULL, range_start {time} NOT NULL, "
            f"range_end {time} NOT NULL, PRIMARY KEY (scope, range_start))"
            for table in ("sync_ranges", "lost_ranges")
        ),
    ]


def merge_ranges(ranges: Sequence[Range], new: Range) -> list[Range]:
    """``ranges`` with ``new`` added, overlapping or touching ranges joined, sorted."""
    result: list[Range] = []
    for start, end in sorted([*ranges, new]):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result


class Store(abc.ABC):
    """Blocking access to one archive database; one transaction per :meth:`write`."""

    #: Where the archive lives, for messages (never carries a password).
    location: str

    @abc.abstractmethod
    def try_lock(self, scope: Scope) -> bool:
        """Take the exclusive right to sync ``scope``; ``False`` if another worker has it."""

    @abc.abstractmethod
    def unlock(self, scope: Scope) -> None:
        """Give back what :meth:`try_lock` took."""

    @abc.abstractmethod
    def ranges(self, scope: Scope) -> list[Range]:
        """The time ranges of ``scope`` known complete, oldest first."""

    @abc.abstractmethod
    def lost_ranges(self, scope: Scope) -> list[Range]:
        """The ranges of ``scope`` found lost for good (past the service's history)."""

    @abc.abstractmethod
    def all_lost_ranges(self) -> list[tuple[str, datetime, datetime]]:
        """Every lost range of every scope: ``(scope key, start, end)``, oldest first."""

    @abc.abstractmethod
    def write(
        self,
        scope: Scope,
        records: Sequence[CallRecord],
        done: Range | None = None,
        lost: Range | None = None,
    ) -> tuple[int, int]:
        """Upsert ``records`` and record ``done``/``lost`` in one transaction.

        Returns ``(inserted, updated)``: rows that were new, and existing rows
        whose values changed. A row whose values are all the same is left
        alone, so a repeated write counts nothing.
        """

    @abc.abstractmethod
    def report_rows(
        self, kind: Kind, start: datetime | None, end: datetime | None
    ) -> Iterator[ReportRow]:
        """The columns the report needs, of every row with ``submit_time`` in [start, end]."""

    @abc.abstractmethod
    def raw_rows(self, kind: Kind) -> Iterator[dict[str, Any]]:
        """Every row of ``kind`` as a dict of column values (database types, undecoded)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (releasing any lock it holds)."""

    def records(self, kind: Kind) -> list[CallRecord]:
        """Every archived record of ``kind``, rebuilt as the SDK's record objects."""
        cls = RECORD_TYPES[kind]
        fields = [field.name for field in attrs.fields(cls)]
        result = []
        for row in self.raw_rows(kind):
            data = {name: self.decode(name, row[name]) for name in fields}
            result.append(cls(**data))
        return result

    def decode(self, name: str, value: Any) -> Any:
        """A stored value as the record field holds it."""
        return value


# -- SQLite ------------------------------------------------------------------------

_SQLITE_TYPES = {"text": "TEXT", "int": "INTEGER", "decimal": "TEXT", "time": "TEXT"}


@contextlib.contextmanager
def _sqlite_errors(location: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise ArchiveError(f"SQLite archive {location}: {exc}") from exc


class SQLiteStore(Store):
    """An archive in one SQLite file, through the standard library's ``sqlite3``."""

    def __init__(self, path: str) -> None:
        self.location = path
        self._path = path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ArchiveError(f"SQLite archive {path}: the directory {directory} does not exist")
        with _sqlite_errors(path):
            # One connection, used by one worker thread at a time (the Archive's
            # limiter serialises calls), hence check_same_thread=False.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            with _sqlite_errors(path):
                self._setup()
        except BaseException:
            self._db.close()
            raise
        names = list(COLUMNS)
        columns = ", ".join(["kind", *names])
        marks = ", ".join("?" * (len(names) + 1))
        updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "voice_id")
        differs = " OR ".join(
            f"call_records.{name} IS NOT excluded.{name}" for name in names if name != "voice_id"
        )
        self._upsert = (
            f"INSERT INTO call_records ({columns}) VALUES ({marks}) "
            f"ON CONFLICT (kind, voice_id) DO UPDATE SET {updates} WHERE {differs}"
        )

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 30000")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ArchiveError(f"SQLite archive {self.location}: cannot use WAL mode ({mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS archive_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM archive_schema").fetchone()
            version = row[0]
            check_schema_version(f"SQLite archive {self.location}", version)
            if version is None:
                for statement in schema_statements(_SQLITE_TYPES):
                    db.execute(statement)
                db.execute("INSERT INTO archive_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def try_lock(self, scope: Scope) -> bool:
        # One SQLite file has one writer at a time anyway; two syncs of the same
        # scope stay correct (idempotent upserts, merged ranges), they only
        # fetch the same range twice. Several workers are PostgreSQL's job.
        return True

    def unlock(self, scope: Scope) -> None:
        return None

    def _ranges(self, table: str, scope: Scope) -> list[Range]:
        rows = self._db.execute(
            f"SELECT range_start, range_end FROM {table} WHERE scope = ? ORDER BY range_start",
            (scope.key,),
        ).fetchall()
        return [(datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in rows]

    def ranges(self, scope: Scope) -> list[Range]:
        with _sqlite_errors(self.location):
            return self._ranges("sync_ranges", scope)

    def lost_ranges(self, scope: Scope) -> list[Range]:
        with _sqlite_errors(self.location):
            return self._ranges("lost_ranges", scope)

    def all_lost_ranges(self) -> list[tuple[str, datetime, datetime]]:
        with _sqlite_errors(self.location):
            rows = self._db.execute(
                "SELECT scope, range_start, range_end FROM lost_ranges ORDER BY range_start, scope"
            ).fetchall()
        return [(key, datetime.fromisoformat(a), datetime.fromisoformat(b)) for key, a, b in rows]

    def write(
        self,
        scope: Scope,
        records: Sequence[CallRecord],
        done: Range | None = None,
        lost: Range | None = None,
    ) -> tuple[int, int]:
        rows = values(scope.kind, records, for_sqlite=True)
        db = self._db
        with _sqlite_errors(self.location):
            db.execute("BEGIN IMMEDIATE")
            try:
                inserted = updated = 0
                if rows:
                    # New rows get rowids past the largest so far (rows are never deleted).
                    (last,) = db.execute(
                        "SELECT coalesce(max(rowid), 0) FROM call_records"
                    ).fetchone()
                    before = db.total_changes
                    db.executemany(self._upsert, rows)
                    changed = db.total_changes - before
                    (inserted,) = db.execute(
                        "SELECT count(*) FROM call_records WHERE rowid > ?", (last,)
                    ).fetchone()
                    updated = changed - inserted
                if done is not None:
                    self._add_range("sync_ranges", scope, done)
                if lost is not None:
                    self._add_range("lost_ranges", scope, lost)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        return inserted, updated

    def _add_range(self, table: str, scope: Scope, new: Range) -> None:
        merged = merge_ranges(self._ranges(table, scope), new)
        self._db.execute(f"DELETE FROM {table} WHERE scope = ?", (scope.key,))
        self._db.executemany(
            f"INSERT INTO {table} (scope, range_start, range_end) VALUES (?, ?, ?)",
            [(scope.key, sqlite_time(start), sqlite_time(end)) for start, end in merged],
        )

    def report_rows(
        self, kind: Kind, start: datetime | None, end: datetime | None
    ) -> Iterator[ReportRow]:
        low = sqlite_time(start) if start is not None else ""
        high = sqlite_time(end) if end is not None else "\U0010ffff"
        with _sqlite_errors(self.location):
            cursor = self._db.execute(
                f"SELECT {', '.join(REPORT_COLUMNS)} FROM call_records "
                "WHERE kind = ? AND coalesce(submit_time, '') BETWEEN ? AND ?",
                (kind, low, high),
            )
            for submit, code, group, termination, duration, charged, cost, currency in cursor:
                yield (
                    datetime.fromisoformat(submit) if submit else None,
                    code,
                    group,
                    termination,
                    duration,
                    charged,
                    Decimal(cost) if cost is not None else None,
                    currency,
                )

    def raw_rows(self, kind: Kind) -> Iterator[dict[str, Any]]:
        names = list(COLUMNS)
        with _sqlite_errors(self.location):
            cursor = self._db.execute(
                f"SELECT {', '.join(names)} FROM call_records WHERE kind = ?", (kind,)
            )
            for row in cursor:
                yield dict(zip(names, row, strict=True))

    def decode(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        kind = COLUMNS[name]
        if kind == "time":
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        if kind == "decimal":
            return Decimal(value)
        return value

    def close(self) -> None:
        with _sqlite_errors(self.location):
            self._db.close()
