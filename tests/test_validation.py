"""Every bad argument raises a clear ValueError before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio

from .conftest import END, KEY, NOW, SECRET, START

pytestmark = pytest.mark.anyio

NAIVE = datetime(2026, 2, 1, 0, 0)

Call = Callable[[itnio.ItnioClient], Awaitable[Any]]

BAD_CALLS: dict[str, Call] = {
    "naive start": lambda c: c.voice.record_sip_query(NAIVE, END),
    "naive end": lambda c: c.voice.record_group_query(START, NAIVE),
    "date not datetime": lambda c: c.voice.record_sip_query(START.date(), END),  # type: ignore[arg-type]
    "end before start": lambda c: c.voice.record_sip_query(END, START),
    "window over 31 days": lambda c: c.voice.record_sip_query(
        START, START + timedelta(days=31, seconds=1)
    ),
    "page 0": lambda c: c.voice.record_sip_query(START, END, page=0),
    "page not int": lambda c: c.voice.record_sip_query(START, END, page="2"),  # type: ignore[arg-type]
    "size 0": lambda c: c.voice.record_group_query(START, END, size=0),
    "size 101": lambda c: c.voice.record_group_query(START, END, size=101),
    "size bool": lambda c: c.voice.record_group_query(START, END, size=True),
    "filter not str": lambda c: c.voice.record_sip_query(START, END, phone_name=5),  # type: ignore[arg-type]
    "empty voice id": lambda c: c.voice.record_sip(""),
    "dotdot voice id": lambda c: c.voice.record_sip(".."),
    "path voice id": lambda c: c.voice.record_sip("../x"),
    "query voice id": lambda c: c.voice.record_group("1?a=b"),
    "fragment voice id": lambda c: c.voice.record_group("1#x"),
    "encoded voice id": lambda c: c.voice.record_group("%2e%2e"),
    "space voice id": lambda c: c.voice.record_group("1 2"),
    "int voice id": lambda c: c.voice.record_group(2203031113381000002),  # type: ignore[arg-type]
}


async def drain(stream: Any) -> None:
    async for _ in stream:
        pass


STREAM_CALLS: dict[str, Call] = {
    "stream naive": lambda c: drain(c.voice.iter_sip_records(NAIVE, END)),
    "stream end before start": lambda c: drain(c.voice.iter_group_records(END, START)),
    "stream page_size 0": lambda c: drain(c.voice.iter_sip_records(START, END, page_size=0)),
    "stream page_size 101": lambda c: drain(c.voice.iter_sip_records(START, END, page_size=101)),
    "stream concurrency 0": lambda c: drain(c.voice.iter_sip_records(START, END, concurrency=0)),
    "stream limit 0": lambda c: drain(c.voice.iter_group_records(START, END, limit=0)),
    "stream ordered not bool": lambda c: drain(
        c.voice.iter_group_records(START, END, ordered=None)
    ),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", [*BAD_CALLS, *STREAM_CALLS])
async def test_bad_argument_sends_nothing(
    client: itnio.ItnioClient, fake: FakeItnio, name: str
) -> None:
    """The call raises InvalidArgumentError (a ValueError) and the fake sees no request."""
    call = {**BAD_CALLS, **STREAM_CALLS}[name]
    with pytest.raises(itnio.InvalidArgumentError) as info:
        await call(client)
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    assert fake.request_count == 0


async def test_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key or secret, by argument or environment, the client refuses to start."""
    monkeypatch.delenv("ITNIO_API_KEY", raising=False)
    monkeypatch.delenv("ITNIO_API_SECRET", raising=False)
    with pytest.raises(itnio.InvalidArgumentError, match="ITNIO_API_KEY"):
        itnio.ItnioClient()
    with pytest.raises(itnio.InvalidArgumentError, match="ITNIO_API_SECRET"):
        itnio.ItnioClient(KEY)
    with pytest.raises(ValueError, match="key"):
        itnio.ItnioClient("", SECRET)


async def test_credentials_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ITNIO_API_KEY, ITNIO_API_SECRET and ITNIO_BASE_URL are the defaults."""
    fake = FakeItnio(KEY, SECRET, n_records=20, now=NOW)
    async with fake.serve() as url:
        monkeypatch.setenv("ITNIO_API_KEY", KEY)
        monkeypatch.setenv("ITNIO_API_SECRET", SECRET)
        monkeypatch.setenv("ITNIO_BASE_URL", url)
        async with itnio.ItnioClient() as client:
            assert client.base_url == url
            assert await client.voice.record_sip("0") is None
    assert fake.request_count == 1


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ITNIO_BASE_URL the vendor's URL is used."""
    monkeypatch.delenv("ITNIO_BASE_URL", raising=False)
    assert itnio.ItnioClient(KEY, SECRET).base_url == "https://api.itniotech.com"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://example.invalid"},
        {"base_url": "not a url"},
        {"max_retries": -1},
        {"max_concurrency": 0},
        {"retry_backoff": -1},
        {"timeout": 0},
        {"timeout": -5},
        {"timeout": "30"},
        {"http_client": object()},
    ],
)
def test_bad_client_options(kwargs: dict[str, Any]) -> None:
    """Bad constructor options raise InvalidArgumentError at once."""
    with pytest.raises(itnio.InvalidArgumentError):
        itnio.ItnioClient(KEY, SECRET, **kwargs)


async def test_windows_are_measured_in_real_time(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """31 days across a DST change in one zone is 31 days and an hour: refused before sending."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 10, 1, tzinfo=berlin)
    end = datetime(2025, 11, 1, tzinfo=berlin)  # the clocks went back on 26 October
    with pytest.raises(itnio.InvalidArgumentError, match="31 days"):
        await client.voice.record_sip_query(start, end)
    assert fake.request_count == 0


@pytest.mark.parametrize("key", ["key\n", "my key", "clé", "k\x00"])
def test_api_key_must_fit_in_a_header(key: str) -> None:
    """An API key that cannot be sent as a header is refused, without echoing it."""
    with pytest.raises(itnio.InvalidArgumentError) as info:
        itnio.ItnioClient(key, SECRET)
    assert key not in str(info.value)
