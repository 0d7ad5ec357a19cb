"""ItnioClient: owns the HTTP client, the concurrency cap, retries and error mapping."""

from __future__ import annotations

import logging
import math
import os
import random
import re
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
import httpx

from ._auth import ItnioAuth, ServerClock, http_date
from ._background import Background
from ._decode import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_SIZE, loads, read_body
from ._errors import (
    ApiError,
    HttpStatusError,
    InvalidArgumentError,
    ItnioError,
    ResponseDecodeError,
    ServerError,
    TimestampExpiredError,
    TransportError,
    api_error,
    map_exceptions,
)
from ._limiter import ClientStats, Limiter, Outcome
from ._transport import AutoTransport
from ._voice import VoiceResource

__all__ = ["DEFAULT_BASE_URL", "ItnioClient"]

logger = logging.getLogger("itniotech_async")

DEFAULT_BASE_URL = "https://api.itniotech.com"
DEFAULT_CONCURRENCY = 8  # page requests in flight, the default of max_concurrency
# The vendor asks for this Content-Type on every request, GET included.
# The codings asked for are the ones _decode undoes within the size limit.
_HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "User-Agent": "itniotech-async",
    "Accept-Encoding": ACCEPT_ENCODING,
}
_TEMPLATE_CACHE_SIZE = 64
# A Retry-After longer than this is not waited out: the error is raised.
_MAX_RETRY_AFTER = 60.0
_MAX_BACKOFF = 30.0


class _Retry(Exception):
    """Internal: an attempt failed in a way that may be retried.

    ``outcome`` tells the limiter whether the server signalled overload.
    """

    def __init__(
        self, error: ItnioError, retry_after: float | None = None, outcome: Outcome = "other"
    ) -> None:
        self.error = error
        self.retry_after = retry_after
        self.outcome = outcome


class _Expired(Exception):
    """Internal: status -16, with the answer's ``Date`` to learn the server's clock from."""

    def __init__(self, error: ApiError, date: str | None) -> None:
        self.error = error
        self.date = date


def _retry_after(response: httpx.Response, clock: ServerClock) -> float | None:
    """Seconds to wait as the answer's ``Retry-After`` says, or ``None``.

    An HTTP date is measured against the server's clock: the same answer's
    ``Date`` when it has one (both come from the one clock), else the local
    clock corrected by the offset the client has learned.
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
        now = http_date(response.headers.get("Date"))
        seconds = when - (clock.now() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _redact(url: str) -> str:
    """``url`` with any ``user:password@``, query and fragment hidden, for messages."""
    return re.sub(r"[?#].*", "?***", re.sub(r"(?<=//)[^/?#]*@", "***@", url), flags=re.DOTALL)


class ItnioClient:
    """An async client for the ITNIO Tech voice record API.

    Credentials default to the ``ITNIO_API_KEY`` and ``ITNIO_API_SECRET``
    environment variables and the base URL to ``ITNIO_BASE_URL``, else
    ``https://api.itniotech.com``. Use it as an async context manager, or call
    :meth:`aclose` when done::

        async with itnio.ItnioClient() as client:
            record = await client.voice.record_sip("2203031113381000002")

    ``max_concurrency`` caps the requests in flight across the whole client,
    streams included. Transport errors, HTTP 429 and 5xx and status ``-18``
    are retried up to ``max_retries`` times with exponential backoff and
    jitter (starting at ``retry_backoff`` seconds), honouring ``Retry-After``
    (an HTTP date in it is read against the server's clock).

    With ``adaptive`` (the default) the number of requests in flight adapts
    to the server, never above ``max_concurrency``: it halves on overload
    (HTTP 429 or 503, status ``-18``, timeouts) and grows back slowly, and a
    throttle caps the rate just under what the server admitted (see
    ``_limiter``). A ``Retry-After`` pauses the whole client. ``max_rate``
    caps requests per second. :attr:`stats` tells what the client is doing.

    ``timeout`` bounds each attempt as a whole: connecting, sending and
    reading the entire body must end within it (a number of seconds; with an
    :class:`httpx.Timeout`, within the sum of its phases), or the attempt
    fails as a retried :class:`TransportError`. A number also bounds each
    phase, as in httpx. ``None`` turns every limit off.

    ``max_response_size`` caps a body, both as sent and decompressed
    (32 MiB by default; a page of 100 records is about 70 KB): a larger
    answer raises :class:`ResponseTooLargeError` without the rest being read.

    ``base_url`` must not carry credentials (``user:password@``), a query or
    a fragment: such a URL is refused, so no secret can show in a ``repr``,
    a log line or an error.

    An ``http_client`` passed in is used as it is and never closed by this
    client; its ``base_url`` and ``auth`` are not used, its own timeout
    applies to each phase, and ``timeout`` still bounds each attempt.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = 30.0,
        max_retries: int = 3,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        http_client: httpx.AsyncClient | None = None,
        retry_backoff: float = 0.5,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        adaptive: bool = True,
        max_rate: float | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("ITNIO_API_KEY")
        api_secret = api_secret if api_secret is not None else os.environ.get("ITNIO_API_SECRET")
        if not api_key or not isinstance(api_key, str):
            raise InvalidArgumentError(
                "missing API key: pass api_key or set the ITNIO_API_KEY environment variable"
            )
        if not (api_key.isascii() and api_key.isprintable()) or any(c.isspace() for c in api_key):
            raise InvalidArgumentError(
                "the API key has characters that cannot be sent in a header "
                "(it must be printable ASCII without spaces)"
            )
        if not api_secret or not isinstance(api_secret, str):
            raise InvalidArgumentError(
                "missing API secret: pass api_secret or set the ITNIO_API_SECRET "
                "environment variable"
            )
        url = _check_base_url(base_url or os.environ.get("ITNIO_BASE_URL") or DEFAULT_BASE_URL)
        _check_timeout(timeout)
        _check_int("max_retries", max_retries, 0)
        _check_int("max_concurrency", max_concurrency, 1)
        _check_int("max_response_size", max_response_size, 1)
        if not isinstance(adaptive, bool):
            raise InvalidArgumentError(f"adaptive must be True or False, got {adaptive!r}")
        if max_rate is not None and (
            not isinstance(max_rate, (int, float))
            or isinstance(max_rate, bool)
            or not 0 < max_rate < float("inf")
        ):
            raise InvalidArgumentError(
                f"max_rate must be a positive number of requests per second or None, "
                f"got {max_rate!r}"
            )
        if not isinstance(retry_backoff, (int, float)) or not retry_backoff >= 0:
            raise InvalidArgumentError(f"retry_backoff must be >= 0, got {retry_backoff!r}")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidArgumentError("http_client must be an httpx.AsyncClient")

        self._api_key = api_key
        self._base_url = str(url).rstrip("/")
        self._max_retries = max_retries
        self._max_concurrency = max_concurrency
        self._retry_backoff = float(retry_backoff)
        self._max_response_size = max_response_size
        self._deadline = _attempt_deadline(timeout)
        self._auth = ItnioAuth(api_key, api_secret, ServerClock())
        self._owns_http = http_client is None
        self._transport: AutoTransport | None = None
        if http_client is None:
            self._transport = AutoTransport(max_connections=max_concurrency)
            http_client = _HttpClient(timeout=timeout, transport=self._transport)
        self._http = http_client
        self._limiter = Limiter(
            max_concurrency,
            adaptive=adaptive,
            max_rate=None if max_rate is None else float(max_rate),
        )
        self._templates: dict[tuple[str, str], httpx.Request] = {}
        self._producers: set[Background] = set()
        self._entered = False
        self._closed = False
        # Warns (once, ours) and closes the sockets of a client collected
        # without aclose(), before aiohttp or the sockets would complain.
        self._finalizer = (
            weakref.finalize(self, _collected_unclosed, self._transport)
            if self._transport is not None
            else None
        )
        self.voice = VoiceResource(self)

    def __repr__(self) -> str:
        key = self._api_key[:4] + "..." if len(self._api_key) > 4 else "***"
        return f"<ItnioClient base_url={self._base_url!r} api_key={key!r}>"

    @property
    def max_retries(self) -> int:
        """How many times a failed request may be retried."""
        return self._max_retries

    @property
    def max_concurrency(self) -> int:
        """The cap on requests in flight across the whole client."""
        return self._max_concurrency

    @property
    def stats(self) -> ClientStats:
        """What the client is doing now: its limit in flight, rate, requests, retries, throttles."""
        return self._limiter.stats()

    @property
    def max_response_size(self) -> int:
        """The cap on a body's size in bytes, as sent and decompressed."""
        return self._max_response_size

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._base_url

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing, learned from the server."""
        return self._auth.clock.offset

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> ItnioClient:
        # The client is a plain resource: it opens no task group, so it may be
        # entered in one task and closed in another, and user code may yield
        # inside it (see _background).
        if self._closed:
            raise ItnioError("this client is closed")
        if self._entered:
            raise ItnioError("this client is already open: use one `async with` per client")
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the client's running streams and close the HTTP client it made.

        An ``http_client`` passed in is never closed. Streams still running
        raise :class:`ItnioError` in their consumers.
        """
        if self._closed:
            return
        self._closed = True
        producers = list(self._producers)
        for producer in producers:
            producer.cancel()
        for producer in producers:
            await producer.join()
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._owns_http:
            await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has run (or the ``async with`` block was left)."""
        return self._closed

    # -- requests ------------------------------------------------------------

    def _build(self, method: str, path: str, content: bytes | None) -> httpx.Request:
        """The request for one call, sent as it is by every attempt (the auth flow signs each)."""
        http = self._http
        body = _Body(content or b"")
        if not self._owns_http or http.cookies:
            # A client passed in may change its headers, params or cookies at
            # any time (and ours may have been sent a cookie): merge afresh.
            request = http.build_request(
                method, self._template(method, path).url, content=content, headers=_HEADERS
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
            template = self._http.build_request(method, url, headers=_HEADERS)
            if "Content-Length" in template.headers:  # of no body: each request sets its own
                del template.headers["Content-Length"]
            self._templates[key] = template
        return template

    async def _request(self, method: str, path: str, content: bytes | None = None) -> Any:
        """Send one signed request with retries; return the envelope's ``data``.

        ``path`` is relative to the base URL, such as ``/voice/recordSipQuery``;
        ``content`` is the JSON body, already encoded.
        """
        if self._closed:
            raise ItnioError("this client is closed")
        if self._http.is_closed:
            raise ItnioError("the http_client passed to this client is closed")
        request = self._build(method, path, content)
        limiter = self._limiter
        attempt = 0
        resigned = False
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
                if resigned or not self._auth.clock.learn(expired.date):
                    raise expired.error from None
                resigned = True
                logger.debug("timestamp expired; re-signing with the server's clock")
            except _Retry as retry:
                wait = retry.retry_after
                if wait is not None and wait <= _MAX_RETRY_AFTER:
                    # The whole client waits, not only this call (even if it gives up).
                    limiter.pause(wait)
                if attempt >= self._max_retries:
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
                    self._max_retries,
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
                response = await self._http.send(request, auth=self._auth, stream=True)
                try:
                    if response.status_code == 200:
                        body = await read_body(response, self._max_response_size)
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
            if status_code == 429 or status_code >= 500:
                outcome: Outcome = (
                    "throttle"
                    if status_code == 429
                    else "overload"
                    if status_code in (503, 504)
                    else "other"
                )
                raise _Retry(error, _retry_after(response, self._auth.clock), outcome)
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

    def _spawn(self, func: Callable[[], Awaitable[None]]) -> Background:
        """Run ``func`` as a background producer, stopped when the client closes."""
        if self._closed:
            raise ItnioError("this client is closed")
        producer = Background(func)
        self._producers.add(producer)
        producer.start(on_done=self._producers.discard)
        return producer

    # -- for downloads from file hosts (recordings) ---------------------------

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The client-wide cap on requests in flight; a file download holds one slot."""
        return self._limiter.capacity()

    @property
    def given_http_client(self) -> httpx.AsyncClient | None:
        """The ``http_client`` passed in (file downloads go through it too), else ``None``."""
        return None if self._owns_http else self._http

    @property
    def timeout(self) -> httpx.Timeout:
        """The timeouts of this client's HTTP client."""
        return self._http.timeout

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retrying after failed attempt ``attempt`` (0-based)."""
        return self._backoff(attempt, None) or 0.0


class _Cookies(httpx.Cookies):
    """A cookie jar that reads an answer only when the answer sets a cookie.

    httpx hands every response to the client's jar, which first wraps the
    request and the response in urllib adapters: over a zero-latency walk,
    several percent of the CPU, spent on answers that set nothing (the API
    sets no cookies). An answer that does set one is stored as httpx would.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _HttpClient(httpx.AsyncClient):
    """The httpx client this client makes when none is passed in: its jar is a _Cookies."""

    def __init__(
        self, *, timeout: float | httpx.Timeout | None, transport: httpx.AsyncBaseTransport
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self.cookies = None

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._jar = _Cookies(cookies)


class _Body(httpx.AsyncByteStream):
    """A request body that is sent without an async generator.

    httpx iterates a bytes body through an async generator; a request
    cancelled while its body is being sent (a stream stopped by its consumer)
    leaves that generator suspended, and trio warns when the garbage collector
    finds it. This iterator has nothing to leave behind. Each send (retries
    included) iterates it afresh.
    """

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __aiter__(self) -> _BodyIterator:
        return _BodyIterator(self._content)


class _BodyIterator:
    __slots__ = ("_content",)

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        content, self._content = self._content, None
        if content is None:
            raise StopAsyncIteration
        return content


def _chain(error: ItnioError, cause: BaseException) -> ItnioError:
    error.__cause__ = cause
    return error


def _check_base_url(base_url: object) -> httpx.URL:
    if not isinstance(base_url, str):
        raise InvalidArgumentError(f"base_url must be a str, got {type(base_url).__name__}")
    shown = _redact(base_url)
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        # (httpx's message may quote the URL: it is not chained.)
        raise InvalidArgumentError(f"invalid base_url {shown!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(f"base_url must be an http(s) URL, got {shown!r}")
    if url.userinfo:
        raise InvalidArgumentError(
            "base_url must not carry credentials (user:password@): the API is "
            f"authenticated by api_key and api_secret; got {shown!r}"
        )
    if url.query or url.fragment or "?" in base_url or "#" in base_url:
        raise InvalidArgumentError(f"base_url must not carry a query or fragment, got {shown!r}")
    return url


def _attempt_deadline(timeout: float | httpx.Timeout | None) -> float | None:
    """Seconds one attempt may take in all: ``timeout``, or the sum of an httpx.Timeout's phases."""
    if isinstance(timeout, httpx.Timeout):
        phases = [t for t in (timeout.connect, timeout.write, timeout.read, timeout.pool) if t]
        return float(sum(phases)) if phases else None
    return None if timeout is None else float(timeout)


def _collected_unclosed(transport: AutoTransport) -> None:
    """Called when a client is garbage-collected without ``aclose()``."""
    if transport.abandon():
        warnings.warn(
            "an ItnioClient was garbage-collected without being closed; its connections "
            "were dropped. Use `async with ItnioClient(...)` or `await client.aclose()`.",
            ResourceWarning,
            stacklevel=1,
        )


def _check_timeout(timeout: object) -> None:
    if timeout is None or isinstance(timeout, httpx.Timeout):  # None: no timeout, as in httpx
        return
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not 0 < timeout < float("inf")
    ):
        raise InvalidArgumentError(
            f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
        )


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {value!r}")
