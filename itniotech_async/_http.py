"""The httpx pieces the client makes: its AsyncClient (a lighter cookie jar) and request bodies."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["Body", "HttpClient", "Once"]


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


class HttpClient(httpx.AsyncClient):
    """The httpx client an ItnioClient makes when none is passed in: its jar is a _Cookies."""

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


class Body(httpx.AsyncByteStream):
    """A request body that is sent without an async generator.

    httpx iterates a bytes body through an async generator; a request
    cancelled while its body is being sent (a stream stopped by its consumer)
    leaves that generator suspended, and trio warns when the garbage collector
    finds it. This iterator has nothing to leave behind. Each send (retries
    included) iterates it afresh.
    """

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __aiter__(self) -> Once:
        return Once(self._content)


class Once:
    """An async iterator of one chunk of bytes (none when it is empty), with nothing to close."""

    __slots__ = ("_content",)

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    def __aiter__(self) -> Once:
        return self

    async def __anext__(self) -> bytes:
        content, self._content = self._content, None
        if not content:
            raise StopAsyncIteration
        return content
