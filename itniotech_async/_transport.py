"""The HTTP transport of the clients this SDK makes: aiohttp on asyncio, httpx's own elsewhere.

httpx's own transport (httpcore) spends several times more Python per request
than aiohttp does, and at zero latency that decides the records per second.
So when aiohttp is installed (the ``fast`` extra) and the running event loop
is asyncio, requests go through an aiohttp session; on trio, or without
aiohttp, they go through :class:`httpx.AsyncHTTPTransport`. Either way the
client above sees httpx requests, responses and exceptions only: aiohttp's
errors are mapped onto httpx's, so retries and error mapping stay in one place.

TLS is verified with httpx's default context in both cases. That context is
made once per process: making one costs some 20 ms of CPU (it loads the CA
bundle), which a client made per web request or per test would otherwise pay
every time. On the aiohttp path, plain ``http`` never makes it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from typing import Any

import httpx

from ._background import on_asyncio
from ._errors import ItnioError

try:
    import aiohttp
except ImportError:  # pragma: no cover - depends on the install
    aiohttp = None  # type: ignore[assignment]

__all__ = ["AutoTransport", "aiohttp_available"]

# Headers aiohttp sets itself from the URL and the body.
_SKIP_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})


def aiohttp_available() -> bool:
    """Whether the aiohttp path can be used at all (it also needs asyncio)."""
    return aiohttp is not None


class AutoTransport(httpx.AsyncBaseTransport):
    """Send through aiohttp on asyncio when it is installed, else through httpx."""

    def __init__(self, *, max_connections: int, use_aiohttp: bool = True) -> None:
        self._max_connections = max_connections
        self._use_aiohttp = use_aiohttp and aiohttp is not None
        self._httpx: httpx.AsyncHTTPTransport | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._use_aiohttp and on_asyncio():
            return await self._send_aiohttp(request)
        if self._httpx is None:
            limits = httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
            )
            # (httpx makes a context for any ``verify``: share the one.)
            self._httpx = httpx.AsyncHTTPTransport(verify=_ssl_context(), limits=limits)
        return await self._httpx.handle_async_request(request)

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is not loop and not self._session.closed:
            # Its connections belong to the other loop and cannot be closed from
            # this one: refuse rather than leak them.
            raise ItnioError(
                "this client was first used on another event loop; make one client per event loop"
            )
        if self._session is None or self._session.closed:
            # The TLS context goes with each https request (see _send_aiohttp).
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            # httpx decodes the body (it sees Content-Encoding), so aiohttp must not.
            # trust_env would make aiohttp look proxies up in a thread for every
            # request: _proxy_for looks once per host, by the same rules.
            session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            # aiohttp silently resends an idempotent request once when a reused
            # connection drops; retries are the client's business (max_retries),
            # and there is no public switch for this one.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
            self._loop = loop
        return self._session

    async def _send_aiohttp(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.lower() not in _SKIP_HEADERS
        ]
        url = request.url
        content = await request.aread()  # (a no-op when the request was built with content)
        try:
            async with session.request(
                request.method,
                str(url),
                data=content or None,
                headers=headers,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout")),
                proxy=self._proxy_for(url.scheme, url.host),
                ssl=_ssl_context() if url.scheme == "https" else True,
            ) as response:
                body = await response.read()
        except Exception as exc:
            raise _map_error(exc, request) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=body,
            request=request,
            extensions=extensions,
        )

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy the environment names for this scheme and host, looked up once."""
        key = (scheme, host)
        if key not in self._proxies:
            proxy = urllib.request.getproxies().get(scheme)
            if proxy and urllib.request.proxy_bypass(host):
                proxy = None
            self._proxies[key] = proxy or None
        return self._proxies[key]

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if (
            session is not None
            and not session.closed
            and on_asyncio()
            and self._loop is asyncio.get_running_loop()
        ):
            await session.close()
        if self._httpx is not None:
            await self._httpx.aclose()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, made once (see the module doc)."""
    return httpx.create_ssl_context()


def _timeout(values: Any) -> aiohttp.ClientTimeout:
    values = values or {}
    connect = values.get("connect")
    pool = values.get("pool")
    return aiohttp.ClientTimeout(
        total=None,
        connect=None if connect is None or pool is None else connect + pool,
        sock_connect=connect,
        sock_read=values.get("read"),
    )


def _map_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that stands for an aiohttp (or asyncio) failure."""
    message = f"{type(exc).__name__}: {exc}"
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        cls = httpx.ConnectTimeout
    elif isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        cls = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cls = httpx.ConnectError
        if not isinstance(exc, aiohttp.ClientSSLError):
            # aiohttp's own text says "ssl:default" even for a plain http URL.
            message = f"{type(exc).__name__}: Cannot connect to host {exc.host}:{exc.port}"
            message += f" [{exc.strerror or exc.os_error}]"
    elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError)):
        cls = httpx.RemoteProtocolError
    elif isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientOSError, OSError)):
        cls = httpx.ReadError
    elif isinstance(exc, (aiohttp.InvalidURL, ValueError)):
        cls = httpx.UnsupportedProtocol
    else:  # any other aiohttp error, or aiohttp misbehaving: still a transport failure
        cls = httpx.NetworkError
    return cls(message, request=request)
