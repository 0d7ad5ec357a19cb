"""A bot-style loop: poll the recent phone calls and react to the ones that failed.

Every ``interval`` seconds it asks for the calls of the last ``lookback``.
Calls are usually written when they end, so a new record can be stamped
minutes in the past: the window looks back further than the interval, and
ids already handled are remembered (for as long as they can come back) so
each call is handled once. A failed poll (network, service) is logged and
retried at the next tick instead of stopping the bot.

``python examples/poll_bot.py`` runs three polls against the package's fake
server, with calls arriving between them.

A real bot: ``await Poller(ItnioClient(), alert).poll_forever(interval=60)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import anyio

import itniotech_async as itnio

log = logging.getLogger("poll_bot")

Handler = Callable[[itnio.SipCallRecord], Awaitable[None]]


class Poller:
    """Polls the calls of the last ``lookback``; hands each failed one to a handler once."""

    def __init__(
        self,
        client: itnio.ItnioClient,
        on_failed_call: Handler,
        lookback: timedelta = timedelta(minutes=30),
    ) -> None:
        self.client = client
        self.on_failed_call = on_failed_call
        self.lookback = lookback
        self.seen: dict[str, datetime] = {}  # voice id -> when it can no longer come back

    async def poll_once(self) -> None:
        """One poll: every call not established (SIP code other than 200) not seen before."""
        now = datetime.now(timezone.utc)
        async for record in self.client.voice.iter_sip_records(now - self.lookback, now):
            if record.voice_id not in self.seen:
                self.seen[record.voice_id] = now + self.lookback
                if record.termination_code != "200":
                    await self.on_failed_call(record)
        self.seen = {vid: until for vid, until in self.seen.items() if until > now}

    async def poll_forever(self, interval: float = 60.0) -> None:
        """Poll every ``interval`` seconds; a failed poll is logged and tried again."""
        while True:
            try:
                await self.poll_once()
            except itnio.ItnioError as exc:  # bad credentials too: look at the log
                log.warning("poll failed, trying again in %.0f s: %s", interval, exc)
            await anyio.sleep(interval)


async def main() -> None:
    from itniotech_async.testing import FakeItnio

    fake = FakeItnio("demo-key", "demo-secret", n_records=0)
    failed: list[str] = []

    async def alert(record: itnio.SipCallRecord) -> None:
        failed.append(record.voice_id)
        print(f"call {record.voice_id} to {record.callee} failed: {record.termination_reason}")

    def calls_arrive(round_: int) -> None:  # two new calls, written a minute late
        stamp = datetime.now(timezone.utc) - timedelta(minutes=1)
        fake.add_records(
            "sip",
            [
                {
                    "voiceId": f"{round_}{code}",
                    "callee": "919492290362",
                    "submitTime": stamp.isoformat(timespec="seconds"),
                    "terminationCode": code,
                    "terminationReason": "success" if code == "200" else "busy",
                }
                for code in ("200", "486")
            ],
        )

    async with (
        fake.serve() as base_url,
        itnio.ItnioClient("demo-key", "demo-secret", base_url=base_url) as client,
    ):
        poller = Poller(client, alert)
        for round_ in range(3):  # a real bot runs: await poller.poll_forever()
            calls_arrive(round_)
            await poller.poll_once()
    print(f"{len(failed)} failed calls handled once each in 3 polls")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    anyio.run(main)
