"""The voice resource: the four record endpoints, streams, and recordings (via _recordings).

Every argument is checked (with :mod:`._checks`) before anything is sent; a
bad one raises :class:`~itniotech_async.InvalidArgumentError` (a ``ValueError``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ._checks import check_filter, check_int, check_range, check_voice_id
from ._converter import structure_page, structure_record
from ._errors import InvalidArgumentError, ItnioError, ResponseValidationError
from ._models import CallRecord, GroupCallRecord, Page, SipCallRecord
from ._pagination import PageSource, RecordStream, StreamQuery
from ._query import GROUP, MAX_PAGE_SIZE, SIP, Endpoint, QueryBody
from ._recordings import (
    RecordingDownloads,
    RecordingItem,
    Recordings,
    RecordingSource,
    RecordingUrl,
)
from ._requester import Requester
from ._times import MAX_WINDOW, seconds_to_datetime, utc, whole_second_span

__all__ = ["VoiceResource"]

R = TypeVar("R", bound=CallRecord)
T = TypeVar("T")


def sip_filters(sip_group_name: object, phone_name: object) -> dict[str, str]:
    return {
        "sipGroupName": check_filter("sip_group_name", sip_group_name),
        "phoneName": check_filter("phone_name", phone_name),
    }


class VoiceResource:
    """The voice record endpoints, reached as ``client.voice``."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"<VoiceResource of {self._requester.owner!r}>"

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
        return self._stream(
            SIP,
            start,
            end,
            filters,
            page_size=page_size,
            concurrency=concurrency,
            limit=limit,
            ordered=ordered,
        )

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
        return self._stream(
            GROUP,
            start,
            end,
            {},
            page_size=page_size,
            concurrency=concurrency,
            limit=limit,
            ordered=ordered,
        )

    def _stream(
        self,
        endpoint: Endpoint[R],
        start: datetime,
        end: datetime,
        filters: Mapping[str, str],
        *,
        page_size: int,
        concurrency: int | None,
        limit: int | None,
        ordered: bool,
    ) -> RecordStream[R]:
        start, end = check_range(start, end)
        check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
        if concurrency is None:
            concurrency = self._requester.max_concurrency
        check_int("concurrency", concurrency, 1)
        if limit is not None:
            check_int("limit", limit, 1)
        if not isinstance(ordered, bool):
            raise InvalidArgumentError(f"ordered must be a bool, got {ordered!r}")
        requester = self._requester
        source = PageSource(
            fetch=partial(requester.request, "POST", endpoint.query_path),
            parse=partial(_parse_page, endpoint),
            spawn=requester.spawn,
            closed=lambda: requester.closed,
        )
        query = StreamQuery(start, end, filters, page_size, concurrency, limit, ordered)
        return RecordStream(source, query)

    async def _record(self, endpoint: Endpoint[R], voice_id: str) -> R | None:
        path = endpoint.record_path + check_voice_id(voice_id)
        data = await self._requester.request("GET", path)
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
        span = whole_second_span(start, end)
        if span is None:  # a range inside one second holds no record stamp
            return Page(records=(), total=0, pages=0, current=page, size=size)
        body = QueryBody(
            seconds_to_datetime(span[0], start.tzinfo),
            seconds_to_datetime(span[1], end.tzinfo),
            size,
            filters,
        )
        data = await self._requester.request("POST", endpoint.query_path, body(page))
        return _parse_page(endpoint, data)

    async def recording_url(self, file_id: str, *, source: RecordingSource) -> RecordingUrl | None:
        """Resolve a recording's file id to a short-lived download URL.

        ``source`` is ``"sip"`` for a phone record's ``recording_file_id`` and
        ``"group"`` for a voice-message record's ``voice_file_id``. Returns
        ``None`` when the service has no URL for it.
        """
        return await Recordings(self._requester).recording_url(file_id, source)

    async def download_recording(
        self,
        record: RecordingItem,
        directory: str | os.PathLike[str],
        *,
        source: RecordingSource | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Download one recording into ``directory`` and return its path.

        ``record`` is a :class:`SipCallRecord`, a :class:`GroupCallRecord`, or
        a bare file id with ``source`` given. The file is written atomically
        and skipped when already there; see the README's "Recordings" section.
        ``max_bytes`` refuses larger files with ``RecordingTooLargeError``.
        """
        return await Recordings(self._requester).download_recording(
            record, directory, source=source, max_bytes=max_bytes
        )

    def download_recordings(
        self,
        records: Iterable[RecordingItem] | AsyncIterable[RecordingItem],
        directory: str | os.PathLike[str],
        *,
        source: RecordingSource | None = None,
        concurrency: int = 8,
        max_bytes: int | None = None,
    ) -> RecordingDownloads:
        """Download many recordings, ``concurrency`` at a time; yields one outcome per record.

        See :class:`~itniotech_async.RecordingDownloads`. ``source`` applies to
        bare file ids among ``records``.
        """
        return Recordings(self._requester).download_recordings(
            records,
            directory,
            source=source,
            concurrency=concurrency,
            max_bytes=max_bytes,
        )


def _parse_page(endpoint: Endpoint[R], data: Any) -> Page[R]:
    """Structure the ``data`` of a page answer; a missing page is an error, not an empty one."""
    if data is None:
        raise ResponseValidationError(
            f"POST {endpoint.query_path}: the answer has no page (data is null)"
        )
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
