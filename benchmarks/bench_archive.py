"""The archive against the JSONL export: records/s, peak memory, an up-to-date re-run.

Run from the repository root (PostgreSQL from ``$ITNIO_TEST_POSTGRES_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``)::

    .venv/bin/python -m benchmarks.bench_archive

One fake server process (zero latency) holds 300,000 SIP records over 58
days (inside the archive's default 59-day history). Each variant runs once,
in a fresh child process that notes ``ru_maxrss`` after importing and
warming up, then walks the whole range with ``ItnioClient(max_concurrency=16)``:

- export: the SDK's JSONL export (``itniotech records``' code) to a file;
- sqlite: ``Archive.sync`` into a new SQLite file (WAL, one writer thread);
- postgres: ``Archive.sync`` into a new PostgreSQL schema (COPY + upsert);
- each archive again, up to date: the re-run's page requests are counted
  (only the look-back should be read).

Goals: SQLite >= 0.7x the export's records/s, PostgreSQL >= 0.5x, memory
growth bounded as for streams (not growing with the range).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks._common import API_KEY, API_SECRET, REPO_ROOT, fake_server, print_environment
from itniotech_async import ItnioClient, SipCallRecord

N_RECORDS = 300_000
DAYS = 58
CONCURRENCY = 16
PG_URL = os.environ.get("ITNIO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _run_child(variant: str, base_url: str, db: str, schema: str) -> dict[str, Any]:
    from itniotech_async._cli._export import export
    from itniotech_async.archive import Archive

    end = datetime.now(timezone.utc)
    start = end - timedelta(days=DAYS, hours=1)
    async with ItnioClient(
        API_KEY, API_SECRET, base_url=base_url, max_concurrency=CONCURRENCY
    ) as client:
        # Warm up: imports, connections, the server's caches of the first pages.
        async for _ in client.voice.iter_sip_records(end - timedelta(hours=1), end):
            pass
        baseline = _maxrss_mib()
        started = time.perf_counter()
        if variant == "export":
            stream = client.voice.iter_sip_records(start, end, concurrency=CONCURRENCY)
            with open(db, "w", encoding="utf-8") as out:  # noqa: ASYNC230 - as the CLI does
                records = await export(stream, out, "jsonl", SipCallRecord)
            requests = stream.pages_fetched
            rerun: int | None = None
        else:
            async with Archive.open(db, schema=schema) as archive:
                report = await archive.sync(client, "sip", concurrency=CONCURRENCY)
                seconds = time.perf_counter() - started
                again = await archive.sync(client, "sip", concurrency=CONCURRENCY)
            records, requests, rerun = report.inserted, report.requests, again.requests
            if report.lost or again.inserted or again.updated:
                raise SystemExit(f"unexpected: {report} / {again}")
        if variant == "export":
            seconds = time.perf_counter() - started
    return {
        "records": records,
        "seconds": seconds,
        "requests": requests,
        "rerun_requests": rerun,
        "growth_mib": _maxrss_mib() - baseline,
    }


def _child(args: argparse.Namespace) -> int:
    result = asyncio.run(_run_child(args.child, args.base_url, args.db, args.schema))
    print(json.dumps(result))
    return 0


def _spawn(variant: str, base_url: str, db: str, schema: str = "public") -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_archive", "--child", variant]
    command += ["--base-url", base_url, "--db", db, "--schema", schema]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("export", "sqlite", "postgres"))
    parser.add_argument("--base-url")
    parser.add_argument("--db")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    args = parser.parse_args()
    if args.child:
        return _child(args)

    import psycopg

    print_environment(
        f"Archive vs export: {N_RECORDS:,} SIP records over {DAYS} days, zero latency, "
        f"concurrency {CONCURRENCY}"
    )
    results: dict[str, dict[str, Any]] = {}
    schema = f"bench_{secrets.token_hex(4)}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_server(n_records=N_RECORDS, days=DAYS) as server,
    ):
        print(f"(fake server ready in {server.startup_seconds:.1f} s)")
        results["export (JSONL)"] = _spawn("export", server.base_url, str(Path(tmp) / "x.jsonl"))
        results["archive: SQLite"] = _spawn("sqlite", server.base_url, str(Path(tmp) / "a.db"))
        if not args.no_postgres:
            try:
                results["archive: PostgreSQL"] = _spawn("postgres", server.base_url, PG_URL, schema)
            finally:
                with psycopg.connect(PG_URL, autocommit=True) as db:
                    db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    base = results["export (JSONL)"]
    base_rate = base["records"] / base["seconds"]
    header = ("variant", "records", "seconds", "records/s", "vs export", "peak RSS +MiB",
              "re-run requests")  # fmt: skip
    rows = []
    for name, r in results.items():
        rate = r["records"] / r["seconds"]
        rows.append(
            (
                name,
                f"{r['records']:,}",
                f"{r['seconds']:.2f}",
                f"{rate:,.0f}",
                f"{rate / base_rate:.2f}x",
                f"{r['growth_mib']:.1f}",
                "-" if r["rerun_requests"] is None else str(r["rerun_requests"]),
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(
        "goals: SQLite >= 0.70x, PostgreSQL >= 0.50x the export's records/s; "
        "re-run requests = the look-back's pages only"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
