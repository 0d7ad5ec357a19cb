"""Bulk recording downloads: wall time against the latency-bound ideal, and peak memory.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_recordings

A fake server process (this script with ``--serve``) answers every request
after a latency drawn from 50-150 ms (mean 100 ms) and serves every file id
as a file of the given size. Each measurement runs in a fresh child process
(``--child``) that warms up with a few downloads, notes ``ru_maxrss``,
downloads its files into an empty temporary directory, and notes
``ru_maxrss`` again. Two variants, at concurrency 8:

- ours: ``client.voice.download_recordings(ids, dir, concurrency=8)``: signed
  resolution, a plain streamed download, fsync and rename per file;
- baseline: a hand-written loop behind an ``asyncio.Semaphore(8)`` over one
  httpx client: signed resolution, ``await http.get(url)`` (the body read
  whole into memory) and a plain ``write_bytes`` (no temporary file, no
  fsync).

Every recording costs two requests (resolve, then download), so the ideal
wall time is ``2 * files * 0.100 s / 8``; for 20 MB files moving the bytes
adds to it, which the baseline pays the same way. Printed: wall, wall /
ideal, and the growth of the peak RSS during the run, for 500 files of 200 KB
and 32 files of 20 MB. Goals: wall / ideal <= 1.2 at 200 KB; peak memory not
growing with the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import API_KEY, API_SECRET, REPO_ROOT, BenchmarkError, print_table
from itniotech_async._auth import compute_sign

CONCURRENCY = 8
LATENCY = (0.05, 0.15)
MEAN_LATENCY = 0.100
CASES = ((200_000, 500), (20_000_000, 32))
WARM_UP = 8


# -- the server ---------------------------------------------------------------------


async def _serve(file_size: int) -> None:
    import anyio

    from itniotech_async.testing import FakeItnio

    fake = FakeItnio(API_KEY, API_SECRET, n_records=0, latency=LATENCY, keep_requests=False, seed=1)
    fake.files.file_size = file_size
    async with fake.serve() as base_url:
        print(f"ITNIO_BASE_URL={base_url}", flush=True)
        # Serve until stdin closes (the parent has finished or died).
        await anyio.to_thread.run_sync(sys.stdin.read)


# -- the two variants ---------------------------------------------------------------


async def _ours(base_url: str, ids: list[str], directory: Path) -> int:
    import itniotech_async as itnio

    async with itnio.ItnioClient(
        API_KEY, API_SECRET, base_url=base_url, max_concurrency=CONCURRENCY
    ) as client:
        done = 0
        async for outcome in client.voice.download_recordings(
            ids, directory, source="sip", concurrency=CONCURRENCY
        ):
            if not outcome.ok:
                raise BenchmarkError(f"{outcome.file_id}: {outcome.error}")
            done += 1
    return done


async def _baseline(base_url: str, ids: list[str], directory: Path) -> int:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def one(http: httpx.AsyncClient, file_id: str) -> None:
        async with semaphore:
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json;charset=UTF-8",
                "Api-Key": API_KEY,
                "Timestamp": stamp,
                "Sign": compute_sign(API_KEY, API_SECRET, stamp),
            }
            answer = await http.get(
                f"{base_url}/voice/getRecordingFileUrl",
                params={"recordingFileId": file_id, "sourceType": "sip"},
                headers=headers,
            )
            url = answer.json()["data"]["url"]
            response = await http.get(url)
            response.raise_for_status()
            (directory / file_id).write_bytes(response.content)

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(one(http, file_id) for file_id in ids))
    return len(ids)


def _child(variant: str, base_url: str, count: int) -> dict[str, Any]:
    run = _ours if variant == "ours" else _baseline
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as scratch:
        warm = Path(scratch) / "warm"
        warm.mkdir()
        asyncio.run(run(base_url, [f"warm{i}.wav" for i in range(WARM_UP)], warm))
        shutil.rmtree(warm)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        target = Path(scratch) / "files"
        target.mkdir()
        started = time.perf_counter()
        done = asyncio.run(run(base_url, [f"rec{i:05d}.wav" for i in range(count)], target))
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        written = sum(p.stat().st_size for p in target.iterdir())
    return {"wall": wall, "growth_kib": after - before, "files": done, "bytes": written}


# -- the parent ----------------------------------------------------------------------


def _measure(variant: str, base_url: str, count: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_recordings", "--child", variant]
    command += ["--base-url", base_url, "--count", str(count)]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=900
    )
    if result.returncode != 0:
        raise BenchmarkError(f"{variant} failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="FILE_SIZE", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        import anyio

        anyio.run(_serve, args.serve)
        return
    if args.child:
        print(json.dumps(_child(args.child, args.base_url, args.count)))
        return

    rows = []
    for file_size, count in CASES:
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_recordings", "--serve", str(file_size)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline().strip()
            if not line.startswith("ITNIO_BASE_URL="):
                raise BenchmarkError(f"the server did not start: {line!r}")
            base_url = line.partition("=")[2]
            ideal = 2 * count * MEAN_LATENCY / CONCURRENCY
            for variant in ("ours", "baseline"):
                data = _measure(variant, base_url, count)
                if data["bytes"] != count * file_size or data["files"] != count:
                    raise BenchmarkError(f"{variant}: wrong files written: {data}")
                rows.append(
                    (
                        f"{variant} {count} x {file_size // 1000:,} KB",
                        f"{data['wall']:.2f} s",
                        f"{ideal:.2f} s",
                        f"{data['wall'] / ideal:.2f}",
                        f"{data['growth_kib'] / 1024:.1f} MiB",
                    )
                )
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(timeout=30)
    print(
        f"concurrency {CONCURRENCY}, latency {LATENCY[0]:.2f}-{LATENCY[1]:.2f} s per request "
        "(resolve + download per file), fake server in its own process"
    )
    print_table(("variant", "wall", "ideal", "wall/ideal", "peak RSS growth"), rows)


if __name__ == "__main__":
    main()
