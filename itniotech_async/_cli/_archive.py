"""The ``archive`` and ``report`` commands: keep records in SQLite or PostgreSQL, and sum them up.

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
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from typing import Any

import anyio

from .._client import DEFAULT_CONCURRENCY
from .._errors import ArchiveError, InvalidArgumentError, ItnioError
from ..archive import DEFAULT_LOOKBACK, Archive, SyncReport
from ._args import add_common, iso_time, parse_duration, positive_duration, positive_int
from ._connect import make_client
from ._exits import PROG, CommandError, UsageError
from ._progress import SyncBar, show_progress

__all__ = [
    "add_archive_commands",
    "check_archive_args",
    "run_archive",
    "run_report",
    "sync_logging",
]

logger = logging.getLogger("itniotech_async.archive")

REPORT_FORMATS = ("table", "csv", "json")


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


def add_archive_commands(commands: Any) -> None:
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
        type=iso_time,
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
        type=positive_duration,
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
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {DEFAULT_CONCURRENCY})",
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
            f"--{bound}", type=iso_time, metavar="ISO", help=f"{bound} of submit times"
        )
    add_common(report, connects=False, top=False)


def check_archive_args(args: argparse.Namespace) -> None:
    """Checks of ``archive`` and ``report`` that span several arguments (UsageError)."""
    if args.command == "archive":
        if "group" in args.kinds and (args.group is not None or args.phone is not None):
            raise UsageError("--group and --phone apply to sip records only")
        if args.start is not None and args.start > datetime.now(timezone.utc):
            raise UsageError(f"--start ({args.start.isoformat()}) is in the future")
    elif args.command == "report":
        if args.by == "group" and args.kind != "sip":
            raise UsageError("--by group applies to sip records only")
        if args.start is not None and args.end is not None and args.end < args.start:
            raise UsageError("--end is before --start")


def _open(args: argparse.Namespace, *, must_exist: bool = False) -> Archive:
    url = args.db
    if must_exist and "://" not in url and not os.path.exists(url.removeprefix("sqlite:")):
        raise UsageError(f"no archive at {url!r}")
    try:
        return Archive.open(url, schema=args.schema)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from exc


async def _enter(archive: Archive) -> None:
    # A database that cannot be reached or written is bad input: nothing was fetched.
    try:
        await archive.__aenter__()
    except ArchiveError as exc:
        raise UsageError(str(exc)) from exc


async def _sync_all(
    args: argparse.Namespace, archive: Archive, client: Any, show_progress: bool
) -> list[SyncReport]:
    reports = []
    for kind in args.kinds:
        bar = SyncBar(sys.stderr) if show_progress else None
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
    client = make_client(args.base_url, args.concurrency)
    await _enter(archive)
    lost = False
    stopped: list[int] = []
    try:
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_sigterm, tg.cancel_scope, stopped)
            while True:
                try:
                    reports = await _sync_all(args, archive, client, show_progress(args))
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
        raise CommandError(
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
            print(f"{PROG}: warning: {line}", file=sys.stderr, flush=True)


def sync_logging(args: argparse.Namespace) -> None:
    """Log the sync to stderr: every run with ``--every``, else only lost ranges."""
    level = logging.INFO if args.every is not None else logging.WARNING
    # Lost ranges are logged as errors even with --quiet; --every adds a line per run.
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
