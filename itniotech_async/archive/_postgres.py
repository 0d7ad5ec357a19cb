"""The PostgreSQL store, through psycopg 3 (the ``postgres`` extra).

Rows go in with ``COPY`` into a temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` into the archive, all in
one transaction with the progress they complete. Times are ``timestamptz``,
money ``numeric``. Several workers may share a database: a session-level
advisory lock per scope (kind and filters) lets one of them sync a scope at
a time; the others skip it rather than fetch the same range twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from .._errors import ArchiveError, InvalidArgumentError
from .._models import CallRecord
from ._columns import COLUMNS, Kind, Scope, values
from ._store import (
    REPORT_COLUMNS,
    SCHEMA_VERSION,
    Range,
    ReportRow,
    Store,
    check_schema_version,
    merge_ranges,
    schema_statements,
)

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - depends on the install
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresStore", "redact_url"]

_PG_TYPES = {"text": "text", "int": "bigint", "decimal": "numeric", "time": "timestamptz"}
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOCK_NAMESPACE = b"itniotech_async.archive\0"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@contextlib.contextmanager
def _pg_errors(location: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        # psycopg's messages name host and user, never the password.
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchiveError(f"PostgreSQL archive {location}: {message}") from exc


class PostgresStore(Store):
    """An archive in a PostgreSQL schema (``public`` unless told otherwise)."""

    def __init__(self, url: str, schema: str = "public") -> None:
        if psycopg is None:
            raise ArchiveError(
                "a PostgreSQL archive needs psycopg 3: pip install 'itniotech-async[postgres]'"
            )
        if not _SCHEMA_NAME.fullmatch(schema):
            raise InvalidArgumentError(f"not a plain PostgreSQL schema name: {schema!r}")
        self.location = redact_url(url) + (f" (schema {schema})" if schema != "public" else "")
        self._schema = schema
        self._locks: dict[str, int] = {}
        with _pg_errors(self.location):
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        try:
            with _pg_errors(self.location):
                self._setup()
        except BaseException:
            self._db.close()
            raise
        names = list(COLUMNS)
        self._names = names
        columns = sql.SQL(", ").join(sql.Identifier(n) for n in ["kind", *names])
        self._copy = sql.SQL("COPY archive_stage ({}) FROM STDIN").format(columns)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
            for n in names
            if n != "voice_id"
        )
        mine = sql.SQL(", ").join(
            sql.SQL("call_records.{}").format(sql.Identifier(n)) for n in names if n != "voice_id"
        )
        theirs = sql.SQL(", ").join(
            sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in names if n != "voice_id"
        )
        self._merge = sql.SQL(
            "WITH up AS (INSERT INTO call_records ({cols}) SELECT {cols} FROM archive_stage "
            "ON CONFLICT (kind, voice_id) DO UPDATE SET {updates} "
            "WHERE ({mine}) IS DISTINCT FROM ({theirs}) RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
        ).format(cols=columns, updates=updates, mine=mine, theirs=theirs)

    def _setup(self) -> None:
        db = self._db
        schema = sql.Identifier(self._schema)
        db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        db.execute(sql.SQL("SET search_path TO {}").format(schema))
        with db.transaction():
            # Two workers creating the tables at once must not race.
            db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key("schema"),))
            db.execute("CREATE TABLE IF NOT EXISTS archive_schema (version integer NOT NULL)")
            row = db.execute("SELECT max(version) FROM archive_schema").fetchone()
            version = row[0] if row else None
            check_schema_version(f"PostgreSQL archive {self.location}", version)
            if version is None:
                for statement in schema_statements(_PG_TYPES):
                    db.execute(statement)
                db.execute("INSERT INTO archive_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
        db.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS archive_stage "
            "(LIKE call_records) ON COMMIT DELETE ROWS"
        )

    def _lock_key(self, name: str) -> int:
        digest = hashlib.sha256(_LOCK_NAMESPACE + f"{self._schema}\0{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def try_lock(self, scope: Scope) -> bool:
        key = self._lock_key(scope.key)
        with _pg_errors(self.location):
            row = self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row is None or not row[0]:
            return False
        self._locks[scope.key] = key
        return True

    def unlock(self, scope: Scope) -> None:
        key = self._locks.pop(scope.key, None)
        if key is not None:
            with _pg_errors(self.location):
                self._db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _ranges(self, table: str, scope: Scope) -> list[Range]:
        rows = self._db.execute(
            f"SELECT range_start, range_end FROM {table} WHERE scope = %s ORDER BY range_start",
            (scope.key,),
        ).fetchall()
        return [(start, end) for start, end in rows]

    def ranges(self, scope: Scope) -> list[Range]:
        with _pg_errors(self.location):
            return self._ranges("sync_ranges", scope)

    def lost_ranges(self, scope: Scope) -> list[Range]:
        with _pg_errors(self.location):
            return self._ranges("lost_ranges", scope)

    def all_lost_ranges(self) -> list[tuple[str, datetime, datetime]]:
        with _pg_errors(self.location):
            rows = self._db.execute(
                "SELECT scope, range_start, range_end FROM lost_ranges ORDER BY range_start, scope"
            ).fetchall()
        return [(key, start, end) for key, start, end in rows]

    def write(
        self,
        scope: Scope,
        records: Sequence[CallRecord],
        done: Range | None = None,
        lost: Range | None = None,
    ) -> tuple[int, int]:
        rows = values(scope.kind, records, for_sqlite=False)
        db = self._db
        inserted = updated = 0
        with _pg_errors(self.location), db.transaction():
            if rows:
                with db.cursor() as cursor:
                    with cursor.copy(self._copy) as copy:
                        for row in rows:
                            copy.write_row(row)
                    cursor.execute(self._merge)
                    counts = cursor.fetchone()
                    if counts is not None:
                        inserted, updated = counts
            if done is not None:
                self._add_range("sync_ranges", scope, done)
            if lost is not None:
                self._add_range("lost_ranges", scope, lost)
        return inserted, updated

    def _add_range(self, table: str, scope: Scope, new: Range) -> None:
        merged = merge_ranges(self._ranges(table, scope), new)
        with self._db.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE scope = %s", (scope.key,))
            cursor.executemany(
                f"INSERT INTO {table} (scope, range_start, range_end) VALUES (%s, %s, %s)",
                [(scope.key, start, end) for start, end in merged],
            )

    def report_rows(
        self, kind: Kind, start: datetime | None, end: datetime | None
    ) -> Iterator[ReportRow]:
        query = f"SELECT {', '.join(REPORT_COLUMNS)} FROM call_records WHERE kind = %s"
        params: list[Any] = [kind]
        if start is not None:
            query += " AND submit_time >= %s"
            params.append(start)
        if end is not None:
            query += " AND submit_time <= %s"
            params.append(end)
        with (
            _pg_errors(self.location),
            self._db.transaction(),
            self._db.cursor(name="archive_report") as cursor,
        ):
            cursor.itersize = 10_000
            cursor.execute(query, params)
            yield from cursor

    def raw_rows(self, kind: Kind) -> Iterator[dict[str, Any]]:
        names = self._names
        query = f"SELECT {', '.join(names)} FROM call_records WHERE kind = %s"
        with _pg_errors(self.location):
            for row in self._db.execute(query, (kind,)).fetchall():
                yield dict(zip(names, row, strict=True))

    def close(self) -> None:
        with _pg_errors(self.location):
            self._db.close()
