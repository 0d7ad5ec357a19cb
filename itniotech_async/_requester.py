"""One signed request: build it, wait for the limiter, send, retry, and map errors.

The resources are given a :class:`Requester`, not the client: ``request()`` sends
one API call, ``spawn()`` runs a producer. Design notes: docs/design.md, "One request".
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from ._auth import ItnioAuth, http_date
from ._background import Background
from ._decode import ACCEPT_ENCODING, loads, read_body
from ._errors import (
    ApiError,
    HttpStatusError,
    ItnioError,
    ResponseDecodeError,
    ServerError,
    TimestampExpiredError,
    TransportError,
    api_error,
    map_exceptions,
)
from ._http import Body
from ._limiter import Limiter, Outcome

__all__ = ["HEADERS", "Requester", "attempt_deadline"]

logger = logging.getLogger("itniotech_async")

# The vendor asks for this Content-Type on every request, GET included.
# The codings asked for are the ones _decode undoes within the size limit.
HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "User-Agent": "itniotech-async",
    "Accept-Encoding": ACCEPT_ENCODING,
}
_TEMPLATE_CACHE_SIZE = 64
# A Retry-After longer than this is not waited out: the error is raised.
_MAX_RETRY_AFTER = 60.0
_MAX_BACKOFF = 30.0
# HTTP statuses that are retried, and what each tells the limiter (any other
# 5xx is retried as "other").
_RETRIED_STATUS: dict[int, Outcome] = {429: "throttle", 503: "overload", 504: "overload"}


class _Retry(Exception):
    """An attempt failed in a way that may be retried.

    ``outcome`` tells the limiter whether the server signalled overload.
    """

    def __init__(
        self, error: ItnioError, retry_after: float | None = None, outcome: Outcome = "other"
    ) -> None:
        self.error = error
        self.retry_after = retry_after
        self.outcome = outcome


class _Expired(Exception):
    """Status -16 (:class:`TimestampExpiredError`), with the answer's ``Date`` to learn from."""

    def __init__(self, error: ApiError, date: str | None) -> None:
        self.error = error
        self.date = date


class Requester:
    """Sends the client's API requests, each signed, limited and retried, up to its close.

    ``http`` is the httpx client requests go through; ``owns_http`` says
    whether the client made it (then its headers never change, and
    :meth:`close_http` closes it). ``owner`` is the client: held so that
    whatever holds the requester (``client.voice``, a stream) keeps the client
    alive, as it would if it held the client itself.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        owner: object,
        owns_http: bool,
        base_url: str,
        auth: ItnioAuth,
        limiter: Limiter,
        max_concurrency: int,
        max_retries: int,
        retry_backoff: float,
        max_response_size: int,
        deadline: float | None,
    ) -> None:
        self.http = http
        self.owner = owner
        self.owns_http = owns_http
        self.auth = auth
        self.limiter = limiter
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.max_response_size = max_response_size
        self._base_url = base_url
        self._retry_backoff = retry_backoff
        self._deadline = deadline
        self._templates: dict[tuple[str, str], httpx.Request] = {}
        self._producers: set[Background] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`stop` has run: no request or producer may start."""
        return self._closed

    async def stop(self) -> None:
        """Refuse new requests, cancel the running producers and wait until they stop."""
        self._closed = True
        producers = list(self._producers)
        for producer in producers:
            producer.cancel()
        for producer in producers:
            await producer.join()

    async def close_http(self) -> None:
        """Close the HTTP client, if it was made by the client (one passed in never is)."""
        if self.owns_http:
            await self.http.aclose()

    def spawn(self, func: Callable[[], Awaitable[None]]) -> Background:
        """Run ``func`` as a background producer, stopped by :meth:`stop`."""
        if self._closed:
            raise ItnioError("this client is closed")
        producer = Background(func)
        self._producers.add(producer)
        producer.start(on_done=self._producers.discard)
        return producer

    @property
    def given_http_client(self) -> httpx.AsyncClient | None:
        """The ``http_client`` passed to the client, else ``None``."""
        return None if self.owns_http else self.http

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retrying after failed attempt ``attempt`` (0-based)."""
        return self._backoff(attempt, None) or 0.0

    # -- building ------------------------------------------------------------

    def _build(self, method: str, path: str, content: bytes | None) -> httpx.Request:
        """The request for one call, sent as it is by every attempt (the auth flow signs each)."""
        http = self.http
        body = Body(content or b"")
        if not self.owns_http or http.cookies:
            # A client passed in may change its headers, params or cookies at
            # any time (and ours may have been sent a cookie): merge afresh.
            request = http.build_request(
                method, self._template(method, path).url, content=content, headers=HEADERS
            )
            request.stream = body
            return request
        # Our own client's headers and timeout never change, so httpx's
        # merging (most of the cost of build_request) is done once per path.
        template = self._template(method, path)
        request = httpx.Request(
            method,
            template.url,
            headers=template.headers,
            stream=body,
            extensions=dict(template.extensions),
        )
        if content is not None:  # (the template has no Content-Length)
            request.headers["Content-Length"] = str(len(content))
        return request

    def _template(self, method: str, path: str) -> httpx.Request:
        # Parsing the URL and merging the headers are a good share of httpx's
        # work per request; the query paths are few, so each is done once
        # (single-record paths are many, so the cache is kept small).
        key = (method, path)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= _TEMPLATE_CACHE_SIZE:
                self._templates.clear()
            url = httpx.URL(self._base_url + path)
            template = self.http.build_request(method, url, headers=HEADERS)
            if "Content-Length" in template.headers:  # of no body: each request sets its own
                del template.headers["Content-Length"]
            self._templates[key] = template
        return template

    # -- sending -------------------------------------------------------------

    async def request(self, method: str, path: str, content: bytes | None = None) -> Any:
        """Send one signed request with retries; return the envelope's ``data``.

        ``path`` is relative to the base URL, such as ``/voice/recordSipQuery``;
        ``content`` is the JSON body, already encoded.
        """
        if self._closed:
            raise ItnioError("this client is closed")
        if self.http.is_closed:
            raise ItnioError("the http_client passed to this client is closed")
        request = self._build(method, path, content)
        limiter = self.limiter
        attempt = 0
        resigned = False
        # Hand-written rather than a retry library's loop: each attempt holds a
        # slot of the client-wide adaptive limiter, and a Retry-After pauses the whole client.
        while True:
            try:
                epoch = await limiter.acquire()
                outcome: Outcome = "other"
                try:
                    data = await self._attempt(request, method, path, attempt)
                    outcome = "ok"
                    return data
                except _Retry as retry:
                    outcome = retry.outcome
                    raise
                finally:
                    limiter.release(epoch, outcome)
            except _Expired as expired:
                # Once per call: sign again with the clock the answer's Date shows.
                if resigned or not self.auth.clock.learn(expired.date):
                    raise expired.error from None
                resigned = True
                logger.debug("timestamp expired; re-signing with the server's clock")
            except _Retry as retry:
                wait = retry.retry_after
                if wait is not None and wait <= _MAX_RETRY_AFTER:
                    # The whole client waits, not only this call (even if it gives up).
                    limiter.pause(wait)
                if attempt >= self.max_retries:
                    raise retry.error from retry.error.__cause__
                delay = self._backoff(attempt, wait)
                if delay is None:
                    raise retry.error from retry.error.__cause__
                limiter.note_retry()
                attempt += 1
                logger.info(
                    "%s %s failed (%s); retry %d/%d in %.2f s",
                    method,
                    path,
                    retry.error,
                    attempt,
                    self.max_retries,
                    delay,
                )
                await anyio.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= _MAX_RETRY_AFTER else None
        cap: float = min(_MAX_BACKOFF, self._retry_backoff * (2**attempt))
        # "Equal jitter": half the cap, plus a random share of the other half.
        return cap / 2 + random.uniform(0, cap / 2)

    async def _attempt(self, request: httpx.Request, method: str, path: str, attempt: int) -> Any:
        """Send once and read the whole answer within the deadline; return ``data``."""
        what = f"{method} {path}"
        started = time.perf_counter()
        deadline = self._deadline
        body = b""
        try:
            with (
                anyio.move_on_after(math.inf if deadline is None else deadline) as scope,
                map_exceptions(what),
            ):
                response = await self.http.send(request, auth=self.auth, stream=True)
                try:
                    if response.status_code == 200:
                        body = await read_body(response, self.max_response_size)
                finally:
                    await response.aclose()
            if scope.cancelled_caught:
                raise TransportError(
                    f"{what} timed out: the attempt (connect, send and read the whole "
                    f"answer) took longer than the {deadline:g} s timeout"
                ) from TimeoutError(f"the deadline of {deadline:g} s passed")
        except TransportError as exc:
            timed_out = isinstance(exc.__cause__, httpx.TimeoutException | TimeoutError)
            raise _Retry(exc, outcome="overload" if timed_out else "other") from None
        status_code = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s -> HTTP %d in %.3f s (attempt %d)",
                what,
                status_code,
                time.perf_counter() - started,
                attempt + 1,
            )
        if status_code != 200:
            error = HttpStatusError(
                status_code, f"{what}: HTTP {status_code} {response.reason_phrase}"
            )
            if status_code in _RETRIED_STATUS or status_code >= 500:
                outcome = _RETRIED_STATUS.get(status_code, "other")
                raise _Retry(error, _retry_after(response, self.auth.clock.now), outcome)
            raise error
        with map_exceptions(what):
            envelope = loads(body)
        if envelope.__class__ is not dict or "status" not in envelope:
            raise ResponseDecodeError(f"{what}: the body is not an ITNIO envelope")
        status = str(envelope["status"])
        if status == "0":
            return envelope.get("data")
        reason = str(envelope.get("reason") or "")
        api_failure = api_error(status, reason)
        if isinstance(api_failure, ServerError):
            raise _Retry(api_failure, outcome="throttle")
        if isinstance(api_failure, TimestampExpiredError):
            raise _Expired(api_failure, response.headers.get("Date"))
        raise api_failure


def _retry_after(response: httpx.Response, now: Callable[[], float]) -> float | None:
    """Seconds to wait as the answer's ``Retry-After`` says, or ``None``.

    An HTTP date is measured against the server's clock: the same answer's
    ``Date`` when it has one (both come from the one clock), else ``now()``,
    the local clock corrected by the offset the client has learned.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = http_date(value)
        if when is None:
            return None
        date = http_date(response.headers.get("Date"))
        seconds = when - (now() if date is None else date)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def attempt_deadline(timeout: float | httpx.Timeout | None) -> float | None:
    """Seconds one attempt may take in all: ``timeout``, or the sum of an httpx.Timeout's phases."""
    if isinstance(timeout, httpx.Timeout):
        phases = [t for t in (timeout.connect, timeout.write, timeout.read, timeout.pool) if t]
        return float(sum(phases)) if phases else None
    return None if timeout is None else float(timeout)
