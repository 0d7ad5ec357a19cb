"""Request signing as an :class:`httpx.Auth` flow, and the server-clock offset.

Design notes: docs/design.md, "Signing and the server's clock".
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import time
from collections.abc import Generator

import httpx

__all__ = ["ItnioAuth", "ServerClock", "compute_sign", "http_date"]

logger = logging.getLogger("itniotech_async")


def compute_sign(api_key: str, api_secret: str, timestamp: str) -> str:
    """Return the lowercase md5 hex digest the service expects in ``Sign``."""
    return hashlib.md5(
        (api_key + api_secret + timestamp).encode(), usedforsecurity=False
    ).hexdigest()


def http_date(value: str | None) -> float | None:
    """The Unix time of an HTTP date (as in ``Date`` or ``Retry-After``), or ``None``."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # pragma: no cover - parsedate gives aware for GMT
        return None
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):  # pragma: no cover - absurd years
        return None


class ServerClock:
    """The local clock corrected by an offset learned from the server.

    The offset starts at zero and is only changed by :meth:`learn`, which is
    called when the service rejects a timestamp.
    """

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def learn(self, date_header: str | None) -> bool:
        """Set the offset from an HTTP ``Date`` header; return whether it could."""
        server = http_date(date_header)
        if server is None:
            return False
        # Date has one-second resolution: the true server time lies in
        # [Date, Date + 1), so aim for the middle.
        self.offset = server + 0.5 - time.time()
        logger.debug("learned server clock offset: %+.1f s", self.offset)
        return True

    def __repr__(self) -> str:
        return f"ServerClock(offset={self.offset:+.1f})"


class ItnioAuth(httpx.Auth):
    """Signs each request with ``Api-Key``, ``Timestamp`` and ``Sign``.

    The secret is held privately and never shown by ``repr``.
    """

    def __init__(self, api_key: str, api_secret: str, clock: ServerClock | None = None) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self.clock = clock if clock is not None else ServerClock()

    def __repr__(self) -> str:
        return f"ItnioAuth(api_key={self._api_key!r}, api_secret='***')"

    def _sign(self, request: httpx.Request) -> None:
        timestamp = str(int(self.clock.now()))
        request.headers["Api-Key"] = self._api_key
        request.headers["Timestamp"] = timestamp
        request.headers["Sign"] = compute_sign(self._api_key, self._api_secret, timestamp)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request``; on status -16, learn the server's clock and re-sign it once."""
        self._sign(request)
        yield request
