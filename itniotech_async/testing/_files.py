"""The fake's recordings: ``GET /voice/getRecordingFileUrl`` and the file host it points at.

The resolver is an API route (signed like the others); it answers any
non-empty file id with a URL on the fake's own file path, ``/files/<token>``,
with an ``expires`` and a ``sig`` in the query, as a presigned URL would. The
file host behaves like a CDN serving such URLs:

- a request that carries ``Api-Key``, ``Sign`` or ``Timestamp`` is refused
  with HTTP 403 and counted in :attr:`FakeFileHost.credential_refusals`;
- an expired URL (by the server's clock, ``clock_skew`` included) is refused
  with HTTP 403 and an "expired" message, as S3 does; :meth:`expire_early`
  makes the next downloads find their URL expired before its time;
- ``Range: bytes=N-`` (and ``N-M``) is answered with 206 and
  ``Content-Range``, a range past the end with 416, unless
  :attr:`accept_ranges` is false, when the whole file comes back with 200;
- :meth:`drop_after` cuts the next downloads' connections after some bytes.

The audio bytes are deterministic per source and file id (:meth:`content`),
generated lazily while sent, so a 20 MB file is never held whole.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import parse_qs, urlencode

import attrs

from ._http import Answer, DropConnection, FakeRequest

__all__ = ["FILES_PREFIX", "RESOLVE_PATH", "FakeFileHost"]

RESOLVE_PATH = "/voice/getRecordingFileUrl"
FILES_PREFIX = "/files/"
_JSON_TYPE = "application/json;charset=UTF-8"
_CREDENTIALS = ("api-key", "sign", "timestamp")
_BLOCK = 65_536
_XOR = [bytes(i ^ k for i in range(256)) for k in range(256)]
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_AUDIO_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav"}
_BLOCK_CACHE = 64


class _Clock(Protocol):
    clock_skew: float


@attrs.define
class _Link:
    source: str
    file_id: str
    expires_ms: int
    sig: str
    expired_early: bool = False


def _block(source: str, file_id: str) -> bytes:
    seed = f"{source}:{file_id}".encode("utf-8", "surrogatepass")
    return hashlib.shake_256(seed).digest(_BLOCK)


def _chunks(block: bytes, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of a file: its 64 KiB block, XORed with the block's index."""
    position = start
    while position < end:
        index, within = divmod(position, _BLOCK)
        piece = block.translate(_XOR[index & 0xFF])[within : within + end - position]
        yield piece
        position += len(piece)


def _dropping(chunks: Iterator[bytes], after: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) > after:
            if after > sent:
                yield chunk[: after - sent]
            raise DropConnection
        sent += len(chunk)
        yield chunk
    raise DropConnection


class FakeFileHost:
    """The recordings side of :class:`~itniotech_async.testing.FakeItnio`, as ``fake.files``.

    ``file_size`` is the size of every file in bytes. ``url_lifetime`` is how
    long a resolved URL lives, in seconds (negative: already expired).
    ``base_url`` is where URLs point (default: ``http://`` and the Host the
    request was sent to, which reaches the same fake in process and over
    loopback). File ids in :attr:`missing` resolve to ``data: null``.
    """

    def __init__(self, fake: _Clock) -> None:
        self._fake = fake
        self.file_size = 48_000
        self.url_lifetime = 300.0
        self.accept_ranges = True
        self.base_url: str | None = None
        self.missing: set[str] = set()
        self.credential_refusals = 0
        self.resolutions = 0
        self.downloads = 0
        self._links: dict[str, _Link] = {}
        self._expire_next = 0
        self._drops: list[int] = []
        self._blocks: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    # -- knobs -----------------------------------------------------------------

    def expire_early(self, count: int = 1) -> None:
        """Make the next ``count`` downloads find their URL expired, whatever its expireTime."""
        self._expire_next += count

    def drop_after(self, nbytes: int, count: int = 1) -> None:
        """Cut the next ``count`` downloads' connections after ``nbytes`` bytes of body."""
        self._drops.extend([nbytes] * count)

    def content(self, file_id: str, source: str = "sip") -> bytes:
        """The whole file the host serves for ``file_id`` of ``source``."""
        return b"".join(_chunks(self._block(source, file_id), 0, self.file_size))

    # -- serving -----------------------------------------------------------------

    def serves(self, path: str) -> bool:
        return path == RESOLVE_PATH or path.startswith(FILES_PREFIX)

    async def answer(
        self, request: FakeRequest, authenticate: Callable[[dict[str, str]], str]
    ) -> Answer:
        if request.path == RESOLVE_PATH:
            return self._resolve(request, authenticate)
        return self._serve(request)

    def _now_ms(self) -> int:
        return int((time.time() + self._fake.clock_skew) * 1000)

    def _headers(self, content_type: str) -> list[tuple[str, str]]:
        date = email.utils.formatdate(time.time() + self._fake.clock_skew, usegmt=True)
        return [("Content-Type", content_type), ("Date", date)]

    def _envelope(self, status: str, reason: str, data: object = None) -> Answer:
        body = json.dumps({"status": status, "reason": reason, "data": data}).encode()
        return Answer(200, self._headers(_JSON_TYPE), body)

    def _resolve(
        self, request: FakeRequest, authenticate: Callable[[dict[str, str]], str]
    ) -> Answer:
        if request.method != "GET":
            request.answered = "http_405"
            return Answer(405, [*self._headers("text/plain"), ("Allow", "GET")], b"")
        status = authenticate(request.headers)
        if status != "0":
            request.answered = status
            reason = "authentication error" if status == "-1" else "timestamp expired"
            return self._envelope(status, reason)
        params = parse_qs(request.query, keep_blank_values=True)
        file_id = (params.get("recordingFileId") or [""])[0]
        source = (params.get("sourceType") or ["group"])[0] or "group"
        if not file_id or source not in ("sip", "group"):
            request.answered = "-22"
            return self._envelope("-22", "parameter exception")
        request.answered = "0"
        self.resolutions += 1
        if file_id in self.missing:
            return self._envelope("0", "success", None)
        token = secrets.token_urlsafe(12)
        expires_ms = self._now_ms() + int(self.url_lifetime * 1000)
        sig = secrets.token_hex(8)
        self._links[token] = _Link(source, file_id, expires_ms, sig)
        base = self.base_url or f"http://{request.header('host') or 'files.invalid'}"
        query = urlencode({"expires": expires_ms, "sig": sig})
        url = f"{base.rstrip('/')}{FILES_PREFIX}{token}?{query}"
        return self._envelope("0", "success", {"url": url, "expireTime": expires_ms})

    def _refuse(self, request: FakeRequest, status: int, answered: str, text: str) -> Answer:
        request.answered = answered
        body = f"<Error><Code>AccessDenied</Code><Message>{text}</Message></Error>".encode()
        return Answer(status, self._headers("application/xml"), body)

    def _serve(self, request: FakeRequest) -> Answer:
        if request.method not in ("GET", "HEAD"):
            request.answered = "http_405"
            return Answer(405, [*self._headers("text/plain"), ("Allow", "GET")], b"")
        if any(name in request.headers for name in _CREDENTIALS):
            self.credential_refusals += 1
            return self._refuse(
                request, 403, "credentials_refused", "This host takes no API credentials"
            )
        link = self._links.get(request.path[len(FILES_PREFIX) :])
        sig = (parse_qs(request.query).get("sig") or [""])[0]
        if link is None or not secrets.compare_digest(sig, link.sig):
            return self._refuse(request, 403, "bad_url", "Invalid signature")
        if self._expire_next > 0:
            self._expire_next -= 1
            link.expired_early = True
        if link.expired_early or self._now_ms() >= link.expires_ms:
            return self._refuse(request, 403, "expired", "Request has expired")

        self.downloads += 1
        size = self.file_size
        start, end, status = 0, size, 200
        extension = link.file_id.rpartition(".")[2].lower()
        headers = self._headers(_AUDIO_TYPES.get(extension, "application/octet-stream"))
        if self.accept_ranges:
            headers.append(("Accept-Ranges", "bytes"))
            match = _RANGE.fullmatch((request.header("range") or "").strip())
            if match is not None:
                first = int(match.group(1))
                last = int(match.group(2)) if match.group(2) else size - 1
                if first >= size or last < first:
                    request.answered = "file_416"
                    headers.append(("Content-Range", f"bytes */{size}"))
                    return Answer(416, headers, b"")
                start, end, status = first, min(last + 1, size), 206
                headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        headers.append(("Content-Length", str(end - start)))
        chunks = _chunks(self._block(link.source, link.file_id), start, end)
        if self._drops:
            request.answered = "dropped"
            chunks = _dropping(chunks, self._drops.pop(0))
        else:
            request.answered = f"file_{status}"
        return Answer(status, headers, chunks=chunks)

    def _block(self, source: str, file_id: str) -> bytes:
        key = (source, file_id)
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = _block(source, file_id)
            if len(self._blocks) > _BLOCK_CACHE:
                self._blocks.popitem(last=False)
        return block
