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
import time
from collections.abc import Callable
from typing import Any, TextIO

from ._client import ItnioClient
from ._errors import InvalidArgumentError, ItnioError
from ._pagination import RecordStream
from ._recordings import RecordingDownload, RecordingDownloads

__all__ = ["DownloadProgress", "add_recordings_parser", "run_recordings"]

DEFAULT_CONCURRENCY = 8
_REDRAW_INTERVAL = 0.1
_BAR = 24


def add_recordings_parser(
    commands: Any,
    parse_time: Callable[[str], Any],
    positive_int: Callable[[str], int],
) -> argparse.ArgumentParser:
    """Add the ``recordings`` command to the sub-parsers ``commands``; return its parser."""
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
            type=parse_time,
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
    return parser


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


class DownloadProgress:
    """A one-line progress bar on a terminal: records done of total, failures, bytes, rate."""

    def __init__(self, downloads: RecordingDownloads, stream: RecordStream[Any], out: TextIO):
        self._downloads = downloads
        self._stream = stream
        self._out = out
        self._started = time.monotonic()
        self._next_draw = 0.0
        self._width = 0

    def render(self, elapsed: float) -> str:
        """The bar's text after ``elapsed`` seconds."""
        d = self._downloads
        total = self._stream.total
        rate = d.bytes / elapsed if elapsed > 0 else 0.0
        tail = f"{d.failed} failed  {_size(d.bytes)}  {_size(int(rate))}/s"
        if total is None:
            return f"{d.done:,} recordings (counting...)  {tail}"
        share = d.done / total if total else 1.0
        filled = min(_BAR, int(share * _BAR))
        bar = "#" * filled + "-" * (_BAR - filled)
        return f"[{bar}] {d.done:,}/{total:,} records {share:4.0%}  {tail}"

    def update(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._next_draw:
            self._next_draw = now + _REDRAW_INTERVAL
            line = self.render(now - self._started)
            self._out.write("\r" + line.ljust(self._width))
            self._out.flush()
            self._width = max(self._width, len(line))

    def clear(self) -> None:
        """Blank the line so that a message can be printed in its place."""
        if self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()

    def close(self) -> None:
        self.update(force=True)
        self._out.write("\n")
        self._out.flush()


def _failure(outcome: RecordingDownload) -> str:
    what = outcome.file_id if outcome.file_id is not None else repr(outcome.item)
    return f"failed: {what}: {outcome.error}"


async def run_recordings(
    args: argparse.Namespace,
    make_client: Callable[[str | None, int], ItnioClient],
    show_progress: bool,
) -> None:
    """Stream the range's records and download their recordings into ``args.dir``."""
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
        progress = DownloadProgress(downloads, stream, sys.stderr) if show_progress else None
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
        f"{downloads.downloaded:,} downloaded ({_size(downloads.bytes)}), "
        f"{downloads.skipped:,} already there, {no_file:,} without a recording, "
        f"{downloads.failed:,} failed, in {os.fspath(args.dir)}",
        flush=True,
    )
    if downloads.failed:
        raise ItnioError(f"{downloads.failed:,} recordings failed (see above); run again to retry")
