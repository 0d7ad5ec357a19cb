"""Exporting under a server's rate limit: fixed concurrency, botocore-style, adaptive.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_adaptive [--retry-after SECONDS] [--answer 429|-18]

The fake holds exactly 30,000 SIP records in one 20-day window (300 pages of
100), answers each request after 50-150 ms, and admits at most 20 requests a
second (a token bucket holding one second's worth) and 6 in flight; beyond
that it answers HTTP 429 at once (``--answer -18``: status -18; with
``--retry-after``, a 429 says how long to wait). Every variant fetches the 300
pages with ``max_concurrency=16``, all pages started at once:

a. today's fixed concurrency (``adaptive=False``), retrying each throttle on
   its own with backoff;
b. a baseline written here after botocore's "adaptive" retry mode: a client
   side token bucket whose fill rate follows CUBIC (x0.7 on a throttle, then
   a cubic climb back), enabled at the first throttle, taken before every
   attempt, over the same client with ``adaptive=False`` and its own retries;
c. the SDK's adaptive limiter (the default).

Printed per variant: wall time / the limit's ideal (pages / 20 per second),
throttled answers / requests, retries, and calls that used up their 10
retries (asked again by the benchmark, so that every page is fetched).
Goals for (c): wall / ideal <= 1.15, throttled <= 3%, and better than (a)
on both. One run of each, in one
process, one after the other; the server's limit makes the times stable, but
the machine is shared: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import anyio

import itniotech_async as itnio
from benchmarks._common import print_table
from itniotech_async.testing import FakeItnio

KEY, SECRET = "bench-key", "bench-secret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
START, END = NOW - timedelta(days=20), NOW
PAGES, SIZE = 300, 100
RATE, IN_FLIGHT = 20.0, 6
CONCURRENCY = 16
VARIANTS = ("fixed", "botocore", "adaptive")


class CubicBucket:
    """A client-side rate limiter after botocore's ``ClientRateLimiter`` (adaptive mode).

    Disabled until the first throttle; then a token bucket whose fill rate
    drops to 0.7x the measured rate on a throttle and climbs back along a
    cubic curve, capped at twice the measured sending rate.
    """

    BETA, SCALE, SMOOTH, BUCKET = 0.7, 0.4, 0.8, 0.5

    def __init__(self) -> None:
        self.enabled = False
        self.fill_rate = 0.5
        self.tokens = 0.0
        self.capacity = 1.0
        self.last_refill = time.monotonic()
        self.last_max_rate = 0.0
        self.last_throttle = time.monotonic()
        self.measured_rate = 0.0
        self.bucket_start = math.floor(time.monotonic() / self.BUCKET) * self.BUCKET
        self.count = 0
        self.lock = anyio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last_refill) * self.fill_rate)
        self.last_refill = now

    async def acquire(self) -> None:
        if not self.enabled:
            return
        async with self.lock:
            self._refill()
            if self.tokens < 1:
                await anyio.sleep((1 - self.tokens) / self.fill_rate)
                self._refill()
            self.tokens -= 1

    def _measure(self) -> None:
        now = time.monotonic()
        bucket = math.floor(now / self.BUCKET) * self.BUCKET
        self.count += 1
        if bucket > self.bucket_start:
            rate = self.count / (bucket - self.bucket_start)
            self.measured_rate = rate * self.SMOOTH + self.measured_rate * (1 - self.SMOOTH)
            self.count = 0
            self.bucket_start = bucket

    def _set_rate(self, rate: float) -> None:
        self._refill()
        self.fill_rate = max(rate, 0.5)
        self.capacity = max(rate, 1.0)
        self.tokens = min(self.tokens, self.capacity)

    def on_answer(self, throttled: bool) -> None:
        self._measure()
        now = time.monotonic()
        if throttled:
            rate = min(self.measured_rate, self.fill_rate) if self.enabled else self.measured_rate
            self.last_max_rate = rate
            self.last_throttle = now
            self.enabled = True
            self._set_rate(rate * self.BETA)
        elif self.enabled:
            k = (self.last_max_rate * (1 - self.BETA) / self.SCALE) ** (1 / 3)
            rate = self.SCALE * (now - self.last_throttle - k) ** 3 + self.last_max_rate
            self._set_rate(min(rate, 2 * self.measured_rate))


def is_throttle(error: BaseException) -> bool:
    return (isinstance(error, itnio.HttpStatusError) and error.status_code == 429) or isinstance(
        error, itnio.ServerError
    )


async def export(fetch: Callable[[int], Awaitable[int]]) -> tuple[float, int]:
    """Fetch every page at once (the client limits), return (seconds, records)."""
    counts: list[int] = []
    started = time.perf_counter()

    async def one(page: int) -> None:
        counts.append(await fetch(page))

    async with anyio.create_task_group() as tg:
        for page in range(1, PAGES + 1):
            tg.start_soon(one, page)
    return time.perf_counter() - started, sum(counts)


async def run(variant: str, fake: FakeItnio, url: str, args: argparse.Namespace) -> list[str]:
    limit = fake.set_rate_limit(
        RATE, in_flight=IN_FLIGHT, answer=args.answer, retry_after=args.retry_after
    )
    retries = gave_up = 0
    if variant == "botocore":
        bucket = CubicBucket()
        client = itnio.ItnioClient(
            KEY, SECRET, base_url=url, max_concurrency=CONCURRENCY, adaptive=False, max_retries=0
        )

        async def fetch(page: int) -> int:
            nonlocal retries
            for attempt in range(30):
                await bucket.acquire()
                try:
                    result = await client.voice.record_sip_query(START, END, page=page, size=SIZE)
                except itnio.ItnioError as error:
                    if not is_throttle(error):
                        raise
                    bucket.on_answer(throttled=True)
                    retries += 1
                    # botocore: full jitter, base 1 s... here as the SDK's own: 0.5 s base.
                    await anyio.sleep(random.uniform(0, min(20.0, 0.5 * 2**attempt)))
                    continue
                bucket.on_answer(throttled=False)
                return len(result.records)
            raise RuntimeError("gave up")

    else:
        client = itnio.ItnioClient(
            KEY,
            SECRET,
            base_url=url,
            max_concurrency=CONCURRENCY,
            adaptive=variant == "adaptive",
            max_retries=10,
        )

        async def fetch(page: int) -> int:
            nonlocal gave_up
            while True:  # a call that used up its retries is asked again (and counted)
                try:
                    result = await client.voice.record_sip_query(START, END, page=page, size=SIZE)
                except itnio.ItnioError as error:
                    if not is_throttle(error):
                        raise
                    gave_up += 1
                    continue
                return len(result.records)

    async with client:
        seconds, records = await export(fetch)
        stats = client.stats
    if records != PAGES * SIZE:
        raise RuntimeError(f"{variant}: {records} records, not {PAGES * SIZE}")
    if variant != "botocore":
        retries = stats.retries
    requests = limit.admitted + limit.throttled
    ideal = PAGES / RATE
    return [
        variant,
        f"{seconds:.2f} s",
        f"{seconds / ideal:.3f}",
        f"{limit.throttled}/{requests} = {limit.throttled / requests:.1%}",
        str(retries),
        str(gave_up),
    ]


async def main(args: argparse.Namespace) -> None:
    fake = FakeItnio(
        KEY, SECRET, n_records=PAGES * SIZE, days=20, now=NOW, latency=(0.05, 0.15), seed=1
    )
    fake.keep_requests = False
    rows = []
    async with fake.serve() as url:
        for variant in args.variants:
            rows.append(await run(variant, fake, url, args))
    answer = "status -18" if args.answer == "-18" else "HTTP 429"
    if args.retry_after is not None:
        answer += f", Retry-After: {args.retry_after:g}"
    print_table(
        ["variant", "wall", "wall / ideal", "throttled / requests", "retries", "calls given up"],
        rows,
        title=(
            f"{PAGES} pages of {SIZE}, fake limited to {RATE:g}/s and {IN_FLIGHT} in flight "
            f"({answer}), latency 50-150 ms, max_concurrency={CONCURRENCY}; "
            f"ideal = {PAGES / RATE:g} s"
        ),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_adaptive")
    parser.add_argument("--retry-after", type=float, default=None)
    parser.add_argument("--answer", choices=["429", "-18"], default="429")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="which to run"
    )
    anyio.run(main, parser.parse_args())
