"""The fake ITNIO server: signatures, pages, rules, faults, counters and the runner.

Every async test runs on asyncio and trio, and those taking ``client`` run
against both the in-process transport and the loopback TCP server, with raw
requests signed here.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async._auth import compute_sign
from itniotech_async.testing import FakeItnio, FakeRequest, Fault, generate_records
from itniotech_async.testing._latency import parse_latency

pytestmark = pytest.mark.anyio

KEY = "test-key"
SECRET = "test-secret"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))
IST = timezone(timedelta(hours=5, minutes=30))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake() -> FakeItnio:
    return FakeItnio(KEY, SECRET, seed=7, n_records=300, days=60, now=NOW)


@pytest.fixture(params=["transport", "tcp"])
async def client(
    request: pytest.FixtureRequest, fake: FakeItnio
) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "transport":
        async with httpx.AsyncClient(transport=fake.transport, base_url="http://fake") as http:
            yield http
    else:
        async with (
            fake.serve() as base_url,
            httpx.AsyncClient(base_url=base_url, trust_env=False) as http,
        ):
            yield http


def signed(
    timestamp: float | str | None = None, *, key: str = KEY, secret: str = SECRET
) -> dict[str, str]:
    if isinstance(timestamp, str):
        stamp = timestamp
    else:
        stamp = str(int(time.time() if timestamp is None else timestamp))
    return {
        "Content-Type": "application/json;charset=UTF-8",
        "Api-Key": key,
        "Timestamp": stamp,
        "Sign": compute_sign(key, secret, stamp),
    }


def window(days: float = 30, *, end: datetime = NOW) -> dict[str, Any]:
    return {"strTime": (end - timedelta(days=days)).isoformat(), "endTime": end.isoformat()}


async def query(
    client: httpx.AsyncClient,
    params: dict[str, Any],
    *,
    kind: str = "sip",
    current: int | None = 1,
    size: int | None = 100,
) -> dict[str, Any]:
    body: dict[str, Any] = {"params": params}
    if current is not None:
        body["current"] = current
    if size is not None:
        body["size"] = size
    response = await client.post(
        f"/voice/record{kind.capitalize()}Query", json=body, headers=signed()
    )
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def in_window(records: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    start = datetime.fromisoformat(params["strTime"])
    end = datetime.fromisoformat(params["endTime"])
    return [
        record
        for record in records
        if start <= datetime.fromisoformat(record["submitTime"]) <= end
        and params.get("sipGroupName", "") in ("", record.get("sipGroupName"))
        and params.get("phoneName", "") in ("", record.get("phoneName"))
    ]


def record(voice_id: str, submitted: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "voiceId": voice_id,
        "submitTime": submitted.isoformat(),
        "sipGroupName": "sales",
        "phoneName": "sales-01",
        **fields,
    }


# -- single records and authentication -------------------------------------


async def test_single_record_is_served_and_missing_one_is_null(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """A known voiceId returns its record; an unknown one returns data null."""
    for kind, records in (("Sip", fake.sip_records), ("Group", fake.group_records)):
        wanted = records[17]
        response = await client.get(f"/voice/record{kind}/{wanted['voiceId']}", headers=signed())
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json;charset=UTF-8"
        assert email.utils.parsedate_to_datetime(response.headers["date"]) is not None
        assert response.json() == {"status": "0", "reason": "success", "data": wanted}

        response = await client.get(f"/voice/record{kind}/1234567890123456789", headers=signed())
        assert response.json() == {"status": "0", "reason": "success", "data": None}


@pytest.mark.parametrize(
    "headers",
    [
        signed(secret="wrong-secret"),
        signed(key="other-key", secret=SECRET),
        {"Api-Key": KEY, "Timestamp": str(int(time.time()))},
        {},
        {**signed(), "Sign": signed()["Sign"].upper()},
    ],
    ids=["wrong-secret", "unknown-key", "no-sign", "no-headers", "uppercase-sign"],
)
async def test_bad_credentials_answer_status_minus_1(
    client: httpx.AsyncClient, fake: FakeItnio, headers: dict[str, str]
) -> None:
    """A missing or unknown Api-Key or a wrong Sign is status -1 in an HTTP 200 envelope."""
    voice_id = fake.sip_records[0]["voiceId"]
    response = await client.get(f"/voice/recordSip/{voice_id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "-1"
    assert response.json()["data"] is None
    assert fake.requests[-1].answered == "-1"


async def test_skewed_clock_answers_minus_16_with_its_date(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """With a skewed clock, a local Timestamp is -16 and Date shows the server's clock."""
    fake.clock_skew = 3600.0
    voice_id = fake.sip_records[0]["voiceId"]
    response = await client.get(f"/voice/recordSip/{voice_id}", headers=signed())
    assert response.json()["status"] == "-16"
    server_time = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    assert abs(server_time - (time.time() + 3600)) < 5

    response = await client.get(f"/voice/recordSip/{voice_id}", headers=signed(server_time))
    assert response.json()["status"] == "0"

    fake.clock_skew = 0.0
    fake.timestamp_tolerance = 10.0
    response = await client.get(f"/voice/recordSip/{voice_id}", headers=signed(time.time() - 11))
    assert response.json()["status"] == "-16"


@pytest.mark.parametrize("stamp", ["12.5", "", "abc", "-5"])
async def test_non_integer_timestamp_answers_minus_16(
    client: httpx.AsyncClient, fake: FakeItnio, stamp: str
) -> None:
    """A correctly signed Timestamp that is not a whole number of seconds is -16."""
    response = await client.get("/voice/recordSip/1", headers=signed(stamp))
    assert response.json()["status"] == "-16"


async def test_itnio_auth_recovers_from_skew_through_date(fake: FakeItnio) -> None:
    """The SDK learns the skewed clock from Date, re-signs, and gets status 0."""
    fake.clock_skew = -900.0
    async with httpx.AsyncClient(transport=fake.transport) as http:
        client = itnio.ItnioClient(KEY, SECRET, http_client=http)
        record = await client.voice.record_group(str(fake.group_records[0]["voiceId"]))
    assert record is not None
    assert [request.answered for request in fake.requests] == ["-16", "0"]
    assert abs(client.clock_offset + 900) < 3


async def test_unknown_path_is_404_and_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    """Routes outside the four endpoints are plain HTTP errors, checked before auth."""
    assert (await client.get("/voice/nothing")).status_code == 404
    assert (await client.get("/voice/recordSip/")).status_code == 404
    assert (await client.post("/voice/recordSip/123", headers=signed())).status_code == 405
    response = await client.get("/voice/recordSipQuery", headers=signed())
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# -- queries ---------------------------------------------------------------


async def test_walking_pages_returns_every_record_newest_first(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """Pages partition the window in serving order with consistent total and pages."""
    for kind, records in (("sip", fake.sip_records), ("group", fake.group_records)):
        params = window(31)
        expected = in_window(records, params)
        assert 100 < len(expected) < 200
        walked: list[dict[str, Any]] = []
        for current in range(1, 100):
            data = (await query(client, params, kind=kind, current=current, size=7))["data"]
            assert data["total"] == len(expected)
            assert data["pages"] == -(-len(expected) // 7)
            assert data["size"] == 7
            assert data["current"] == current
            assert data["searchCount"] is True
            if not data["records"]:
                break
            walked.extend(data["records"])
        assert current == data["pages"] + 1
        assert walked == expected
        stamps = [datetime.fromisoformat(r["submitTime"]) for r in walked]
        assert stamps == sorted(stamps, reverse=True)


async def test_size_defaults_to_25_and_current_to_1(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """Omitting size gives pages of 25; omitting current gives the first page."""
    params = window(31)
    body = await query(client, params, current=None, size=None)
    assert body["status"] == "0"
    assert body["data"]["size"] == 25
    assert body["data"]["current"] == 1
    assert body["data"]["records"] == in_window(fake.sip_records, params)[:25]


async def test_window_ends_are_inclusive_across_offsets(client: httpx.AsyncClient) -> None:
    """Records stamped exactly on either end show up, whatever offset each side uses."""
    start = NOW - timedelta(days=2)
    end = NOW - timedelta(days=1)
    records = [
        record("2404290000000000001", (start - timedelta(seconds=1)).astimezone(CST)),
        record("2404290000000000002", start.astimezone(CST)),
        record("2404300000000000003", end.astimezone(timezone.utc)),
        record("2404300000000000009", end.astimezone(IST)),
        record("2404300000000000004", (end + timedelta(seconds=1)).astimezone(IST)),
    ]
    fake = FakeItnio(KEY, SECRET, sip_records=records, group_records=[], now=NOW)
    async with httpx.AsyncClient(transport=fake.transport, base_url="http://fake") as http:
        params = {"strTime": start.astimezone(IST).isoformat(), "endTime": end.isoformat()}
        data = (await query(http, params))["data"]
    # Newest first; the two records stamped on `end` are ordered by voiceId descending.
    assert [r["voiceId"] for r in data["records"]] == [
        "2404300000000000009",
        "2404300000000000003",
        "2404290000000000002",
    ]
    assert data["total"] == 3


async def test_sip_filters_match_exactly_and_group_queries_ignore_them(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """sipGroupName and phoneName filter SIP records; empty means no filter."""
    base = window(31)
    for extra in (
        {"sipGroupName": "sales"},
        {"phoneName": "support-02"},
        {"sipGroupName": "sales", "phoneName": "sales-03"},
        {"sipGroupName": "sales", "phoneName": "support-02"},
        {"sipGroupName": "", "phoneName": ""},
        {"sipGroupName": "Sales"},
    ):
        params = {**base, **extra}
        expected = in_window(fake.sip_records, params)
        walked: list[dict[str, Any]] = []
        for current in range(1, 5):
            data = (await query(client, params, current=current, size=50))["data"]
            assert data["total"] == len(expected)
            walked.extend(data["records"])
        assert walked == expected
    body = await query(client, {**base, "sipGroupName": "nobody"}, kind="group")
    assert body["data"]["total"] == len(in_window(fake.group_records, base))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(None, "-22", id="no-body"),
        pytest.param(b"{not json", "-22", id="not-json"),
        pytest.param([1, 2], "-22", id="not-an-object"),
        pytest.param({"current": 0, "size": 10, "params": window(1)}, "-22", id="current-0"),
        pytest.param({"current": 1, "size": 0, "params": window(1)}, "-22", id="size-0"),
        pytest.param({"current": 1, "size": 101, "params": window(1)}, "-22", id="size-101"),
        pytest.param({"current": 1, "size": "10", "params": window(1)}, "-22", id="size-text"),
        pytest.param({"current": True, "size": 10, "params": window(1)}, "-22", id="current-bool"),
        pytest.param({"current": 1, "size": 10}, "-22", id="no-params"),
        pytest.param({"params": {"endTime": NOW.isoformat()}}, "-22", id="no-strTime"),
        pytest.param(
            {"params": {"strTime": "2024-04-30T00:00:00", "endTime": NOW.isoformat()}},
            "-22",
            id="naive-time",
        ),
        pytest.param(
            {"params": {"strTime": "yesterday", "endTime": NOW.isoformat()}}, "-22", id="bad-time"
        ),
        pytest.param(
            {
                "params": {
                    "strTime": NOW.isoformat(),
                    "endTime": (NOW - timedelta(seconds=1)).isoformat(),
                }
            },
            "-22",
            id="end-before-start",
        ),
        pytest.param({"params": {**window(1), "phoneName": 5}}, "-22", id="phone-not-text"),
        pytest.param(
            {"params": window(31, end=NOW - timedelta(days=2))}, "0", id="exactly-31-days"
        ),
        pytest.param({"params": window(31 + 1 / 86400)}, "-25", id="31-days-and-a-second"),
        pytest.param({"params": window(1, end=NOW - timedelta(days=61))}, "0", id="62-days-ago"),
        pytest.param(
            {"params": window(1, end=NOW - timedelta(days=61, seconds=1))},
            "-25",
            id="older-than-62-days",
        ),
        pytest.param(
            {"params": {"strTime": "2024-04-30T12:00:00Z", "endTime": "2024-05-01T12:00:00Z"}},
            "0",
            id="zulu",
        ),
    ],
)
async def test_query_rules(client: httpx.AsyncClient, body: Any, status: str) -> None:
    """Bad parameters are -22; windows over 31 days or older than 62 days are -25."""
    if body is None or isinstance(body, bytes):
        response = await client.post("/voice/recordSipQuery", content=body or b"", headers=signed())
    else:
        response = await client.post("/voice/recordSipQuery", json=body, headers=signed())
    answer = response.json()
    assert answer["status"] == status
    if status != "0":
        assert answer["data"] is None
        assert answer["reason"]


async def test_page_past_the_end_is_empty(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """A page number beyond the last page has no records but the right totals."""
    params = window(10)
    total = len(in_window(fake.sip_records, params))
    data = (await query(client, params, current=1000, size=10))["data"]
    assert data["records"] == []
    assert data["total"] == total
    assert data["pages"] == -(-total // 10)


async def test_added_records_shift_later_pages(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """A record arriving between pages pushes the previous page's last record onto the next."""
    params = window(30)
    first = (await query(client, params, current=1, size=10))["data"]
    newest = datetime.fromisoformat(first["records"][0]["submitTime"])
    fake.add_records("sip", [record("9999999999999999999", newest + timedelta(seconds=1))])
    second = (await query(client, params, current=2, size=10))["data"]
    assert second["total"] == first["total"] + 1
    assert second["pages"] == -(-(first["total"] + 1) // 10)
    assert second["records"][0] == first["records"][-1]
    again = (await query(client, params, current=1, size=10))["data"]
    assert again["records"][0]["voiceId"] == "9999999999999999999"
    assert again["records"][1:] == first["records"][:-1]


async def test_on_request_callback_inserts_mid_walk(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """Callbacks run after auth and before answering, so their records are in that answer."""
    params = window(30)
    seen: list[FakeRequest] = []

    @fake.on_request
    async def arrive(request: FakeRequest) -> None:
        seen.append(request)
        if len(seen) == 2:
            fake.add_records("sip", [record("9999999999999999998", NOW - timedelta(seconds=5))])

    first = (await query(client, params, current=1, size=10))["data"]
    second = (await query(client, params, current=2, size=10))["data"]
    assert second["total"] == first["total"] + 1
    assert second["records"][0] == first["records"][-1]
    assert [request.json["current"] for request in seen] == [1, 2]
    assert seen[0].answered == "0"
    assert seen[0].header("API-KEY") == KEY

    await client.get("/voice/recordSip/1", headers=signed(secret="wrong"))
    assert len(seen) == 2  # not called when auth fails


async def test_failing_callback_fails_loudly(fake: FakeItnio) -> None:
    """A raising callback propagates in process and is an HTTP 500 over TCP."""

    @fake.on_request
    def explode(request: FakeRequest) -> None:
        raise RuntimeError("callback failed")

    async with httpx.AsyncClient(transport=fake.transport, base_url="http://fake") as http:
        with pytest.raises(RuntimeError, match="callback failed"):
            await http.get("/voice/recordSip/1", headers=signed())
    async with (
        fake.serve() as base_url,
        httpx.AsyncClient(base_url=base_url, trust_env=False) as http,
    ):
        assert (await http.get("/voice/recordSip/1", headers=signed())).status_code == 500
        assert (await http.get("/voice/recordSip/1")).json()["status"] == "-1"


# -- faults ----------------------------------------------------------------


async def test_http_fault_with_retry_after(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """Fault.http answers that status once, with Retry-After when asked, then normal service."""
    fake.add_fault(Fault.http(503))
    fake.add_fault(Fault.http(429, retry_after=1))
    fake.add_fault(Fault.http(429, retry_after=0.25))
    path = f"/voice/recordSip/{fake.sip_records[0]['voiceId']}"
    response = await client.get(path, headers=signed())
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "retry-after" not in response.headers
    response = await client.get(path, headers=signed())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    response = await client.get(path, headers=signed())
    assert response.headers["retry-after"] == "0.25"
    response = await client.get(path, headers=signed())
    assert response.json()["status"] == "0"
    assert [r.answered for r in fake.requests] == ["http_503", "http_429", "http_429", "0"]
    assert fake.request_count == 4


async def test_status_fault_is_an_envelope(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """Fault.status('-18') answers HTTP 200 with the vendor's reason and data null."""
    fake.add_fault(Fault.status("-18"))
    fake.add_fault(Fault.status("-99", "something odd"))
    response = await client.post("/voice/recordSipQuery", json={}, headers=signed())
    assert response.status_code == 200
    assert response.json() == {"status": "-18", "reason": "port program unusual", "data": None}
    response = await client.post("/voice/recordSipQuery", json={}, headers=signed())
    assert response.json() == {"status": "-99", "reason": "something odd", "data": None}


async def test_drop_fault_closes_without_answer(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """Fault.drop surfaces as an httpx transport error; the next request is served."""
    path = f"/voice/recordGroup/{fake.group_records[0]['voiceId']}"
    assert (await client.get(path, headers=signed())).json()["status"] == "0"  # warm keep-alive
    fake.add_fault(Fault.drop())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.get(path, headers=signed())
    assert (await client.get(path, headers=signed())).json()["status"] == "0"
    assert fake.request_count == 3
    assert fake.requests[1].answered == "drop"


async def test_not_json_fault_sends_html(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """Fault.not_json answers HTTP 200 with an HTML body."""
    fake.add_fault(Fault.not_json())
    response = await client.get("/voice/recordSip/1", headers=signed())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")
    assert "502 Bad Gateway" in response.text


async def test_slow_fault_delays_a_normal_answer(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """Fault.slow waits the extra time, then answers normally."""
    fake.add_fault(Fault.slow(0.2))
    started = time.monotonic()
    response = await client.get("/voice/recordSip/1", headers=signed())
    assert time.monotonic() - started >= 0.19
    assert response.json()["status"] == "0"
    assert fake.requests[0].fault == Fault.slow(0.2)
    assert fake.requests[0].answered == "0"


async def test_faults_match_paths_count_down_and_precede_auth(
    client: httpx.AsyncClient, fake: FakeItnio
) -> None:
    """A fault fires only on matching paths, `count` times, even for unsigned requests."""
    fake.add_fault(Fault.http(500, path_contains="Query", count=2))
    assert (await client.get("/voice/recordSip/1", headers=signed())).status_code == 200
    assert (await client.post("/voice/recordSipQuery", json={})).status_code == 500
    assert (await client.post("/voice/recordGroupQuery", headers=signed())).status_code == 500
    response = await client.post("/voice/recordGroupQuery", json={}, headers=signed())
    assert response.json()["status"] == "-22"


async def test_chaos_faults_at_the_given_rate(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """set_chaos draws faults per request, reproducibly per seed, and rate 0 stops it."""
    fake.set_chaos(1.0, [Fault.status("-18")])
    for _ in range(3):
        response = await client.get("/voice/recordSip/1", headers=signed())
        assert response.json()["status"] == "-18"

    async def statuses(seed: int) -> list[str]:
        fake.set_chaos(0.5, [Fault.status("-18"), Fault.http(502)], seed=seed)
        fake.reset_counters()
        for _ in range(20):
            await client.get("/voice/recordSip/1", headers=signed())
        return [str(r.answered) for r in fake.requests]

    first = await statuses(3)
    assert first == await statuses(3)
    assert {"0", "status_-18", "http_502"} == set(first)
    fake.set_chaos(0, [])
    assert (await client.get("/voice/recordSip/1", headers=signed())).json()["status"] == "0"


# -- counters and latency --------------------------------------------------


async def test_counters_and_peak_in_flight(client: httpx.AsyncClient, fake: FakeItnio) -> None:
    """Concurrent requests raise peak_in_flight; every request is counted and kept."""
    fake.latency = (0.2, 0.25)
    fake.add_fault(Fault.http(503))

    async def one() -> None:
        await client.get("/voice/recordSip/1", headers=signed())

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert fake.request_count == 5
    assert fake.peak_in_flight == 5
    assert fake.in_flight == 0
    assert sorted(str(r.answered) for r in fake.requests) == ["0", "0", "0", "0", "http_503"]
    assert all(r.method == "GET" and r.path == "/voice/recordSip/1" for r in fake.requests)
    assert all(r.header("Api-Key") == KEY for r in fake.requests)

    fake.reset_counters()
    fake.latency = None
    await one()
    assert (fake.request_count, fake.peak_in_flight, len(fake.requests)) == (1, 1, 1)


async def test_keep_requests_false_still_counts(fake: FakeItnio) -> None:
    """With keep_requests off, requests are counted but not stored."""
    fake.keep_requests = False
    async with httpx.AsyncClient(transport=fake.transport, base_url="http://fake") as http:
        await http.get("/voice/recordSip/1", headers=signed())
    assert fake.request_count == 1
    assert fake.requests == []


# -- the TCP server's lifetime ---------------------------------------------


async def test_serve_lets_the_blocks_exception_through(fake: FakeItnio) -> None:
    """An exception inside `async with fake.serve()` arrives as itself, not in a group."""
    with pytest.raises(KeyError, match="boom"):
        async with fake.serve():
            raise KeyError("boom")
    with anyio.move_on_after(0.05) as scope:
        async with fake.serve():
            await anyio.sleep(10)
    assert scope.cancelled_caught


async def test_leaving_serve_closes_connections_promptly(fake: FakeItnio) -> None:
    """Leaving the block ends idle and busy connections at once and frees the port."""
    arrived = anyio.Event()

    @fake.on_request
    async def hold(request: FakeRequest) -> None:
        arrived.set()
        await anyio.sleep_forever()

    errors: list[BaseException] = []
    started = time.monotonic()
    async with httpx.AsyncClient(trust_env=False) as http:

        async def stuck_request(url: str) -> None:
            try:
                await http.get(url + "/voice/recordSip/1", headers=signed())
            except httpx.TransportError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg, fake.serve() as base_url:
            tg.start_soon(stuck_request, base_url)
            await arrived.wait()
            assert fake.in_flight == 1
        with pytest.raises(httpx.ConnectError):
            await http.get(base_url + "/voice/recordSip/1")
    assert time.monotonic() - started < 5
    assert len(errors) == 1
    assert fake.in_flight == 0


def test_settings_are_validated_and_repr_hides_the_secret() -> None:
    """Bad latency, kinds and records are refused; repr never shows the secret."""
    fake = FakeItnio("k", "s3cr3t-value", n_records=10, latency=0.5)
    assert "s3cr3t-value" not in repr(fake)
    assert "s3cr3t-value" not in str(fake)
    assert fake.latency == 0.5
    fake.latency = (0.0, 0.1)
    assert fake.latency == (0.0, 0.1)
    with pytest.raises(ValueError, match="latency"):
        fake.latency = (0.2, 0.1)
    with pytest.raises(ValueError, match="latency"):
        fake.latency = -1
    with pytest.raises(ValueError, match="kind"):
        fake.add_records("fax", [])  # type: ignore[arg-type]
    existing = fake.sip_records[0]
    with pytest.raises(ValueError, match="duplicate"):
        fake.add_records("sip", [existing])
    with pytest.raises(ValueError, match="submitTime"):
        fake.add_records("sip", [{"voiceId": "1", "submitTime": "2024-01-01T00:00:00"}])
    assert len(fake.sip_records) == 10
    with pytest.raises(ValueError, match="count"):
        Fault.http(503, count=0)
    with pytest.raises(ValueError, match="rate"):
        fake.set_chaos(1.5, [Fault.drop()])


def test_records_are_copies_in_serving_order() -> None:
    """sip_records/group_records are newest-first copies that cannot change the server."""
    fake = FakeItnio(n_records=50, now=NOW, seed=3)
    assert fake.sip_records == generate_records("sip", 50, seed=3, now=NOW)
    assert fake.group_records == generate_records("group", 50, seed=3, now=NOW)
    fake.sip_records[0]["voiceId"] = "changed"
    assert fake.sip_records[0]["voiceId"] != "changed"


# -- synthetic data --------------------------------------------------------


def test_generate_records_is_deterministic_and_realistic() -> None:
    """Synthetic records are reproducible per seed and look like the vendor's."""
    sip = generate_records("sip", 3000, seed=1, now=NOW, days=60)
    group = generate_records("group", 3000, seed=1, now=NOW, days=60)
    assert sip == generate_records("sip", 3000, seed=1, now=NOW, days=60)
    assert sip != generate_records("sip", 3000, seed=2, now=NOW, days=60)
    for records in (sip, group):
        ids = [r["voiceId"] for r in records]
        assert len(set(ids)) == len(ids)
        assert all(len(i) == 19 and i.isdigit() for i in ids)
        stamps = [datetime.fromisoformat(r["submitTime"]) for r in records]
        assert stamps == sorted(stamps, reverse=True)
        assert NOW - timedelta(days=60) <= min(stamps) <= max(stamps) <= NOW
        assert {r["submitTime"][-6:] for r in records} == {"+08:00", "+00:00", "+05:30"}
        unanswered = [r for r in records if r["answerTime"] == ""]
        assert 0.25 < len(unanswered) / len(records) < 0.35
        for r in unanswered:
            assert (r["callDuration"], r["chargedDuration"], r["cost"]) == (0, 0, "0")
            assert r["terminationCode"] != "200"
        for r in records:
            assert type(r["callDuration"]) is int
            assert type(r["chargedDuration"]) is int
            assert all(type(v) is str for k, v in r.items() if not k.endswith("Duration"))
            assert r["billPeriod"] in ("20+20", "60+60", "1+1")
            if r["currency"] == "EUR":
                assert all(r[f] for f in ("settleRate", "quoteExchange", "settlePay"))
            else:
                assert r["currency"] == "USD"
                assert r["settleRate"] == r["quoteExchange"] == r["settlePay"] == ""
        answered = [r for r in records if r["answerTime"]]
        for r in answered[:200]:
            answer = datetime.fromisoformat(r["answerTime"])
            hangup = datetime.fromisoformat(r["hangupTime"])
            assert (hangup - answer).total_seconds() == r["callDuration"]
            assert datetime.fromisoformat(r["ringingTime"]) < answer
            assert r["chargedDuration"] >= r["callDuration"]
            assert r["terminationCode"] == "200"
    assert {r["currency"] for r in sip} == {"EUR", "USD"}
    assert len({r["sipGroupName"] for r in sip}) == 4
    assert len({r["phoneName"] for r in sip}) == 10
    assert {r["recordingFileId"] == "" for r in sip} == {True, False}
    assert all(r["voiceFileId"].endswith(".mp3") for r in group)
    assert {r["calledInfo"] == "" for r in group} == {True, False}
    assert {r["feedbackValue"] for r in group} > {"-1", "1"}
    assert all("sipGroupName" not in r for r in group)
    assert all("baseCost" not in r for r in sip)


def test_generate_records_at_scale() -> None:
    """Fifty thousand records come back, each with its own voice id, newest first."""
    records = generate_records("group", 50_000, seed=0)
    assert len(records) == 50_000
    assert len({r["voiceId"] for r in records}) == 50_000
    stamps = [datetime.fromisoformat(r["submitTime"]) for r in records]
    assert stamps == sorted(stamps, reverse=True)


# -- the standalone runner -------------------------------------------------


def _start_runner(anyio_backend: str, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "itniotech_async.testing",
            "--port",
            "0",
            "--n-records",
            "200",
            "--api-key",
            "K",
            "--api-secret",
            "S",
            "--latency",
            "0.001:0.002",
            "--backend",
            anyio_backend,
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    assert ready, "the runner printed nothing within 30 s"
    line = proc.stdout.readline()
    assert line.startswith("ITNIO_BASE_URL=http://127.0.0.1:"), line
    return line.strip().partition("=")[2]


@pytest.mark.skipif(sys.platform == "win32", reason="select() on pipes is POSIX-only")
@pytest.mark.parametrize("stop", ["sigterm", "stdin"])
def test_runner_prints_url_serves_and_stops(anyio_backend: str, stop: str) -> None:
    """`python -m itniotech_async.testing` prints one URL line and stops on SIGTERM or stdin EOF."""
    with _start_runner(anyio_backend) as proc:
        try:
            base_url = _read_url(proc)
            stamp = str(int(time.time()))
            headers = {"Api-Key": "K", "Timestamp": stamp, "Sign": compute_sign("K", "S", stamp)}
            body = {"current": 1, "size": 5, "params": window(30, end=datetime.now(timezone.utc))}
            with httpx.Client(base_url=base_url, trust_env=False) as http:
                answer = http.post("/voice/recordSipQuery", json=body, headers=headers).json()
            assert answer["status"] == "0"
            assert len(answer["data"]["records"]) == 5
            if stop == "sigterm":
                proc.terminate()
            else:
                assert proc.stdin is not None
                proc.stdin.close()
            assert proc.wait(timeout=10) == 0
            assert proc.stdout is not None
            assert proc.stdout.read() == ""
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize(
    ("text", "latency"),
    [
        ("0.2", 0.2),
        ("0.05:0.15", (0.05, 0.15)),
        ("0:0.1", (0.0, 0.1)),
        ("0", None),
        ("0:0", None),
    ],
)
def test_latency_flag_parses_seconds_or_a_range(text: str, latency: object) -> None:
    """--latency (fake and demo) reads SECONDS or LOW:HIGH; zero is no latency."""
    assert parse_latency(text) == latency


@pytest.mark.parametrize("text", ["", "x", "0.2:0.1", "-1", "-1:0", "1:", "1:2:3", "nan", "inf"])
def test_latency_flag_refuses_what_the_fake_would_refuse(text: str) -> None:
    """A reversed, negative, infinite or malformed latency is a usage error, not a traceback."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_latency(text)
