"""Faults the fake server can inject: gateway errors, bad envelopes, drops, delays."""

from __future__ import annotations

from http import HTTPStatus
from typing import Literal

import attrs

__all__ = ["STATUS_REASONS", "Fault", "FaultKind"]

FaultKind = Literal["http", "status", "drop", "not_json", "slow"]

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
    :meth:`http`, :meth:`status`, :meth:`drop`, :meth:`not_json` and
    :meth:`slow`. Every one takes ``path_contains`` (the fault only matches
    requests whose path contains that text) and ``count`` (how many times a
    fault queued with :meth:`FakeItnio.add_fault
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
    seconds: float = 0.0
    path_contains: str | None = None
    count: int = attrs.field(default=1, validator=_check_count)

    @classmethod
    def http(
        cls,
        status_code: int,
        *,
        retry_after: float | str | None = None,
        path_contains: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Answer with this HTTP status and a small HTML error page.

        ``retry_after`` sets the ``Retry-After`` header: a number of seconds
        (fractions are sent as written, e.g. ``0.1``) or a string sent
        verbatim, such as an HTTP date.
        """
        if not 100 <= status_code <= 599:
            raise ValueError(f"status_code must be an HTTP status, not {status_code}")
        return cls(
            "http",
            http_status=status_code,
            retry_after=retry_after,
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
