"""The ``records`` and ``record`` commands: export a time range of records, print one record.

::

    itniotech records sip --start 2026-01-01T00:00:00+08:00 --end 2026-02-28T00:00:00+08:00 \\
        --format csv --output calls.csv
    itniotech record group 2203031113381000002

:func:`export_to` is shared with the demo (and the archive benchmark).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from .._client import DEFAULT_CONCURRENCY, ItnioClient
from .._models import CallRecord
from .._pagination import RecordStream
from .._serialize import to_json
from ._args import RECORD_TYPES, add_common, add_output, iso_time, positive_duration, positive_int
from ._connect import make_client
from ._exits import CommandError, UsageError
from ._output import open_output, stdout_text
from ._progress import Progress, show_progress
from ._writers import make_writer

__all__ = [
    "HISTORY",
    "add_export_commands",
    "check_records_args",
    "export",
    "export_to",
    "run_record",
    "run_records",
]

#: How far back the service keeps records: "about two months", so no start
#: older than the longest two months (62 days) can be served.
HISTORY = timedelta(days=62)


def add_export_commands(commands: Any) -> None:
    """Add ``records`` and ``record`` to the sub-parsers ``commands``."""
    records = commands.add_parser("records", help="stream every record in a time range")
    records.add_argument("kind", choices=tuple(RECORD_TYPES), help="phone (sip) or voice-message")
    since = records.add_mutually_exclusive_group(required=True)
    since.add_argument(
        "--start",
        type=iso_time,
        metavar="ISO",
        help="start of the range, ISO 8601 with a UTC offset or Z",
    )
    since.add_argument(
        "--since",
        type=positive_duration,
        metavar="DURATION",
        help="start the range this long before now: 3d, 12h, 1d12h, 90m, 2w",
    )
    records.add_argument(
        "--end",
        type=iso_time,
        metavar="ISO",
        help="end of the range, ISO 8601 with a UTC offset or Z (default: now)",
    )
    records.add_argument("--group", metavar="NAME", help="phone group name (sip only)")
    records.add_argument("--phone", metavar="NAME", help="phone name (sip only)")
    add_output(records)
    records.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {DEFAULT_CONCURRENCY})",
    )
    records.add_argument("--limit", type=positive_int, metavar="N", help="stop after N records")
    add_common(records, connects=True, top=False)

    record = commands.add_parser("record", help="print one record as JSON")
    record.add_argument("kind", choices=tuple(RECORD_TYPES), help="phone (sip) or voice-message")
    record.add_argument("voice_id", metavar="VOICE_ID", help="the record's voice id")
    add_common(record, connects=True, top=False)


def check_records_args(args: argparse.Namespace, now: datetime | None = None) -> None:
    """Checks of ``records`` that span several arguments; raise UsageError before anything is sent.

    Fills in ``--start`` from ``--since`` and ``--end`` (default: ``now``), and
    refuses a start older than the service keeps (:data:`HISTORY`).
    """
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    if args.end is None:
        args.end = now
    if args.start is None:
        args.start = now - args.since
    oldest = now - HISTORY
    if args.start < oldest:
        raise UsageError(
            f"--start ({args.start.isoformat()}) is older than the service keeps: it keeps "
            f"about two months of records (at most {HISTORY.days} days, so from "
            f"{oldest.astimezone(args.start.tzinfo).isoformat()} on)"
        )
    if args.end < args.start:
        raise UsageError(
            f"--end ({args.end.isoformat()}) is before --start ({args.start.isoformat()})"
        )
    if args.kind != "sip" and (args.group is not None or args.phone is not None):
        raise UsageError("--group and --phone apply to sip records only")


async def export(
    stream: RecordStream[Any],
    out: TextIO,
    fmt: str,
    record_type: type[CallRecord],
    progress: Progress | None = None,
) -> int:
    """Write every record of ``stream`` to ``out``; return how many were written."""
    write = make_writer(out, fmt, record_type)
    completed = False
    try:
        async with stream as records:
            if progress is not None:
                progress.update()  # "0 records" while the first pages are on their way
            async for record in records:
                write(record)
                if progress is not None:
                    progress.update()
        completed = True
    finally:
        if progress is not None:
            progress.close(completed=completed)
    return stream.records_done


async def export_to(
    stream: RecordStream[Any],
    output: str | None,
    fmt: str,
    record_type: type[CallRecord],
    show_progress: bool,
) -> int:
    """Export ``stream`` to the file ``output`` (atomically) or to stdout."""
    with open_output(output) as out:
        progress = Progress(stream, sys.stderr) if show_progress else None
        return await export(stream, out, fmt, record_type, progress)


def _record_stream(client: ItnioClient, args: argparse.Namespace) -> RecordStream[Any]:
    if args.kind == "sip":
        return client.voice.iter_sip_records(
            args.start,
            args.end,
            sip_group_name=args.group,
            phone_name=args.phone,
            concurrency=args.concurrency,
            limit=args.limit,
        )
    return client.voice.iter_group_records(
        args.start, args.end, concurrency=args.concurrency, limit=args.limit
    )


async def run_records(args: argparse.Namespace) -> None:
    """``itniotech records``: stream a range of records to a file or stdout."""
    async with make_client(args.base_url, args.concurrency) as client:
        stream = _record_stream(client, args)
        record_type = RECORD_TYPES[args.kind]
        await export_to(stream, args.output, args.format, record_type, show_progress(args))


async def run_record(args: argparse.Namespace) -> None:
    """``itniotech record``: print one record as indented JSON."""
    async with make_client(args.base_url) as client:
        if args.kind == "sip":
            record: CallRecord | None = await client.voice.record_sip(args.voice_id)
        else:
            record = await client.voice.record_group(args.voice_id)
    if record is None:
        raise CommandError(f"no {args.kind} record with voice id {args.voice_id!r}")
    with stdout_text() as out:
        out.write(to_json(record, indent=2) + "\n")
