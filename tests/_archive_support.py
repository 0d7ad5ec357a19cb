"""Shared helpers of the archive tests: archive URLs, ground truth, raw database reads."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from itniotech_async import GroupCallRecord, SipCallRecord
from itniotech_async._converter import structure_record
from itniotech_async.testing import FakeItnio

PG_URL = os.environ.get("ITNIO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Target:
    """One archive database for one test: a SQLite file or a fresh PostgreSQL schema."""

    def __init__(self, store: str, url: str, schema: str = "public") -> None:
        self.store = store
        self.url = url
        self.schema = schema

    @property
    def cli_args(self) -> list[str]:
        return ["--db", self.url, "--schema", self.schema]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one read-only statement directly on the database (not through the SDK)."""
        if self.store == "sqlite":
            with sqlite3.connect(self.url) as db:
                return db.execute(sql).fetchall()
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'SET search_path TO "{self.schema}"')
            return db.execute(sql.replace("?", "%s")).fetchall()

    def execute(self, sql: str) -> None:
        if self.store == "sqlite":
            with sqlite3.connect(self.url) as db:
                db.execute(sql)
            return
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'SET search_path TO "{self.schema}"')
            db.execute(sql)


def postgres_or_skip() -> psycopg.Connection[Any]:
    """A connection to the test server; a missing server fails under CI, else skips."""
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}: {exc}")


def make_target(store: str, tmp_path: Path) -> Iterator[Target]:
    if store == "sqlite":
        yield Target("sqlite", str(tmp_path / "calls.db"))
        return
    admin = postgres_or_skip()
    schema = f"itnio_test_{secrets.token_hex(6)}"
    try:
        yield Target("postgres", PG_URL, schema)
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def submitted(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["submitTime"])


def truth(
    fake: FakeItnio, kind: str, low: datetime | None = None, high: datetime | None = None
) -> dict[str, SipCallRecord | GroupCallRecord]:
    """The fake's records of ``kind`` submitted in [low, high], structured by the SDK."""
    cls = SipCallRecord if kind == "sip" else GroupCallRecord
    result: dict[str, Any] = {}
    for record in fake.records(kind):  # type: ignore[arg-type]
        moment = submitted(record)
        if (low is None or moment >= low) and (high is None or moment <= high):
            result[record["voiceId"]] = structure_record(record, cls)
    return result
