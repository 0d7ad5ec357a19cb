"""Call recordings: resolve a file id to a short-lived URL and download it safely.

How a download works: docs/design.md, "Recordings".
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sized
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import urlencode

import anyio
import attrs
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._background import Background, BackgroundReader
from ._checks import check_directory, check_int, check_max_bytes
from ._errors import (
    HttpStatusError,
    InvalidArgumentError,
    ItnioError,
    RecordingError,
    RecordingNotFoundError,
    RecordingTooLargeError,
    RecordingUrlExpiredError,
    ResponseValidationError,
    TransportError,
)
from ._http import Once
from ._iterator import OpenOnce
from ._models import CallRecord, GroupCallRecord, SipCallRecord
from ._requester import Requester
from ._transport import ssl_context

__all__ = [
    "DownloadStatus",
    "RecordingDownload",
    "RecordingDownloads",
    "RecordingSource",
    "RecordingUrl",
    "Recordings",
    "recording_filename",
]

logger = logging.getLogger("itniotech_async")

RecordingSource = Literal["sip", "group"]
#: What happened to one record of a bulk download.
DownloadStatus = Literal["downloaded", "skipped", "no_file_id", "failed"]
RecordingItem = CallRecord | str

_SOURCES = ("sip", "group")
_RESOLVE_PATH = "/voice/getRecordingFileUrl"
# A URL due to expire this soon is resolved again before it is used.
_EXPIRY_MARGIN = 2.0
# Answers a file host gives a URL it will not serve (expired or revoked).
_REFUSED = frozenset({401, 403, 404, 410})
_REFUSAL_PEEK = 16_384
_WHOLE_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
# Plain headers only: the file host gets nothing of the API's (docs/design.md).
_FILE_HEADERS = {
    "User-Agent": "itniotech-async",
    "Accept": "*/*",
    # Byte offsets for Range must be those of the file itself.
    "Accept-Encoding": "identity",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
_MAX_NAME = 120
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
)
# Append (a resumed file grows at its end); never follow a planted symlink.
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND
_OPEN_FLAGS |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def recording_filename(file_id: str) -> str:
    """The file name a recording with this file id is saved under.

    A file id made of letters, digits, ``.``, ``_`` and ``-`` (and not
    starting with ``.`` or ``-``) is used as it is. Any other id has its odd
    characters replaced by ``_``, is shortened if long, and gets a short hash
    of the original id before its extension, so two ids never share a name.
    The result never holds a path separator, never is ``.`` or ``..``, and
    never starts with a dot (temporary files do).

    >>> recording_filename("rec1.wav")
    'rec1.wav'
    >>> recording_filename("../../etc/passwd")[:16]
    '_.._etc_passwd-b'
    """
    if not isinstance(file_id, str) or not file_id:
        raise InvalidArgumentError(f"a file id must be a non-empty str, got {file_id!r}")
    cleaned = _UNSAFE.sub("_", file_id).lstrip(".-")
    stem_upper = cleaned.partition(".")[0].upper()
    if cleaned == file_id and len(cleaned) <= _MAX_NAME and stem_upper not in _RESERVED:
        return cleaned
    digest = hashlib.sha256(file_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    match = _EXTENSION.search(cleaned)
    extension = match.group(0) if match else ""
    stem = cleaned[: len(cleaned) - len(extension)].rstrip(".")[:80] or "recording"
    return f"{stem}-{digest}{extension}"


def _display(url: httpx.URL) -> str:
    """The URL without its query, user info or fragment: what logs and errors may show."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _redacted_url(url: str) -> str:
    try:
        return repr(_display(httpx.URL(url)) + ("?..." if "?" in url else ""))
    except Exception:  # pragma: no cover - urls are checked when made
        return "'<url>'"


@attrs.frozen
class RecordingUrl:
    """Where a recording can be downloaded, and until when.

    ``expires_at`` is an aware UTC datetime made from the service's
    millisecond ``expireTime``, or ``None`` when the service gave none. The
    repr hides the URL's query, which may hold an access token.
    """

    url: str = attrs.field(repr=_redacted_url)
    expires_at: datetime | None

    def expired(self, now: datetime, margin: float = 0.0) -> bool:
        """Whether the URL has expired at ``now`` (or will within ``margin`` seconds)."""
        if self.expires_at is None:
            return False
        return (self.expires_at - now).total_seconds() <= margin


@attrs.frozen
class RecordingDownload:
    """What happened to one record (or file id) of a bulk download.

    ``status`` is ``"downloaded"`` (``size`` bytes written to ``path``),
    ``"skipped"`` (``path`` was already there, or another record of the same
    batch with the same file id fetched it), ``"no_file_id"`` (the record has
    no recording) or ``"failed"`` (``error`` says why; ``path`` is where the
    file would have gone, if the file id was usable).
    """

    item: RecordingItem
    status: DownloadStatus
    file_id: str | None = None
    source: RecordingSource | None = None
    path: Path | None = None
    size: int | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the recording is on disk (downloaded now or before)."""
        return self.status in ("downloaded", "skipped")


def check_source(source: object, *, optional: bool) -> RecordingSource | None:
    if source is None and optional:
        return None
    if source not in _SOURCES:
        raise InvalidArgumentError(f"source must be 'sip' or 'group', got {source!r}")
    return source  # type: ignore[return-value]


def target_of(item: object, source: RecordingSource | None) -> tuple[str | None, RecordingSource]:
    """The file id and source of a record or bare file id; raise if unusable."""
    if isinstance(item, SipCallRecord):
        kind: RecordingSource = "sip"
        file_id = item.recording_file_id
    elif isinstance(item, GroupCallRecord):
        kind = "group"
        file_id = item.voice_file_id
    elif isinstance(item, str):
        if source is None:
            raise InvalidArgumentError(
                "a bare file id needs source='sip' (a recordingFileId) "
                "or source='group' (a voiceFileId)"
            )
        return (item or None), source
    else:
        raise InvalidArgumentError(
            "expected a SipCallRecord, a GroupCallRecord or a file id (str), "
            f"got {type(item).__name__}"
        )
    if source is not None and source != kind:
        raise InvalidArgumentError(
            f"source={source!r} does not match a {type(item).__name__} (its source is {kind!r})"
        )
    return (file_id or None), kind


def _parse_link(data: Any, file_id: str) -> RecordingUrl | None:
    if data is None:
        return None
    where = f"GET {_RESOLVE_PATH}"
    if not isinstance(data, dict):
        raise ResponseValidationError(f"{where}: data is not an object")
    url = data.get("url")
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise ResponseValidationError(f"{where}: url is not a string")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ResponseValidationError(f"{where}: the url for {file_id!r} is not a URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ResponseValidationError(
            f"{where}: the url for {file_id!r} is not an http(s) URL ({parsed.scheme!r})"
        )
    return RecordingUrl(url, _expiry(data.get("expireTime"), where))


def _expiry(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    millis: int
    if isinstance(value, bool):
        raise ResponseValidationError(f"{where}: expireTime is not a number")
    if isinstance(value, int):
        millis = value
    elif isinstance(value, float) and value.is_integer():
        millis = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        millis = int(value.strip())
    else:
        raise ResponseValidationError(f"{where}: expireTime is not a number of milliseconds")
    try:
        return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise ResponseValidationError(f"{where}: expireTime {millis} is out of range") from exc


# -- one download ------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, status_code: int, says_expired: bool) -> None:
        self.status_code = status_code
        self.says_expired = says_expired


class _Retryable(Exception):
    def __init__(self, error: ItnioError) -> None:
        self.error = error


class _Whole(Exception):
    """The partial file already holds the whole file (a 416 naming its very size)."""


class _Restart(Exception):
    """The partial file cannot be continued: it was emptied; fetch it from the start."""


@attrs.define
class _Job:
    item: RecordingItem
    file_id: str
    source: RecordingSource
    path: Path


class Recordings:
    """Resolve and download recordings for one client (``client.voice`` delegates here)."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    # -- resolution ----------------------------------------------------------

    async def recording_url(self, file_id: str, source: RecordingSource) -> RecordingUrl | None:
        """Resolve a file id to a download URL; ``None`` when the service has none."""
        if not isinstance(file_id, str) or not file_id:
            raise InvalidArgumentError(f"file_id must be a non-empty str, got {file_id!r}")
        kind = check_source(source, optional=False)
        assert kind is not None
        query = urlencode({"recordingFileId": file_id, "sourceType": kind})
        data = await self._requester.request("GET", f"{_RESOLVE_PATH}?{query}")
        return _parse_link(data, file_id)

    def _now(self) -> datetime:
        """The server's clock as this client knows it (expiry is the server's)."""
        return datetime.fromtimestamp(
            time.time() + self._requester.auth.clock.offset, tz=timezone.utc
        )

    # -- the HTTP client for file hosts ----------------------------------------

    @contextlib.asynccontextmanager
    async def file_http(self) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client for file hosts: the one passed to the client, else a plain one.

        The plain one streams bodies (the API's transport reads them whole) and
        verifies TLS; it has no auth, headers or cookies of the API's.
        """
        given = self._requester.given_http_client
        if given is not None:
            yield given
            return
        limit = self._requester.max_concurrency
        transport = httpx.AsyncHTTPTransport(
            verify=ssl_context(),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        async with httpx.AsyncClient(
            transport=transport, timeout=self._requester.http.timeout
        ) as http:
            yield http

    # -- downloading -----------------------------------------------------------

    async def download_recording(
        self,
        item: RecordingItem,
        directory: str | os.PathLike[str],
        *,
        source: RecordingSource | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Download one recording into ``directory``; return its path (docs/design.md)."""
        kind = check_source(source, optional=True)
        limit = check_max_bytes(max_bytes)
        folder = check_directory(directory)
        file_id, kind = target_of(item, kind)
        if file_id is None:
            raise InvalidArgumentError(f"this {type(item).__name__} has no recording file id")
        path = folder / recording_filename(file_id)
        if self._requester.closed:
            raise ItnioError("this client is closed")
        if _complete(path):
            return path
        await anyio.to_thread.run_sync(partial(folder.mkdir, parents=True, exist_ok=True))
        async with self.file_http() as http:
            await self.fetch(http, _Job(item, file_id, kind, path), limit)
        return path

    def download_recordings(
        self,
        items: Iterable[RecordingItem] | AsyncIterable[RecordingItem],
        directory: str | os.PathLike[str],
        *,
        source: RecordingSource | None = None,
        concurrency: int = 8,
        max_bytes: int | None = None,
    ) -> RecordingDownloads:
        """Download many recordings concurrently, one outcome per item (see RecordingDownloads)."""
        kind = check_source(source, optional=True)
        limit = check_max_bytes(max_bytes)
        folder = check_directory(directory)
        check_int("concurrency", concurrency, 1)
        if not isinstance(items, (Iterable, AsyncIterable)) or isinstance(items, (str, bytes)):
            raise InvalidArgumentError(
                "items must be an iterable or async iterable of records or file ids"
            )
        return RecordingDownloads(self, items, folder, kind, concurrency, limit)

    async def fetch(self, http: httpx.AsyncClient, job: _Job, max_bytes: int | None) -> int:
        """Download ``job`` to its path unless it is there; return the bytes written."""
        link = await self.recording_url(job.file_id, job.source)
        if link is None:
            raise RecordingNotFoundError(
                f"the service has no recording for {job.source} file id {job.file_id!r}"
            )
        part = job.path.with_name(f".{job.path.name}.part")
        try:
            return await self._fetch(http, job, link, part, max_bytes)
        except BaseException:
            # A partial file is kept to be continued; an empty one is litter.
            with contextlib.suppress(OSError):
                if os.lstat(part).st_size == 0:
                    os.unlink(part)
            raise

    async def _fetch(
        self,
        http: httpx.AsyncClient,
        job: _Job,
        link: RecordingUrl,
        part: Path,
        max_bytes: int | None,
    ) -> int:
        renewed = False
        attempt = 0
        while True:
            if not renewed and link.expired(self._now(), _EXPIRY_MARGIN):
                link = await self._renew(job)
                renewed = True
            try:
                size = await self._transfer(http, link, part, job, max_bytes)
            except _Refused as refused:
                if renewed:
                    where = _display(httpx.URL(link.url))
                    message = (
                        f"{job.source} recording {job.file_id!r}: {where} refused the download "
                        f"(HTTP {refused.status_code}) even with a freshly resolved URL"
                    )
                    if refused.says_expired or link.expired(self._now()):
                        raise RecordingUrlExpiredError(message, refused.status_code) from None
                    raise RecordingError(message, refused.status_code) from None
                logger.info(
                    "%s recording %r: file host refused (HTTP %d); resolving the URL again",
                    job.source,
                    job.file_id,
                    refused.status_code,
                )
                link = await self._renew(job)
                renewed = True
                continue
            except _Retryable as retry:
                if attempt >= self._requester.max_retries:
                    raise retry.error from retry.error.__cause__
                delay = self._requester.retry_delay(attempt)
                attempt += 1
                logger.info(
                    "%s recording %r: %s; retry %d/%d in %.2f s",
                    job.source,
                    job.file_id,
                    retry.error,
                    attempt,
                    self._requester.max_retries,
                    delay,
                )
                await anyio.sleep(delay)
                continue
            except _Restart:
                attempt += 1
                if attempt > self._requester.max_retries + 1:
                    raise RecordingError(
                        f"{job.source} recording {job.file_id!r}: the file host's ranges "
                        "never matched the partial file"
                    ) from None
                continue
            await anyio.to_thread.run_sync(_commit, part, job.path)
            return size

    async def _renew(self, job: _Job) -> RecordingUrl:
        link = await self.recording_url(job.file_id, job.source)
        if link is None:
            raise RecordingNotFoundError(
                f"the service no longer has a recording for {job.source} file id {job.file_id!r}"
            )
        return link

    async def _transfer(
        self,
        http: httpx.AsyncClient,
        link: RecordingUrl,
        part: Path,
        job: _Job,
        max_bytes: int | None,
    ) -> int:
        """One GET of the file into ``part``, continuing what is there; return its size."""
        url = httpx.URL(link.url)
        where = _display(url)
        with _open_part(part) as out:
            offset = os.fstat(out.fileno()).st_size
            headers = dict(_FILE_HEADERS)
            if offset:
                headers["Range"] = f"bytes={offset}-"
            # Built here, not by the client: no default headers, cookies or auth of its.
            request = httpx.Request("GET", url, headers=headers)
            async with self._requester.limiter.capacity():
                with _file_host_errors(f"GET {where}", " failed: {}", " failed: {}"):
                    response = await http.send(
                        request, stream=True, auth=None, follow_redirects=True
                    )
                try:
                    logger.debug(
                        "GET %s -> HTTP %d (from byte %d)", where, response.status_code, offset
                    )
                    try:
                        total = await self._start_body(response, out, offset, job, where, max_bytes)
                    except _Whole:
                        await anyio.to_thread.run_sync(os.fsync, out.fileno())
                        return offset
                    written = out.tell()
                    chunks = _raw(response)
                    try:
                        with _file_host_errors(
                            f"GET {where}", ": the download broke off ({})", ": {}"
                        ):
                            async for chunk in chunks:
                                written += len(chunk)
                                if max_bytes is not None and written > max_bytes:
                                    _empty(out)
                                    raise RecordingTooLargeError(
                                        f"{job.source} recording {job.file_id!r} is larger "
                                        f"than max_bytes={max_bytes}"
                                    )
                                out.write(chunk)
                    finally:
                        await _close(chunks)
                finally:
                    await response.aclose()
            out.flush()
            if total is not None and written != total:
                raise _Retryable(
                    TransportError(f"GET {where}: got {written} of {total} bytes")
                ) from None
            await anyio.to_thread.run_sync(os.fsync, out.fileno())
            return written

    async def _start_body(
        self,
        response: httpx.Response,
        out: BinaryIO,
        offset: int,
        job: _Job,
        where: str,
        max_bytes: int | None,
    ) -> int | None:
        """Check the answer's status and range; return the file's total size if known."""
        status = response.status_code
        if status in _REFUSED:
            raise _Refused(status, await _says_expired(response))
        if status == 429 or status >= 500:
            raise _Retryable(HttpStatusError(status, f"GET {where}: HTTP {status}"))
        if status == 416 and offset:
            match = _WHOLE_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is not None and int(match.group(1)) == offset:
                raise _Whole  # an earlier run stopped between the last byte and the rename
            logger.info("GET %s: range not satisfiable; starting the file over", where)
            _empty(out)
            raise _Restart
        if status not in (200, 206):
            raise RecordingError(f"GET {where}: HTTP {status} {response.reason_phrase}", status)
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        total: int | None = None
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != offset or encoded:
                logger.info("GET %s: the range does not continue the file; starting over", where)
                _empty(out)
                raise _Restart
            if match.group(3) != "*":
                total = int(match.group(3))
        else:
            if offset:
                logger.info("GET %s: the host ignored Range; downloading the whole file", where)
                _empty(out)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and not encoded:
                total = int(length)
        if max_bytes is not None and total is not None and total > max_bytes:
            _empty(out)
            raise RecordingTooLargeError(
                f"{job.source} recording {job.file_id!r} has {total} bytes, "
                f"over max_bytes={max_bytes}"
            )
        return total


@contextlib.contextmanager
def _file_host_errors(what: str, broken: str, other: str) -> Iterator[None]:
    """Raise a file host's httpx errors as ours: timeouts and transport failures retried.

    ``broken`` and ``other`` follow ``what`` in the message of a transport
    failure and of any other httpx error; ``{}`` in them names the error's class.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _transport_error(f"{what} timed out", exc) from None
    except httpx.TransportError as exc:
        raise _transport_error(what + broken.format(type(exc).__name__), exc) from None
    except httpx.HTTPError as exc:
        raise RecordingError(what + other.format(type(exc).__name__)) from exc


def _transport_error(message: str, exc: Exception) -> _Retryable:
    error = TransportError(message)
    error.__cause__ = exc
    return _Retryable(error)


def _raw(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as sent (no decoding), in the chunks they arrive in."""
    if response.is_stream_consumed:  # (mock transports read the body first)
        return Once(response.content)
    return response.aiter_raw()


async def _close(chunks: AsyncIterator[bytes]) -> None:
    """Close a body iterator left midway (httpx's is an async generator)."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def _says_expired(response: httpx.Response) -> bool:
    """Whether a refusal says the URL expired (410, or "expire" in a small body).

    Only a body announced as small is read, and then whole: one left midway
    would leave httpx's async generators suspended.
    """
    if response.status_code == 410:
        return True
    length = response.headers.get("Content-Length", "")
    if not length.isdigit() or int(length) > _REFUSAL_PEEK:
        return False
    try:
        body = await response.aread() if not response.is_stream_consumed else response.content
    except httpx.HTTPError:
        return False
    return b"expire" in body.lower()


def _complete(path: Path) -> bool:
    """Whether ``path`` is a file already downloaded (renamed into place complete)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise RecordingError(f"{path} exists and is not a regular file")
    return True


def _commit(part: Path, path: Path) -> None:
    """Rename the finished temporary file into place and make the rename durable."""
    os.replace(part, path)
    if sys.platform != "win32":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _open_part(part: Path) -> BinaryIO:
    """Open the temporary file for appending (opening an fd does not block)."""
    return open(os.open(part, _OPEN_FLAGS, 0o666), "ab")


def _empty(out: BinaryIO) -> None:
    """Empty the partial file and write from its start again."""
    out.truncate(0)
    out.seek(0)


# -- many downloads ------------------------------------------------------------------


class RecordingDownloads(OpenOnce["_Outcomes"]):
    """Many downloads at once: an async iterable of :class:`RecordingDownload` outcomes.

    One outcome is yielded per item, in the order they finish; a failure is an
    outcome, not an exception, and the batch goes on. Up to ``concurrency``
    files are fetched at a time, and the client's ``max_concurrency`` caps
    them together with every other request. Items may be a list or any async
    iterable of records, such as a record stream::

        async for outcome in client.voice.download_recordings(records, "recordings"):
            if not outcome.ok:
                print(outcome.file_id, outcome.error)

    As with record streams, use it directly or as ``async with ... as
    outcomes``; breaking out stops the downloads still running (their
    temporary files stay, to be continued next time). An error while reading
    ``items`` ends the iteration with that error after the outcomes so far.
    ``done``, ``downloaded``, ``skipped``, ``failed`` and ``bytes`` count
    progress; ``total`` is the number of items when ``items`` has a length.
    """

    _already_open = "these downloads are already open"

    def __init__(
        self,
        recordings: Recordings,
        items: Iterable[RecordingItem] | AsyncIterable[RecordingItem],
        directory: Path,
        source: RecordingSource | None,
        concurrency: int,
        max_bytes: int | None,
    ) -> None:
        self._recordings = recordings
        self._items = items
        self._directory = directory
        self._source = source
        self._concurrency = concurrency
        self._max_bytes = max_bytes
        self.total: int | None = len(items) if isinstance(items, Sized) else None
        self.done = 0
        self.downloaded = 0
        self.skipped = 0
        self.failed = 0
        self.bytes = 0
        self._error: BaseException | None = None
        self._finished = False
        self._started = False
        # Items waiting for another item of the batch that has the same file.
        self._waiting: dict[Path, list[RecordingItem]] = {}
        # The source of each file name seen in this batch: a sip and a group id
        # that clean to the same name must not pass for one file.
        self._sources: dict[Path, RecordingSource] = {}

    def _start(self) -> _Outcomes:
        if self._started:
            raise ItnioError("a bulk download can be iterated only once")
        requester = self._recordings._requester
        if requester.closed:
            raise ItnioError("this client is closed")
        self._started = True
        send, receive = anyio.create_memory_object_stream[RecordingDownload](self._concurrency)
        try:
            producer = requester.spawn(partial(self._produce, send))
        except BaseException:
            send.close()
            receive.close()
            raise
        return _Outcomes(self, receive, producer)

    def _count(self, outcome: RecordingDownload) -> RecordingDownload:
        self.done += 1
        if outcome.status == "downloaded":
            self.downloaded += 1
            self.bytes += outcome.size or 0
        elif outcome.status == "skipped":
            self.skipped += 1
        elif outcome.status == "failed":
            self.failed += 1
        return outcome

    async def _produce(self, send: MemoryObjectSendStream[RecordingDownload]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                stack.enter_context(send)
                http = await stack.enter_async_context(self._recordings.file_http())
                await anyio.to_thread.run_sync(
                    partial(self._directory.mkdir, parents=True, exist_ok=True)
                )
                jobs_send, jobs_receive = anyio.create_memory_object_stream[_Job](0)
                async with anyio.create_task_group() as tg:
                    for _ in range(self._concurrency):
                        tg.start_soon(self._work, http, jobs_receive.clone(), send)
                    jobs_receive.close()
                    with jobs_send:
                        try:
                            await self._feed(jobs_send, send)
                        except Exception as exc:  # reading the items failed: stop the batch
                            self._error = exc
                            tg.cancel_scope.cancel()
                            return
        except anyio.BrokenResourceError:
            pass  # the consumer has gone: stop
        except Exception as exc:  # pragma: no cover - a bug; still reach the consumer
            self._error = _single(exc)
        else:
            self._finished = self._error is None

    async def _feed(
        self,
        jobs: MemoryObjectSendStream[_Job],
        send: MemoryObjectSendStream[RecordingDownload],
    ) -> None:
        if isinstance(self._items, AsyncIterable):
            async for item in self._items:
                await self._route(item, jobs, send)
        else:
            for item in self._items:
                await self._route(item, jobs, send)

    async def _route(
        self,
        item: RecordingItem,
        jobs: MemoryObjectSendStream[_Job],
        send: MemoryObjectSendStream[RecordingDownload],
    ) -> None:
        file_id: str | None = None
        source: RecordingSource | None = None
        path: Path | None = None
        try:
            file_id, source = target_of(item, self._source)
            if file_id is None:
                await send.send(RecordingDownload(item, "no_file_id", source=source))
                return
            path = self._directory / recording_filename(file_id)
            seen = self._sources.setdefault(path, source)
            if seen != source:
                raise RecordingError(
                    f"{source} file id {file_id!r} has the same file name as a {seen} "
                    "recording of this batch; download the two sources into separate "
                    "directories"
                )
            waiting = self._waiting.get(path)
            if waiting is not None:  # the same file is on its way for another item
                waiting.append(item)
                return
            if await anyio.to_thread.run_sync(_complete, path):
                await send.send(RecordingDownload(item, "skipped", file_id, source, path))
                return
        except (ItnioError, OSError) as exc:
            await send.send(RecordingDownload(item, "failed", file_id, source, path, error=exc))
            return
        self._waiting[path] = []
        await jobs.send(_Job(item, file_id, source, path))

    async def _work(
        self,
        http: httpx.AsyncClient,
        jobs: MemoryObjectReceiveStream[_Job],
        send: MemoryObjectSendStream[RecordingDownload],
    ) -> None:
        with jobs:
            async for job in jobs:
                outcome: RecordingDownload
                try:
                    size = await self._recordings.fetch(http, job, self._max_bytes)
                except (ItnioError, OSError) as exc:
                    outcome = RecordingDownload(
                        job.item, "failed", job.file_id, job.source, job.path, error=exc
                    )
                else:
                    outcome = RecordingDownload(
                        job.item, "downloaded", job.file_id, job.source, job.path, size
                    )
                await send.send(outcome)
                for other in self._waiting.pop(job.path, []):
                    status: DownloadStatus = "skipped" if outcome.ok else "failed"
                    await send.send(attrs.evolve(outcome, item=other, status=status, size=None))


def _single(exc: Exception) -> Exception:
    """The one exception inside a task group's exception group, else ``exc`` itself."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


class _Outcomes(BackgroundReader[RecordingDownload]):
    """The consumer's side of a bulk download; not an async generator (see _pagination)."""

    _stopped_early = "the downloads stopped before their end"

    def __init__(
        self,
        downloads: RecordingDownloads,
        receive: MemoryObjectReceiveStream[RecordingDownload],
        producer: Background,
    ) -> None:
        super().__init__(receive, producer)
        self._downloads = downloads

    def __aiter__(self) -> _Outcomes:
        return self

    async def __anext__(self) -> RecordingDownload:
        return self._downloads._count(await self._next())

    def _ended(self) -> tuple[BaseException | None, bool]:
        return self._downloads._error, self._downloads._finished
