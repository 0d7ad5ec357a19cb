"""Concurrent pagination against an ideal schedule, with latency.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_streams [--repeat 3] [--sequential-repeat 1]

A fake server in its own process holds exactly 30,000 SIP records in one
31-day window (300 pages of 100) and answers each request after a delay drawn
uniformly from 50-150 ms (``--latency 0.1`` makes it a steady 100 ms, where
answers arrive together). With ``concurrency`` requests in flight, a walk
that trusts the service's counts cannot beat::

    ideal = mean latency * (1 + (pages - 1) / concurrency)

(page 1 alone, to learn how many pages there are, then the rest in waves). A
walk that proves it is complete needs one round trip more (a count read after
the rows), so for the SDK the ideal is ``mean latency * (2 + (pages - 1) /
concurrency)``; both ratios are printed. Each variant's wall time is printed
next to ``wall / ideal``:

a. the SDK, ``async with stream as records``        goal <= 1.10
b. the SDK, plain ``async for``                     goal <= 1.25
c. the SDK's ``record_sip_query``, one page at a time (the vendor's samples)
d. hand-written ``asyncio.gather`` + semaphore over raw httpx, json to dicts
e. the same over aiohttp

Variants run interleaved, each in a fresh event loop, ``--repeat`` times
(the sequential walk, ~30 s, only ``--sequential-repeat`` times), and the
median is reported. Every run must yield all 30,000 voice ids exactly once.

Then the exactly-once part, each beside the planner of release 0.1.0 (run in
a child process from ``git archive`` of that release, where git can):

- data holding still: wall / ideal (goal <= 1.10) and requests / pages
  (goal <= 1.05);
- a hostile service (a second fake: rows sharing a second reordered on every
  request, counts and rows read on either side of calls arriving meanwhile,
  ``--batches`` batch calls of 150 callees sharing a second, and calls
  arriving stamped anywhere in the past, ``--arrivals`` per request): wall /
  ideal (goal <= 1.5), and how many of the records present from the start
  were lost or yielded twice (goal: 0 and 0).

Timings are never asserted: the machine is shared, so only ratios measured
in the same run mean anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from benchmarks._common import (
    API_KEY,
    API_SECRET,
    OLD_RELEASE,
    PAGE_SIZE,
    BenchmarkError,
    FakeServer,
    Walk,
    Walked,
    aiohttp_walk,
    fake_server,
    fmt_ratio,
    fmt_seconds,
    httpx_walk,
    median_runs,
    parse_dicts,
    print_environment,
    print_table,
    run_interleaved,
    sdk_walk_for,
    sdk_walk_with,
    version_walk,
)
from itniotech_async import ItnioClient, ItnioError, SipCallRecord
from itniotech_async.testing._latency import parse_latency

RECORDS = 30_000
LATENCY = (0.05, 0.15)
HOSTILE_BATCH_SIZE = 150
#: The hostile walk's calls arriving per request, and batch calls in its data.
HOSTILE_ARRIVALS = 0.02
HOSTILE_BATCHES = 10


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_streams", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds per variant (median)")
    parser.add_argument(
        "--sequential-repeat",
        type=int,
        default=1,
        help="rounds of the sequential walk, which takes ~30 s each (default: %(default)s)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--latency",
        type=parse_latency,
        default=LATENCY,
        help="the fake's delay per request, SECONDS or LOW:HIGH drawn uniformly "
        f"(default: {LATENCY[0]}:{LATENCY[1]})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake's data and latency")
    parser.add_argument(
        "--arrivals",
        type=float,
        default=HOSTILE_ARRIVALS,
        help="calls arriving per request in the hostile walk (default: %(default)s)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=HOSTILE_BATCHES,
        help="batch calls of 150 callees sharing a second, in the hostile walk's data",
    )
    parser.add_argument(
        "--hostile-repeat",
        type=int,
        default=None,
        help="walks of this version against the hostile fake (default: --repeat); "
        "single walks vary with where calls arrive, and the old planner's take ~30 s",
    )
    parser.add_argument(
        "--old",
        default=OLD_RELEASE,
        help="git revision of the planner to compare with (default: release 0.1.0)",
    )
    return parser


async def _sequential(server: FakeServer, ids: list[str]) -> float:
    """The vendor samples' way: one ``record_sip_query`` after another."""
    async with ItnioClient(API_KEY, API_SECRET, base_url=server.base_url) as client:
        began = time.perf_counter()
        page_number = pages = 1
        while page_number <= pages:
            page = await client.voice.record_sip_query(
                server.start, server.end, page=page_number, size=PAGE_SIZE
            )
            ids.extend(record.voice_id or "" for record in page.records)
            pages = page.pages
            page_number += 1
        return time.perf_counter() - began


async def _count_pages(server: FakeServer) -> tuple[int, int]:
    """``(total, pages)`` of the range, from page 1 as the service reports it."""
    async with ItnioClient(API_KEY, API_SECRET, base_url=server.base_url) as client:
        page = await client.voice.record_sip_query(server.start, server.end, size=PAGE_SIZE)
    return page.total, page.pages


def _variants(
    server: FakeServer, concurrency: int, sequential_rounds: int
) -> list[tuple[str, Walk, int | None, float | None]]:
    url, start, end = server.base_url, server.start, server.end
    parse = parse_dicts(json.loads)

    def record_sink(ids: list[str]) -> Callable[[SipCallRecord], None]:
        def sink(record: SipCallRecord) -> None:
            ids.append(record.voice_id or "")

        return sink

    def dict_sink(ids: list[str]) -> Callable[[Sequence[dict[str, Any]]], None]:
        def sink(records: Sequence[dict[str, Any]]) -> None:
            for record in records:
                ids.append(record["voiceId"])

        return sink

    def a(ids: list[str]) -> Coroutine[Any, Any, float]:
        return sdk_walk_with(url, start, end, concurrency, record_sink(ids))

    def b(ids: list[str]) -> Coroutine[Any, Any, float]:
        return sdk_walk_for(url, start, end, concurrency, record_sink(ids))

    def c(ids: list[str]) -> Coroutine[Any, Any, float]:
        return _sequential(server, ids)

    def d(ids: list[str]) -> Coroutine[Any, Any, float]:
        return httpx_walk(url, start, end, concurrency, parse, dict_sink(ids))

    def e(ids: list[str]) -> Coroutine[Any, Any, float]:
        return aiohttp_walk(url, start, end, concurrency, parse, dict_sink(ids))

    walks: list[tuple[str, Walk, int | None, float | None]] = [
        ("a. SDK, async with stream as records", a, None, 1.10),
        ("b. SDK, plain async for", b, None, 1.25),
        ("c. SDK record_sip_query, sequential", c, sequential_rounds, None),
        ("d. httpx + gather + Semaphore, dicts", d, None, None),
        ("e. aiohttp + gather + Semaphore, dicts", e, None, None),
    ]
    return walks


async def _sdk_walk(server: FakeServer, concurrency: int) -> Walked:
    ids: list[str] = []
    error = None
    async with ItnioClient(
        API_KEY, API_SECRET, base_url=server.base_url, max_concurrency=concurrency
    ) as client:
        stream = client.voice.iter_sip_records(server.start, server.end)
        began = time.perf_counter()
        try:
            async with stream as records:
                async for record in records:
                    ids.append(record.voice_id)
        except ItnioError as exc:
            error = repr(exc)
        wall = time.perf_counter() - began
        sent = client.stats.requests  # (retries included)
    return Walked(wall, ids, sent, error)


def _this_version(server: FakeServer, concurrency: int) -> Walked:
    return asyncio.run(_sdk_walk(server, concurrency))


def _exactly_once_rows(
    walks: Sequence[tuple[str, Callable[[FakeServer, int], Walked] | None]],
    server: FakeServer,
    concurrency: int,
    repeat: int,
    hostile: bool,
    mean_latency: float,
    first_repeat: int | None = None,
) -> list[list[object]]:
    """Run each walk ``repeat`` times, interleaved; a table row per walk (medians).

    ``first_repeat`` runs the first walk (this version) that many times instead.
    """
    runs: dict[str, list[Walked]] = {name: [] for name, _ in walks}
    rounds = [repeat if first_repeat is None or i else first_repeat for i in range(len(walks))]
    for round_ in range(1, max(rounds) + 1):
        for (name, walk), most in zip(walks, rounds, strict=True):
            if walk is None or round_ > most:
                continue
            run = walk(server, concurrency)
            runs[name].append(run)
            print(
                f"  round {round_}  {name:<34} {fmt_seconds(run.wall):>9}  "
                f"{len(run.ids):,} ids, {run.requests} requests"
                + (f", {run.error}" if run.error else ""),
                flush=True,
            )
    rows: list[list[object]] = []
    for name, walk in walks:
        if walk is None or not runs[name]:
            rows.append([name, "-", "-", "-", "-", "-", "-", "not run"])
            continue
        ratios, new_ratios, per_page, lost, repeated = [], [], [], [], []
        for run in runs[name]:
            unique = set(run.ids)
            # Every generated record is in the range, with a 19-character id;
            # calls that arrived during the walks have 20 characters.
            present = {i for i in unique if len(i) == 19}
            pages = math.ceil(len(unique) / PAGE_SIZE)
            ratios.append(run.wall / (mean_latency * (1 + (pages - 1) / concurrency)))
            new_ratios.append(run.wall / (mean_latency * (2 + (pages - 1) / concurrency)))
            per_page.append(run.requests / pages)
            lost.append(RECORDS - len(present))
            repeated.append(len(run.ids) - len(unique))
        errors = sum(run.error is not None for run in runs[name])
        rows.append(
            [
                name,
                fmt_seconds(statistics.median(run.wall for run in runs[name])),
                fmt_ratio(statistics.median(new_ratios), 3),
                fmt_ratio(statistics.median(ratios), 3),
                fmt_ratio(statistics.median(per_page), 3),
                f"{min(lost)}..{max(lost)}" if hostile else max(lost),
                f"{min(repeated)}..{max(repeated)}" if hostile else max(repeated),
                f"{errors}/{len(runs[name])} raised",
            ]
        )
    return rows


EXACTLY_ONCE_HEADERS = [
    "walk (async with)",
    "median wall",
    "wall/ideal",
    "old ideal",
    "requests/pages",
    "lost",
    "twice",
    "errors",
]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.repeat < 1 or args.sequential_repeat < 0 or args.concurrency < 1:
        raise SystemExit("--repeat and --concurrency must be >= 1, --sequential-repeat >= 0")
    if args.hostile_repeat is not None and args.hostile_repeat < 1:
        raise SystemExit("--hostile-repeat must be >= 1")
    if args.latency is None:
        raise SystemExit("--latency must be more than 0: the ideal is measured in round trips")
    low, high = args.latency if isinstance(args.latency, tuple) else (args.latency,) * 2
    latency = f"{low}:{high}"
    spread = f"uniform {low * 1000:.0f}-{high * 1000:.0f}" if high > low else f"{low * 1000:.0f}"
    print_environment(
        f"bench_streams: {RECORDS:,} SIP records, latency {spread} ms, "
        f"concurrency {args.concurrency}, median of {args.repeat} interleaved rounds"
    )
    began = time.perf_counter()
    with fake_server(n_records=RECORDS, days=30, latency=latency, seed=args.seed) as server:
        print(f"fake server: pid {server.pid}, ready in {server.startup_seconds:.1f} s")
        total, pages = asyncio.run(_count_pages(server))
        if total != RECORDS:
            raise BenchmarkError(f"the range holds {total:,} records, not {RECORDS:,}")
        mean_latency = (low + high) / 2
        ideal = mean_latency * (1 + (pages - 1) / args.concurrency)
        # The SDK proves each window complete with a count read after its rows.
        proven_ideal = mean_latency * (2 + (pages - 1) / args.concurrency)
        print(
            f"range {server.start.isoformat(timespec='seconds')} .. "
            f"{server.end.isoformat(timespec='seconds')}: {total:,} records in {pages} pages "
            f"of {PAGE_SIZE}, one window"
        )
        print(
            f"ideal = {mean_latency} s x (1 + ({pages} - 1) / {args.concurrency}) "
            f"= {fmt_seconds(ideal)}; for a walk that proves itself complete, "
            f"{mean_latency} s x (2 + ({pages} - 1) / {args.concurrency}) "
            f"= {fmt_seconds(proven_ideal)}"
        )

        print("\nexactly once, data holding still ...", flush=True)
        with version_walk(args.old) as old:
            still = _exactly_once_rows(
                [("this version", _this_version), (f"planner of {args.old}", old)],
                server,
                args.concurrency,
                args.repeat,
                hostile=False,
                mean_latency=mean_latency,
            )
        print_table(
            EXACTLY_ONCE_HEADERS,
            still,
            title=(
                "Exactly once, data holding still (goals: wall/ideal <= 1.10, "
                "requests/pages <= 1.05, 0 lost, 0 twice)"
            ),
        )

        variants = _variants(server, args.concurrency, args.sequential_repeat)
        # Warm-up (not reported): fills the fake's page cache and this process's imports.
        print("warm-up ...", flush=True)
        run_interleaved([(variants[0][0], variants[0][1], 1)], 1, RECORDS)
        print("measuring ...", flush=True)
        runs = [(name, walk, rounds) for name, walk, rounds, _ in variants]
        results = run_interleaved(runs, args.repeat, RECORDS)

    # The better of the two hand-written loops: what careful user code achieves.
    hand = min(median_runs(results[name]) for name, *_ in variants[3:])
    rows = []
    verdicts = []
    for name, _, _, goal in variants:
        if not results[name]:
            rows.append([name, 0, "-", "-", "-", "-", "not run"])
            continue
        wall = median_runs(results[name])
        ratio = wall / (proven_ideal if name.startswith(("a.", "b.")) else ideal)
        verdict = "-"
        if goal is not None:
            met = ratio <= goal
            verdict = f"<= {goal:.2f}: {'met' if met else 'NOT MET'}"
            verdicts.append(met)
        seconds = [run.seconds for run in results[name]]
        rows.append(
            [
                name,
                len(seconds),
                fmt_seconds(wall),
                f"{min(seconds):.3f}..{max(seconds):.3f}",
                fmt_ratio(ratio, 3),
                fmt_ratio(wall / hand, 3),
                verdict,
            ]
        )
    print_table(
        ["variant", "runs", "median wall", "min..max s", "wall/ideal", "x best d./e.", "goal"],
        rows,
        title=(
            f"Results (ideal {fmt_seconds(ideal)}, {fmt_seconds(proven_ideal)} for the SDK's "
            f"a. and b.; all runs verified {RECORDS:,} unique ids)"
        ),
    )
    print(
        f"\nthe best hand-written loop reaches wall/ideal {hand / ideal:.3f}: the ideal leaves out "
        "the work per request and the wait for the slowest page of the last wave"
    )

    hostile_options = [
        "--tie-order",
        "shuffle",
        "--count-skew",
        "--arrivals",
        str(args.arrivals),
        "--batches",
        str(args.batches),
        "--batch-size",
        str(HOSTILE_BATCH_SIZE),
    ]
    print(f"\nexactly once, a hostile service: fake server with {' '.join(hostile_options)}")
    with (
        fake_server(
            n_records=RECORDS,
            days=30,
            latency=latency,
            seed=args.seed,
            options=hostile_options,
        ) as server,
        version_walk(args.old) as old,
    ):
        hostile = _exactly_once_rows(
            [("this version", _this_version), (f"planner of {args.old}", old)],
            server,
            args.concurrency,
            args.repeat,
            hostile=True,
            mean_latency=mean_latency,
            first_repeat=args.hostile_repeat,
        )
    print_table(
        EXACTLY_ONCE_HEADERS,
        hostile,
        title=(
            "Exactly once, ties reordered per request, counts read apart, calls arriving "
            "anywhere (goals: wall/ideal <= 1.5, 0 lost, 0 twice; lost and twice are "
            "min..max over the runs)"
        ),
    )
    print(
        f"\ngoals met (streams): {sum(verdicts)}/{len(verdicts)}; "
        f"total benchmark time {time.perf_counter() - began:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
