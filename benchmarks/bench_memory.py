"""Bounded memory: peak RSS growth streaming 300k records against 30k records.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_memory

One fake server process (zero latency) holds 300,000 SIP records spread over
60 days, so the whole range spans two 31-day windows; generating them takes
the server ~20 s and over 1 GiB. Each measurement runs in a fresh child
process (this script with ``--child N``) that imports the SDK, warms up with a
short walk, notes ``ru_maxrss``, streams its range with plain ``async for``
inside ``async with ItnioClient(max_concurrency=16)``, discarding each record
(only counting), and notes ``ru_maxrss`` again:

- 300k: the whole range, two windows, exactly 300,000 records;
- 30k: the newest ~30,000 records (one window; the start is the submit time
  of the 30,000th newest record, so a few records sharing that second may
  come along; the exact count is checked against the server's ``total``).

Growth is the peak after the walk minus the peak after the warm-up. Goal:
growth(300k) - growth(30k) <= 30 MiB. Records per second are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from benchmarks._common import (
    API_KEY,
    API_SECRET,
    PAGE_SIZE,
    REPO_ROOT,
    BenchmarkError,
    FakeServer,
    aiohttp_walk,
    fake_server,
    fmt_seconds,
    parse_dicts,
    print_environment,
    print_table,
    sdk_walk_for,
)
from itniotech_async import ItnioClient, SipCallRecord
from itniotech_async._times import seconds_to_datetime, whole_second_span, window_spans

BIG = 300_000
SMALL = 30_000
DAYS = 60
CONCURRENCY = 16
GOAL_MIB = 30.0
# ru_maxrss is in KiB on Linux.
_KIB_PER_MIB = 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake's data")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    # The child's side (internal): stream [--start, --end] and check N records.
    parser.add_argument("--child", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--end", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    return parser


# -- the child -------------------------------------------------------------------


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(args: argparse.Namespace) -> int:
    expected: int = args.child
    count = 0

    def sink(record: SipCallRecord) -> None:
        nonlocal count
        count += 1

    async def warm_up() -> None:
        # A few pages through a client of the same shape, so the baseline
        # holds the imports, the event loop, connections and parsers.
        async with ItnioClient(
            API_KEY, API_SECRET, base_url=args.base_url, max_concurrency=args.concurrency
        ) as client:
            stream = client.voice.iter_sip_records(
                args.start, args.end, limit=2 * args.concurrency * PAGE_SIZE
            )
            async for _ in stream:
                pass

    asyncio.run(warm_up())
    gc.collect()
    baseline = _maxrss_kib()
    seconds = asyncio.run(sdk_walk_for(args.base_url, args.start, args.end, args.concurrency, sink))
    peak = _maxrss_kib()
    result = {"records": count, "expected": expected, "seconds": seconds}
    result.update(baseline_kib=baseline, peak_kib=peak)
    print(json.dumps(result), flush=True)
    return 0 if count == expected else 1


# -- the parent ------------------------------------------------------------------


async def _newest_range(server: FakeServer, n: int) -> tuple[datetime, int]:
    """The start of a range ending at ``server.end`` holding the newest ~``n`` records."""
    async with ItnioClient(API_KEY, API_SECRET, base_url=server.base_url) as client:
        window_start = server.end - timedelta(days=31)
        page = await client.voice.record_sip_query(
            window_start, server.end, page=math.ceil(n / PAGE_SIZE), size=PAGE_SIZE
        )
        start = page.records[(n - 1) % PAGE_SIZE].submit_time
        if start is None:
            raise BenchmarkError("the fake's record has no submitTime")
        first = await client.voice.record_sip_query(start, server.end, size=1)
    return start, first.total


def split_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The windows of at most 31 days a stream walks ``[start, end]`` in."""
    span = whole_second_span(start, end)
    if span is None:
        return []
    return [
        (seconds_to_datetime(lo, start.tzinfo), seconds_to_datetime(hi, start.tzinfo))
        for lo, hi in window_spans(*span)
    ]


async def _warm_server(server: FakeServer) -> None:
    count = 0

    def sink(records: Sequence[Any]) -> None:
        nonlocal count
        count += len(records)

    parse = parse_dicts(json.loads)
    for start, end in split_windows(server.start, server.end):
        await aiohttp_walk(server.base_url, start, end, 16, parse, sink)
    if count < BIG:
        raise BenchmarkError(f"the range holds {count:,} records, fewer than {BIG:,}")


def _run_child(
    server: FakeServer, start: datetime, expected: int, concurrency: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_memory",
        "--child",
        str(expected),
        "--base-url",
        server.base_url,
        "--start",
        start.isoformat(),
        "--end",
        server.end.isoformat(),
        "--concurrency",
        str(concurrency),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchmarkError(
            f"child for {expected:,} records failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _parent(args: argparse.Namespace) -> int:
    print_environment(
        f"bench_memory: peak RSS growth streaming {BIG:,} vs ~{SMALL:,} SIP records, "
        f"zero latency, concurrency {args.concurrency}, plain async for, records discarded"
    )
    began = time.perf_counter()
    print(f"starting the fake server with {BIG:,} records of each kind ...", flush=True)
    with fake_server(n_records=BIG, days=DAYS, seed=args.seed) as server:
        print(f"fake server: pid {server.pid}, ready in {server.startup_seconds:.1f} s")
        # Warm-up of the server (not reported): it encodes each record once,
        # on first use; without this the first walk would pay for it.
        warm = time.perf_counter()
        asyncio.run(_warm_server(server))
        print(f"fake server warmed up (one raw walk) in {time.perf_counter() - warm:.1f} s")
        small_start, small_total = asyncio.run(_newest_range(server, SMALL))
        cases = [
            (f"~{SMALL // 1000}k (newest)", small_start, small_total),
            (f"{BIG // 1000}k (whole range)", server.start, BIG),
        ]
        results = []
        for name, start, expected in cases:
            windows = len(split_windows(start, server.end))
            print(
                f"  {name}: {start.isoformat(timespec='seconds')} .. "
                f"{server.end.isoformat(timespec='seconds')}, {windows} window(s), "
                f"{expected:,} records ...",
                flush=True,
            )
            result = _run_child(server, start, expected, args.concurrency)
            print(
                f"    \N{CHECK MARK} {result['records']:,} records in "
                f"{fmt_seconds(result['seconds'])}",
                flush=True,
            )
            results.append((name, windows, result))

    rows = []
    growths = []
    for name, windows, result in results:
        baseline = result["baseline_kib"] / _KIB_PER_MIB
        peak = result["peak_kib"] / _KIB_PER_MIB
        growths.append(peak - baseline)
        rows.append(
            [
                name,
                f"{result['records']:,}",
                windows,
                fmt_seconds(result["seconds"]),
                f"{result['records'] / result['seconds']:,.0f}",
                f"{baseline:.1f}",
                f"{peak:.1f}",
                f"{peak - baseline:.1f}",
            ]
        )
    print_table(
        [
            "walk",
            "records",
            "windows",
            "time",
            "records/s",
            "RSS after warm-up MiB",
            "peak RSS MiB",
            "growth MiB",
        ],
        rows,
        title="Results (each in a fresh child process)",
    )
    difference = growths[1] - growths[0]
    verdict = "met" if difference <= GOAL_MIB else "NOT MET"
    print(
        f"\ngrowth({rows[1][1]}) - growth({rows[0][1]}) = {difference:.1f} MiB "
        f"(goal <= {GOAL_MIB:.0f} MiB: {verdict})"
    )
    print(f"total benchmark time {time.perf_counter() - began:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child is not None:
        return _child(args)
    return _parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
