"""A trio script: what the last three days of voice messages cost, per currency.

The SDK runs on trio as on asyncio (anyio underneath). The walk is given a
deadline with trio's own ``move_on_after``: when it expires, the stream stops
every request in flight and the script reports a partial total.

``python examples/trio_script.py`` runs it against the package's fake server.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import trio

import itniotech_async as itnio


async def cost_per_currency(
    client: itnio.ItnioClient, start: datetime, end: datetime, *, deadline: float
) -> tuple[dict[str, Decimal], bool]:
    """Sum ``cost`` per currency (records without either are left out); and if it finished."""
    totals: defaultdict[str, Decimal] = defaultdict(Decimal)
    with trio.move_on_after(deadline) as scope:
        async for record in client.voice.iter_group_records(start, end):
            if record.cost is not None and record.currency is not None:
                totals[record.currency] += record.cost
    return dict(totals), not scope.cancelled_caught


async def main() -> None:
    from itniotech_async.testing import FakeItnio

    fake = FakeItnio("demo-key", "demo-secret", n_records=3000, days=30)
    end = datetime.now(timezone.utc)
    async with (
        fake.serve() as base_url,
        itnio.ItnioClient("demo-key", "demo-secret", base_url=base_url) as client,
    ):
        totals, finished = await cost_per_currency(
            client, end - timedelta(days=3), end, deadline=30
        )
    for currency, total in sorted(totals.items()):
        print(f"{currency} {total}")
    print("complete" if finished else "partial: the deadline passed")


if __name__ == "__main__":
    trio.run(main)
