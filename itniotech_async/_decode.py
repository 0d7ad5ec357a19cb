"""Reading an answer's body within a size limit, and decoding its JSON exactly.

Design notes: docs/design.md, "Reading a body".
"""

from __future__ import annotations

import contextlib
import json
import operator
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ._errors import ResponseDecodeError, ResponseTooLargeError, ResponseValidationError

try:  # The "fast" extra: orjson parses the pages about twice as fast as json.
    import orjson as orjson  # (as: the benchmarks switch it off)
except ImportError:  # pragma: no cover - depends on the install
    orjson = None  # type: ignore[assignment]

__all__ = ["ACCEPT_ENCODING", "DEFAULT_MAX_RESPONSE_SIZE", "loads", "read_body"]

#: The default cap on a body, compressed and decompressed: a page of 100
#: records is about 70 KB, so this leaves room for any real answer.
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
#: The codings the client accepts, and :func:`read_body` undoes.
ACCEPT_ENCODING = "gzip, deflate"
# Once a body is given up, the chunks already buffered below are read (and
# dropped) until the closed connection ends the stream, so that every layer
# of the transport's stream finishes (trio warns about one left suspended).
_DRAIN_CHUNKS = 64
_GZIP_MAGIC = b"\x1f\x8b"


class _Inflater:
    """Undoes one content coding, never producing more than it is allowed."""

    __slots__ = ("_decompressor", "_fresh", "_gzip", "_wbits")

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        # deflate is meant to be zlib-wrapped, but some servers send it raw:
        # 32 + 15 reads a zlib or gzip header; raw is tried when neither fits.
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else 32 + zlib.MAX_WBITS
        self._decompressor = zlib.decompressobj(self._wbits)
        self._fresh = True

    def feed(self, data: bytes, room: int) -> bytes:
        """Decompress ``data``, returning at most ``room + 1`` bytes (more means too large)."""
        parts: list[bytes] = []
        while data and room >= 0:
            try:
                out = self._decompressor.decompress(data, room + 1)
            except zlib.error:
                if not (self._fresh and not self._gzip):
                    raise
                self._wbits = -zlib.MAX_WBITS
                self._decompressor = zlib.decompressobj(self._wbits)
                out = self._decompressor.decompress(data, room + 1)
            self._fresh = False
            parts.append(out)
            room -= len(out)
            data = b""
            rest = self._decompressor.unused_data
            if self._decompressor.eof and self._gzip and rest[:2] == _GZIP_MAGIC:
                # Another gzip member follows (anything else after the end is ignored).
                self._decompressor = zlib.decompressobj(self._wbits)
                data = rest
        return b"".join(parts)

    def finish(self) -> bytes:
        """The last output; raise if the compressed stream ended early."""
        tail = self._decompressor.flush()
        if not self._decompressor.eof and not self._fresh:
            raise ResponseDecodeError("the compressed body ends before its end marker")
        return tail


def _inflaters(response: httpx.Response) -> list[_Inflater]:
    """The decoders for the answer's Content-Encoding, in the order to apply them."""
    header = response.headers.get("Content-Encoding", "")
    codings = [coding.strip().lower() for coding in header.split(",") if coding.strip()]
    inflaters: list[_Inflater] = []
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseDecodeError(f"the body has a Content-Encoding not asked for: {coding!r}")
        inflaters.append(_Inflater(coding))
    return inflaters


def _too_large(limit: int, what: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        limit, f"the {what} is larger than max_response_size ({limit} bytes); not read further"
    )


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """Read a streamed response's body, decompressed, refusing more than ``limit`` bytes.

    Raises :class:`ResponseTooLargeError` as soon as the body on the wire or
    decompressed passes ``limit`` (at once when ``Content-Length`` says so),
    and :class:`ResponseDecodeError` for a coding it cannot undo. Errors of
    the transport and of zlib propagate for :func:`map_exceptions`.
    """
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"body ({declared} bytes by its Content-Length)")
    inflaters = _inflaters(response)
    parts: list[bytes] = []
    wire = size = 0
    # The raw stream itself: a response made from bytes (a mock transport's)
    # is already marked read, but its stream can be iterated again.
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("the http_client's transport gave a synchronous stream")
    iterator = stream.__aiter__()
    try:
        async for chunk in iterator:
            wire += len(chunk)
            if wire > limit:
                raise _too_large(limit, "body")
            for inflater in inflaters:
                chunk = inflater.feed(chunk, limit - size)
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, "decompressed body")
            parts.append(chunk)
        tail = b""
        for inflater in inflaters:
            tail = (inflater.feed(tail, limit - size) if tail else b"") + inflater.finish()
        size += len(tail)
        if size > limit:
            raise _too_large(limit, "decompressed body")
        if tail:
            parts.append(tail)
    except Exception:
        await _abandon(response, iterator)
        raise
    # (A body in one chunk, the usual answer, is returned as it is, not copied.)
    return b"".join(parts)


async def _abandon(response: httpx.Response, iterator: AsyncIterator[bytes]) -> None:
    """Close the response, then let its stream end on the closed connection."""
    await response.aclose()
    try:
        with contextlib.suppress(Exception):  # the end, or the closed connection's error
            for _ in range(_DRAIN_CHUNKS):
                await iterator.__anext__()
    finally:
        aclose: Callable[[], Any] | None = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


_VOICE_ID = operator.itemgetter("voiceId")


def _float_id(envelope: Any) -> bool:
    """Whether a record's voiceId in this envelope came out of the parser as a float."""
    data = envelope.get("data") if envelope.__class__ is dict else None
    if data.__class__ is not dict:
        return False
    records = data.get("records")
    if records.__class__ is not list:
        return data.get("voiceId").__class__ is float
    try:
        # Every record a dict holding a voiceId (the usual page): a pass in C.
        return float in set(map(type, map(_VOICE_ID, records)))
    except (KeyError, TypeError):
        pass
    for record in records:
        if record.__class__ is dict and record.get("voiceId").__class__ is float:
            return True
    return False


def loads(body: bytes) -> Any:
    """Parse an answer's JSON, keeping every digit of numeric voice ids.

    Parser errors (including a ``RecursionError`` from deeply nested JSON)
    propagate for :func:`map_exceptions`; a voice id that is a fraction
    raises :class:`ResponseValidationError`.
    """
    if orjson is not None:
        envelope = orjson.loads(body)
        if not _float_id(envelope):
            return envelope
    envelope = json.loads(body)
    if _float_id(envelope):
        raise ResponseValidationError("a voiceId is a number with a fraction or exponent")
    return envelope
