"""A hostile or broken server: deadlines, size limits, exact paths, exact errors.

Each test runs on asyncio and trio, and over three ways to the fake: in
process, loopback through the client's own transport (aiohttp on asyncio
when installed), and loopback through httpx's own transport on asyncio (the
transport of the bare install). Items that depend on the JSON parser run
with orjson and with the standard library (the bare install's parser).
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import logging
import re
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.streams.tls
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async import _decode
from itniotech_async._transport import AutoTransport
from itniotech_async.testing import FakeItnio, Fault

from .conftest import END, KEY, NOW, SECRET, START

pytestmark = pytest.mark.anyio

Factory = Callable[..., itnio.ItnioClient]
MiB = 1024 * 1024


@pytest.fixture(params=["in-process", "loopback", "loopback-httpx"])
async def make(
    request: pytest.FixtureRequest, fake: FakeItnio, anyio_backend: str
) -> AsyncIterator[Factory]:
    """Yield a factory of clients wired to ``fake`` one of the three ways."""
    way = str(request.param)
    if way == "loopback-httpx" and anyio_backend == "trio":
        pytest.skip("on trio the client's own transport is httpx's already")
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(fake.serve()) if way != "in-process" else None

        def factory(**kwargs: Any) -> itnio.ItnioClient:
            kwargs.setdefault("retry_backoff", 0.001)
            if way == "in-process":
                http = httpx.AsyncClient(transport=fake.transport)
                stack.push_async_callback(http.aclose)
                kwargs["http_client"] = http
            elif way == "loopback-httpx":
                transport = AutoTransport(max_connections=4, use_aiohttp=False)
                http = httpx.AsyncClient(transport=transport)
                stack.push_async_callback(http.aclose)
                kwargs.update(http_client=http, base_url=url)
            else:
                kwargs["base_url"] = url
            client = itnio.ItnioClient(KEY, SECRET, **kwargs)
            stack.push_async_callback(client.aclose)
            return client

        yield factory
        # Anything left suspended (a generator, a socket) warns when
        # collected: collect now, while the test can still fail on it.
        gc.collect()


@pytest.fixture(params=["orjson", "json"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Parse with orjson (the fast extra) or with the standard library (the bare install)."""
    if request.param == "json":
        monkeypatch.setattr(_decode, "orjson", None)
    return str(request.param)


def envelope(data: Any) -> bytes:
    return json.dumps({"status": "0", "reason": "success", "data": data}).encode()


def page_of(*records: dict[str, Any]) -> bytes:
    data = {
        "total": len(records),
        "size": 100,
        "current": 1,
        "pages": 1,
        "searchCount": True,
        "records": list(records),
    }
    return envelope(data)


# 1. A slow trickle ---------------------------------------------------------


async def test_trickled_body_hits_the_attempt_deadline(make: Factory, fake: FakeItnio) -> None:
    """A body sent a byte at a time fails the attempt at the deadline, and the retry succeeds."""
    raw = fake.sip_records[0]
    fake.add_fault(Fault.trickle(0.05, chunk_size=1, path_contains="recordSip/"))
    with anyio.fail_after(20):  # before the fix: the whole body, some 40 s
        async with make(timeout=1.0, max_retries=1) as client:
            record = await client.voice.record_sip(str(raw["voiceId"]))
    assert record is not None and record.voice_id == raw["voiceId"]
    first, second = fake.requests
    assert first.fault is not None and first.fault.kind == "trickle"
    assert 0 < first.body_sent < second.body_sent  # the first answer was cut short
    assert second.fault is None


async def test_deadline_error_is_a_transport_error(make: Factory, fake: FakeItnio) -> None:
    """Without retries left, the deadline raises TransportError saying it timed out."""
    fake.add_fault(Fault.trickle(0.05, chunk_size=1, count=5))
    with anyio.fail_after(20):
        async with make(timeout=0.5, max_retries=0) as client:
            with pytest.raises(itnio.TransportError, match=r"timed out.*0\.5 s timeout"):
                await client.voice.record_sip("1")
    assert fake.request_count == 1


# 2. Huge bodies --------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
async def test_huge_body_is_refused_without_reading_it(
    make: Factory, fake: FakeItnio, declare_length: bool
) -> None:
    """A 256 MiB body over a 1 MiB cap raises ResponseTooLargeError; the rest is never sent."""
    fake.add_fault(Fault.huge(256 * MiB, declare_length=declare_length))
    async with make(max_response_size=MiB) as client:
        with pytest.raises(itnio.ResponseTooLargeError) as info:
            await client.voice.record_sip("1")
    assert info.value.limit == MiB
    assert "max_response_size" in str(info.value)
    assert isinstance(info.value, itnio.ResponseDecodeError)
    assert fake.request_count == 1  # not retried
    # What the fake managed to write: the cap plus what socket buffers took.
    assert fake.requests[0].body_sent < 32 * MiB


async def test_gzip_bomb_is_refused_without_inflating_it(make: Factory, fake: FakeItnio) -> None:
    """A gzip body inflating to 1 GiB stops at the cap, with memory to match."""
    fake.add_fault(Fault.huge(1024 * MiB, gzip=True))
    async with make(max_response_size=MiB) as client:
        tracemalloc.start()
        try:
            with pytest.raises(itnio.ResponseTooLargeError, match="decompressed"):
                await client.voice.record_sip("1")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 24 * MiB  # (inflated whole, the body alone would take 1 GiB)
    assert fake.requests[0].body_sent < 8 * MiB


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "gzip, gzip"])
async def test_compressed_answers_are_read(make: Factory, fake: FakeItnio, coding: str) -> None:
    """Bodies in the codings the client asks for (and raw deflate) decode to the record."""
    raw = fake.sip_records[0]
    body = envelope(raw)
    if coding == "gzip":
        encoded = gzip.compress(body)
    elif coding == "gzip, gzip":
        encoded = gzip.compress(gzip.compress(body))
    elif coding == "deflate":
        encoded = zlib.compress(body)
    else:
        compressor = zlib.compressobj(wbits=-15)
        encoded = compressor.compress(body) + compressor.flush()
    label = "deflate" if coding == "raw-deflate" else coding
    fake.add_fault(Fault.body(encoded, content_encoding=label))
    async with make() as client:
        record = await client.voice.record_sip(str(raw["voiceId"]))
    assert record is not None and record.voice_id == raw["voiceId"]
    assert fake.requests[0].header("accept-encoding") == "gzip, deflate"


# 3, 4. Exact paths -----------------------------------------------------------


@pytest.mark.parametrize("voice_id", ["123;x=1", "a=b", "a&b", "u@h", "x:y", "~1+2"])
async def test_reserved_characters_stay_encoded(
    make: Factory, fake: FakeItnio, voice_id: str
) -> None:
    """A voice id's reserved characters are percent-encoded on the wire, on every transport."""
    async with make() as client:
        assert await client.voice.record_sip(voice_id) is None
    expected = "/voice/recordSip/" + "".join(
        c if c.isalnum() or c in "-._~" else "%" + format(ord(c), "02X") for c in voice_id
    )
    assert fake.requests[0].raw_path == expected
    assert fake.requests[0].path == "/voice/recordSip/" + voice_id


async def test_too_long_voice_id_is_refused(make: Factory, fake: FakeItnio) -> None:
    """A voice id too long for a URL is refused before sending; 1024 characters still go."""
    async with make() as client:
        with pytest.raises(itnio.InvalidArgumentError, match="too long"):
            await client.voice.record_sip("9" * 65_536)
        with pytest.raises(itnio.InvalidArgumentError, match="too long"):
            await client.voice.record_group(";" * 400)  # 1200 characters once encoded
        assert fake.request_count == 0
        assert await client.voice.record_sip("9" * 1024) is None
    assert fake.request_count == 1


# 5, 7, 8. Bodies that break parsers ----------------------------------------


async def test_deeply_nested_json_is_a_decode_error(
    make: Factory, fake: FakeItnio, parser: str
) -> None:
    """JSON nested 100k levels deep raises ResponseDecodeError on either parser."""
    depth = 100_000
    fake.add_fault(Fault.body(b'{"status":"0","data":' + b"[" * depth + b"]" * depth + b"}"))
    async with make() as client:
        with pytest.raises(itnio.ResponseDecodeError, match=r"not JSON|nested") as info:
            await client.voice.record_sip("1")
    assert isinstance(info.value.__cause__, ValueError | RecursionError)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
async def test_broken_gzip_is_a_decode_error(make: Factory, fake: FakeItnio, damage: str) -> None:
    """A truncated or corrupt gzip body raises ResponseDecodeError and leaves nothing to warn."""
    body = gzip.compress(envelope(fake.sip_records[0]) * 3)
    if damage == "truncated":
        body = body[: len(body) // 2]
    else:
        body = body[:20] + bytes(b ^ 0x55 for b in body[20:60]) + body[60:]
    fake.add_fault(Fault.body(body, content_encoding="gzip"))
    async with make() as client:
        with pytest.raises(itnio.ResponseDecodeError) as info:
            await client.voice.record_sip("1")
    assert fake.request_count == 1
    if damage == "corrupt":
        assert isinstance(info.value.__cause__, zlib.error)
    # (the fixture collects garbage: a generator left suspended would warn)


async def test_big_numeric_ids_keep_their_digits(
    make: Factory, fake: FakeItnio, parser: str
) -> None:
    """Numeric voice ids beyond 64 bits keep every digit, so two ids stay two."""
    template = fake.sip_records[0]
    ids = [220303111338100000200000, 220303111338100000200001, 18446744073709551616]
    body = page_of(*({**template, "voiceId": voice_id} for voice_id in ids))
    fake.add_fault(Fault.body(body, path_contains="Query"))
    async with make() as client:
        page = await client.voice.record_sip_query(START, END)
    assert [r.voice_id for r in page.records] == [
        "220303111338100000200000",
        "220303111338100000200001",
        "18446744073709551616",
    ]


async def test_fractional_voice_id_is_refused(make: Factory, fake: FakeItnio, parser: str) -> None:
    """A voiceId sent as a number with an exponent cannot be exact: the answer is refused."""
    body = envelope({**fake.sip_records[0], "voiceId": 0}).replace(
        b'"voiceId": 0', b'"voiceId": 2.2030311133810002e+23'
    )
    fake.add_fault(Fault.body(body))
    async with make() as client:
        with pytest.raises(itnio.ResponseValidationError, match="voiceId"):
            await client.voice.record_sip("1")


@pytest.mark.parametrize(
    "neighbour",
    [{"voiceId": "7"}, {"callee": "no id"}, ["not", "a", "record"], None],
    ids=["record", "record-without-id", "list", "null"],
)
def test_fractional_voice_id_is_found_beside_any_other_item(parser: str, neighbour: object) -> None:
    """The decoder finds a fractional voiceId whatever else the records list holds."""
    bad = b'{"data": {"records": [%s, {"voiceId": 1.5e3}]}}' % json.dumps(neighbour).encode()
    with pytest.raises(itnio.ResponseValidationError, match="voiceId"):
        _decode.loads(bad)
    good = (
        b'{"data": {"records": [%s, {"voiceId": 18446744073709551616}]}}'
        % json.dumps(neighbour).encode()
    )
    assert _decode.loads(good)["data"]["records"][1]["voiceId"] == 18446744073709551616


# 6. Retry-After from a wrong clock ---------------------------------------


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["ahead", "behind"])
async def test_retry_after_date_is_read_on_the_servers_clock(
    fake: FakeItnio, anyio_backend: str, skew: float, caplog: pytest.LogCaptureFixture
) -> None:
    """A Retry-After date 2 s ahead of a skewed server's clock waits about 2 s, not 0 or 1 h."""
    fake.clock_skew = skew
    raw = fake.sip_records[0]
    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http, retry_backoff=0.001)
        await client.voice.record_sip(str(raw["voiceId"]))  # learns the offset (-16)
        assert abs(client.clock_offset - skew) < 3
        fake.add_fault(Fault.http(429, retry_after=2, retry_after_date=True))
        with caplog.at_level(logging.INFO, logger="itniotech_async"):
            record = await client.voice.record_sip(str(raw["voiceId"]))
    assert record is not None
    waits = [
        float(m.group(1))
        for m in (re.search(r"retry 1/\d+ in ([0-9.]+) s", r.getMessage()) for r in caplog.records)
        if m
    ]
    assert len(waits) == 1 and 0.9 <= waits[0] <= 3.1


# 9. Credentials in the base URL --------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@api.example.com",
        "https://hunter2@api.example.com",
        "https://api.example.com/?token=hunter2",
        "https://api.example.com/#hunter2",
        "https://user:hunter2@api.example.com:bad-port",
    ],
)
def test_base_url_with_secrets_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A base URL with credentials, a query or a fragment is refused, without echoing them."""
    with pytest.raises(itnio.InvalidArgumentError) as info:
        itnio.ItnioClient(KEY, SECRET, base_url=url)
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None or "hunter2" not in str(info.value.__cause__)
    monkeypatch.setenv("ITNIO_BASE_URL", url)
    with pytest.raises(itnio.InvalidArgumentError) as info:
        itnio.ItnioClient(KEY, SECRET)
    assert "hunter2" not in str(info.value)


# 10. TLS failures in words -------------------------------------------------


@pytest.mark.parametrize("own_transport", [True, False], ids=["own", "httpx"])
async def test_tls_failure_says_why(
    fake: FakeItnio, anyio_backend: str, own_transport: bool
) -> None:
    """TLS against a plain-HTTP port fails as TransportError whose message names TLS."""
    async with fake.serve() as url, contextlib.AsyncExitStack() as stack:
        https = url.replace("http://", "https://")
        kwargs: dict[str, Any] = {"base_url": https, "max_retries": 0}
        if not own_transport:
            transport = AutoTransport(max_connections=2, use_aiohttp=False)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport))
            kwargs["http_client"] = http
        client = await stack.enter_async_context(itnio.ItnioClient(KEY, SECRET, **kwargs))
        with pytest.raises(itnio.TransportError) as info:
            await client.voice.record_sip("1")
    assert re.search(r"failed: TLS handshake failed: \S", str(info.value)), str(info.value)
    assert info.value.__cause__ is not None


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server TLS context with a freshly made self-signed certificate."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("own_transport", [True, False], ids=["own", "httpx"])
async def test_untrusted_certificate_says_why(
    anyio_backend: str, own_transport: bool, self_signed: Any
) -> None:
    """A self-signed certificate fails as TransportError naming the verification failure."""
    context = self_signed

    async def handshake_only(stream: anyio.abc.ByteStream) -> None:
        with contextlib.suppress(Exception):
            async with stream:
                await stream.receive()

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = anyio.streams.tls.TLSListener(tcp, context, standard_compatible=False)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    async with contextlib.AsyncExitStack() as stack, anyio.create_task_group() as tg:
        await stack.enter_async_context(listener)
        tg.start_soon(listener.serve, handshake_only)
        kwargs: dict[str, Any] = {"base_url": f"https://127.0.0.1:{port}", "max_retries": 0}
        if not own_transport:
            transport = AutoTransport(max_connections=2, use_aiohttp=False)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport))
            kwargs["http_client"] = http
        client = await stack.enter_async_context(itnio.ItnioClient(KEY, SECRET, **kwargs))
        with pytest.raises(itnio.TransportError) as info:
            await client.voice.record_sip("1")
        tg.cancel_scope.cancel()
    assert "TLS certificate verification failed: self" in str(info.value), str(info.value)


# 11. Forgetting aclose() ---------------------------------------------------


@pytest.mark.parametrize("own_transport", [True, False], ids=["own", "httpx"])
async def test_unclosed_client_warns_once_in_our_words(
    fake: FakeItnio, anyio_backend: str, own_transport: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A client collected without aclose() gives one ResourceWarning of ours, nothing else."""
    async with fake.serve() as url:
        client = itnio.ItnioClient(KEY, SECRET, base_url=url)
        if not own_transport:
            client._transport._use_aiohttp = False  # type: ignore[union-attr]
        assert await client.voice.record_sip("1") is None
        with caplog.at_level(logging.ERROR), warnings_recorded() as seen:
            del client
            gc.collect()
            await anyio.sleep(0.05)  # the loop runs what closing transports scheduled
            gc.collect()
    ours = [w for w in seen if "ItnioClient" in str(w.message)]
    assert len(ours) == 1 and ours[0].category is ResourceWarning
    assert [str(w.message) for w in seen if w not in ours] == []
    assert not [r for r in caplog.records if "nclosed" in r.getMessage()]


@contextlib.contextmanager
def warnings_recorded() -> Iterator[list[Any]]:
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


async def test_closed_client_does_not_warn(fake: FakeItnio, anyio_backend: str) -> None:
    """A client closed properly gives no warning when collected."""
    async with fake.serve() as url:
        client = itnio.ItnioClient(KEY, SECRET, base_url=url)
        async with client:
            await client.voice.record_sip("1")
        with warnings_recorded() as seen:
            del client
            gc.collect()
    assert [str(w.message) for w in seen] == []


async def test_time_range_still_checked(make: Factory) -> None:
    """The fake's ordinary answers still come through the bounded reader intact."""
    async with make() as client:
        page = await client.voice.record_sip_query(START, END)
        assert page.total > 0 and page.records
        with pytest.raises(itnio.TimeRangeError):
            from datetime import timedelta

            await client.voice.record_sip_query(NOW - timedelta(days=90), NOW - timedelta(days=80))
