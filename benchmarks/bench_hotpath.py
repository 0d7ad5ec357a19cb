"""Records per second at zero latency: the SDK's per-record cost against two baselines.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_hotpath [--repeat 5] [--profile]

A fake server in its own process holds exactly 30,000 SIP records (300 pages
of 100) and answers at once. Walks of the whole range, concurrency 8,
run interleaved, ``--repeat`` times each (median):

- the SDK yielding typed records (``async with stream as records``), as
  installed with the ``fast`` extra the README recommends, and beside it the
  bare install (stdlib json, httpx's own transport);
- a typical modern stack: httpx + pydantic v2 models of the record with the
  same field types, ``asyncio.gather`` behind a semaphore,
  ``model_validate_json`` on each page body;
- the floor: hand-written aiohttp + orjson, plain dicts;
- for reference, the floor turning each page into the SDK's typed records
  with its converter (no httpx, signing flow, planner or exactly-once): the
  share of the floor ratio that the record types take by themselves.

Goals printed: SDK time / floor time <= 2.5, and SDK throughput >= 2x the
httpx + pydantic stack. The floor includes the fake server's own time per
page (it runs on the other core), so it is a floor of this setup, not of
Python.

Then this version against release 0.1.0 (``--old``), whose walk trusted
``total`` and a stable order and so sent no count: each walk runs in a child
process of its own (the version's package imported from a ``git archive``
of it, or from the working tree), after one untimed walk in that process,
interleaved ``--repeat`` times. Goal: records/s no more than 10% below the
old release's, that is this version's time / the old one's <= 1 / 0.9.
Printed beside it for information: the median of each round's own ratio
(the two walks of a round run back to back, so a slow spell of the shared
machine sways it less), and records per CPU second of the walking process,
whose CPU time leaves out the time the shared machine gave others.

Then a micro-benchmark on one page of 100 records (the same bytes): the
SDK's ``json.loads`` + ``structure_page`` against pydantic's
``model_validate_json``, best of a few ``timeit`` repeats.

``--profile`` runs the SDK walk once more under cProfile and prints the top
25 entries by cumulative time and by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time
import timeit
from collections.abc import Callable, Coroutine, Sequence
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from benchmarks._common import (
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
    query_body,
    run_interleaved,
    sdk_walk_with,
    signed_headers,
    version_walk,
)
from itniotech_async import SipCallRecord
from itniotech_async._converter import structure_page

RECORDS = 30_000
SDK = "SDK, async with stream (typed records)"
SDK_BARE = "SDK, bare install (json, httpx transport)"
PYDANTIC = "httpx + pydantic v2 + gather"
FLOOR = "aiohttp + orjson + gather (dicts)"
TYPED_FLOOR = "aiohttp + orjson + SDK converter (records)"


# -- the "typical modern SDK" baseline: pydantic v2 models ---------------------


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


_Blank = BeforeValidator(_blank_to_none)
OptStr = Annotated[str | None, _Blank]
OptInt = Annotated[int | None, _Blank]
OptDecimal = Annotated[Decimal | None, _Blank]
OptTime = Annotated[AwareDatetime | None, _Blank]


class PydSipRecord(BaseModel):
    """A phone call record with the SDK's field types, the usual pydantic way."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    voice_id: OptStr = None
    callee: OptStr = None
    display_num: OptStr = None
    code: OptStr = None
    submit_time: OptTime = None
    call_time: OptTime = None
    ringing_time: OptTime = None
    answer_time: OptTime = None
    hangup_time: OptTime = None
    call_duration: OptInt = None
    charged_duration: OptInt = None
    termination_code: OptStr = None
    termination_reason: OptStr = None
    cost: OptDecimal = None
    bill_period: OptStr = None
    rate: OptDecimal = None
    currency: OptStr = None
    settle_rate: OptDecimal = None
    quote_exchange: OptDecimal = None
    settle_pay: OptDecimal = None
    sip_group_name: OptStr = None
    phone_name: OptStr = None
    recording_file_id: OptStr = None


class PydSipPage(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    total: int
    size: int
    current: int
    pages: int
    records: list[PydSipRecord]


class PydSipEnvelope(BaseModel):
    status: str
    reason: str | None = None
    data: PydSipPage | None = None


def parse_typed(body: bytes) -> tuple[int, tuple[SipCallRecord, ...]]:
    """The floor's parse, then the SDK's converter: typed records, nothing else of the SDK."""
    page = structure_page(orjson.loads(body)["data"], SipCallRecord)
    return page.pages, page.records


def parse_pydantic(body: bytes) -> tuple[int, list[PydSipRecord]]:
    envelope = PydSipEnvelope.model_validate_json(body)
    if envelope.status != "0" or envelope.data is None:
        raise BenchmarkError(f"the fake answered {envelope.status}: {envelope.reason}")
    return envelope.data.pages, envelope.data.records


# -- the walks -----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_hotpath", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds per variant (median)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake's data")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one SDK walk with cProfile"
    )
    parser.add_argument(
        "--old",
        default=OLD_RELEASE,
        help="git revision to compare this version with (default: release 0.1.0)",
    )
    return parser


def _variants(server: FakeServer, concurrency: int) -> list[tuple[str, Walk, int | None]]:
    url, start, end = server.base_url, server.start, server.end
    floor_parse = parse_dicts(orjson.loads)

    def sdk(ids: list[str]) -> Coroutine[Any, Any, float]:
        def sink(record: SipCallRecord) -> None:
            ids.append(record.voice_id or "")

        return sdk_walk_with(url, start, end, concurrency, sink)

    def sdk_bare(ids: list[str]) -> Coroutine[Any, Any, float]:
        def sink(record: SipCallRecord) -> None:
            ids.append(record.voice_id or "")

        return sdk_walk_with(url, start, end, concurrency, sink, bare=True)

    def pydantic(ids: list[str]) -> Coroutine[Any, Any, float]:
        def sink(records: Sequence[PydSipRecord]) -> None:
            for record in records:
                ids.append(record.voice_id or "")

        return httpx_walk(url, start, end, concurrency, parse_pydantic, sink)

    def floor(ids: list[str]) -> Coroutine[Any, Any, float]:
        def sink(records: Sequence[dict[str, Any]]) -> None:
            for record in records:
                ids.append(record["voiceId"])

        return aiohttp_walk(url, start, end, concurrency, floor_parse, sink)

    def typed_floor(ids: list[str]) -> Coroutine[Any, Any, float]:
        def sink(records: Sequence[SipCallRecord]) -> None:
            for record in records:
                ids.append(record.voice_id or "")

        return aiohttp_walk(url, start, end, concurrency, parse_typed, sink)

    return [
        (SDK, sdk, None),
        (SDK_BARE, sdk_bare, None),
        (PYDANTIC, pydantic, None),
        (FLOOR, floor, None),
        (TYPED_FLOOR, typed_floor, None),
    ]


async def _one_page(server: FakeServer) -> bytes:
    """The raw bytes of page 1 of the range, as the fake sends them."""
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.post(
            server.base_url + "/voice/recordSipQuery",
            content=query_body(server.start, server.end, 1),
            headers=signed_headers(),
        )
        response.raise_for_status()
        return response.content


def _best_per_call(func: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def _sdk_loads() -> Callable[[bytes], Any]:
    """The JSON parser the SDK's client uses (a private detail)."""
    from itniotech_async import _decode

    loads: Callable[[bytes], Any] = orjson.loads if _decode.orjson is not None else json.loads
    return loads


def _name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "orjson"
    return f"{module.split('.')[0]}.{func.__name__}"


def _micro(body: bytes) -> None:
    """Time turning one page's bytes into records, per page and per record."""
    envelope = json.loads(body)
    count = len(envelope["data"]["records"])
    sdk_page = structure_page(envelope["data"], SipCallRecord)
    pyd_page = PydSipEnvelope.model_validate_json(body).data
    assert pyd_page is not None
    # Same values either way, or the comparison means nothing.
    for ours, theirs in zip(sdk_page.records, pyd_page.records, strict=True):
        for field in ("voice_id", "answer_time", "cost", "settle_rate", "call_duration"):
            if getattr(ours, field) != getattr(theirs, field):
                raise BenchmarkError(f"SDK and pydantic disagree on {field} of {ours.voice_id}")

    # The decoder the SDK's client really uses (json.loads, or orjson.loads
    # when installed), then the converter; plus the other decoder for reference.
    sdk_loads = _sdk_loads()
    other_loads: Callable[[bytes], Any] = json.loads if sdk_loads is orjson.loads else orjson.loads
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            f"SDK: {_name(sdk_loads)} + structure_page",
            lambda: structure_page(sdk_loads(body)["data"], SipCallRecord),
        ),
        ("pydantic v2: model_validate_json", lambda: PydSipEnvelope.model_validate_json(body)),
        (
            f"  (info) SDK with {_name(other_loads)}",
            lambda: structure_page(other_loads(body)["data"], SipCallRecord),
        ),
        ("  (info) json.loads alone", lambda: json.loads(body)),
        ("  (info) orjson.loads alone", lambda: orjson.loads(body)),
    ]
    timings = [(name, _best_per_call(func)) for name, func in cases]
    sdk_time = timings[0][1]
    rows = [
        [
            name,
            f"{per_page * 1e6:,.0f}",
            f"{per_page * 1e6 / count:.2f}",
            fmt_ratio(per_page / sdk_time),
        ]
        for name, per_page in timings
    ]
    print_table(
        ["one page -> records (best of 5)", "us/page", "us/record", "x SDK"],
        rows,
        title=f"Micro-benchmark: one page of {count} records, {len(body):,} bytes",
    )
    pyd_time = timings[1][1]
    print(f"pydantic / SDK per page: {pyd_time / sdk_time:.2f}")


def _profile(server: FakeServer, concurrency: int) -> None:
    count = 0

    def sink(record: SipCallRecord) -> None:
        nonlocal count
        count += 1

    profiler = cProfile.Profile()
    profiler.enable()
    seconds = asyncio.run(
        sdk_walk_with(server.base_url, server.start, server.end, concurrency, sink)
    )
    profiler.disable()
    if count != RECORDS:
        raise BenchmarkError(f"the profiled walk yielded {count:,} records, not {RECORDS:,}")
    print(f"\nProfile of one SDK walk ({count:,} records, {seconds:.3f} s under cProfile)")
    stats = pstats.Stats(profiler)
    stats.strip_dirs()
    print("\nTop 25 by cumulative time:")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(25)
    print("Top 25 by own time:")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(25)


def _versions(
    server: FakeServer, concurrency: int, repeat: int, old: str
) -> dict[str, list[Walked]]:
    """Walks by this version and by ``old``, each in a child process, interleaved."""
    runs: dict[str, list[Walked]] = {"this version": [], old: []}
    with version_walk(None, warmups=1) as ours, version_walk(old, warmups=1) as theirs:
        pairs = zip(runs, (ours, theirs), strict=True)
        walks = [(name, walk) for name, walk in pairs if walk is not None]
        for round_ in range(1, repeat + 1):
            for name, walk in walks if round_ % 2 else walks[::-1]:
                run = walk(server, concurrency)
                if run.error is not None or len(set(run.ids)) != RECORDS:
                    raise BenchmarkError(
                        f"{name}: {len(set(run.ids)):,} unique ids of {RECORDS:,}, {run.error}"
                    )
                runs[name].append(run)
                cpu = "" if run.cpu is None else f"  (CPU {fmt_seconds(run.cpu)})"
                print(
                    f"  round {round_}  {name:<14} {fmt_seconds(run.wall):>9}  "
                    f"{run.requests} requests{cpu}",
                    flush=True,
                )
    return runs


def _print_versions(runs: dict[str, list[Walked]], old: str) -> None:
    """This version's records/s against ``old``'s, and the goal."""
    walls = {name: statistics.median(r.wall for r in done) for name, done in runs.items() if done}
    rows = [
        [
            name,
            f"{RECORDS / wall:,.0f}",
            fmt_seconds(wall),
            f"{min(r.wall for r in runs[name]):.3f}..{max(r.wall for r in runs[name]):.3f}",
            str(runs[name][0].requests),
        ]
        for name, wall in walls.items()
    ]
    print_table(
        ["zero latency, child process", "records/s", "median time", "min..max s", "requests"],
        rows,
        title=f"This version against {old} (release 0.1.0: trusted total, sent no count)",
    )
    if len(walls) < 2:
        print(f"(goal not measured: {old} could not run here)")
        return
    ratio = walls[old] / walls["this version"]
    verdict = "met" if ratio >= 0.9 else "NOT MET"
    print(f"records/s, this version / {old}: {ratio:.3f} (goal >= 0.90: {verdict})")
    # The two walks of a round run back to back, so their ratio is less
    # swayed by the shared machine's slow spells than the ratio of medians.
    paired = statistics.median(
        b.wall / a.wall for a, b in zip(runs["this version"], runs[old], strict=True)
    )
    print(f"(info) median of the rounds' own ratios: {paired:.3f}")
    cpus = {name: [r.cpu for r in done if r.cpu is not None] for name, done in runs.items()}
    if all(cpus.values()):
        # At zero latency a walk is bound by the client's CPU; its CPU time
        # leaves out the time the shared machine ran something else.
        cpu_ratio = statistics.median(cpus[old]) / statistics.median(cpus["this version"])
        print(
            f"(info) records per CPU second, this version / {old}: {cpu_ratio:.3f} "
            f"(median CPU time {statistics.median(cpus['this version']):.3f} s against "
            f"{statistics.median(cpus[old]):.3f} s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.repeat < 1 or args.concurrency < 1:
        raise SystemExit("--repeat and --concurrency must be >= 1")
    print_environment(
        f"bench_hotpath: {RECORDS:,} SIP records, zero latency, concurrency {args.concurrency}, "
        f"median of {args.repeat} interleaved rounds"
    )
    began = time.perf_counter()
    with fake_server(n_records=RECORDS, days=30, seed=args.seed) as server:
        print(f"fake server: pid {server.pid}, ready in {server.startup_seconds:.1f} s")
        variants = _variants(server, args.concurrency)
        # Warm-up (not reported): fills the fake's page cache, imports, pydantic's validators.
        print("warm-up ...", flush=True)
        run_interleaved(variants, 1, RECORDS)
        print("measuring ...", flush=True)
        results = run_interleaved(variants, args.repeat, RECORDS)
        body = asyncio.run(_one_page(server))
        if args.profile:
            _profile(server, args.concurrency)
        print(f"\nthis version against {args.old}, each walk in a child process ...", flush=True)
        versions = _versions(server, args.concurrency, args.repeat, args.old)

    sdk, bare, pyd, floor, typed = (
        median_runs(results[name]) for name in (SDK, SDK_BARE, PYDANTIC, FLOOR, TYPED_FLOOR)
    )
    rows = []
    for name, wall in (
        (SDK, sdk),
        (SDK_BARE, bare),
        (PYDANTIC, pyd),
        (FLOOR, floor),
        (TYPED_FLOOR, typed),
    ):
        runs = results[name]
        spread = f"{min(r.seconds for r in runs):.3f}..{max(r.seconds for r in runs):.3f}"
        rows.append(
            [
                name,
                f"{RECORDS / wall:,.0f}",
                fmt_seconds(wall),
                spread,
                fmt_ratio(wall / floor),
                fmt_ratio(wall / sdk),
            ]
        )
    print_table(
        ["variant", "records/s", "median time", "min..max s", "x floor", "x SDK"],
        rows,
        title=f"Results ({RECORDS:,} records, {RECORDS // PAGE_SIZE} pages; all runs verified)",
    )
    goals = [
        ("SDK time / floor time <= 2.5", sdk / floor, sdk / floor <= 2.5),
        ("SDK throughput / httpx+pydantic >= 2.0", pyd / sdk, pyd / sdk >= 2.0),
        ("(bare install) SDK time / floor <= 2.5", bare / floor, bare / floor <= 2.5),
        ("(bare install) SDK / httpx+pydantic >= 2.0", pyd / bare, pyd / bare >= 2.0),
    ]
    # Not a goal: how much of the floor ratio typed records take by themselves.
    goals.append(("(info) floor + SDK converter / floor", typed / floor, typed / floor <= 2.5))
    print_table(
        ["goal", "measured", "verdict"],
        [[name, fmt_ratio(value), "met" if met else "NOT MET"] for name, value, met in goals],
        title="Goals",
    )
    _print_versions(versions, args.old)
    _micro(body)
    print(f"\ntotal benchmark time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
