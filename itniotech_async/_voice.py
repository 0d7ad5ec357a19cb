"""The voice resource: the four record endpoints and their argument checks.

Every argument is checked before anything is sent; a bad one raises
:class:`~itniotech_async.InvalidArgumentError` (a ``ValueError``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from ._converter import structure_page, structure_record
from ._errors import InvalidArgumentError, ItnioError, ResponseValidationError
from ._models import CallRecord, GroupCallRecord, Page, SipCallRecord

if TYPE_CHECKING:
    from ._client import ItnioClient
    from ._pagination import RecordStream

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_WINDOW",
    "Endpoint",
    "QueryBody",
    "VoiceResource",
    "has_whole_second",
    "utc",
]

R = TypeVar("R", bound=CallRecord)
T = TypeVar("T")

#: The longest window one query may span.
MAX_WINDOW = timedelta(days=31)
#: The largest page the service serves.
MAX_PAGE_SIZE = 100

# Characters that would change the request path if put in it raw or decoded.
_PATH_BREAKERS = frozenset("/\\?#%")


@attrs.frozen
class Endpoint(Generic[R]):
    """One kind of record: where to fetch one, where to query pages, what type."""

    name: str
    record_path: str
    query_path: str
    record_type: type[R]


GROUP: Endpoint[GroupCallRecord] = Endpoint(
    "group", "/voice/recordGroup/", "/voice/recordGroupQuery", GroupCallRecord
)
SIP: Endpoint[SipCallRecord] = Endpoint(
    "sip", "/voice/recordSip/", "/voice/recordSipQuery", SipCallRecord
)


# The longest voice id (percent-encoded) put in a request path: far above
# real ids, far below what servers accept in a request line (often 8 KiB).
_MAX_VOICE_ID_LENGTH = 1024


def check_voice_id(voice_id: object) -> str:
    """Return ``voice_id`` quoted for the path, or raise if it is unusable."""
    if not isinstance(voice_id, str):
        raise InvalidArgumentError(f"voice_id must be a str, got {type(voice_id).__name__}")
    if not voice_id:
        raise InvalidArgumentError("voice_id must not be empty")
    if voice_id in (".", "..") or any(
        c in _PATH_BREAKERS or c.isspace() or not c.isprintable() for c in voice_id
    ):
        raise InvalidArgumentError(
            f"voice_id {voice_id!r} contains characters that would change the request path"
        )
    quoted = quote(voice_id, safe="")
    if len(quoted) > _MAX_VOICE_ID_LENGTH:
        raise InvalidArgumentError(
            f"voice_id is too long for a URL: {len(quoted)} characters once percent-encoded, "
            f"over {_MAX_VOICE_ID_LENGTH} (real ids are about 19 digits)"
        )
    return quoted


def check_time(name: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise."""
    if not isinstance(value, datetime):
        raise InvalidArgumentError(
            f"{name} must be a timezone-aware datetime, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            f"{name} must be timezone-aware (a naive datetime's zone is ambiguous): {value!r}"
        )
    return value


def utc(value: datetime) -> datetime:
    """The same instant in UTC.

    Arithmetic and comparisons between two datetimes that share a tzinfo
    (a ``ZoneInfo`` zone, say) use wall-clock time in Python, which is wrong
    across a DST change: the SDK always measures instants in UTC.
    """
    return value.astimezone(timezone.utc)


def check_range(start: object, end: object) -> tuple[datetime, datetime]:
    """Check that ``start`` and ``end`` are aware datetimes with ``start <= end``."""
    start, end = check_time("start", start), check_time("end", end)
    if utc(end) < utc(start):
        raise InvalidArgumentError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    return start, end


def check_int(name: str, value: object, low: int, high: float = math.inf) -> int:
    """Return ``value`` if it is an ``int`` in ``[low, high]``, else raise."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        bounds = f"in {low}..{int(high)}" if high != math.inf else f">= {low}"
        raise InvalidArgumentError(f"{name} must be an integer {bounds}, got {value!r}")
    return value


def check_filter(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


def _whole_second(value: datetime, *, ceil: bool) -> datetime:
    if value.microsecond:
        value = value.replace(microsecond=0)
        if ceil:
            value += timedelta(seconds=1)
    return value


def has_whole_second(start: datetime, end: datetime) -> bool:
    """Whether ``[start, end]`` holds a whole second, the stamp of any record.

    The service stamps records in whole seconds, so ``start`` is sent rounded
    up and ``end`` rounded down; a range inside one second can match nothing
    and is not sent at all (the service would reject its reversed bounds).
    """
    return utc(_whole_second(start, ceil=True)) <= utc(_whole_second(end, ceil=False))


class QueryBody:
    """The JSON bodies of one window's page queries, encoded once but for ``current``.

    ``body(page)`` is ``{"current": page, "size": size, "params": {...}}`` as
    bytes; a stream asks for one per page, so the times and filters are
    formatted and encoded only when the window is planned.
    """

    __slots__ = ("_tail",)

    def __init__(
        self, start: datetime, end: datetime, size: int, filters: Mapping[str, str]
    ) -> None:
        params = {
            "strTime": _whole_second(start, ceil=True).isoformat(timespec="seconds"),
            "endTime": _whole_second(end, ceil=False).isoformat(timespec="seconds"),
            **filters,
        }
        encoded = json.dumps(params, separators=(",", ":"))
        self._tail = f',"size":{size},"params":{encoded}}}'.encode()

    def __call__(self, page: int) -> bytes:
        return b'{"current":%d' % page + self._tail


def sip_filters(sip_group_name: object, phone_name: object) -> dict[str, str]:
    return {
        "sipGroupName": check_filter("sip_group_name", sip_group_name),
        "phoneName": check_filter("phone_name", phone_name),
    }


class VoiceResource:
    """The voice record endpoints, reached as ``client.voice``."""

    def __init__(self, client: ItnioClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<VoiceResource of {self._client!r}>"

    async def record_group(self, voice_id: str) -> GroupCallRecord | None:
        """Fetch one voice-message record; ``None`` when there is none with that id."""
        return await self._record(GROUP, voice_id)

    async def record_sip(self, voice_id: str) -> SipCallRecord | None:
        """Fetch one phone (SIP) call record; ``None`` when there is none with that id.

        The service keeps phone records for about two months.
        """
        return await self._record(SIP, voice_id)

    async def record_group_query(
        self, start: datetime, end: datetime, *, page: int = 1, size: int = MAX_PAGE_SIZE
    ) -> Page[GroupCallRecord]:
        """Fetch one page of voice-message records in ``[start, end]`` (at most 31 days)."""
        return await self._query_one(GROUP, start, end, page, size, {})

    async def record_sip_query(
        self,
        start: datetime,
        end: datetime,
        *,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
    ) -> Page[SipCallRecord]:
        """Fetch one page of phone call records in ``[start, end]`` (at most 31 days).

        ``sip_group_name`` and ``phone_name`` are exact-match filters.
        """
        filters = sip_filters(sip_group_name, phone_name)
        return await self._query_one(SIP, start, end, page, size, filters)

    def iter_sip_records(
        self,
        start: datetime,
        end: datetime,
        *,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        concurrency: int | None = None,
        limit: int | None = None,
        ordered: bool = True,
    ) -> RecordStream[SipCallRecord]:
        """Stream every phone call record in ``[start, end]``, each exactly once.

        Any range length works: it is split into windows of at most 31 days,
        whose pages are fetched up to ``concurrency`` at a time (default: the
        client's ``max_concurrency``). ``limit`` caps the records yielded and
        the pages requested. With ``ordered=False`` pages are yielded as they
        arrive rather than in the server's page order. See
        :class:`~itniotech_async.RecordStream` for the two ways to iterate.
        """
        filters = sip_filters(sip_group_name, phone_name)
        return self._stream(SIP, start, end, filters, page_size, concurrency, limit, ordered)

    def iter_group_records(
        self,
        start: datetime,
        end: datetime,
        *,
        page_size: int = MAX_PAGE_SIZE,
        concurrency: int | None = None,
        limit: int | None = None,
        ordered: bool = True,
    ) -> RecordStream[GroupCallRecord]:
        """Stream every voice-message record in ``[start, end]``, each exactly once.

        The arguments work as in :meth:`iter_sip_records`.
        """
        return self._stream(GROUP, start, end, {}, page_size, concurrency, limit, ordered)

    def _stream(
        self,
        endpoint: Endpoint[R],
        start: datetime,
        end: datetime,
        filters: Mapping[str, str],
        page_size: int,
        concurrency: int | None,
        limit: int | None,
        ordered: bool,
    ) -> RecordStream[R]:
        from ._pagination import RecordStream, StreamQuery

        start, end = check_range(start, end)
        check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
        if concurrency is None:
            concurrency = self._client.max_concurrency
        check_int("concurrency", concurrency, 1)
        if limit is not None:
            check_int("limit", limit, 1)
        if not isinstance(ordered, bool):
            raise InvalidArgumentError(f"ordered must be a bool, got {ordered!r}")
        query = StreamQuery(endpoint, start, end, filters, page_size, concurrency, limit, ordered)
        return RecordStream(self._client, query)

    async def _record(self, endpoint: Endpoint[R], voice_id: str) -> R | None:
        path = endpoint.record_path + check_voice_id(voice_id)
        data = await self._client._request("GET", path)
        if data is None:
            return None
        return _structure(structure_record, data, endpoint.record_type, "GET", path)

    async def _query_one(
        self,
        endpoint: Endpoint[R],
        start: datetime,
        end: datetime,
        page: int,
        size: int,
        filters: Mapping[str, str],
    ) -> Page[R]:
        start, end = check_range(start, end)
        if utc(end) - utc(start) > MAX_WINDOW:
            raise InvalidArgumentError(
                f"a one-page query spans at most 31 days, got {end - start}; "
                "use iter_*_records for longer ranges"
            )
        check_int("page", page, 1)
        check_int("size", size, 1, MAX_PAGE_SIZE)
        if not has_whole_second(start, end):
            return Page(records=(), total=0, pages=0, current=page, size=size)
        body = QueryBody(start, end, size, filters)(page)
        data = await self.fetch_page_data(endpoint, body)
        return self.parse_page(endpoint, data, page, size)

    async def fetch_page_data(self, endpoint: Endpoint[R], body: bytes) -> Any:
        """The ``data`` of one page's answer to ``body`` (a :class:`QueryBody`), not yet structured.

        Streams fetch and structure separately, so that the next request goes
        out before the CPU work of structuring this page.
        """
        return await self._client._request("POST", endpoint.query_path, body)

    def parse_page(self, endpoint: Endpoint[R], data: Any, page: int, size: int) -> Page[R]:
        """Structure the ``data`` of a page answer into a :class:`Page`."""
        if data is None:
            return Page(records=(), total=0, pages=0, current=page, size=size)
        return _structure(structure_page, data, endpoint.record_type, "POST", endpoint.query_path)


def _structure(
    func: Callable[[Any, type[R]], T], data: Any, cls: type[R], method: str, path: str
) -> T:
    try:
        return func(data, cls)
    except ItnioError:
        raise
    except Exception as exc:
        raise ResponseValidationError(
            f"{method} {path}: the answer does not fit {cls.__name__}: {exc}"
        ) from exc
