"""Status codes, HTTP failures and bad bodies each map to their own ItnioError."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, KEY, NOW, SECRET, START, ClientFactory

pytestmark = pytest.mark.anyio

STATUS_CLASSES = [
    ("-1", itnio.AuthenticationError),
    ("-2", itnio.IpRestrictedError),
    ("-22", itnio.ParameterError),
    ("-25", itnio.TimeRangeError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_codes_raise_their_class(
    client: itnio.ItnioClient, fake: FakeItnio, status: str, cls: type[itnio.ApiError]
) -> None:
    """Each known non-zero status raises its own ApiError subclass, unretried."""
    fake.add_fault(Fault.status(status))
    with pytest.raises(cls) as info:
        await client.voice.record_sip_query(START, END)
    assert info.value.status == status
    assert info.value.reason
    assert isinstance(info.value, itnio.ApiError)
    assert fake.request_count == 1


async def test_unknown_status_raises_generic_api_error(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """An undocumented status raises ApiError itself, carrying code and reason."""
    fake.add_fault(Fault.status("-99"))
    with pytest.raises(itnio.ApiError) as info:
        await client.voice.record_group("2203031113381000002")
    assert type(info.value) is itnio.ApiError
    assert info.value.status == "-99"
    assert "-99" in str(info.value)


async def test_server_error_is_retried_then_raised(
    make_client: ClientFactory, fake: FakeItnio
) -> None:
    """Status -18 is retried up to max_retries, then raised as ServerError."""
    fake.add_fault(Fault.status("-18", count=10))
    async with make_client(max_retries=2) as client:
        with pytest.raises(itnio.ServerError):
            await client.voice.record_sip_query(START, END)
    assert fake.request_count == 3


async def test_wrong_secret_is_authentication_error() -> None:
    """The fake checks the signature: a wrong secret gives status -1."""
    fake = FakeItnio(KEY, "another-secret", n_records=10, now=NOW)
    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        with pytest.raises(itnio.AuthenticationError) as info:
            await client.voice.record_sip("1")
    assert SECRET not in str(info.value)


async def test_time_range_rule_from_server(client: itnio.ItnioClient) -> None:
    """A window reaching back past two months is rejected by the service with -25."""
    from datetime import timedelta

    with pytest.raises(itnio.TimeRangeError):
        await client.voice.record_sip_query(NOW - timedelta(days=90), NOW - timedelta(days=80))


@pytest.mark.parametrize("code", [400, 403, 404])
async def test_client_http_errors_are_not_retried(
    client: itnio.ItnioClient, fake: FakeItnio, code: int
) -> None:
    """A 4xx other than 429 raises HttpStatusError at once."""
    fake.add_fault(Fault.http(code))
    with pytest.raises(itnio.HttpStatusError) as info:
        await client.voice.record_sip("1")
    assert info.value.status_code == code
    assert fake.request_count == 1


async def test_non_json_body(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A body that is not JSON raises ResponseDecodeError with the parser's error as cause."""
    fake.add_fault(Fault.not_json())
    with pytest.raises(itnio.ResponseDecodeError) as info:
        await client.voice.record_sip("1")
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    assert fake.request_count == 1


async def test_record_that_does_not_fit() -> None:
    """A field of the wrong shape raises ResponseValidationError, not a cattrs error."""
    bad = {"voiceId": "1", "submitTime": "2026-02-20T10:00:00+08:00", "cost": "a lot"}
    fake = FakeItnio(KEY, SECRET, sip_records=[bad], group_records=[], now=NOW)
    async with fake.serve() as url, itnio.ItnioClient(KEY, SECRET, base_url=url) as client:
        with pytest.raises(itnio.ResponseValidationError) as info:
            await client.voice.record_sip("1")
    assert isinstance(info.value.__cause__, ValueError)


async def test_connection_refused_is_transport_error() -> None:
    """A refused connection is retried, then raised as TransportError with httpx's as cause."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    async with itnio.ItnioClient(
        KEY, SECRET, base_url=f"http://127.0.0.1:{port}", max_retries=1, retry_backoff=0.001
    ) as client:
        with pytest.raises(itnio.TransportError) as info:
            await client.voice.record_sip("1")
    assert isinstance(info.value.__cause__, httpx.TransportError)


async def test_dropped_connection_is_retried(client: itnio.ItnioClient, fake: FakeItnio) -> None:
    """A connection dropped without an answer is retried and the call succeeds."""
    fake.add_fault(Fault.drop())
    raw = fake.sip_records[0]
    record = await client.voice.record_sip(str(raw["voiceId"]))
    assert record is not None and record.voice_id == raw["voiceId"]
    assert fake.request_count == 2


async def test_errors_share_one_root() -> None:
    """Every public exception derives from ItnioError; bad input is also a ValueError."""
    for name in itnio.__all__:
        obj = getattr(itnio, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, itnio.ItnioError)
    assert issubclass(itnio.InvalidArgumentError, ValueError)


async def test_timeout_is_transport_error(fake: FakeItnio, anyio_backend: str) -> None:
    """A request slower than the timeout raises TransportError ("timed out") after retries."""
    fake.latency = 1.0
    async with (
        fake.serve() as url,
        itnio.ItnioClient(
            KEY, SECRET, base_url=url, timeout=0.1, max_retries=1, retry_backoff=0.001
        ) as client,
    ):
        with pytest.raises(itnio.TransportError, match="timed out") as info:
            await client.voice.record_sip("1")
    # (httpx's or aiohttp's read timeout, or the attempt's deadline, whichever comes first)
    assert isinstance(info.value.__cause__, httpx.TimeoutException | TimeoutError)
    assert fake.request_count == 2
