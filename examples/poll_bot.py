"""A bot-style loop: poll the recent phone calls and react to the ones that failed.

Every ``interval`` seconds it asks for the calls of the last ``lookback``.
Calls are usually written when they end, so a new record can be stamped
minutes in the past: the window looks back further than the interval, and
ids already handled are remembered (for as long as they can come back) so
each call is handled once. A failed poll (network, service) is logged and
retried at the next tick instead of stopping the bot.

``python examples/poll_bot.py`` runs three polls against the package's fake
server, with calls arriving between them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import anyio

import itniotech_async as itnio

log = logging.getLogger("poll_bot")

Handler = Callable[[itnio.SipCallRecord], Awaitable[None]]


async def poll_forever(
    client: itnio.ItnioClient,
    on_failed_call: Handler,
    *,
    interval: float = 60.0,
    lookback: timedelta = timedelta(minutes=30),
    rounds: int | None = None,
) -> None:
    """Call ``on_failed_call`` once for each call not established (SIP code other than 200)."""
    seen: dict[str, datetime] = {}  # voice id -> when to forget it
    done = 0
    while rounds is None or done < rounds:
        now = datetime.now(timezone.utc)
        try:
            async for record in client.voice.iter_sip_records(now - lookback, now):
                if record.voice_id in seen:
                    continue
                seen[record.voice_id] = now + lookback
                if record.termination_code != "200":
                    await on_failed_call(record)
        except itnio.ItnioError as exc:  # bad credentials too: look at the log
            log.warning("poll failed, trying again in %.0f s: %s", interval, exc)
        seen = {vid: until for vid, until in seen.items() if until > now}
        done += 1
        await anyio.sleep(interval)


async def main() -> None:
    from itniotech_async.testing import FakeItnio

    fake = FakeItnio("demo-key", "demo-secret", n_records=0)
    failed: list[str] = []

    async def alert(record: itnio.SipCallRecord) -> None:
        failed.append(record.voice_id)
        print(f"call {record.voice_id} to {record.callee} failed: {record.termination_reason}")

    @fake.on_request
    def calls_arrive(request: object) -> None:  # two new calls before each poll
        now = datetime.now(timezone.utc)
        fake.add_records(
            "sip",
            [
                {
                    "voiceId": f"{now:%y%m%d%H%M%S%f}{code}",
                    "callee": "919492290362",
                    "submitTime": (now - timedelta(minutes=2)).isoformat(timespec="seconds"),
                    "terminationCode": code,
                    "terminationReason": "success" if code == "200" else "busy",
                }
                for code in ("200", "486")
            ],
        )

    async with fake.serve() as base_url:
        client = itnio.ItnioClient("demo-key", "demo-secret", base_url=base_url)
        async with client:
            await poll_forever(client, alert, interval=0.05, rounds=3)
    print(f"{len(failed)} failed calls handled once each in {fake.request_count} polls")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    anyio.run(main)
