"""Request signing as an :class:`httpx.Auth` flow, and the server-clock offset.

Every attempt, retries included, gets a fresh ``Timestamp`` and
``Sign = md5(api_key + api_secret + Timestamp)``. When the service answers
status ``-16`` (timestamp expired), the flow reads the server's clock from the
response's ``Date`` header, stores the offset on a shared :class:`ServerClock`,
re-signs and sends the request once more. Later requests use the corrected
clock from the start.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import time
from collections.abc import Generator

import httpx

__all__ = ["ItnioAuth", "ServerClock", "compute_sign"]

logger = logging.getLogger("itniotech_async")

# The envelope's status for "timestamp expired".
_EXPIRED = "-16"


def compute_sign(api_key: str, api_secret: str, timestamp: str) -> str:
    """Return the lowercase md5 hex digest the service expects in ``Sign``."""
    return hashlib.md5(
        (api_key + api_secret + timestamp).encode(), usedforsecurity=False
    ).hexdigest()


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
        if not date_header:
            return False
        try:
            server = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError):
            return False
        if server.tzinfo is None:  # pragma: no cover - parsedate gives aware for GMT
            return False
        # Date has one-second resolution: the true server time lies in
        # [Date, Date + 1), so aim for the middle.
        self.offset = server.timestamp() + 0.5 - time.time()
        logger.debug("learned server clock offset: %+.1f s", self.offset)
        return True

    def __repr__(self) -> str:
        return f"ServerClock(offset={self.offset:+.1f})"


# An envelope that says "timestamp expired" carries no data, so it is small:
# longer bodies (pages of records) are not searched.
_EXPIRED_MAX_BYTES = 4096


def _is_expired(response: httpx.Response) -> bool:
    content = response.content
    if len(content) > _EXPIRED_MAX_BYTES or b"-16" not in content:
        return False
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("status")) == _EXPIRED


class ItnioAuth(httpx.Auth):
    """Signs each request with ``Api-Key``, ``Timestamp`` and ``Sign``.

    The secret is held privately and never shown by ``repr``.
    """

    requires_response_body = True

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
        response = yield request
        if (
            response.status_code == 200
            and _is_expired(response)
            and self.clock.learn(response.headers.get("Date"))
        ):
            logger.debug("timestamp expired; re-signing with the server's clock")
            self._sign(request)
            yield request
