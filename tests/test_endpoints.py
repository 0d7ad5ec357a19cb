"""The four endpoints over both transports and both backends, with typed records."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio

from .conftest import END, NOW, START

pytestmark = pytest.mark.anyio


def in_range(fake_records: list[dict[str, object]], start: datetime, end: datetime) -> list[str]:
    return [
        str(r["voiceId"])
        for r in fake_records
        if start <= datetime.fromisoformat(str(r["submitTime"])) <= end
    ]


async def test_record_sip_returns_a_typed_record(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """record_sip returns a frozen SipCallRecord whose fields have the documented types."""
    raw = fake.sip_records[3]
    record = await client.voice.record_sip(str(raw["voiceId"]))
    assert isinstance(record, itnio.SipCallRecord)
    assert record.voice_id == raw["voiceId"]
    assert record.submit_time == datetime.fromisoformat(str(raw["submitTime"]))
    assert record.submit_time is not None and record.submit_time.tzinfo is not None
    assert record.submit_time.isoformat() == raw["submitTime"]  # offset kept as sent
    assert isinstance(record.call_duration, int)
    assert record.cost is None or isinstance(record.cost, Decimal)
    assert record.sip_group_name == (raw["sipGroupName"] or None)
    with pytest.raises(AttributeError):
        record.callee = "x"  # type: ignore[misc]


async def test_record_group_returns_a_typed_record(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """record_group returns a GroupCallRecord with group-only fields and Decimal money."""
    raw = next(r for r in fake.group_records if r.get("currency") == "EUR")
    record = await client.voice.record_group(str(raw["voiceId"]))
    assert isinstance(record, itnio.GroupCallRecord)
    assert record.base_cost == Decimal(str(raw["baseCost"]))
    assert record.settle_pay == Decimal(str(raw["settlePay"]))
    assert record.voice_file_id == raw["voiceFileId"]


async def test_unknown_voice_id_gives_none(client: itnio.ItnioClient) -> None:
    """A success answer with data null becomes None."""
    assert await client.voice.record_sip("9999999999999999999") is None
    assert await client.voice.record_group("9999999999999999999") is None


async def test_empty_strings_become_none() -> None:
    """Empty strings and missing fields read as None; unknown fields are ignored."""
    raw = {
        "voiceId": "1000000000000000001",
        "callee": "123",
        "submitTime": "2026-02-20T10:00:00+08:00",
        "answerTime": "",
        "callDuration": 0,
        "cost": "",
        "aFieldFromTheFuture": {"nested": True},
    }
    fake = FakeItnio("test-key", "s3cr3t-never-shown", sip_records=[raw], group_records=[], now=NOW)
    async with (
        fake.serve() as url,
        itnio.ItnioClient("test-key", "s3cr3t-never-shown", base_url=url) as client,
    ):
        record = await client.voice.record_sip("1000000000000000001")
    assert record is not None
    assert record.answer_time is None
    assert record.cost is None
    assert record.display_num is None
    assert record.call_duration == 0


async def test_sip_query_page(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A one-page query returns a Page with the fake's total, pages and the right records."""
    expected = in_range(fake.sip_records, START, END)
    page = await client.voice.record_sip_query(START, END, page=2, size=50)
    assert isinstance(page, itnio.Page)
    assert page.total == len(expected)
    assert page.pages == -(-len(expected) // 50)
    assert page.current == 2
    assert page.size == 50
    assert [r.voice_id for r in page.records] == expected[50:100]
    assert all(isinstance(r, itnio.SipCallRecord) for r in page.records)


async def test_group_query_page(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """recordGroupQuery pages hold GroupCallRecords of the window."""
    expected = in_range(fake.group_records, START, END)
    page = await client.voice.record_group_query(START, END, page=1, size=100)
    assert page.total == len(expected)
    assert [r.voice_id for r in page.records] == expected[:100]
    assert all(isinstance(r, itnio.GroupCallRecord) for r in page.records)


async def test_sip_query_filters(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """sip_group_name and phone_name are sent as exact-match filters."""
    raw = fake.sip_records[0]
    group, phone = raw["sipGroupName"], raw["phoneName"]
    page = await client.voice.record_sip_query(
        START - timedelta(days=6), END + timedelta(days=5), sip_group_name=str(group)
    )
    assert page.records
    assert {r.sip_group_name for r in page.records} == {group}
    page = await client.voice.record_sip_query(
        START, END, sip_group_name=str(group), phone_name=str(phone)
    )
    assert all(r.phone_name == phone and r.sip_group_name == group for r in page.records)


async def test_times_are_sent_with_their_offset(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """start and end go out as ISO 8601 with their own UTC offset, in whole seconds."""
    from datetime import timezone

    tz = timezone(timedelta(hours=8))
    start = START.astimezone(tz).replace(microsecond=250)
    await client.voice.record_sip_query(start, END.astimezone(tz))
    body = fake.requests[-1].json
    assert body is not None
    params = body["params"]
    assert params["strTime"] == (start.replace(microsecond=0) + timedelta(seconds=1)).isoformat()
    assert params["strTime"].endswith("+08:00")
    assert params["endTime"] == END.astimezone(tz).isoformat()
    assert body["current"] == 1 and body["size"] == 100
    headers = fake.requests[-1].headers
    assert headers["content-type"].startswith("application/json")


async def test_own_http_client_sends_what_build_request_gives(fake: FakeItnio) -> None:
    """The client's own httpx client builds requests from a template per path: they
    carry the headers build_request would give, each with its own Content-Length."""
    from itniotech_async._requester import HEADERS

    from .conftest import KEY, SECRET

    signed = {"api-key", "timestamp", "sign"}
    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        for page in (9, 10, 10):  # two body lengths, and a repeat
            await client.voice.record_sip_query(START, END, page=page, size=7)
            await client.voice.record_sip(str(page))
        assert len(client._requester._templates) == 3  # the query path and two record paths
        for got in fake.requests:
            want = client._requester.http.build_request(
                got.method, url + got.path, content=got.body or None, headers=HEADERS
            )
            assert {k: v for k, v in got.headers.items() if k not in signed} == {
                k.lower(): v for k, v in want.headers.items()
            }
