"""ItnioClient: its options, properties and lifecycle; it builds the requester and ``.voice``.

Sending a request (building, limiting, retrying, mapping errors) is the
:class:`~._requester.Requester`'s job; the endpoints are the resources'.
"""

from __future__ import annotations

import os
import warnings
import weakref
from types import TracebackType

import anyio
import httpx

from ._auth import ItnioAuth, ServerClock
from ._checks import (
    check_base_url,
    check_credentials,
    check_int,
    check_max_rate,
    check_retry_backoff,
    check_timeout,
)
from ._decode import DEFAULT_MAX_RESPONSE_SIZE
from ._errors import InvalidArgumentError, ItnioError
from ._http import HttpClient
from ._limiter import ClientStats, Limiter
from ._requester import Requester, attempt_deadline
from ._transport import AutoTransport
from ._voice import VoiceResource

__all__ = ["DEFAULT_BASE_URL", "ItnioClient"]

DEFAULT_BASE_URL = "https://api.itniotech.com"
DEFAULT_CONCURRENCY = 8  # page requests in flight, the default of max_concurrency


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
        api_key, api_secret = check_credentials(api_key, api_secret)
        url = check_base_url(base_url or os.environ.get("ITNIO_BASE_URL") or DEFAULT_BASE_URL)
        check_timeout(timeout)
        check_int("max_retries", max_retries, 0)
        check_int("max_concurrency", max_concurrency, 1)
        check_int("max_response_size", max_response_size, 1)
        if not isinstance(adaptive, bool):
            raise InvalidArgumentError(f"adaptive must be True or False, got {adaptive!r}")
        check_max_rate(max_rate)
        check_retry_backoff(retry_backoff)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidArgumentError("http_client must be an httpx.AsyncClient")

        self._api_key = api_key
        self._base_url = str(url).rstrip("/")
        self._auth = ItnioAuth(api_key, api_secret, ServerClock())
        owns_http = http_client is None
        self._transport: AutoTransport | None = None
        if http_client is None:
            self._transport = AutoTransport(max_connections=max_concurrency)
            http_client = HttpClient(timeout=timeout, transport=self._transport)
        self._limiter = Limiter(
            max_concurrency,
            adaptive=adaptive,
            max_rate=None if max_rate is None else float(max_rate),
        )
        self._requester = Requester(
            http_client,
            owner=self,
            owns_http=owns_http,
            base_url=self._base_url,
            auth=self._auth,
            limiter=self._limiter,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            retry_backoff=float(retry_backoff),
            max_response_size=max_response_size,
            deadline=attempt_deadline(timeout),
        )
        self._entered = False
        # Warns (once, ours) and closes the sockets of a client collected
        # without aclose(), before aiohttp or the sockets would complain.
        self._finalizer = (
            weakref.finalize(self, _collected_unclosed, self._transport)
            if self._transport is not None
            else None
        )
        self.voice = VoiceResource(self._requester)

    def __repr__(self) -> str:
        key = self._api_key[:4] + "..." if len(self._api_key) > 4 else "***"
        return f"<ItnioClient base_url={self._base_url!r} api_key={key!r}>"

    @property
    def max_retries(self) -> int:
        """How many times a failed request may be retried."""
        return self._requester.max_retries

    @property
    def max_concurrency(self) -> int:
        """The cap on requests in flight across the whole client."""
        return self._requester.max_concurrency

    @property
    def stats(self) -> ClientStats:
        """What the client is doing now: its limit in flight, rate, requests, retries, throttles."""
        return self._limiter.stats()

    @property
    def max_response_size(self) -> int:
        """The cap on a body's size in bytes, as sent and decompressed."""
        return self._requester.max_response_size

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
        # inside it (docs/design.md, "Background producers").
        if self._requester.closed:
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
        if self._requester.closed:
            return
        await self._requester.stop()
        if self._finalizer is not None:
            self._finalizer.detach()
        await self._requester.close_http()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has run (or the ``async with`` block was left)."""
        return self._requester.closed

    # -- what downloads from file hosts may share with the client -------------

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The client-wide cap on requests in flight; a file download holds one slot."""
        return self._limiter.capacity()

    @property
    def given_http_client(self) -> httpx.AsyncClient | None:
        """The ``http_client`` passed in (file downloads go through it too), else ``None``."""
        return self._requester.given_http_client

    @property
    def timeout(self) -> httpx.Timeout:
        """The timeouts of this client's HTTP client."""
        return self._requester.http.timeout

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retrying after failed attempt ``attempt`` (0-based)."""
        return self._requester.retry_delay(attempt)


def _collected_unclosed(transport: AutoTransport) -> None:
    """Called when a client is garbage-collected without ``aclose()``."""
    if transport.abandon():
        warnings.warn(
            "an ItnioClient was garbage-collected without being closed; its connections "
            "were dropped. Use `async with ItnioClient(...)` or `await client.aclose()`.",
            ResourceWarning,
            stacklevel=1,
        )
