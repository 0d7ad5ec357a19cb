"""The ``itniotech`` command line: export records, fetch one, or run the offline demo.

::

    itniotech records sip --start 2026-01-01T00:00:00+08:00 --end 2026-02-28T00:00:00+08:00 \\
        --format csv --output calls.csv
    itniotech record group 2203031113381000002
    itniotech demo

Credentials come only from ``ITNIO_API_KEY`` and ``ITNIO_API_SECRET`` (flags
show in ``ps``); the base URL from ``--base-url`` or ``ITNIO_BASE_URL``.

Exit status: 0 success (also when the reader of stdout goes away, as with
``| head``); 1 a runtime failure (the service refused, the network failed, the
record does not exist, the file could not be written); 2 bad input, found
before anything is sent; 128 + the signal's number when stopped by a signal:
130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.

An export to a file is written to a temporary file next to the target and
renamed into place only when complete, so an interrupted (SIGINT, SIGTERM,
SIGHUP) or failed export leaves neither a partial file nor the temporary one
behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import logging
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, NoReturn, TextIO, TypeVar

import anyio
import attrs
import httpx

from ._cli_recordings import add_recordings_parser, run_recordings
from ._client import ItnioClient
from ._errors import InvalidArgumentError, ItnioError
from ._models import CallRecord, GroupCallRecord, SipCallRecord
from ._pagination import RecordStream
from ._serialize import to_dict, to_json
from ._version import __version__

__all__ = ["main"]

PROG = "itniotech"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report Ctrl-C

#: Signals that stop the command as Ctrl-C does (nothing half-written is left).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: How far back the service keeps records: "about two months", so no start
#: older than the longest two months (62 days) can be served.
HISTORY = timedelta(days=62)

FORMATS = ("jsonl", "csv")
RECORD_TYPES: dict[str, type[CallRecord]] = {"sip": SipCallRecord, "group": GroupCallRecord}
DEFAULT_CONCURRENCY = 8

DEMO_OUTPUT = "itnio-demo-export"  # + "." + the format
DEMO_RECORDS = 40_000
DEMO_DAYS = 60
DEMO_LATENCY = (0.05, 0.15)
DEMO_CONCURRENCY = 16

T = TypeVar("T")

_REDRAW_INTERVAL = 0.1  # seconds: at most ten progress redraws a second
_WRITE_BUFFER = 1 << 16


class UsageError(Exception):
    """Bad input noticed after parsing; exit 2, nothing has been sent."""


class CommandError(Exception):
    """A runtime failure to report in one line; exit 1."""


class Stopped(Exception):
    """A stop signal (SIGTERM, SIGHUP) ended the command after it cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# -- argument parsing ----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time that carries a UTC offset (a trailing ``Z`` is UTC)."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if parsed.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add one, such as +08:00 or Z"
        )
    return parsed


_DURATION = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``3d``, ``12h``, ``90m`` or ``1d12h`` (w, d, h, m, s)."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise argparse.ArgumentTypeError(
            f"not a duration such as 3d, 12h or 1d12h (units w, d, h, m, s): {text!r}"
        )
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"the duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _latency(text: str) -> tuple[float, float]:
    """Parse ``LOW:HIGH`` (or one number) in seconds."""
    low_text, _, high_text = text.partition(":")
    try:
        low = float(low_text)
        high = float(high_text) if high_text else low
    except ValueError:
        raise argparse.ArgumentTypeError(f"not SECONDS or LOW:HIGH: {text!r}") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 0 <= LOW <= HIGH, got {text!r}")
    return (low, high)


def _add_common(parser: argparse.ArgumentParser, *, connects: bool, top: bool) -> None:
    # The same flags are accepted before and after the command; on a command
    # their default is "not given", so they do not undo a flag given before it.
    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress bar"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show tracebacks and DEBUG logs of the itniotech_async logger on stderr",
    )
    if connects:
        parser.add_argument(
            "--base-url",
            metavar="URL",
            default=default(None),
            help="API base URL (default: $ITNIO_BASE_URL, else https://api.itniotech.com)",
        )


def _add_output(parser: argparse.ArgumentParser, default_output: str | None = None) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)"
    )
    where = f"{default_output}.FORMAT" if default_output else "stdout"
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        default=None,
        help=f"file to write, replaced only when complete; '-' is stdout (default: {where})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = _Parser(
        prog=PROG,
        description="Export and inspect ITNIO Tech voice call records. Credentials come "
        "from the ITNIO_API_KEY and ITNIO_API_SECRET environment variables.",
        epilog="exit status: 0 success (also when a reader such as `head` closes the pipe), "
        "1 runtime error (API, network, record not found, file), 2 bad input (nothing "
        "sent), 128 + the signal when stopped: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, connects=True, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    records = commands.add_parser("records", help="stream every record in a time range")
    records.add_argument("kind", choices=tuple(RECORD_TYPES), help="phone (sip) or voice-message")
    since = records.add_mutually_exclusive_group(required=True)
    since.add_argument(
        "--start",
        type=parse_time,
        metavar="ISO",
        help="start of the range, ISO 8601 with a UTC offset or Z",
    )
    since.add_argument(
        "--since",
        type=parse_duration,
        metavar="DURATION",
        help="start the range this long before now: 3d, 12h, 1d12h, 90m, 2w",
    )
    records.add_argument(
        "--end",
        type=parse_time,
        metavar="ISO",
        help="end of the range, ISO 8601 with a UTC offset or Z (default: now)",
    )
    records.add_argument("--group", metavar="NAME", help="phone group name (sip only)")
    records.add_argument("--phone", metavar="NAME", help="phone name (sip only)")
    _add_output(records)
    records.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {DEFAULT_CONCURRENCY})",
    )
    records.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N records")
    _add_common(records, connects=True, top=False)

    record = commands.add_parser("record", help="print one record as JSON")
    record.add_argument("kind", choices=tuple(RECORD_TYPES), help="phone (sip) or voice-message")
    record.add_argument("voice_id", metavar="VOICE_ID", help="the record's voice id")
    _add_common(record, connects=True, top=False)

    recordings = add_recordings_parser(commands, parse_time, _positive_int)
    _add_common(recordings, connects=True, top=False)

    demo = commands.add_parser(
        "demo", help="export from a local fake server: no credentials, no network"
    )
    demo.add_argument(
        "mode",
        nargs="?",
        choices=("export", "archive"),
        default="export",
        help="export to a file (default), or archive into SQLite, sync again and report",
    )
    demo.add_argument(
        "--records",
        type=_positive_int,
        default=DEMO_RECORDS,
        metavar="N",
        help=f"SIP records the fake serves over {DEMO_DAYS} days (default: {DEMO_RECORDS})",
    )
    demo.add_argument(
        "--latency",
        type=_latency,
        default=DEMO_LATENCY,
        metavar="LOW:HIGH",
        help="seconds of latency per request, drawn uniformly (default: 0.05:0.15)",
    )
    demo.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEMO_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {DEMO_CONCURRENCY})",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the fake data (default: 1)")
    _add_output(demo, DEMO_OUTPUT)
    _add_common(demo, connects=False, top=False)

    from .archive._cli import add_commands

    add_commands(commands, _add_common, _positive_int)
    return parser


def check_args(args: argparse.Namespace, now: datetime | None = None) -> None:
    """Checks that span several arguments; raise UsageError before anything is sent.

    Fills in ``records``' ``--start`` from ``--since`` and ``--end`` (default:
    ``now``), and refuses a start older than the service keeps (:data:`HISTORY`).
    """
    if args.command != "records":
        return
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


# -- the client ------------------------------------------------------------------


def _env_credentials() -> tuple[str, str]:
    key = os.environ.get("ITNIO_API_KEY", "")
    secret = os.environ.get("ITNIO_API_SECRET", "")
    missing = [
        name for name, value in (("ITNIO_API_KEY", key), ("ITNIO_API_SECRET", secret)) if not value
    ]
    if missing:
        raise UsageError(
            f"missing credentials: set {' and '.join(missing)} in the environment "
            "(they are never taken from flags)"
        )
    return key, secret


def make_client(
    base_url: str | None,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    credentials: tuple[str, str] | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> ItnioClient:
    """The one place a client is built: credentials from the environment unless given.

    ``base_url`` ``None`` leaves the choice to the client (``ITNIO_BASE_URL``,
    else the real service).
    """
    api_key, api_secret = credentials if credentials is not None else _env_credentials()
    return ItnioClient(
        api_key,
        api_secret,
        base_url=base_url,
        max_concurrency=concurrency,
        http_client=http_client,
    )


# -- output ----------------------------------------------------------------------


def _new_file_mode(target: str) -> int:
    """The mode the target keeps if it exists, else what the umask gives a new file."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_text_file(path: str) -> Iterator[TextIO]:
    """Write a UTF-8 text file through a temporary file renamed into place on success.

    On any exception (``KeyboardInterrupt`` and cancellation included) the
    temporary file is removed and the target is left as it was.
    """
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise UsageError(f"--output {path!r} is a directory")
    directory, name = os.path.split(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise CommandError(f"cannot write {path!r}: {exc.strerror or exc}") from exc
    try:
        with open(fd, "w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _new_file_mode(target))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def _stdout_text() -> Iterator[TextIO]:
    """Standard output as UTF-8 with untranslated newlines, the same bytes as a file."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by something without bytes underneath
        yield sys.stdout
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=False)
    try:
        yield out
        out.flush()
    finally:
        with contextlib.suppress(ValueError, OSError):
            out.detach()  # leave sys.stdout's buffer open


def _open_output(path: str | None) -> contextlib.AbstractContextManager[TextIO]:
    if path is None or path == "-":
        return _stdout_text()
    return atomic_text_file(path)


Writer = Callable[[CallRecord], None]


def _jsonl_writer(out: TextIO) -> Writer:
    def write(record: CallRecord) -> None:
        out.write(to_json(record))
        out.write("\n")

    return write


def _csv_writer(out: TextIO, record_type: type[CallRecord]) -> Writer:
    fields = [field.name for field in attrs.fields(record_type)]
    rows = csv.writer(out)
    rows.writerow(fields)

    def write(record: CallRecord) -> None:
        data = to_dict(record)
        rows.writerow(["" if data.get(name) is None else data[name] for name in fields])

    return write


def make_writer(out: TextIO, fmt: str, record_type: type[CallRecord]) -> Writer:
    """A function that writes one record to ``out`` (CSV: after writing the header)."""
    return _csv_writer(out, record_type) if fmt == "csv" else _jsonl_writer(out)


# -- progress --------------------------------------------------------------------


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _terminal_width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


class Progress:
    """A one-line progress bar for a stream: records done of total, rate, ETA.

    Redrawn in place with ``\\r`` at most ten times a second; :meth:`close`
    ends the line.
    """

    def __init__(self, stream: RecordStream[Any], out: TextIO) -> None:
        self._stream = stream
        self._out = out
        self._started = time.monotonic()
        self._next_draw = 0.0
        self._width = 0

    def update(self) -> None:
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + _REDRAW_INTERVAL
            self._draw(now)

    def close(self, *, completed: bool) -> None:
        if completed:
            self._draw(time.monotonic())
        if self._width:
            self._out.write("\n")
            self._out.flush()

    def _draw(self, now: float) -> None:
        line = self.render(now - self._started)
        line = line[: _terminal_width(self._out) - 1]
        self._out.write("\r" + line.ljust(self._width))
        self._out.flush()
        self._width = max(self._width, len(line))

    def render(self, elapsed: float) -> str:
        """The bar's text after ``elapsed`` seconds."""
        done = self._stream.records_done
        total = self._stream.total
        rate = done / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:,.0f} records/s"
        if total is None:
            return f"{done:,} records (counting...)  {speed}"
        share = done / total if total else 1.0
        filled = int(share * 24)
        bar = "#" * filled + "-" * (24 - filled)
        eta = _clock((total - done) / rate) if rate > 0 else "?"
        return f"[{bar}] {done:,}/{total:,} records {share:4.0%}  {speed}  ETA {eta}"


def _show_progress(args: argparse.Namespace) -> bool:
    # DEBUG log lines would be overwritten by the redraws, so --debug turns it off.
    return not args.quiet and not args.debug and sys.stderr.isatty()


# -- the export, shared by ``records`` and ``demo`` --------------------------------


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
    with _open_output(output) as out:
        progress = Progress(stream, sys.stderr) if show_progress else None
        return await export(stream, out, fmt, record_type, progress)


# -- commands --------------------------------------------------------------------


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
        await export_to(stream, args.output, args.format, record_type, _show_progress(args))


async def run_record(args: argparse.Namespace) -> None:
    """``itniotech record``: print one record as indented JSON."""
    async with make_client(args.base_url) as client:
        if args.kind == "sip":
            record: CallRecord | None = await client.voice.record_sip(args.voice_id)
        else:
            record = await client.voice.record_group(args.voice_id)
    if record is None:
        raise CommandError(f"no {args.kind} record with voice id {args.voice_id!r}")
    with _stdout_text() as out:
        out.write(to_json(record, indent=2) + "\n")


class RequestTimer:
    """httpx event hooks that time each request, from sending to the response's headers.

    ``durations`` has one entry per answered request, so its length counts them.
    """

    def __init__(self) -> None:
        self._sent: dict[int, float] = {}
        self.durations: list[float] = []

    @property
    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self._on_request], "response": [self._on_response]}

    async def _on_request(self, request: httpx.Request) -> None:
        self._sent[id(request)] = time.perf_counter()

    async def _on_response(self, response: httpx.Response) -> None:
        sent = self._sent.pop(id(response.request), None)
        if sent is not None:
            self.durations.append(time.perf_counter() - sent)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


@attrs.frozen
class DemoResult:
    """What the demo measured."""

    records: int
    pages: int
    windows: int
    seconds: float
    requests: int
    concurrency: int
    output: str
    #: Requests of the one-page-at-a-time sample, and the seconds they took.
    sample_requests: int
    sample_seconds: float

    def summary(self) -> str:
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        per_request = self.sample_seconds / self.sample_requests if self.sample_requests else 0.0
        serial = self.requests * per_request
        speedup = serial / self.seconds if self.seconds > 0 else 0.0
        return "\n".join(
            (
                f"Exported {_plural(self.records, 'SIP record')} to "
                + ("stdout" if self.output == "-" else self.output),
                f"  records      {self.records:,}",
                f"  pages        {self.pages:,} ({_plural(self.windows, 'window')} of at most "
                f"31 days, {self.concurrency} at a time)",
                f"  seconds      {self.seconds:.2f}",
                f"  records/s    {rate:,.0f}",
                f"  one by one   ~{serial:.1f} s estimated: {_plural(self.requests, 'request')} x "
                f"{per_request * 1000:.0f} ms, the mean of {self.sample_requests} fetched one "
                f"at a time ({speedup:.1f}x as long as this run)",
            )
        )


#: Pages the demo fetches one at a time, after the export, to estimate a serial run.
DEMO_SAMPLE_PAGES = 8


async def run_demo(args: argparse.Namespace) -> DemoResult:
    """``itniotech demo``: export two months from an in-process fake server."""
    from .testing import FakeItnio

    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=DEMO_DAYS)
    credentials = ("demo-key", secrets.token_hex(16))
    output = args.output or f"{DEMO_OUTPUT}.{args.format}"
    fake = FakeItnio(
        *credentials,
        seed=args.seed,
        n_records=args.records,
        group_records=(),
        days=DEMO_DAYS,
        now=now,
        latency=args.latency,
        keep_requests=False,
    )
    timer = RequestTimer()
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with (
        fake.serve() as base_url,
        httpx.AsyncClient(limits=limits, timeout=30.0, event_hooks=timer.hooks) as http,
        make_client(
            base_url, args.concurrency, credentials=credentials, http_client=http
        ) as client,
    ):
        stream = client.voice.iter_sip_records(start, now, concurrency=args.concurrency)
        started = time.perf_counter()
        count = await export_to(stream, output, args.format, SipCallRecord, _show_progress(args))
        seconds = time.perf_counter() - started
        requests = len(timer.durations)
        # What one page at a time costs here, measured rather than inferred from
        # requests that overlapped: the same client fetches a few pages serially.
        sample = client.voice.iter_sip_records(
            start, now, concurrency=1, limit=DEMO_SAMPLE_PAGES * 100
        )
        sample_started = time.perf_counter()
        async for _ in sample:
            pass
        sample_seconds = time.perf_counter() - sample_started
    return DemoResult(
        records=count,
        pages=stream.pages_fetched,
        windows=stream.windows,
        seconds=seconds,
        requests=requests,
        concurrency=args.concurrency,
        output=output,
        sample_requests=len(timer.durations) - requests,
        sample_seconds=sample_seconds,
    )


# -- main --------------------------------------------------------------------------


def _enable_debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("itniotech_async")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


async def _stoppable(command: Callable[[argparse.Namespace], Awaitable[T]], args: Any) -> T:
    """Run ``command(args)``; SIGTERM or SIGHUP stop it as Ctrl-C does, then raise Stopped.

    Like asyncio's own Ctrl-C handling, a stop signal cancels the main task
    once, so the command unwinds with its clean-ups running (an export's
    temporary file is removed, the client is closed).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    caught: list[int] = []

    def stop(signum: int) -> None:
        if not caught:
            caught.append(signum)
            task.cancel()

    installed: list[int] = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
    try:
        return await command(args)
    except BaseException:
        if caught:
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise Stopped(caught[0]) from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _dispatch(args: argparse.Namespace) -> None:
    check_args(args)
    if args.command in ("archive", "report") or getattr(args, "mode", None) == "archive":
        from .archive._cli import dispatch

        dispatch(args)
        return
    if args.command == "records":
        anyio.run(_stoppable, run_records, args, backend="asyncio")
    elif args.command == "record":
        anyio.run(_stoppable, run_record, args, backend="asyncio")
    elif args.command == "recordings":
        recordings = partial(
            run_recordings, make_client=make_client, show_progress=_show_progress(args)
        )
        anyio.run(_stoppable, recordings, args, backend="asyncio")
    else:
        result = anyio.run(_stoppable, run_demo, args, backend="asyncio")
        # Keep the summary out of the data when the data goes to stdout.
        where = sys.stderr if result.output == "-" else sys.stdout
        print(result.summary(), file=where, flush=True)


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return status


def _silence_stdout() -> None:
    # After a reader closed the pipe (``| head``), further flushes must not fail.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    if args.debug:
        _enable_debug_logging()
    try:
        _dispatch(args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Python 3.10's event loop surfaces Ctrl-C as the main task's cancellation.
        return _fail(args, "interrupted", EXIT_INTERRUPTED)
    except Stopped as exc:
        return _fail(args, f"interrupted by {exc}", 128 + exc.signum)
    except (UsageError, InvalidArgumentError) as exc:
        return _fail(args, f"error: {exc}", EXIT_USAGE)
    except (ItnioError, CommandError) as exc:
        return _fail(args, f"error: {exc}", EXIT_ERROR)
    except BrokenPipeError:
        # The reader has gone (``| head``): not a failure, as for other Unix tools.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        return _fail(args, f"error: {exc}", EXIT_ERROR)
    except Exception as exc:
        hint = "" if args.debug else " (run with --debug for a traceback)"
        return _fail(args, f"error: unexpected {type(exc).__name__}: {exc}{hint}", EXIT_ERROR)
    return EXIT_OK
