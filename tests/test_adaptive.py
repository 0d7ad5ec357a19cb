"""Adaptive concurrency: the client-wide limit, pauses, max_rate and the stats."""

from __future__ import annotations

import anyio
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, START, ClientFactory

pytestmark = pytest.mark.anyio


async def warm_up(client: itnio.ItnioClient, fake: FakeItnio, answers: int) -> None:
    voice_id = str(fake.sip_records[0]["voiceId"])
    for _ in range(answers):
        assert await client.voice.record_sip(voice_id) is not None


OVERLOADS = {
    "429": Fault.http(429),
    "503": Fault.http(503),
    "-18": Fault.status("-18"),
    "timeout": Fault.slow(2.0),
}


@pytest.mark.parametrize("signal", list(OVERLOADS))
async def test_limit_shrinks_on_each_overload_signal_and_recovers(
    make_client: ClientFactory, fake: FakeItnio, signal: str
) -> None:
    """One overload answer halves the limit; healthy answers bring it back, slowly."""
    async with make_client(max_concurrency=8, timeout=0.5) as client:
        assert client.stats.limit == 8  # at first
        await warm_up(client, fake, 4)  # +1 per answer while nothing went wrong
        assert client.stats.limit == 8
        fake.add_fault(OVERLOADS[signal])
        await warm_up(client, fake, 1)  # retried, then answered
        stats = client.stats
        assert (stats.limit, stats.throttles, stats.retries) == (4, 1, 1)
        # Then about +1 per round of `limit` answers: 4 + 1/4 + 1/4.25 + 1/4.49 < 5.
        await warm_up(client, fake, 3)
        assert client.stats.limit == 4
        await warm_up(client, fake, 30)  # 4 + 5 + 6 + 7 = 22 answers get back to 8
        assert client.stats.limit == 8
        assert client.stats.requests == fake.request_count


async def test_fixed_concurrency_when_not_adaptive(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """adaptive=False keeps max_concurrency whatever the server says."""
    async with make_client(max_concurrency=5, adaptive=False) as client:
        assert client.stats.limit == 5
        fake.add_fault(Fault.http(429))
        await warm_up(client, fake, 1)
        assert client.stats.limit == 5
        assert client.stats.retries == 1


async def test_retry_after_pauses_the_whole_client(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """After a 429 with Retry-After, a new request of another task waits too."""
    fake.add_fault(Fault.http(429, retry_after=1))
    voice_id = str(fake.sip_records[0]["voiceId"])
    async with make_client() as client, anyio.create_task_group() as tg:
        tg.start_soon(client.voice.record_sip, voice_id)
        with anyio.fail_after(5):
            while client.stats.throttles == 0:  # noqa: ASYNC110 - polls the SDK's state
                await anyio.sleep(0.01)
        tg.start_soon(client.voice.record_sip, voice_id)
        await anyio.sleep(0.4)
        assert fake.request_count == 1  # the other request is held, not sent
    assert fake.request_count == 3
    assert [r.answered for r in fake.requests] == ["http_429", "0", "0"]


async def test_retry_after_pauses_even_a_call_that_gives_up(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """A 429 with Retry-After to a call without retries left still holds the next call."""
    fake.add_fault(Fault.http(429, retry_after=1))
    voice_id = str(fake.sip_records[0]["voiceId"])
    async with make_client(max_retries=0) as client, anyio.create_task_group() as tg:
        with pytest.raises(itnio.HttpStatusError):
            await client.voice.record_sip(voice_id)
        tg.start_soon(client.voice.record_sip, voice_id)
        await anyio.sleep(0.4)
        assert fake.request_count == 1
    assert fake.request_count == 2


@pytest.mark.parametrize("max_rate", [18.0, None])
async def test_max_rate_holds(
    make_client: ClientFactory, fake: FakeItnio, max_rate: float | None
) -> None:
    """With max_rate under the fake's limit, the fake throttles nothing; without, it does."""
    limit = fake.set_rate_limit(20, burst=2)
    voice_id = str(fake.sip_records[0]["voiceId"])
    async with (
        make_client(max_concurrency=8, adaptive=False, max_rate=max_rate, max_retries=50) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(16):
            tg.start_soon(client.voice.record_sip, voice_id)
    assert limit.admitted == 16
    if max_rate is None:
        assert limit.throttled > 0
    else:
        assert limit.throttled == 0
        assert client.stats.rate == max_rate


@pytest.mark.parametrize("answer", ["429", "-18"])
async def test_no_record_lost_or_repeated_under_throttling(
    make_client: ClientFactory, fake: FakeItnio, answer: str
) -> None:
    """A stream over a throttling fake yields the same records, each once."""
    async with make_client(max_concurrency=8) as client:
        expected = [r.voice_id async for r in client.voice.iter_sip_records(START, END)]
    limit = fake.set_rate_limit(50, burst=1, answer=answer)  # type: ignore[arg-type]
    async with make_client(max_concurrency=8, max_retries=20) as client:
        got = [r.voice_id async for r in client.voice.iter_sip_records(START, END, page_size=20)]
        throttles = client.stats.throttles
    assert limit.throttled > 0 and throttles == limit.throttled
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == set(expected)


async def test_cancelled_while_waiting_for_a_slot(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """A call waiting for a slot is cancelled at once and sends nothing."""
    fake.add_fault(Fault.slow(30))
    async with make_client(max_concurrency=1, adaptive=False) as client:
        with anyio.fail_after(5):  # a cancellation that is not prompt fails here
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.voice.record_sip, "1")
                while client.stats.in_flight == 0:  # noqa: ASYNC110 - polls the SDK's state
                    await anyio.sleep(0.01)
                with anyio.move_on_after(0.2) as scope:
                    await client.voice.record_sip("2")
                assert scope.cancelled_caught
                assert fake.request_count == 1
                tg.cancel_scope.cancel()
        assert client.stats.in_flight == 0
        assert client.stats.requests == 1


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "10", True])
def test_bad_max_rate_is_refused(bad: object) -> None:
    """max_rate must be a positive finite number."""
    with pytest.raises(itnio.InvalidArgumentError, match="max_rate"):
        itnio.ItnioClient("k", "s", max_rate=bad)  # type: ignore[arg-type]
