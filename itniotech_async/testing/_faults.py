"""Faults the fake server can inject: gateway errors, bad envelopes, drops, delays,
trickled, huge, compressed and malformed bodies."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from http import HTTPStatus
from typing import Literal

import attrs

__all__ = ["STATUS_REASONS", "Fault", "FaultKind", "RateLimit"]

FaultKind = Literal["http", "status", "drop", "not_json", "slow", "trickle", "body", "huge"]

_HUGE_CHUNK = 65_536

# The reasons the fake server gives with each known status code.
STATUS_REASONS: dict[str, str] = {
    "0": "success",
    "-1": "authentication error",
    "-2": "restricted IP access",
    "-16": "timestamp expired",
    "-18": "port program unusual",
    "-22": "parameter exception",
    "-25": "out of time range",
}


def _check_count(_: object, __: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"count must be >= 1, not {value}")


@attrs.frozen
class Fault:
    """One kind of trouble for the fake server to cause instead of a normal answer.

    Build faults with the classmethods rather than the constructor:
    :meth:`http`, :meth:`status`, :meth:`drop`, :meth:`not_json`,
    :meth:`slow`, :meth:`trickle`, :meth:`body` and :meth:`huge`. Every one
    takes ``path_contains`` (the fault only matches requests whose path
    contains that text) and ``count`` (how many times a fault queued with :meth:`FakeItnio.add_fault
    <itniotech_async.testing.FakeItnio.add_fault>` fires before it is used
    up; chaos faults ignore it).

    Faults model gateway and network trouble, so they are applied before
    authentication and routing.

    >>> Fault.http(429, retry_after=1, path_contains="Query", count=2).name
    'http_429'
    """

    kind: FaultKind
    http_status: int = 200
    api_status: str | None = None
    reason: str | None = None
    retry_after: float | str | None = None
    retry_after_date: bool = False
    seconds: float = 0.0
    chunk_size: int = 1
    content: bytes = attrs.field(default=b"", repr=False)
    content_encoding: str | None = None
    size: int = 0
    declare_length: bool = False
    path_contains: str | None = None
    count: int = attrs.field(default=1, validator=_check_count)

    @classmethod
    def http(
        cls,
        status_code: int,
        *,
        retry_after: float | str | None = None,
        retry_after_date: bool = False,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Answer with this HTTP status and a small HTML error page.

        ``retry_after`` sets the ``Retry-After`` header: a number of seconds
        (fractions are sent as written, e.g. ``0.1``) or a string sent
        verbatim, such as an HTTP date. With ``retry_after_date`` a number is
        sent as the HTTP date that many seconds after the fake's own clock,
        which ``clock_skew`` may put off the real one (a wrong-clock server).
        """
        if not 100 <= status_code <= 599:
            raise ValueError(f"status_code must be an HTTP status, not {status_code}")
        if retry_after_date and not isinstance(retry_after, int | float):
            raise ValueError("retry_after_date needs retry_after as a number of seconds")
        return cls(
            "http",
            http_status=status_code,
            retry_after=retry_after,
            retry_after_date=retry_after_date,
            path_contains=path_contains,
            count=count,
        )

    @classmethod
    def status(
        cls,
        status: str,
        reason: str | None = None,
        *,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Answer HTTP 200 with an envelope carrying this status and ``data: null``.

        ``reason`` defaults to the vendor's wording for known codes, e.g.
        ``"port program unusual"`` for ``"-18"``.
        """
        return cls(
            "status",
            api_status=str(status),
            reason=reason if reason is not None else STATUS_REASONS.get(str(status), "error"),
            path_contains=path_contains,
            count=count,
        )

    @classmethod
    def drop(cls, *, path_contains: str | None = None, count: int = 1) -> Fault:
        """Drop the connection without answering.

        Over TCP the socket is closed; the in-process transport raises
        :class:`httpx.RemoteProtocolError`, as httpx does for a real drop.
        """
        return cls("drop", path_contains=path_contains, count=count)

    @classmethod
    def not_json(cls, *, path_contains: str | None = None, count: int = 1) -> Fault:
        """Answer HTTP 200 with an HTML body, as a misbehaving gateway might."""
        return cls("not_json", path_contains=path_contains, count=count)

    @classmethod
    def slow(cls, seconds: float, *, path_contains: str | None = None, count: int = 1) -> Fault:
        """Wait ``seconds`` more before giving the normal answer."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, not {seconds}")
        return cls("slow", seconds=seconds, path_contains=path_contains, count=count)

    @classmethod
    def trickle(
        cls,
        interval: float,
        *,
        chunk_size: int = 1,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Give the normal answer, its body sent ``chunk_size`` bytes every ``interval`` seconds.

        The headers go at once: only a deadline on the whole answer, not one
        per read, stops a client from being held for as long as the body lasts.
        """
        if interval < 0 or chunk_size < 1:
            raise ValueError("interval must be >= 0 and chunk_size >= 1")
        return cls(
            "trickle",
            seconds=interval,
            chunk_size=chunk_size,
            path_contains=path_contains,
            count=count,
        )

    @classmethod
    def body(
        cls,
        content: bytes,
        *,
        content_encoding: str | None = None,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Answer HTTP 200 with exactly ``content`` as the JSON body.

        ``content_encoding`` labels it (``"gzip"``, say); the bytes are sent
        as given, so a test can send JSON nested too deep, numbers too big for
        64 bits or a corrupt gzip stream.
        """
        return cls(
            "body",
            content=bytes(content),
            content_encoding=content_encoding,
            path_contains=path_contains,
            count=count,
        )

    @classmethod
    def huge(
        cls,
        size: int,
        *,
        gzip: bool = False,
        declare_length: bool = False,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Answer HTTP 200 with a valid JSON envelope of ``size`` bytes, made as it is sent.

        Nothing is held in memory: the body is produced in 64 KiB chunks
        only as fast as the client reads it. With ``gzip`` it is compressed
        on the fly (a body some thousand times smaller on the wire, a
        "gzip bomb"); ``declare_length`` sends its ``Content-Length`` (without
        ``gzip`` only), else it goes chunked.
        """
        if size < 64:
            raise ValueError(f"size must be >= 64, not {size}")
        return cls(
            "huge",
            size=size,
            content_encoding="gzip" if gzip else None,
            declare_length=declare_length and not gzip,
            path_contains=path_contains,
            count=count,
        )

    def huge_chunks(self) -> Iterator[bytes]:
        """The body of a :meth:`huge` fault, chunk by chunk."""
        head = b'{"status":"0","reason":"success","data":"'
        tail = b'"}'
        filler = b" " * _HUGE_CHUNK
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if self.content_encoding else None

        def pieces() -> Iterator[bytes]:
            yield head
            left = self.size - len(head) - len(tail)
            while left > 0:
                yield filler[: min(left, _HUGE_CHUNK)]
                left -= _HUGE_CHUNK
            yield tail

        for piece in pieces():
            out = compressor.compress(piece) if compressor is not None else piece
            if out:
                yield out
        if compressor is not None:
            yield compressor.flush()

    @property
    def name(self) -> str:
        """A short label such as ``http_503``, ``status_-18``, ``drop``, ``not_json``, ``slow``."""
        if self.kind == "http":
            return f"http_{self.http_status}"
        if self.kind == "status":
            return f"status_{self.api_status}"
        return self.kind

    def matches(self, path: str) -> bool:
        """Return whether this fault applies to a request for ``path``."""
        return self.path_contains is None or self.path_contains in path

    def http_reason(self) -> str:
        """Return the reason phrase of :attr:`http_status`."""
        try:
            return HTTPStatus(self.http_status).phrase
        except ValueError:
            return "Error"


@attrs.define
class RateLimit:
    """A limit on requests per second and/or in flight, beyond which the fake throttles.

    Set it with :meth:`FakeItnio.set_rate_limit
    <itniotech_async.testing.FakeItnio.set_rate_limit>`. ``per_second`` is a
    token bucket holding ``burst`` requests (one second's worth by default)
    and refilled at that rate; ``in_flight`` caps the requests being handled
    at once. A request over either limit is answered at once, before
    authentication, with HTTP 429 (with a ``Retry-After`` of ``retry_after``
    seconds when given) or, with ``answer="-18"``, status ``-18``. Refused
    requests take no token. :attr:`throttled` counts them and
    :attr:`admitted` the others.
    """

    per_second: float | None = None
    in_flight: int | None = None
    answer: Literal["429", "-18"] = "429"
    retry_after: float | None = None
    burst: float | None = None
    throttled: int = 0
    admitted: int = 0
    _tokens: float = attrs.field(default=-1.0, init=False, repr=False)
    _refilled: float = attrs.field(default=0.0, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.per_second is not None and not self.per_second > 0:
            raise ValueError(f"per_second must be > 0, not {self.per_second}")
        if self.in_flight is not None and self.in_flight < 1:
            raise ValueError(f"in_flight must be >= 1, not {self.in_flight}")
        if self.answer not in ("429", "-18"):
            raise ValueError(f"answer must be '429' or '-18', not {self.answer!r}")

    def admit(self, in_flight: int) -> Fault | None:
        """Return the refusal for a request arriving with ``in_flight`` being handled, or None."""
        if self.in_flight is not None and in_flight > self.in_flight:
            return self._refuse()
        if self.per_second is not None:
            now = time.monotonic()
            capacity = self.burst if self.burst is not None else max(1.0, self.per_second)
            if self._tokens < 0:
                self._tokens = capacity
            else:
                self._tokens = min(
                    capacity, self._tokens + (now - self._refilled) * self.per_second
                )
            self._refilled = now
            if self._tokens < 1:
                return self._refuse()
            self._tokens -= 1
        self.admitted += 1
        return None

    def _refuse(self) -> Fault:
        self.throttled += 1
        if self.answer == "-18":
            return Fault.status("-18")
        return Fault.http(429, retry_after=self.retry_after)
