"""``itniotech demo``: the SDK against an in-process fake server, no credentials, no network.

``demo`` (``demo export``) exports two months of records to a file and
prints what it measured; ``demo archive`` archives them into SQLite, syncs
again a few hours later and prints the report.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import httpx

from .._models import SipCallRecord
from .._times import parse_iso_time
from ..archive import DEFAULT_HISTORY, Archive
from ..testing import FakeItnio, generate_records
from ..testing._latency import LATENCY_HELP, parse_latency
from ._args import add_common, add_output, positive_int
from ._connect import make_client
from ._export import export_to
from ._progress import SyncBar, show_progress

__all__ = ["DemoResult", "RequestTimer", "add_demo_command", "run_demo", "run_demo_archive"]

DEMO_OUTPUT = "itnio-demo-export"  # + "." + the format
DEMO_RECORDS = 40_000
DEMO_DAYS = 60
DEMO_LATENCY = (0.05, 0.15)
DEMO_CONCURRENCY = 16
DEMO_DB = "itnio-demo.db"
DEMO_LATE = timedelta(hours=3)  # the archive demo's second run comes this much later


def add_demo_command(commands: Any) -> None:
    """Add ``demo`` to the sub-parsers ``commands``."""
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
        type=positive_int,
        default=DEMO_RECORDS,
        metavar="N",
        help=f"SIP records the fake serves over {DEMO_DAYS} days (default: {DEMO_RECORDS})",
    )
    demo.add_argument(
        "--latency",
        type=parse_latency,
        default=DEMO_LATENCY,
        metavar="LOW:HIGH",
        help=f"{LATENCY_HELP} (default: 0.05:0.15)",
    )
    demo.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEMO_CONCURRENCY,
        metavar="N",
        help=f"page requests in flight (default: {DEMO_CONCURRENCY})",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the fake data (default: 1)")
    add_output(demo, DEMO_OUTPUT)
    add_common(demo, connects=False, top=False)


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
        count = await export_to(stream, output, args.format, SipCallRecord, show_progress(args))
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


# -- the archive demo ----------------------------------------------------------------


def _remove_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _late_calls(fake: FakeItnio, then: datetime, now: datetime, seed: int) -> tuple[int, int]:
    """Give the fake calls that arrived since ``then``, some stamped before it, and
    complete some calls it already served; return (new, completed)."""
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
    return parse_iso_time(record["submitTime"])


async def run_demo_archive(args: argparse.Namespace) -> str:
    """``itniotech demo archive``: a fake server, a two-month SQLite archive, an
    incremental second run and the report. Returns the summary to print."""
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
    show = show_progress(args)
    async with (
        fake.serve() as base_url,
        httpx.AsyncClient(limits=limits, timeout=30.0) as http,
        make_client(
            base_url, args.concurrency, credentials=credentials, http_client=http
        ) as client,
        Archive.open(path) as archive,
    ):
        started = time.perf_counter()
        bar = SyncBar(sys.stderr) if show else None
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
