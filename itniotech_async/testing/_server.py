"""FakeItnio: a signature-checking fake of the ITNIO voice-record service.

This module is the server: configuration, faults and chaos, authentication,
routing and validation of queries. The records and the pages served from
them live in the store (``_store.py``). One request handler serves both the
in-process httpx transport and the loopback TCP server (see ``_http.py``),
so the two behave the same. Faults (``_faults.py``) are applied before
authentication, because they model trouble between the client and the
service.
"""

from __future__ import annotations

import email.utils
import hmac
import inspect
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from urllib.parse import unquote

import anyio
import attrs
import httpx

from .._auth import compute_sign
from ._data import KINDS, RecordKind, generate_records, parse_time
from ._faults import STATUS_REASONS, Fault, RateLimit
from ._files import FakeFileHost
from ._http import Answer, FakeRequest, TCPServer, in_process
from ._latency import Latency, check_latency
from ._store import RecordStore, dumps

__all__ = ["FakeItnio"]

_JSON_TYPE = "application/json;charset=UTF-8"
_HTML_TYPE = "text/html;charset=UTF-8"
_MAX_WINDOW = timedelta(days=31)
_RETENTION = timedelta(days=62)  # the vendor's "about two months"
_DEFAULT_SIZE = 25
_MAX_SIZE = 100
_DIGITS = re.compile(r"[0-9]+")

_QUERY_ROUTES: dict[str, RecordKind] = {
    "/voice/recordGroupQuery": "group",
    "/voice/recordSipQuery": "sip",
}
_SINGLE_ROUTES: dict[str, RecordKind] = {
    "/voice/recordGroup": "group",
    "/voice/recordSip": "sip",
}

Callback = Callable[["FakeRequest"], Awaitable[None] | None]
_C = TypeVar("_C", bound=Callback)


def _envelope(status: str, reason: str | None = None, data: Any = None) -> bytes:
    reason = reason if reason is not None else STATUS_REASONS.get(status, "error")
    return dumps({"status": status, "reason": reason, "data": data})


def _html(status_code: int, reason: str) -> bytes:
    title = f"{status_code} {reason}"
    return (
        f"<html><head><title>{title}</title></head>"
        f"<body><center><h1>{title}</h1></center><hr><center>gateway</center></body></html>"
    ).encode()


def _split(body: bytes, size: int) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def _format_retry_after(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@attrs.define
class _Queued:
    """A fault added with ``add_fault`` and how many more times it fires."""

    fault: Fault
    left: int


class _Invalid(Exception):
    """A query the service would refuse with this status."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class FakeItnio:
    """A fake ITNIO voice-record service for tests and benchmarks.

    It checks ``Api-Key``, ``Sign`` and ``Timestamp`` like the real service,
    serves the four ``/voice/`` endpoints over a synthetic (or given) data
    set, and can inject faults, latency and clock skew. Reach it in process
    through :attr:`transport`, or over loopback TCP with :meth:`serve`::

        fake = FakeItnio("test-key", "test-secret", n_records=500)
        async with httpx.AsyncClient(transport=fake.transport, base_url="http://fake") as http:
            ...
        async with fake.serve() as base_url:
            ...

    ``sip_records`` and ``group_records`` are lists of record dicts in the
    service's camelCase JSON shape; when ``None``, ``n_records`` synthetic
    records of each kind are made with :func:`generate_records` from ``seed``
    over ``[now - days, now]``. Every record needs a string ``voiceId`` and a
    ``submitTime`` with a UTC offset.

    ``now`` is the server's "now" for generating data and for the two-month
    retention rule; ``None`` means the real clock (plus ``clock_skew``). The
    server's clock for the ``Date`` header and the ``Timestamp`` check is
    always the real clock plus ``clock_skew``. ``latency`` is ``None``, a
    fixed number of seconds, or a ``(low, high)`` range drawn uniformly per
    request from a generator seeded with ``seed``. ``clock_skew``,
    ``timestamp_tolerance``, ``latency`` and ``now`` may be changed at any
    time. Every request is kept in :attr:`requests` unless ``keep_requests``
    is false (for long benchmark runs); the counters are kept either way.

    The service does not promise much about its pages (see the module doc of
    ``itniotech_async.testing._paging``), and the fake can behave that way
    too, so that code is tested against what a real server may do:
    ``tie_order="shuffle"`` serves rows that share a second in a new order
    on every request; ``count_skew=True`` reads each page's ``total`` and
    rows on either side of the latest arrival; ``range_ends`` makes either end
    of a query's range exclusive (``"[]"``, ``"[)"``, ``"(]"`` or ``"()"``);
    ``blank_stamps`` is the share of records served with every time empty
    (still filed by their real ``submitTime``); ``arrivals`` calls arrive per
    query request (a fraction accumulates), stamped anywhere in the last
    ``days``; ``batches`` batch calls of ``batch_size`` callees share one
    second each, within the ``n_records`` generated. All of these may be
    changed at any time but ``batches`` and ``batch_size``.

    The object is not tied to an event loop and works under asyncio and trio.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        api_secret: str = "test-secret",
        *,
        seed: int = 0,
        sip_records: Iterable[Mapping[str, Any]] | None = None,
        group_records: Iterable[Mapping[str, Any]] | None = None,
        n_records: int = 2000,
        days: float = 60,
        now: datetime | None = None,
        clock_skew: float = 0.0,
        timestamp_tolerance: float = 300.0,
        latency: Latency = None,
        keep_requests: bool = True,
        tie_order: str = "stable",
        count_skew: bool = False,
        range_ends: str = "[]",
        blank_stamps: float = 0.0,
        arrivals: float = 0.0,
        batches: int = 0,
        batch_size: int = 150,
    ) -> None:
        if n_records < 0:
            raise ValueError(f"n_records must be >= 0, not {n_records}")
        if tie_order not in ("stable", "shuffle"):
            raise ValueError(f"tie_order must be 'stable' or 'shuffle', not {tie_order!r}")
        if range_ends not in ("[]", "[)", "(]", "()"):
            raise ValueError(f"range_ends must be '[]', '[)', '(]' or '()', not {range_ends!r}")
        if not 0 <= blank_stamps <= 1:
            raise ValueError(f"blank_stamps must be within [0, 1], not {blank_stamps}")
        if arrivals < 0:
            raise ValueError(f"arrivals must be >= 0, not {arrivals}")
        self._rewriters: list[Callable[[FakeRequest, Any], Any]] = []
        self._api_key = api_key
        self._api_secret = api_secret
        self._fixed_now: datetime | None = None
        self.now = now
        self.clock_skew = clock_skew
        self.timestamp_tolerance = timestamp_tolerance
        self._latency: Latency = None
        self.latency = latency
        self._latency_rng = random.Random(seed)

        data_now = self._now()
        given = {"sip": sip_records, "group": group_records}
        tables: dict[RecordKind, Iterable[Mapping[str, Any]]] = {}
        for kind in KINDS:
            records = given[kind]
            if records is None:
                records = generate_records(
                    kind,
                    n_records,
                    seed=seed,
                    now=data_now,
                    days=days,
                    batches=batches,
                    batch_size=batch_size,
                )
            tables[kind] = records
        self._store = RecordStore(
            tables,
            seed=seed,
            days=days,
            now=self._now,
            blank_stamps=blank_stamps,
        )
        self.tie_order = tie_order
        self.count_skew = count_skew
        self.range_ends = range_ends
        self.arrivals = arrivals

        self.rate_limit: RateLimit | None = None
        self._callbacks: list[Callback] = []
        self._faults: list[_Queued] = []
        self._chaos_rate = 0.0
        self._chaos_faults: tuple[Fault, ...] = ()
        self._chaos_rng = random.Random(0)

        self.keep_requests = keep_requests
        self.request_count = 0
        self.peak_in_flight = 0
        self.requests: list[FakeRequest] = []
        self._in_flight = 0
        self._transport: httpx.AsyncBaseTransport | None = None
        #: The recordings: ``GET /voice/getRecordingFileUrl`` and the file host it points at.
        self.files = FakeFileHost(self)

    def __repr__(self) -> str:
        return (
            f"FakeItnio(api_key={self._api_key!r}, api_secret='***', "
            f"sip_records={len(self._store.table('sip').records)}, "
            f"group_records={len(self._store.table('group').records)})"
        )

    # -- configuration -----------------------------------------------------

    @property
    def api_key(self) -> str:
        """The one ``Api-Key`` this server accepts."""
        return self._api_key

    @property
    def now(self) -> datetime | None:
        """The fixed "now" of the retention rule, or ``None`` for the server's clock."""
        return self._fixed_now

    @now.setter
    def now(self, value: datetime | None) -> None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        self._fixed_now = value

    @property
    def latency(self) -> Latency:
        """Delay per request: ``None``, seconds, or a uniform ``(low, high)`` range."""
        return self._latency

    @latency.setter
    def latency(self, value: Latency) -> None:
        self._latency = check_latency(value)

    @property
    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        return self._in_flight

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """An :class:`httpx.AsyncBaseTransport` that serves requests in process.

        Use it as ``httpx.AsyncClient(transport=fake.transport,
        base_url="http://fake")``; any host works.
        """
        if self._transport is None:
            self._transport = in_process(self._handle)
        return self._transport

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> AbstractAsyncContextManager[str]:
        """Serve over TCP on ``host``: ``async with fake.serve() as base_url``.

        ``port=0`` picks a free port. The block receives a base URL such as
        ``"http://127.0.0.1:54321"``. Leaving the block closes the listener
        and every connection.
        """
        return TCPServer(self._handle, host, port)

    @property
    def blank_stamps(self) -> float:
        """The share of records served with every time empty (see the class doc)."""
        return self._store.blank_stamps

    @blank_stamps.setter
    def blank_stamps(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise ValueError(f"blank_stamps must be within [0, 1], not {value}")
        self._store.blank_stamps = value

    @property
    def tie_order(self) -> str:
        """``"stable"``, or ``"shuffle"`` rows that share a second (see the class doc)."""
        return self._store.tie_order

    @tie_order.setter
    def tie_order(self, value: str) -> None:
        self._store.tie_order = value

    @property
    def count_skew(self) -> bool:
        """Whether a page's total and rows straddle the latest arrival (see the class doc)."""
        return self._store.count_skew

    @count_skew.setter
    def count_skew(self, value: bool) -> None:
        self._store.count_skew = value

    @property
    def range_ends(self) -> str:
        """Which ends of a query's range are inclusive: ``"[]"``, ``"[)"``, ``"(]"``, ``"()"``."""
        return self._store.range_ends

    @range_ends.setter
    def range_ends(self, value: str) -> None:
        self._store.range_ends = value

    @property
    def arrivals(self) -> float:
        """Calls that arrive per query request (see the class doc)."""
        return self._store.arrivals

    @arrivals.setter
    def arrivals(self, value: float) -> None:
        self._store.arrivals = value

    def rewrite_pages(self, func: Callable[[FakeRequest, Any], Any]) -> None:
        """Pass the ``data`` of every page answer through ``func(request, data)`` before it leaves.

        ``data`` is the page as a dict (``total``, ``size``, ``current``,
        ``pages``, ``searchCount``, ``records``); whatever ``func`` returns is
        served in its place, so a test can serve malformed or lying pages.
        """
        self._rewriters.append(func)

    # -- records -----------------------------------------------------------

    @property
    def sip_records(self) -> list[dict[str, Any]]:
        """Copies of the phone-call records, in serving order (newest first)."""
        return self.records("sip")

    @property
    def group_records(self) -> list[dict[str, Any]]:
        """Copies of the voice-message records, in serving order (newest first)."""
        return self.records("group")

    def records(self, kind: RecordKind) -> list[dict[str, Any]]:
        """Return copies of the records of ``kind``, in serving order (newest first)."""
        return self._store.records(kind)

    def add_records(self, kind: RecordKind, records: Iterable[Mapping[str, Any]]) -> None:
        """Insert records of ``kind`` (``"sip"`` or ``"group"``), e.g. calls arriving mid-walk.

        Records are copied. Later pages shift as they would on the real
        service. Raises :class:`ValueError`, adding nothing, when a record has
        no ``voiceId`` or ``submitTime`` or repeats an existing ``voiceId``.
        """
        self._store.add(kind, records)

    def update_records(self, kind: RecordKind, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace records of ``kind`` that share a ``voiceId``: a call completed later.

        Each record replaces the whole stored record with that ``voiceId``
        (copied; its ``submitTime`` may move it). Raises :class:`ValueError`,
        changing nothing, when a ``voiceId`` is unknown or repeated.
        """
        self._store.update(kind, records)

    # -- hooks, faults and counters ----------------------------------------

    def on_request(self, callback: _C) -> _C:
        """Call ``callback(request)`` for each request that passes authentication.

        It runs before the answer is computed, so records it adds show up in
        that very answer. It may be a plain function or a coroutine function.
        Returns ``callback``, so this also works as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault for the next ``fault.count`` requests it matches."""
        self._faults.append(_Queued(fault, fault.count))

    def set_chaos(self, rate: float, faults: Sequence[Fault], seed: int = 0) -> None:
        """Give each request, with probability ``rate``, a random fault from ``faults``.

        Only faults whose ``path_contains`` matches the request are drawn
        from; ``count`` is ignored. Queued faults take precedence. ``rate=0``
        turns chaos off.
        """
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        if rate and not faults:
            raise ValueError("chaos needs at least one fault")
        self._chaos_rate = rate
        self._chaos_faults = tuple(faults)
        self._chaos_rng = random.Random(seed)

    def set_rate_limit(
        self,
        per_second: float | None = None,
        *,
        in_flight: int | None = None,
        answer: Literal["429", "-18"] = "429",
        retry_after: float | None = None,
        burst: float | None = None,
    ) -> RateLimit:
        """Throttle requests beyond ``per_second`` and/or ``in_flight``; see :class:`RateLimit`.

        Returns the limit, whose ``throttled`` and ``admitted`` count what it
        did. Calling it with neither limit turns throttling off.
        """
        if per_second is None and in_flight is None:
            self.rate_limit = None
            return RateLimit()
        self.rate_limit = RateLimit(per_second, in_flight, answer, retry_after, burst)
        return self.rate_limit

    def clear_faults(self) -> None:
        """Forget queued faults and turn chaos off."""
        self._faults.clear()
        self._chaos_rate = 0.0
        self._chaos_faults = ()

    def reset_counters(self) -> None:
        """Zero ``request_count``, empty ``requests`` and restart ``peak_in_flight``."""
        self.request_count = 0
        self.peak_in_flight = self._in_flight
        self.requests.clear()

    # -- request handling --------------------------------------------------

    def _now(self) -> datetime:
        if self._fixed_now is not None:
            return self._fixed_now
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_skew)

    def _draw_latency(self) -> float:
        latency = self._latency
        if latency is None:
            return 0.0
        if isinstance(latency, tuple):
            return self._latency_rng.uniform(*latency)
        return latency

    def _next_fault(self, path: str) -> Fault | None:
        for queued in self._faults:
            if queued.fault.matches(path):
                queued.left -= 1
                if queued.left <= 0:
                    self._faults.remove(queued)
                return queued.fault
        if self._chaos_rate and self._chaos_rng.random() < self._chaos_rate:
            candidates = [fault for fault in self._chaos_faults if fault.matches(path)]
            if candidates:
                return self._chaos_rng.choice(candidates)
        return None

    def _headers(self, content_type: str = _JSON_TYPE) -> list[tuple[str, str]]:
        date = email.utils.formatdate(time.time() + self.clock_skew, usegmt=True)
        return [("Content-Type", content_type), ("Date", date)]

    def _json(self, body: bytes) -> Answer:
        return Answer(200, self._headers(), body)

    async def _handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, query: str = ""
    ) -> Answer:
        path = unquote(raw_path)
        self.request_count += 1
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            parsed: Any = None
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
            request = FakeRequest(
                method, path, headers, parsed, body, query=query, raw_path=raw_path
            )
            if self.keep_requests:
                self.requests.append(request)
            fault = request.fault = self._next_fault(path)
            limit = self.rate_limit
            throttle = limit.admit(self._in_flight) if limit is not None and fault is None else None
            if throttle is not None:  # answered at once, as gateways do
                fault = request.fault = throttle
            delay = 0.0 if throttle is not None else self._draw_latency()
            if fault is not None and fault.kind == "slow":
                delay += fault.seconds
            if delay > 0:
                await anyio.sleep(delay)
            if fault is not None and fault.kind not in ("slow", "trickle"):
                request.answered = fault.name
                answer = self._fault_answer(fault)
            else:
                answer = await self._route(request)
            if fault is not None and fault.kind == "trickle" and answer.chunks is None:
                answer = attrs.evolve(
                    answer,
                    headers=[*answer.headers, ("Content-Length", str(len(answer.body)))],
                    chunks=_split(answer.body, fault.chunk_size),
                    interval=fault.seconds,
                )
            return attrs.evolve(answer, on_sent=request.count_sent)
        finally:
            self._in_flight -= 1

    def _fault_answer(self, fault: Fault) -> Answer:
        if fault.kind == "body":
            return Answer(200, self._encoded(fault), fault.content)
        if fault.kind == "huge":
            headers = self._encoded(fault)
            if fault.declare_length:
                headers.append(("Content-Length", str(fault.size)))
            return Answer(200, headers, chunks=fault.huge_chunks())
        if fault.kind == "drop":
            return Answer(0, drop=True)
        if fault.kind == "status":
            return self._json(_envelope(fault.api_status or "-18", fault.reason))
        if fault.kind == "not_json":
            return Answer(200, self._headers(_HTML_TYPE), _html(502, "Bad Gateway"))
        headers = self._headers(_HTML_TYPE)
        if fault.retry_after_date and isinstance(fault.retry_after, int | float):
            when = time.time() + self.clock_skew + fault.retry_after
            headers.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
        elif fault.retry_after is not None:
            headers.append(("Retry-After", _format_retry_after(fault.retry_after)))
        return Answer(fault.http_status, headers, _html(fault.http_status, fault.http_reason()))

    def _encoded(self, fault: Fault) -> list[tuple[str, str]]:
        headers = self._headers()
        if fault.content_encoding:
            headers.append(("Content-Encoding", fault.content_encoding))
        return headers

    def _not_found(self, request: FakeRequest, status_code: int) -> Answer:
        request.answered = f"http_{status_code}"
        error = "Not Found" if status_code == 404 else "Method Not Allowed"
        body = dumps(
            {
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "status": status_code,
                "error": error,
                "path": request.path,
            }
        )
        headers = self._headers()
        if status_code == 405:
            headers.append(("Allow", "POST" if request.path.endswith("Query") else "GET"))
        return Answer(status_code, headers, body)

    async def _route(self, request: FakeRequest) -> Answer:
        path = request.path
        if self.files.serves(path):  # recordings: the URL resolver and the file host
            return await self.files.answer(request, self._authenticate)
        voice_id = ""
        kind = _QUERY_ROUTES.get(path)
        is_query = kind is not None
        if kind is None:
            prefix, _, voice_id = path.rpartition("/")
            kind = _SINGLE_ROUTES.get(prefix) if voice_id else None
        if kind is None:
            return self._not_found(request, 404)
        if request.method != ("POST" if is_query else "GET"):
            return self._not_found(request, 405)

        status = self._authenticate(request.headers)
        if status != "0":
            request.answered = status
            return self._json(_envelope(status))

        # A count read apart from the rows straddles calls that arrive while
        # this request is served (see count_skew), never older ones.
        self._store.forget_arrivals()
        for callback in list(self._callbacks):
            result = callback(request)
            if inspect.isawaitable(result):
                await result

        if not is_query:
            request.answered = "0"
            data = self._store.record_json(kind, voice_id)
            return self._json(b'{"status":"0","reason":"success","data":' + data + b"}")
        try:
            body = self._query(kind, request.json)
            if self._rewriters:
                body = self._rewrite(request, body)
        except _Invalid as exc:
            request.answered = exc.status
            return self._json(_envelope(exc.status))
        request.answered = "0"
        return self._json(body)

    def _authenticate(self, headers: dict[str, str]) -> str:
        key = headers.get("api-key")
        timestamp = headers.get("timestamp", "")
        sign = headers.get("sign", "")
        expected = compute_sign(self._api_key, self._api_secret, timestamp)
        if key != self._api_key or not hmac.compare_digest(sign.encode(), expected.encode()):
            return "-1"
        if not _DIGITS.fullmatch(timestamp):
            return "-16"
        if abs(int(timestamp) - (time.time() + self.clock_skew)) > self.timestamp_tolerance:
            return "-16"
        return "0"

    def _query(self, kind: RecordKind, body: Any) -> bytes:
        if not isinstance(body, dict):
            raise _Invalid("-22")
        current = body.get("current")
        size = body.get("size")
        current = 1 if current is None else current
        size = _DEFAULT_SIZE if size is None else size
        if not _is_int(current) or current < 1:
            raise _Invalid("-22")
        if not _is_int(size) or not 1 <= size <= _MAX_SIZE:
            raise _Invalid("-22")
        params = body.get("params")
        if not isinstance(params, dict):
            raise _Invalid("-22")
        start = parse_time(params.get("strTime"))
        end = parse_time(params.get("endTime"))
        if start is None or end is None or end < start:
            raise _Invalid("-22")
        if end - start > _MAX_WINDOW or start < self._now() - _RETENTION:
            raise _Invalid("-25")
        group = params.get("sipGroupName") or ""
        phone = params.get("phoneName") or ""
        if not isinstance(group, str) or not isinstance(phone, str):
            raise _Invalid("-22")
        if kind == "group":
            group = phone = ""
        return self._store.query(kind, start, end, group, phone, current, size)

    def _rewrite(self, request: FakeRequest, body: bytes) -> bytes:
        envelope = json.loads(body)
        data = envelope["data"]
        for func in self._rewriters:
            data = func(request, data)
        envelope["data"] = data
        return dumps(envelope)
