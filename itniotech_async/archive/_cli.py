"""The ``itniotech archive`` and ``itniotech report`` commands, and the archive demo.

::

    itniotech archive sip --db calls.db
    itniotech archive sip group --db postgresql://me@db/calls --every 10m
    itniotech report --db calls.db --by day --format csv

``archive`` exits 1 when a range was lost past the service's history (unless
``--accept-loss``), 2 on bad input (before anything is fetched), 130 when
stopped by Ctrl-C or SIGTERM, which take effect at the next commit at the
latest and leave the archive consistent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

import anyio
import httpx

from .. import _cli as base
from .._errors import ArchiveError, InvalidArgumentError, ItnioError
from ._archive import (
    DEFAULT_HISTORY,
    DEFAULT_LOOKBACK,
    Archive,
    SyncProgress,
    SyncReport,
)

__all__ = ["add_commands", "dispatch", "parse_duration"]

logger = logging.getLogger("itniotech_async.archive")

REPORT_FORMATS = ("table", "csv", "json")
DEMO_DB = "itnio-demo.db"
DEMO_LATE = timedelta(hours=3)  # the demo's second run comes this much later
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``6h``, ``2d`` (or a sum such as ``1h30m``) as a timedelta."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise argparse.ArgumentTypeError(f"not a duration like 30s, 10m, 6h or 2d: {text!r}")
    return timedelta(seconds=sum(float(number) * _UNITS[unit] for number, unit in parts))


def _positive_duration(text: str) -> timedelta:
    value = parse_duration(text)
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"must be more than zero: {text!r}")
    return value


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="archive: a SQLite file path (or sqlite:///PATH), or postgresql://user@host/db "
        "(needs the 'postgres' extra)",
    )
    parser.add_argument(
        "--schema",
        default="public",
        metavar="NAME",
        help="PostgreSQL schema holding the archive's tables (default: public)",
    )


def add_commands(
    commands: Any, add_common: Callable[..., None], positive_int: Callable[[str], int]
) -> None:
    """Register ``archive`` and ``report`` on the ``itniotech`` sub-command parser."""
    archive = commands.add_parser(
        "archive", help="copy records into a SQLite or PostgreSQL archive, incrementally"
    )
    archive.add_argument(
        "kinds", nargs="+", choices=("sip", "group"), metavar="KIND", help="sip and/or group"
    )
    _add_db(archive)
    archive.add_argument("--group", metavar="NAME", help="phone group name (sip only)")
    archive.add_argument("--phone", metavar="NAME", help="phone name (sip only)")
    archive.add_argument(
        "--start",
        type=base.parse_time,
        metavar="ISO",
        help="where a new archive starts (default: as far back as the service keeps)",
    )
    archive.add_argument(
        "--lookback",
        type=parse_duration,
        default=DEFAULT_LOOKBACK,
        metavar="DURATION",
        help="re-read this much before the end of what is archived, for calls written late "
        "(default: 6h)",
    )
    archive.add_argument(
        "--every",
        type=_positive_duration,
        metavar="DURATION",
        help="keep syncing, once per DURATION (such as 10m), until stopped",
    )
    archive.add_argument(
        "--accept-loss",
        action="store_true",
        help="exit 0 even when a range was lost past the service's history",
    )
    archive.add_argument(
        "--concurrency",
        type=positive_int,
        default=base.DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {base.DEFAULT_CONCURRENCY})",
    )
    add_common(archive, connects=True, top=False)

    report = commands.add_parser("report", help="calls, ASR, ACD, minutes and cost in an archive")
    _add_db(report)
    report.add_argument("--kind", choices=("sip", "group"), default="sip", help="default: sip")
    report.add_argument(
        "--by",
        choices=("day", "code", "group"),
        default="day",
        help="one line per UTC day, destination code or phone group (default: day)",
    )
    report.add_argument("--format", choices=REPORT_FORMATS, default="table", help="default: table")
    for bound in ("start", "end"):
        report.add_argument(
            f"--{bound}", type=base.parse_time, metavar="ISO", help=f"{bound} of submit times"
        )
    add_common(report, connects=False, top=False)


def _check(args: argparse.Namespace) -> None:
    if args.command == "archive":
        if "group" in args.kinds and (args.group is not None or args.phone is not None):
            raise base.UsageError("--group and --phone apply to sip records only")
        if args.start is not None and args.start > datetime.now(timezone.utc):
            raise base.UsageError(f"--start ({args.start.isoformat()}) is in the future")
    elif args.command == "report":
        if args.by == "group" and args.kind != "sip":
            raise base.UsageError("--by group applies to sip records only")
        if args.start is not None and args.end is not None and args.end < args.start:
            raise base.UsageError("--end is before --start")


def _open(args: argparse.Namespace, *, must_exist: bool = False) -> Archive:
    url = args.db
    if must_exist and "://" not in url and not os.path.exists(url.removeprefix("sqlite:")):
        raise base.UsageError(f"no archive at {url!r}")
    try:
        return Archive.open(url, schema=args.schema)
    except InvalidArgumentError as exc:
        raise base.UsageError(str(exc)) from exc


async def _enter(archive: Archive) -> None:
    # A database that cannot be reached or written is bad input: nothing was fetched.
    try:
        await archive.__aenter__()
    except ArchiveError as exc:
        raise base.UsageError(str(exc)) from exc


def _show_progress(args: argparse.Namespace) -> bool:
    # As for exports: only on a terminal, and not with --debug, whose log lines it would overwrite.
    return not args.quiet and not args.debug and sys.stderr.isatty()


class _Bar:
    """A one-line progress display of a sync on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._next = 0.0
        self._width = 0

    def __call__(self, state: SyncProgress) -> None:
        now = time.monotonic()
        if now < self._next and state.chunk < state.chunks:
            return
        self._next = now + 0.1
        elapsed = now - self._started
        rate = state.records / elapsed if elapsed > 0 else 0.0
        filled = int(state.chunk / state.chunks * 24) if state.chunks else 24
        line = (
            f"{state.scope} [{'#' * filled}{'-' * (24 - filled)}] chunk {state.chunk}/"
            f"{state.chunks} ({state.chunk_start:%Y-%m-%d})  {state.records:,} records  "
            f"{rate:,.0f}/s"
        )
        self._out.write("\r" + line.ljust(self._width))
        self._out.flush()
        self._width = max(self._width, len(line))

    def close(self) -> None:
        if self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0


async def _sync_all(
    args: argparse.Namespace, archive: Archive, client: Any, show_progress: bool
) -> list[SyncReport]:
    reports = []
    for kind in args.kinds:
        bar = _Bar(sys.stderr) if show_progress else None
        try:
            report = await archive.sync(
                client,
                kind,
                sip_group_name=args.group if kind == "sip" else None,
                phone_name=args.phone if kind == "sip" else None,
                start=args.start,
                lookback=args.lookback,
                concurrency=args.concurrency,
                progress=bar,
            )
        finally:
            if bar is not None:
                bar.close()
        reports.append(report)
    return reports


async def run_archive(args: argparse.Namespace) -> None:
    """``itniotech archive``: sync each kind once, or every ``--every`` until stopped."""
    archive = _open(args)
    client = base.make_client(args.base_url, args.concurrency)
    await _enter(archive)
    lost = False
    stopped: list[int] = []
    try:
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_sigterm, tg.cancel_scope, stopped)
            while True:
                try:
                    reports = await _sync_all(args, archive, client, _show_progress(args))
                except ItnioError as exc:
                    if args.every is None:
                        raise
                    # A long-running loop outlives an outage: the next run resumes.
                    logger.error("run failed: %s; next run in %s", exc, args.every)
                    await anyio.sleep(args.every.total_seconds())
                    continue
                if args.every is None:  # with --every, each run logs its own lines
                    for report in reports:
                        print(report, flush=True)
                lost = lost or any(report.lost for report in reports)
                if args.every is None or (lost and not args.accept_loss):
                    break
                await anyio.sleep(args.every.total_seconds())
            tg.cancel_scope.cancel()
        if stopped:
            raise KeyboardInterrupt
    finally:
        await archive.aclose()
    if lost and not args.accept_loss:
        raise base.CommandError(
            "records older than the service keeps were lost (see above); "
            "run with --accept-loss to exit 0 anyway"
        )


async def _stop_on_sigterm(scope: anyio.CancelScope, stopped: list[int]) -> None:
    # Cancelling stops the sync at its next await; a write in progress in the
    # worker thread finishes (or rolls back) first, so the archive stays whole.
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async for number in signals:
            stopped.append(number)
            scope.cancel()
            return


async def run_report(args: argparse.Namespace) -> None:
    """``itniotech report``: aggregate the archive to a table, CSV or JSON on stdout."""
    archive = _open(args, must_exist=True)
    await _enter(archive)
    try:
        report = await archive.report(args.kind, by=args.by, start=args.start, end=args.end)
    finally:
        await archive.aclose()
    sys.stdout.write(report.format(args.format))
    sys.stdout.flush()
    if args.format != "table":  # the table ends with these lines itself
        for line in report.lost_lines():
            print(f"{base.PROG}: warning: {line}", file=sys.stderr, flush=True)


# -- the demo ------------------------------------------------------------------------


def _remove_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _late_calls(fake: Any, then: datetime, now: datetime, seed: int) -> tuple[int, int]:
    """Give the fake calls that arrived since ``then``, some stamped before it, and
    complete some calls it already served; return (new, completed)."""
    from ..testing import generate_records

    known = {record["voiceId"] for record in fake.sip_records}
    span = (now - then + timedelta(hours=1)).total_seconds() / 86400
    fresh = [
        record
        for record in generate_records("sip", 300, seed=seed + 1, now=now, days=span)
        if record["voiceId"] not in known
    ]
    fake.add_records("sip", fresh)
    fresh_ids = {record["voiceId"] for record in fresh}
    recent = [
        record
        for record in fake.sip_records[:2000]
        if record["voiceId"] not in fresh_ids
        and record.get("terminationCode") != "200"
        and _submitted(record) >= then - timedelta(hours=2)
    ][:40]
    completed = []
    for record in recent:
        record = dict(record)
        record["terminationReason"] = (record.get("terminationReason") or "") + " (rechecked)"
        completed.append(record)
    fake.update_records("sip", completed)
    return len(fresh), len(completed)


def _submitted(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["submitTime"])


async def run_demo_archive(args: argparse.Namespace) -> str:
    """``itniotech demo archive``: a fake server, a two-month SQLite archive, an
    incremental second run and the report. Returns the summary to print."""
    from ..testing import FakeItnio

    path = DEMO_DB
    _remove_db(path)
    real_now = datetime.now(timezone.utc).replace(microsecond=0)
    first_now = real_now - DEMO_LATE
    credentials = ("demo-key", secrets.token_hex(16))
    fake = FakeItnio(
        *credentials,
        seed=args.seed,
        n_records=args.records,
        group_records=(),
        days=DEFAULT_HISTORY.days,
        now=first_now,
        latency=args.latency,
        keep_requests=False,
    )
    lines = []
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    show = _show_progress(args)
    async with (
        fake.serve() as base_url,
        httpx.AsyncClient(limits=limits, timeout=30.0) as http,
        base.make_client(
            base_url, args.concurrency, credentials=credentials, http_client=http
        ) as client,
        Archive.open(path) as archive,
    ):
        started = time.perf_counter()
        bar = _Bar(sys.stderr) if show else None
        first = await archive.sync(client, "sip", until=first_now, parallel=8, progress=bar)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - started
        lines.append(f"1. First run into {path} (SQLite), {seconds:.1f} s:")
        lines.append(f"   {first}")

        fake.now = real_now
        new, completed = _late_calls(fake, first_now, real_now, args.seed)
        requests_before = fake.request_count
        second = await archive.sync(client, "sip", until=real_now)
        lines.append(
            f"2. {DEMO_LATE.seconds // 3600} hours later: {new} new calls (some stamped before "
            f"the first run's end) and {completed} calls completed since; the second run:"
        )
        lines.append(f"   {second}")
        lines.append(
            f"   {fake.request_count - requests_before} requests: only the look-back and the "
            "new hours, not two months again"
        )
        report = await archive.report("sip", by="group")
    lines.append("3. The report (itniotech report --db itnio-demo.db --by group):")
    lines.append(report.to_text())
    lines.append(f"Try: itniotech report --db {path} --by day   (or --by code, --format csv|json)")
    return "\n".join(lines)


def dispatch(args: argparse.Namespace) -> None:
    """Run ``archive``, ``report`` or ``demo archive`` (the caller maps errors to exit codes)."""
    _check(args)
    if args.command == "archive":
        _log_to_stderr(logging.INFO if args.every is not None else logging.WARNING)
        anyio.run(run_archive, args, backend="asyncio")
    elif args.command == "report":
        anyio.run(run_report, args, backend="asyncio")
    else:
        print(anyio.run(run_demo_archive, args, backend="asyncio"), flush=True)


def _log_to_stderr(level: int) -> None:
    # Lost ranges are logged as errors even with --quiet; --every adds a line per run.
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
