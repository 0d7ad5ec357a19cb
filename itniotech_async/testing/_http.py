"""The two ways to reach the fake server: in process (``httpx.MockTransport``) and loopback TCP.

Each request is kept as a :class:`FakeRequest`, whichever way it came.

Both hand every request to the same handler coroutine, which returns an
:class:`Answer`, so the two modes behave identically. The TCP mode speaks
HTTP/1.1 through h11 with keep-alive, one task per connection, all inside a
task group that is cancelled when the ``async with`` block is left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import h11
import httpx
from anyio.abc import SocketAttribute

from ._faults import Fault

__all__ = ["Answer", "DropConnection", "FakeRequest", "Handler", "TCPServer", "in_process"]

logger = logging.getLogger("itniotech_async.testing")

_CHUNK = 65_536


def _redacted(headers: dict[str, str]) -> str:
    """The headers for a repr, with the request's signature hidden."""
    return repr({k: ("***" if k == "sign" else v) for k, v in headers.items()})


@attrs.define(eq=False)
class FakeRequest:
    """One request as the fake server saw it.

    ``headers`` maps lower-cased header names to values (use :meth:`header`
    for a case-insensitive look-up). ``json`` is the parsed body, or ``None``
    when there is no body or it is not JSON. ``answered`` is ``None`` while
    the request is in flight, then the envelope's status (``"0"``, ``"-1"``,
    ...), ``"http_404"``/``"http_405"`` for unknown routes, or the
    :attr:`Fault.name <itniotech_async.testing.Fault.name>` of the fault that
    answered it. A :meth:`Fault.slow <itniotech_async.testing.Fault.slow>`
    request records its fault in ``fault`` and its normal status in
    ``answered``.
    """

    method: str
    path: str
    headers: dict[str, str] = attrs.field(repr=_redacted)
    json: Any
    body: bytes = attrs.field(repr=False)
    answered: str | None = None
    fault: Fault | None = None
    query: str = ""
    raw_path: str = ""
    body_sent: int = 0

    def count_sent(self, size: int) -> None:
        """Add ``size`` to :attr:`body_sent`, the answer's body bytes sent so far."""
        self.body_sent += size

    def header(self, name: str) -> str | None:
        """Return a request header by case-insensitive name, or ``None``."""
        return self.headers.get(name.lower())


class DropConnection(Exception):
    """Raised by an answer's ``chunks`` to close the connection in the middle of the body."""


@attrs.frozen
class Answer:
    """What the handler wants sent back: a response, or a dropped connection.

    ``chunks``, when given, replaces ``body``: it is iterated lazily while the
    body is sent (so large bodies are never held whole); it goes chunked
    unless ``headers`` carry a ``Content-Length``, and raising
    :class:`DropConnection` from it closes the connection midway.
    ``interval`` pauses before each piece of the body; ``on_sent`` is told
    the size of each piece sent.
    """

    status_code: int
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""
    drop: bool = False
    chunks: Iterable[bytes] | None = None
    interval: float = 0.0
    on_sent: Callable[[int], None] | None = None


# handler(method, raw path as sent (percent-encoded), lower-cased headers, body,
# raw query string) -> Answer
Handler = Callable[[str, str, dict[str, str], bytes, str], Awaitable[Answer]]

_INTERNAL_ERROR = Answer(
    500,
    [("Content-Type", "text/plain;charset=UTF-8")],
    b"fake server: an on_request callback raised; see the log",
)


def in_process(handler: Handler) -> httpx.MockTransport:
    """An httpx transport that answers from ``handler`` without any socket.

    A dropped connection surfaces as :class:`httpx.RemoteProtocolError`, the
    error httpx raises when a real server closes the connection without
    answering. Exceptions raised by ``on_request`` callbacks propagate to the
    caller, so a failing assertion inside one fails the test at once.
    """

    async def respond(request: httpx.Request) -> httpx.Response:
        # MockTransport has read the request's body already.
        headers = {name.lower(): value for name, value in request.headers.items()}
        query = request.url.query.decode("ascii", "replace")
        raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
        answer = await handler(request.method, raw_path, headers, request.content, query)
        if answer.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        response_headers = list(answer.headers)
        chunks = answer.chunks
        if chunks is None:
            response_headers.append(("Content-Length", str(len(answer.body))))
            chunks = [answer.body] if answer.body else []
        # A stream even for a whole body: httpx would decode (and so check) a
        # body given as content at once, before the client sees it.
        return httpx.Response(
            answer.status_code,
            headers=response_headers,
            stream=_ChunkStream(chunks, request, answer),
            request=request,
        )

    return httpx.MockTransport(respond)


class _ChunkStream(httpx.AsyncByteStream):
    """An in-process streamed body; a :class:`DropConnection` reads as a dropped connection.

    Not an async generator (one left suspended makes trio warn), and it
    checkpoints per chunk, so a download can be cancelled midway in process too.
    """

    def __init__(self, chunks: Iterable[bytes], request: httpx.Request, answer: Answer) -> None:
        self._chunks = iter(chunks)
        self._request = request
        self._answer = answer
        self._closed = False

    def __aiter__(self) -> _ChunkStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        if self._answer.interval:
            await anyio.sleep(self._answer.interval)
        else:
            await anyio.lowlevel.checkpoint()
        try:
            chunk = next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body",
                request=self._request,
            ) from None
        if self._answer.on_sent is not None:
            self._answer.on_sent(len(chunk))
        return chunk

    async def aclose(self) -> None:
        self._closed = True


def _phrase(answer: Answer) -> bytes:
    try:
        return HTTPStatus(answer.status_code).phrase.encode("ascii")
    except ValueError:
        return b""


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class TCPServer:
    """A loopback HTTP/1.1 server, used as ``async with server as base_url``.

    Entering binds the listener and starts accepting; leaving cancels every
    connection task and closes the listener and all sockets before returning.
    An exception raised inside the block propagates unchanged (never wrapped
    in an exception group).
    """

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._stack: AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> str:
        if self._stack is not None:
            raise RuntimeError("this server is already running; call serve() again for another")
        stack = AsyncExitStack()
        async with AsyncExitStack() as guard:
            await guard.enter_async_context(stack)
            listener = await anyio.create_tcp_listener(
                local_host=self._host or None, local_port=self._port
            )
            await stack.enter_async_context(listener)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            task_group.start_soon(listener.serve, self._connection, task_group)
            guard.pop_all()
        self._stack = stack
        self._task_group = task_group
        port = listener.extra(SocketAttribute.local_port)
        return f"http://{_url_host(self._host)}:{port}"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, task_group = self._stack, self._task_group
        self._stack = self._task_group = None
        if stack is None or task_group is None:  # pragma: no cover - misuse
            return
        task_group.cancel_scope.cancel()
        # The block's own exception is not handed to the task group, which
        # would wrap it in an ExceptionGroup; it propagates after this returns.
        await stack.__aexit__(None, None, None)

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await self._converse(stream)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # the client went away
            except h11.ProtocolError:
                logger.debug("fake server: HTTP protocol error", exc_info=True)

    async def _converse(self, stream: anyio.abc.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            request: h11.Request | None = None
            body = bytearray()
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    await self._reject(stream, conn, exc)
                    return
                if event is h11.NEED_DATA:
                    try:
                        data = await stream.receive(_CHUNK)
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        data = b""
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:  # ConnectionClosed (PAUSED cannot happen before EndOfMessage)
                    return
            assert request is not None
            answer = await self._answer(request, bytes(body))
            if answer.drop:
                return
            if request.method == b"HEAD":
                answer = attrs.evolve(answer, body=b"", chunks=None)
            if answer.chunks is not None:
                if not await self._send_chunks(stream, conn, answer):
                    return
            else:
                await self._send(stream, conn, answer)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _answer(self, request: h11.Request, body: bytes) -> Answer:
        target = request.target.decode("ascii", "replace")
        raw_path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for raw_name, raw_value in request.headers:
            name, value = raw_name.decode("ascii").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            return await self._handler(
                request.method.decode("ascii"), raw_path, headers, body, query
            )
        except Exception:
            logger.exception("fake server: error while handling %s", unquote(raw_path))
            return _INTERNAL_ERROR

    @staticmethod
    async def _send(stream: anyio.abc.SocketStream, conn: h11.Connection, answer: Answer) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
        ]
        headers.append((b"Content-Length", str(len(answer.body)).encode("ascii")))
        if answer.on_sent is not None:
            answer.on_sent(len(answer.body))
        chunks = (
            conn.send(
                h11.Response(
                    status_code=answer.status_code, headers=headers, reason=_phrase(answer)
                )
            ),
            conn.send(h11.Data(data=answer.body)) if answer.body else None,
            conn.send(h11.EndOfMessage()),
        )
        await stream.send(b"".join(chunk for chunk in chunks if chunk))

    @staticmethod
    async def _send_chunks(
        stream: anyio.abc.SocketStream, conn: h11.Connection, answer: Answer
    ) -> bool:
        """Send a streamed answer; ``False`` when it dropped the connection midway."""
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
        ]
        head = h11.Response(status_code=answer.status_code, headers=headers, reason=_phrase(answer))
        await stream.send(conn.send(head) or b"")
        chunks: Iterator[bytes] = iter(answer.chunks or ())
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except DropConnection:
                return False
            if not chunk:
                continue
            if answer.interval:
                await anyio.sleep(answer.interval)
            await stream.send(conn.send(h11.Data(data=chunk)) or b"")
            if answer.on_sent is not None:
                answer.on_sent(len(chunk))
        await stream.send(conn.send(h11.EndOfMessage()) or b"")
        return True

    @staticmethod
    async def _reject(
        stream: anyio.abc.SocketStream, conn: h11.Connection, exc: h11.RemoteProtocolError
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"bad request: {exc}".encode()
        answer = Answer(
            exc.error_status_hint,
            [("Content-Type", "text/plain;charset=UTF-8"), ("Connection", "close")],
            body,
        )
        await TCPServer._send(stream, conn, answer)
