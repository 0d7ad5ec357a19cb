"""Shared helpers of the benchmark scripts: the fake server, the walkers, timing, tables.

Not a benchmark itself. The scripts import it as ``benchmarks._common``, so they
run from the repository root as modules, for example::

    .venv/bin/python -m benchmarks.bench_streams

What lives here:

- :func:`fake_server` starts ``python -m itniotech_async.testing`` in a separate
  process (so it never competes with the client for the event loop), waits
  for the ``ITNIO_BASE_URL=...`` line and stops the process on exit.
- The walkers every script times the same way: the SDK's two stream forms,
  and a hand-written "page 1, then ``asyncio.gather`` behind a semaphore"
  loop over a raw httpx or aiohttp client that signs each request itself.
  Each walker sets up its client first and times only the walk.
- :func:`version_walk`: one ``async with`` walk by the package as of a git
  revision (or of the working tree), in a child process of its own.
- :class:`Run`, :func:`check_run`, :func:`run_interleaved` and
  :func:`print_table` to repeat variants in turn, verify what they fetched
  and print results side by side.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import attrs
import httpx

from itniotech_async import ItnioClient, SipCallRecord, _decode
from itniotech_async._auth import compute_sign
from itniotech_async._transport import AutoTransport

__all__ = [
    "API_KEY",
    "API_SECRET",
    "OLD_RELEASE",
    "PAGE_SIZE",
    "REPO_ROOT",
    "SIP_QUERY_PATH",
    "BenchmarkError",
    "FakeServer",
    "Run",
    "Sink",
    "Walk",
    "Walked",
    "aiohttp_walk",
    "check_run",
    "fake_server",
    "fmt_ratio",
    "fmt_seconds",
    "httpx_walk",
    "median_runs",
    "parse_dicts",
    "print_environment",
    "print_table",
    "query_body",
    "run_interleaved",
    "sdk_walk_for",
    "sdk_walk_with",
    "signed_headers",
    "version_walk",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
API_SECRET = "bench-secret"
PAGE_SIZE = 100
SIP_QUERY_PATH = "/voice/recordSipQuery"
#: The last commit of release 0.1.0, whose planner trusted ``total`` and a stable order.
OLD_RELEASE = "9ba5e56"
_CONTENT_TYPE = "application/json;charset=UTF-8"
# Generating 300k records of each kind takes the fake ~20 s on a quiet core.
_STARTUP_TIMEOUT = 300.0

R = TypeVar("R")
#: Receives the records of each page as they arrive (the hand-written walkers).
Sink = Callable[[Sequence[R]], None]
#: One variant of a benchmark: appends each voice id it yields, returns the walk's seconds.
Walk = Callable[[list[str]], Coroutine[Any, Any, float]]


class BenchmarkError(RuntimeError):
    """A benchmark could not run or fetched the wrong records."""


# -- the fake server ---------------------------------------------------------


@attrs.frozen
class FakeServer:
    """A running fake server process and the range that holds all its data."""

    base_url: str
    pid: int
    startup_seconds: float
    n_records: int
    # [start, end] holds every generated record of each kind: generation
    # happens between spawning and the URL line, over the ``days`` before it.
    start: datetime
    end: datetime


@contextmanager
def fake_server(
    *,
    n_records: int,
    days: float,
    latency: str | None = None,
    seed: int = 0,
    options: Sequence[str] = (),
) -> Iterator[FakeServer]:
    """Run ``python -m itniotech_async.testing`` in a child process for the block.

    ``latency`` is passed on as ``--latency`` (``"0.05:0.15"``, ``"0.1"``) when
    given, ``options`` as they are (``["--tie-order", "shuffle"]``). The
    process is stopped when the block ends, however it ends.
    """
    command = [
        sys.executable,
        "-m",
        "itniotech_async.testing",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--n-records",
        str(n_records),
        "--days",
        str(days),
        "--api-key",
        API_KEY,
        "--api-secret",
        API_SECRET,
    ]
    if latency:
        command += ["--latency", latency]
    command += options
    spawned_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    # stdin is a pipe: the server exits when it closes, even if we are killed.
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], _STARTUP_TIMEOUT)
        line = process.stdout.readline().strip() if readable else ""
        prefix = "ITNIO_BASE_URL="
        if not line.startswith(prefix):
            raise BenchmarkError(
                f"the fake server did not start (exit status {process.poll()}, "
                f"first line {line!r}): {' '.join(command)}"
            )
        startup = time.perf_counter() - started
        ready_at = datetime.now(timezone.utc)
        margin = timedelta(hours=1)
        yield FakeServer(
            base_url=line[len(prefix) :],
            pid=process.pid,
            startup_seconds=startup,
            n_records=n_records,
            start=spawned_at - timedelta(days=days) - margin,
            end=ready_at + margin,
        )
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the server's cue to stop
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


# -- the wire format, for the hand-written baselines --------------------------


def signed_headers() -> dict[str, str]:
    """The headers of one request, freshly signed as the service requires."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": _CONTENT_TYPE,
        "Api-Key": API_KEY,
        "Timestamp": timestamp,
        "Sign": compute_sign(API_KEY, API_SECRET, timestamp),
    }


def query_body(start: datetime, end: datetime, page: int, size: int = PAGE_SIZE) -> bytes:
    """The JSON body of a ``recordSipQuery`` for one page (no filters)."""
    # Whole seconds, rounded inwards, as the SDK sends them.
    low = start.replace(microsecond=0) + timedelta(seconds=1 if start.microsecond else 0)
    high = end.replace(microsecond=0)
    params = {
        "strTime": low.isoformat(timespec="seconds"),
        "endTime": high.isoformat(timespec="seconds"),
        "sipGroupName": "",
        "phoneName": "",
    }
    return json.dumps({"current": page, "size": size, "params": params}).encode()


def parse_dicts(loads: Callable[[bytes], Any]) -> Callable[[bytes], tuple[int, list[Any]]]:
    """A page parser that decodes with ``loads`` and returns ``(pages, record dicts)``."""

    def parse(body: bytes) -> tuple[int, list[Any]]:
        envelope = loads(body)
        if envelope.get("status") != "0":
            raise BenchmarkError(f"the fake answered {envelope.get('status')}: {envelope}")
        data = envelope["data"]
        return int(data["pages"]), data["records"]

    return parse


# -- walkers -------------------------------------------------------------------
#
# Each sets up its client, then times the walk alone (connections are opened
# inside the timed part for every variant alike), and returns the seconds.


async def sdk_walk_with(
    base_url: str,
    start: datetime,
    end: datetime,
    concurrency: int,
    sink: Callable[[SipCallRecord], None],
    *,
    bare: bool = False,
) -> float:
    """The SDK's ``async with stream as records`` form; ``sink`` gets each record.

    ``bare`` measures the install without the ``fast`` extra: the stdlib json
    parser and httpx's own transport (the rest of the path is the same code).
    """
    with bare_install(bare):
        http = (
            httpx.AsyncClient(
                transport=AutoTransport(max_connections=concurrency, use_aiohttp=False)
            )
            if bare
            else None
        )
        async with ItnioClient(
            API_KEY, API_SECRET, base_url=base_url, max_concurrency=concurrency, http_client=http
        ) as client:
            stream = client.voice.iter_sip_records(start, end)
            began = time.perf_counter()
            async with stream as records:
                async for record in records:
                    sink(record)
            elapsed = time.perf_counter() - began
        if http is not None:
            await http.aclose()
        return elapsed


@contextmanager
def bare_install(active: bool) -> Iterator[None]:
    """While active, the client parses JSON with the stdlib, as without orjson."""
    if not active:
        yield
        return
    saved = _decode.orjson
    _decode.orjson = None  # type: ignore[assignment]
    try:
        yield
    finally:
        _decode.orjson = saved


async def sdk_walk_for(
    base_url: str,
    start: datetime,
    end: datetime,
    concurrency: int,
    sink: Callable[[SipCallRecord], None],
) -> float:
    """The SDK's plain ``async for`` form inside ``async with ItnioClient(...)``."""
    async with ItnioClient(
        API_KEY, API_SECRET, base_url=base_url, max_concurrency=concurrency
    ) as client:
        began = time.perf_counter()
        async for record in client.voice.iter_sip_records(start, end):
            sink(record)
        return time.perf_counter() - began


async def _gather_walk(
    fetch: Callable[[int], Awaitable[bytes]],
    parse: Callable[[bytes], tuple[int, Sequence[R]]],
    concurrency: int,
    sink: Sink[R],
) -> None:
    """Page 1 first (to learn ``pages``), then the rest behind a semaphore."""
    pages, records = parse(await fetch(1))
    sink(records)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(page: int) -> None:
        async with semaphore:
            body = await fetch(page)
        # Parse after releasing the slot, so the next request starts at once.
        sink(parse(body)[1])

    await asyncio.gather(*(one(page) for page in range(2, pages + 1)))


async def httpx_walk(
    base_url: str,
    start: datetime,
    end: datetime,
    concurrency: int,
    parse: Callable[[bytes], tuple[int, Sequence[R]]],
    sink: Sink[R],
) -> float:
    """A hand-written walk over a raw ``httpx.AsyncClient``."""
    import httpx

    url = base_url + SIP_QUERY_PATH
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as http:

        async def fetch(page: int) -> bytes:
            body = query_body(start, end, page)
            response = await http.post(url, content=body, headers=signed_headers())
            response.raise_for_status()
            return response.content

        began = time.perf_counter()
        await _gather_walk(fetch, parse, concurrency, sink)
        return time.perf_counter() - began


async def aiohttp_walk(
    base_url: str,
    start: datetime,
    end: datetime,
    concurrency: int,
    parse: Callable[[bytes], tuple[int, Sequence[R]]],
    sink: Sink[R],
) -> float:
    """A hand-written walk over a raw ``aiohttp.ClientSession``."""
    import aiohttp

    url = base_url + SIP_QUERY_PATH
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def fetch(page: int) -> bytes:
            body = query_body(start, end, page)
            async with session.post(url, data=body, headers=signed_headers()) as response:
                response.raise_for_status()
                return await response.read()

        began = time.perf_counter()
        await _gather_walk(fetch, parse, concurrency, sink)
        return time.perf_counter() - began


# -- runs, checks and tables ---------------------------------------------------


@attrs.define
class Run:
    """One timed walk: how long it took and the voice ids it yielded, in order."""

    seconds: float
    ids: list[str]

    @property
    def records(self) -> int:
        return len(self.ids)


def check_run(name: str, run: Run, expected: int) -> str:
    """Fail loudly unless ``run`` yielded exactly ``expected`` distinct ids; else a check mark."""
    unique = len(set(run.ids))
    if run.records != expected or unique != expected:
        raise BenchmarkError(
            f"{name}: expected {expected:,} unique voice ids, got {run.records:,} records "
            f"of which {unique:,} unique"
        )
    return f"\N{CHECK MARK} {unique:,} unique"


def run_interleaved(
    variants: Sequence[tuple[str, Walk, int | None]],
    repeat: int,
    expected: int,
) -> dict[str, list[Run]]:
    """Run each variant in turn, ``repeat`` rounds, each run in a fresh event loop.

    A variant is ``(name, walk, rounds)``: ``walk(ids)`` appends every voice id
    it yields to ``ids`` and returns the seconds its walk took; it takes part
    in the first ``rounds`` rounds only (``None``: in every round).
    Each run is checked with :func:`check_run` and reported as it ends.
    """
    results: dict[str, list[Run]] = {name: [] for name, _, _ in variants}
    for round_ in range(1, repeat + 1):
        # Rotate the order each round, so no variant always runs first.
        shift = (round_ - 1) % len(variants)
        for name, walk, rounds in [*variants[shift:], *variants[:shift]]:
            if rounds is not None and round_ > rounds:
                continue
            ids: list[str] = []
            seconds = asyncio.run(walk(ids))
            run = Run(seconds, ids)
            mark = check_run(name, run, expected)
            print(f"  round {round_}  {name:<44} {fmt_seconds(seconds):>9}  {mark}", flush=True)
            results[name].append(run)
    return results


def median_runs(runs: Sequence[Run]) -> float:
    return statistics.median(run.seconds for run in runs)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s"


def fmt_ratio(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """Print an aligned table: the first column left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    if title:
        print(f"\n{title}")
    print(line(list(headers)))
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print(line(row))


def print_environment(description: str) -> None:
    """Print what is measured and on what, so pasted results stay meaningful."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(description)
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


# -- a walk by another version of the package, in a child process --------------

# Run with ``python -c`` from a directory holding a version of the package, so
# that it imports that one: ``warmups`` untimed walks, then one timed ``async
# with`` walk, reported as JSON on stdout.
_CHILD_WALK = """
import asyncio, json, sys, time
from datetime import datetime
import itniotech_async as itnio

async def walk(url, start, end, concurrency, key, secret):
    ids, error = [], None
    async with itnio.ItnioClient(key, secret, base_url=url,
                                 max_concurrency=concurrency) as client:
        stream = client.voice.iter_sip_records(
            datetime.fromisoformat(start), datetime.fromisoformat(end))
        began, cpu_began = time.perf_counter(), time.process_time()
        try:
            async with stream as records:
                async for record in records:
                    ids.append(record.voice_id)
        except itnio.ItnioError as exc:
            error = repr(exc)
        wall = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        # Requests sent, where the version counts them (0.1.0 answered every one it sent).
        stats = getattr(client, "stats", None)
        sent = stream.pages_fetched if stats is None else stats.requests
    return {"wall": wall, "ids": ids, "requests": sent, "error": error, "cpu": cpu}

url, start, end, concurrency, key, secret, warmups = sys.argv[1:8]
for _ in range(int(warmups)):
    asyncio.run(walk(url, start, end, int(concurrency), key, secret))
print(json.dumps(asyncio.run(walk(url, start, end, int(concurrency), key, secret))))
"""


class Walked(NamedTuple):
    """One ``async with`` walk: its time, the ids it yielded, requests sent, any error.

    ``cpu`` is the CPU time the walking process spent meanwhile, where measured.
    """

    wall: float
    ids: list[str]
    requests: int
    error: str | None
    cpu: float | None = None


@contextmanager
def version_walk(
    revision: str | None, *, warmups: int = 0
) -> Iterator[Callable[[FakeServer, int], Walked] | None]:
    """Walks by the package as of git ``revision``, each in a child process.

    ``revision`` None means the working tree, so that both sides of a
    comparison start the same way. Yields None where git cannot give the
    revision (a copy without history).
    """
    with tempfile.TemporaryDirectory() as folder:
        if revision is None:
            where = str(REPO_ROOT)
        else:
            try:
                archive = subprocess.run(
                    ["git", "-C", str(REPO_ROOT), "archive", revision, "itniotech_async"],
                    capture_output=True,
                    check=True,
                )
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"(the package as of {revision} is not available here: {exc})")
                yield None
                return
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(folder, filter="data")
            where = folder

        def walk(server: FakeServer, concurrency: int) -> Walked:
            argv = [server.base_url, server.start.isoformat(), server.end.isoformat()]
            argv += [str(concurrency), API_KEY, API_SECRET, str(warmups)]
            done = subprocess.run(
                [sys.executable, "-c", _CHILD_WALK, *argv],
                cwd=where,
                capture_output=True,
                text=True,
                check=True,
            )
            return Walked(**json.loads(done.stdout))

        yield walk
