"""What user code sees: the record policy, records as data, iterator and repr types, the version."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio

from .conftest import KEY, SECRET

pytestmark = pytest.mark.anyio


def mock_client(data: Any) -> itnio.ItnioClient:
    """A client whose every request is answered with success and ``data``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "0", "reason": "success", "data": data})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return itnio.ItnioClient(KEY, SECRET, http_client=http, max_retries=0)


GOOD = {"voiceId": "2203031113381000002", "submitTime": "2022-01-18T14:42:40+08:00"}


@pytest.mark.parametrize("voice_id", [None, ""])
async def test_page_with_a_record_without_voice_id_is_rejected(voice_id: str | None) -> None:
    """A page holding a record with no usable voiceId raises, naming the endpoint."""
    bad = {"submitTime": "2022-01-18T14:42:40+08:00", "cost": "1"}
    if voice_id is not None:
        bad["voiceId"] = voice_id
    page = {"total": 2, "pages": 1, "current": 1, "size": 100, "records": [GOOD, bad]}
    now = datetime.now(timezone.utc)
    async with mock_client(page) as client:
        with pytest.raises(itnio.ResponseValidationError, match="voiceId") as info:
            await client.voice.record_sip_query(now - timedelta(days=1), now)
        assert "/voice/recordSipQuery" in str(info.value)
        with pytest.raises(itnio.ResponseValidationError, match="/voice/recordGroupQuery"):
            async for _ in client.voice.iter_group_records(now - timedelta(days=1), now):
                pass


async def test_single_record_without_voice_id_is_rejected() -> None:
    """A single lookup whose record lacks a voiceId raises, naming the endpoint."""
    async with mock_client({"callee": "91856321412"}) as client:
        with pytest.raises(itnio.ResponseValidationError, match="/voice/recordGroup/42"):
            await client.voice.record_group("42")


async def test_time_without_offset_is_rejected_over_http() -> None:
    """A record whose time has no UTC offset raises instead of giving a naive datetime."""
    async with mock_client(GOOD | {"answerTime": "2022-01-18T14:42:50"}) as client:
        with pytest.raises(itnio.ResponseValidationError, match="UTC offset"):
            await client.voice.record_sip("2203031113381000002")


RECORD = itnio.GroupCallRecord(
    voice_id="2203031113381000002",
    callee="91856321412",
    submit_time=datetime(2022, 1, 18, 14, 42, 40, tzinfo=timezone(timedelta(hours=8))),
    call_duration=5,
    cost=Decimal("2.10"),
    settle_rate=Decimal("1.2793"),
    called_info="Zoë 你好",
)


def test_to_dict_of_a_record() -> None:
    """A record becomes snake_case keys, ISO times with offset, decimal strings, None."""
    data = itnio.to_dict(RECORD)
    assert data["voice_id"] == "2203031113381000002"
    assert data["submit_time"] == "2022-01-18T14:42:40+08:00"
    assert data["call_duration"] == 5
    assert data["cost"] == "2.10"  # the decimal's own digits, trailing zero kept
    assert data["settle_rate"] == "1.2793"
    assert data["answer_time"] is None
    assert data["called_info"] == "Zoë 你好"
    assert len(data) == 24  # 20 common fields + 4 of group records


def test_to_json_of_a_record_and_a_page() -> None:
    """to_json is to_dict as compact (or indented) JSON, non-ASCII kept."""
    line = itnio.to_json(RECORD)
    assert "\n" not in line and ", " not in line
    assert '"called_info":"Zoë 你好"' in line
    assert json.loads(line) == itnio.to_dict(RECORD)
    page = itnio.Page(records=(RECORD, RECORD), total=7, pages=4, current=2, size=2)
    text = itnio.to_json(page, indent=2)
    assert text.startswith('{\n  "records": [\n    {\n      "voice_id": ')
    assert json.loads(text) == {
        "records": [itnio.to_dict(RECORD)] * 2,
        "total": 7,
        "pages": 4,
        "current": 2,
        "size": 2,
    }


@pytest.mark.parametrize("bad", [{"voice_id": "1"}, None, "record"])
def test_to_dict_rejects_other_objects(bad: Any) -> None:
    """Only records and pages convert; anything else is an InvalidArgumentError."""
    with pytest.raises(itnio.InvalidArgumentError, match="expected a call record or a Page"):
        itnio.to_dict(bad)


async def test_to_dict_of_a_fetched_page_round_trips(itnio_client: itnio.ItnioClient) -> None:
    """A fetched page's dict parses back into the same records."""
    end = datetime.now(timezone.utc)
    page = await itnio_client.voice.record_sip_query(end - timedelta(days=20), end, size=20)
    assert len(page.records) == 20
    from itniotech_async._converter import _camel

    rebuilt = [
        itnio.SipCallRecord(
            **{
                k: (
                    datetime.fromisoformat(v)
                    if k.endswith("_time") and v
                    else Decimal(v)
                    if v is not None and _camel(k) in MONEY_KEYS
                    else v
                )
                for k, v in item.items()
            }
        )
        for item in itnio.to_dict(page)["records"]
    ]
    assert rebuilt == list(page.records)


MONEY_KEYS = {"cost", "rate", "settleRate", "quoteExchange", "settlePay", "baseCost"}


def test_page_repr_is_short_and_useful() -> None:
    """A page's repr tells its place and size, not every record."""
    page = itnio.Page(records=(RECORD,) * 3, total=203, pages=3, current=3, size=100)
    assert repr(page) == (
        "Page(current=3, pages=3, total=203, size=100, records=<3 GroupCallRecord>)"
    )
    empty: itnio.Page[itnio.SipCallRecord] = itnio.Page((), 0, 0, 1, 100)
    assert repr(empty) == "Page(current=1, pages=0, total=0, size=100, records=<0>)"


@pytest.mark.itnio(transport="loopback")
async def test_stream_iterator_has_aclose(
    itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio
) -> None:
    """aiter(stream) is a StreamIterator: anext works and aclose stops the walk."""
    end = datetime.now(timezone.utc)
    records: itnio.StreamIterator[itnio.SipCallRecord] = aiter(
        itnio_client.voice.iter_sip_records(end - timedelta(days=30), end, page_size=10)
    )
    first = await anext(records)
    assert isinstance(first, itnio.SipCallRecord)
    await records.aclose()
    sent = itnio_fake.request_count
    rest = [record async for record in records]  # at most what was already fetched
    assert len(rest) < 10
    assert itnio_fake.request_count == sent  # nothing more was requested after aclose


def test_version_agrees_with_the_metadata() -> None:
    """__version__ is the installed distribution's version."""
    assert itnio.__version__ == importlib.metadata.version("itniotech-async")


def test_every_public_name_has_a_docstring() -> None:
    """Each exported class and function, and their public methods, say what they do."""
    missing = []
    for name in itnio.__all__:
        obj = getattr(itnio, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for klass in obj.__mro__:
            if not klass.__module__.startswith("itniotech_async"):
                continue
            for attr, member in vars(klass).items():
                public = not attr.startswith("_")
                documented = bool((getattr(member, "__doc__", None) or "").strip())
                if public and (callable(member) or isinstance(member, property)) and not documented:
                    missing.append(f"{name}.{attr}")
    assert missing == []


@pytest.mark.itnio(now=datetime(2026, 3, 1, tzinfo=timezone.utc))
async def test_time_range_error_says_the_limits(itnio_client: itnio.ItnioClient) -> None:
    """Status -25 raises TimeRangeError whose message states both limits."""
    start = datetime(2025, 12, 1, tzinfo=timezone.utc)  # 90 days before the fake's now
    with pytest.raises(itnio.TimeRangeError) as info:
        await itnio_client.voice.record_sip_query(start, start + timedelta(days=1))
    assert info.value.status == "-25"
    assert "31 days" in str(info.value) and "62 days" in str(info.value)


@pytest.mark.itnio(n_records=300)
async def test_record_stream_repr_shows_query_and_progress(
    itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio
) -> None:
    """A stream's repr names its range, filters, options and progress."""
    end = datetime(2026, 3, 1, tzinfo=timezone.utc)
    start = end - timedelta(days=40)
    stream = itnio_client.voice.iter_sip_records(
        start, end, phone_name="sales-01", page_size=50, concurrency=3
    )
    assert repr(stream) == (
        "<RecordStream 2026-01-20T00:00:00+00:00 .. 2026-03-01T00:00:00+00:00, "
        "phoneName='sales-01', page_size=50, concurrency=3: 0 of ? records, 0 pages>"
    )
    pages = itnio_client.voice.iter_group_records(start, end, limit=7).pages()
    assert repr(pages).startswith("<PageStream 2026-01-20T00:00:00+00:00 .. ")
    assert ", limit=7:" in repr(pages)
    now = datetime.now(timezone.utc)
    walked = itnio_client.voice.iter_sip_records(now - timedelta(days=20), now, limit=5)
    assert len([r async for r in walked]) == 5
    assert repr(walked).endswith(f": 5 of {walked.total:,} records, 1 page>")
