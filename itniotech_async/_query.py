"""What a record query is: its endpoint and the encoded body of each page request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from ._models import CallRecord, GroupCallRecord, SipCallRecord

__all__ = ["GROUP", "MAX_PAGE_SIZE", "SIP", "Endpoint", "QueryBody"]

R = TypeVar("R", bound=CallRecord)

#: The largest page the service serves.
MAX_PAGE_SIZE = 100


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


class QueryBody:
    """The JSON bodies of one range's page queries, encoded once but for ``current``.

    ``body(page)`` is ``{"current": page, "size": size, "params": {...}}`` as
    bytes. ``start`` and ``end`` are sent to the second, with their offsets;
    callers round them to whole seconds first.
    """

    __slots__ = ("_tail", "size")

    def __init__(
        self, start: datetime, end: datetime, size: int, filters: Mapping[str, str]
    ) -> None:
        params = {
            "strTime": start.isoformat(timespec="seconds"),
            "endTime": end.isoformat(timespec="seconds"),
            **filters,
        }
        encoded = json.dumps(params, separators=(",", ":"))
        self.size = size
        self._tail = f',"size":{size},"params":{encoded}}}'.encode()

    def __call__(self, page: int) -> bytes:
        return b'{"current":%d' % page + self._tail
