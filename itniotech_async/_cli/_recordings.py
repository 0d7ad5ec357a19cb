"""``itniotech recordings``: download the call recordings of a time range into a directory.

::

    itniotech recordings sip --start 2026-01-01T00:00:00+08:00 \\
        --end 2026-01-31T00:00:00+08:00 --dir recordings/

Records are streamed from the range and their recordings downloaded as they
come, ``--concurrency`` at a time. Files already in the directory are skipped,
so a re-run after an interruption fetches only what is missing (and continues
partial files where the file host allows it). Each failure is printed on
stderr; the exit status is 1 when any recording failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._client import DEFAULT_CONCURRENCY
from .._errors import InvalidArgumentError, ItnioError
from .._pagination import RecordStream
from .._recordings import RecordingDownload
from ._args import add_common, iso_time, positive_int
from ._connect import make_client
from ._progress import DownloadProgress, show_progress, size_text

__all__ = ["add_recordings_command", "run_recordings"]


def add_recordings_command(commands: Any) -> None:
    """Add the ``recordings`` command to the sub-parsers ``commands``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "recordings", help="download the call recordings of a time range into a directory"
    )
    parser.add_argument(
        "kind",
        choices=("sip", "group"),
        help="phone calls (sip: recordingFileId) or voice messages (group: voiceFileId)",
    )
    for bound in ("start", "end"):
        parser.add_argument(
            f"--{bound}",
            required=True,
            type=iso_time,
            metavar="ISO",
            help=f"{bound} of the range, ISO 8601 with a UTC offset or Z",
        )
    parser.add_argument(
        "--dir", required=True, metavar="DIR", help="directory to save into (made if missing)"
    )
    parser.add_argument("--group", metavar="NAME", help="phone group name (sip only)")
    parser.add_argument("--phone", metavar="NAME", help="phone name (sip only)")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"downloads at a time (default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--max-bytes",
        type=positive_int,
        metavar="N",
        help="refuse recordings larger than N bytes (reported as failed)",
    )
    add_common(parser, connects=True, top=False)


def _failure(outcome: RecordingDownload) -> str:
    what = outcome.file_id if outcome.file_id is not None else repr(outcome.item)
    return f"failed: {what}: {outcome.error}"


async def run_recordings(
    args: argparse.Namespace,
) -> None:
    """``itniotech recordings``: stream the range's records, download their recordings."""
    if args.end < args.start:
        raise InvalidArgumentError(
            f"--end ({args.end.isoformat()}) is before --start ({args.start.isoformat()})"
        )
    if args.kind != "sip" and (args.group is not None or args.phone is not None):
        raise InvalidArgumentError("--group and --phone apply to sip records only")
    async with make_client(args.base_url, args.concurrency) as client:
        stream: RecordStream[Any]
        if args.kind == "sip":
            stream = client.voice.iter_sip_records(
                args.start, args.end, sip_group_name=args.group, phone_name=args.phone
            )
        else:
            stream = client.voice.iter_group_records(args.start, args.end)
        downloads = client.voice.download_recordings(
            stream, args.dir, concurrency=args.concurrency, max_bytes=args.max_bytes
        )
        progress = DownloadProgress(downloads, stream, sys.stderr) if show_progress(args) else None
        try:
            async with downloads as outcomes:
                async for outcome in outcomes:
                    if outcome.status == "failed":
                        if progress is not None:
                            progress.clear()
                        print(_failure(outcome), file=sys.stderr, flush=True)
                    if progress is not None:
                        progress.update()
        finally:
            if progress is not None:
                progress.close()
    no_file = downloads.done - downloads.downloaded - downloads.skipped - downloads.failed
    print(
        f"{downloads.downloaded:,} downloaded ({size_text(downloads.bytes)}), "
        f"{downloads.skipped:,} already there, {no_file:,} without a recording, "
        f"{downloads.failed:,} failed, in {os.fspath(args.dir)}",
        flush=True,
    )
    if downloads.failed:
        raise ItnioError(f"{downloads.failed:,} recordings failed (see above); run again to retry")
