"""A stream's walk in virtual time: the planner's cost without the machine's noise.

Run from the repository root::

    .venv/bin/python -m benchmarks.sim_walks [--seeds 16] [--still]

or, for another version's planner, from a directory holding that version's
``itniotech_async`` (``git archive REV itniotech_async | tar -x``), with the
repository on ``PYTHONPATH`` for the benchmarks::

    PYTHONPATH=/path/to/repo /path/to/repo/.venv/bin/python -m benchmarks.sim_walks

The planner (``itniotech_async._planner``) is driven as the stream's driver
drives it, against the in-process fake's record store with the same hostile
options as ``bench_streams`` (ties reordered per request, counts read apart
from rows, 10 batch calls of 150 callees, 0.02 calls arriving per request
stamped anywhere in the past; ``--still``: none of these). Each request is
answered after a latency drawn uniformly from 50-150 ms of virtual time, at
most ``--concurrency`` in flight, starting at 8 and growing by one per answer
as the client's limiter does. Each seed is one walk of 30,000 records (other
data, other latencies); per walk it prints virtual wall / ideal (the SDK's
ideal of ``bench_streams``: mean latency x (2 + (pages - 1) / concurrency)),
requests per page, and the records lost or yielded twice, then the median and
mean. The same seeds give the same walks, so two versions of the planner are
compared walk for walk; the CPU time a walk takes is left out.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from benchmarks._common import PAGE_SIZE
from benchmarks.bench_streams import (
    HOSTILE_ARRIVALS,
    HOSTILE_BATCH_SIZE,
    HOSTILE_BATCHES,
    LATENCY,
    RECORDS,
)
from itniotech_async._converter import structure_page
from itniotech_async._models import SipCallRecord
from itniotech_async._planner import Job, Planner
from itniotech_async._times import whole_second_span
from itniotech_async.testing import FakeItnio

SLOW_START = 8  # the client's limiter: requests in flight at first


def walk(
    seed: int, *, hostile: bool, concurrency: int
) -> tuple[float, float, int, int, Counter[str]]:
    """One walk: ``(wall / ideal, requests / pages, lost, twice, requests by kind)``."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    fake = FakeItnio(
        n_records=RECORDS,
        days=30,
        seed=seed,
        now=now,
        tie_order="shuffle" if hostile else "stable",
        count_skew=hostile,
        arrivals=HOSTILE_ARRIVALS if hostile else 0.0,
        batches=HOSTILE_BATCHES if hostile else 0,
        batch_size=HOSTILE_BATCH_SIZE,
    )
    store = fake._store
    present = {record["voiceId"] for record in store.records("sip")}
    start, end = now - timedelta(days=30, hours=1), now + timedelta(hours=1)
    planner: Planner[SipCallRecord] = Planner(
        whole_second_span(start, end),
        timezone.utc,
        {"sipGroupName": "", "phoneName": ""},
        size=PAGE_SIZE,
        concurrency=concurrency,
    )
    rng = random.Random(f"latency-{seed}")
    clock, sent, limit, in_flight = 0.0, 0, min(SLOW_START, concurrency), 0
    pending: list[tuple[float, int, Job]] = []
    kinds: Counter[str] = Counter()
    ids: list[str] = []
    while True:
        while in_flight < limit and (job := planner.next_job()) is not None:
            in_flight += 1
            sent += 1
            kinds[job.kind] += 1
            heapq.heappush(pending, (clock + rng.uniform(*LATENCY), sent, job))
        while planner.ready:
            ids.extend(record.voice_id for record in planner.ready.popleft().records)
        if planner.finished or planner.error is not None:
            break
        clock, _, job = heapq.heappop(pending)
        in_flight -= 1
        limit = min(concurrency, limit + 1)
        body = json.loads(job.content())
        params = body["params"]
        store.forget_arrivals()  # (as the fake does at the start of each request)
        answer = store.query(
            "sip",
            datetime.fromisoformat(params["strTime"]),
            datetime.fromisoformat(params["endTime"]),
            "",
            "",
            body["current"],
            body["size"],
        )
        planner.request_done(job)
        planner.answered(job, structure_page(json.loads(answer)["data"], SipCallRecord))
    if planner.error is not None:
        raise planner.error
    unique = set(ids)
    pages = -(-len(unique) // PAGE_SIZE)
    ideal = sum(LATENCY) / 2 * (2 + (pages - 1) / concurrency)
    return (
        clock / ideal,
        sent / pages,
        len(present - unique),
        len(ids) - len(unique),
        kinds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sim_walks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=16, help="walks, one per seed")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--still", action="store_true", help="data holding still")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.concurrency < 1:
        raise SystemExit("--seeds and --concurrency must be >= 1")
    hostile = not args.still
    print(
        f"sim_walks: {RECORDS:,} records, {'hostile' if hostile else 'still'} fake, "
        f"latency uniform {LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms (virtual), "
        f"concurrency {args.concurrency}"
    )
    ratios, per_page, wrong = [], [], 0
    for seed in range(args.seeds):
        ratio, requests, lost, twice, kinds = walk(
            seed, hostile=hostile, concurrency=args.concurrency
        )
        ratios.append(ratio)
        wrong += lost + twice
        per_page.append(requests)
        extra = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()) if kind != "page")
        print(
            f"  seed {seed:>2}: wall/ideal {ratio:.3f}  requests/pages {requests:.3f}  "
            f"lost {lost}  twice {twice}  ({extra})",
            flush=True,
        )
    print(
        f"median wall/ideal {statistics.median(ratios):.3f} (mean {statistics.mean(ratios):.3f}), "
        f"mean requests/pages {statistics.mean(per_page):.3f}"
    )
    if wrong:
        print(f"NOT exactly once: {wrong} records lost or yielded twice")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
