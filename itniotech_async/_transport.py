"""The HTTP transport of the clients this SDK makes: aiohttp on asyncio, httpx's own elsewhere.

Design notes: docs/design.md, "The transport".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx

from ._background import on_asyncio
from ._errors import ItnioError, first_in_mro

try:
    import aiohttp
    import yarl
except ImportError:  # pragma: no cover - depends on the install
    aiohttp = None  # type: ignore[assignment]

__all__ = ["AutoTransport", "aiohttp_available", "ssl_context"]

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
            self._httpx = httpx.AsyncHTTPTransport(verify=ssl_context(), limits=limits)
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
        with _mapped_aiohttp_errors(request):
            response = await session.request(
                request.method,
                yarl.URL(str(url), encoded=True),
                data=content or None,
                headers=headers,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout")),
                proxy=self._proxy_for(url.scheme, url.host),
                ssl=ssl_context() if url.scheme == "https" else True,
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response, request),
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

    def abandon(self) -> bool:
        """Drop every connection without awaiting (the owner was collected unclosed).

        Returns whether there was anything open. aiohttp's session and
        connector, and the sockets of httpx's pool, are closed here, so that
        they do not warn in their turn (none of this has a public synchronous
        API: each step is guarded, and at worst their own warning shows).
        """
        opened = self._httpx is not None
        if self._httpx is not None:
            _drop_httpx_connections(self._httpx)
        session, self._session = self._session, None
        if session is not None and not session.closed:
            opened = True
            connector = session.connector
            session.detach()
            close = getattr(connector, "_close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # its loop may be closed or gone
                    close()
        return opened

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
def ssl_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, made once per process (docs/design.md)."""
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


def _drop_httpx_connections(transport: httpx.AsyncHTTPTransport) -> None:
    """Close the sockets of httpx's pool without awaiting (see AutoTransport.abandon)."""
    pool = getattr(transport, "_pool", None)
    for connection in list(getattr(pool, "connections", ())):
        stream = getattr(getattr(connection, "_connection", None), "_network_stream", None)
        if stream is None:
            continue
        with contextlib.suppress(Exception):  # the loop may be closed: nothing more to do
            # On asyncio the socket belongs to an asyncio transport, which
            # must close it; on trio the socket is closed directly.
            asyncio_transport = getattr(getattr(stream, "_stream", None), "_transport", None)
            if isinstance(asyncio_transport, asyncio.BaseTransport):
                asyncio_transport.abort()  # type: ignore[attr-defined]
            else:
                stream.get_extra_info("socket").close()


class _AiohttpBody(httpx.AsyncByteStream):
    """An aiohttp response's body as an httpx stream, read chunk by chunk as it arrives.

    A class rather than an async generator: a reader that stops early (the
    body is too large, the deadline passed) leaves nothing suspended behind.
    """

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response: aiohttp.ClientResponse | None = response
        self._request = request

    def __aiter__(self) -> _AiohttpBody:
        return self

    async def __anext__(self) -> bytes:
        if self._response is None:
            raise StopAsyncIteration
        with _mapped_aiohttp_errors(self._request):
            chunk = await self._response.content.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        # A body read to its end leaves the connection for reuse; one left
        # part-way closes it (there is no telling what else would arrive).
        # The aiohttp response is let go at once: httpx's response and its
        # stream refer to each other, and would keep it until the next
        # garbage collection.
        response, self._response = self._response, None
        if response is None:
            return
        if response.content.at_eof():
            response.release()
        else:
            response.close()


# aiohttp's (and asyncio's) exceptions as httpx's, most specific first by
# class: the first class of an exception's MRO found here decides.
_AIOHTTP_EXC_MAP: dict[type[BaseException], type[httpx.TransportError]] = (
    {
        aiohttp.ConnectionTimeoutError: httpx.ConnectTimeout,
        aiohttp.ServerTimeoutError: httpx.ReadTimeout,
        asyncio.TimeoutError: httpx.ReadTimeout,
        aiohttp.ClientProxyConnectionError: httpx.ProxyError,
        aiohttp.ClientConnectorError: httpx.ConnectError,
        aiohttp.ServerDisconnectedError: httpx.RemoteProtocolError,
        aiohttp.ClientResponseError: httpx.RemoteProtocolError,
        aiohttp.ClientPayloadError: httpx.ReadError,
        aiohttp.ClientOSError: httpx.ReadError,
        OSError: httpx.ReadError,
        aiohttp.InvalidURL: httpx.UnsupportedProtocol,
        ValueError: httpx.UnsupportedProtocol,
        # Any other aiohttp error, or aiohttp misbehaving: still a transport failure.
        Exception: httpx.NetworkError,
    }
    if aiohttp is not None
    else {}
)


@contextlib.contextmanager
def _mapped_aiohttp_errors(request: httpx.Request) -> Iterator[None]:
    """Raise the httpx exception that stands for an aiohttp (or asyncio) failure."""
    try:
        yield
    except Exception as exc:
        mapped = first_in_mro(_AIOHTTP_EXC_MAP, exc)
        if mapped is None:
            raise
        raise mapped(_aiohttp_message(exc), request=request) from exc


def _aiohttp_message(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    ):
        # aiohttp's own text says "ssl:default" even for a plain http URL.
        return (
            f"{type(exc).__name__}: Cannot connect to host {exc.host}:{exc.port}"
            f" [{exc.strerror or exc.os_error}]"
        )
    return f"{type(exc).__name__}: {exc}"
