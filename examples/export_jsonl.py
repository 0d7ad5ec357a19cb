"""An asyncio worker that exports a long range of phone call records to a JSONL file.

Ranges longer than the service's 31-day limit are split into windows by the
stream, whose pages are fetched concurrently; every record is written once,
as one line of :func:`itniotech_async.to_json` (what ``itniotech records``
writes). The file is written under a temporary name and renamed when complete,
so an interrupted export leaves no partial file.

``python examples/export_jsonl.py [FILE]`` exports 45 days from the package's
fake server, offline; ``export(ItnioClient(), start, end, path)`` the real ones.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timedelta, timezone

import anyio

import itniotech_async as itnio


async def export(client: itnio.ItnioClient, start: datetime, end: datetime, path: str) -> int:
    """Write every phone call record in ``[start, end]`` to ``path``; return how many."""
    partial = path + ".part"
    count = 0
    try:
        # The file is written from a worker thread, one page at a time, so that
        # the event loop never waits for the disk.
        async with await anyio.open_file(partial, "w", encoding="utf-8") as out:
            stream = client.voice.iter_sip_records(start, end, concurrency=8)
            async for page in stream.pages():
                await out.write("".join(itnio.to_json(r) + "\n" for r in page.records))
                count += len(page.records)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
    return count


async def main(path: str) -> None:
    from itniotech_async.testing import FakeItnio

    fake = FakeItnio("demo-key", "demo-secret", n_records=5000, days=60, latency=(0.002, 0.01))
    end = datetime.now(timezone.utc)
    async with (
        fake.serve() as base_url,
        itnio.ItnioClient("demo-key", "demo-secret", base_url=base_url) as client,
    ):
        count = await export(client, end - timedelta(days=45), end, path)
    print(f"exported {count} records to {path} in {fake.request_count} requests")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "calls.jsonl"))
