"""Clock skew: status -16 teaches the client the server's clock, once."""

from __future__ import annotations

import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("skew", [3600.0, -7200.0])
async def test_skew_is_learned_once(
    client: itnio.ItnioClient, fake: FakeItnio, skew: float
) -> None:
    """The first request is re-signed after -16; later ones are right the first time."""
    fake.clock_skew = skew
    raw = fake.sip_records[0]
    assert await client.voice.record_sip(str(raw["voiceId"])) is not None
    assert fake.request_count == 2
    assert abs(client.clock_offset - skew) < 2
    for _ in range(3):
        await client.voice.record_sip(str(raw["voiceId"]))
    assert fake.request_count == 5


async def test_persistent_expiry_raises(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """When even the re-signed request expires, TimestampExpiredError is raised (one retry only)."""
    fake.add_fault(Fault.status("-16", count=5))
    with pytest.raises(itnio.TimestampExpiredError) as info:
        await client.voice.record_sip("1")
    assert info.value.status == "-16"
    assert fake.request_count == 2


async def test_small_skew_needs_no_correction(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A skew inside the service's tolerance costs no extra request."""
    fake.clock_skew = 10.0
    await client.voice.record_sip("1")
    assert fake.request_count == 1
    assert client.clock_offset == 0
