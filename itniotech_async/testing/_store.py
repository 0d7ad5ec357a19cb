"""The fake's records and the pages it serves from them: the store and its paging.

Each kind of record is kept sorted once, in serving order, in a
:class:`Table`; a page is answered by bisecting on the parsed
``submitTime``, and encoded pages are cached until records change. The
behaviours the vendor allows (ties reordered, count and rows read apart,
exclusive range ends, blank stamps, calls arriving mid-walk; see
``_paging.py``) live here too. Routing, authentication, validation and
faults are the server's (``_server.py``).
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from ._data import KINDS, RecordKind, generate_records, record_key, to_micros
from ._paging import blank_times, is_blank, served_rows

__all__ = ["RecordStore", "Table", "dumps"]

_PAGE_CACHE_BYTES = 64 * 1024 * 1024
_FILTER_CACHE_ENTRIES = 64
# Insert new records one by one below this many; otherwise merge and re-sort.
_INSORT_LIMIT = 64


class Table:
    """The records of one kind in ascending serving order, with an id index."""

    __slots__ = ("by_id", "encoded", "keys", "records")

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.keys: list[tuple[int, int, str]] = []
        self.records: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.encoded: dict[str, bytes] = {}
        self.add(records)

    def add(self, records: Iterable[Mapping[str, Any]]) -> None:
        new = [(record_key(record), dict(record)) for record in records]
        ids = [key[2] for key, _ in new]
        clashes = sorted({i for i in ids if i in self.by_id} | _duplicates(ids))
        if clashes:
            raise ValueError(f"duplicate voiceId: {', '.join(clashes[:5])}")
        if len(new) < _INSORT_LIMIT:
            for key, record in new:
                index = bisect.bisect_right(self.keys, key)
                self.keys.insert(index, key)
                self.records.insert(index, record)
        else:
            merged = sorted([*zip(self.keys, self.records, strict=True), *new], key=itemgetter(0))
            self.keys = [key for key, _ in merged]
            self.records = [record for _, record in merged]
        for key, record in new:
            self.by_id[key[2]] = record

    def replace(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace records by ``voiceId``; every one must exist already."""
        new = [dict(record) for record in records]
        ids = [record.get("voiceId") for record in new]
        unknown = sorted(str(i) for i in ids if i not in self.by_id)
        repeated = sorted(_duplicates([str(i) for i in ids]))
        if unknown or repeated:
            what = "unknown" if unknown else "repeated"
            raise ValueError(f"{what} voiceId: {', '.join((unknown or repeated)[:5])}")
        for record in new:
            record_key(record)  # refuse a record without a usable submitTime up front
        gone = set(ids)
        kept = [
            (key, record)
            for key, record in zip(self.keys, self.records, strict=True)
            if key[2] not in gone
        ]
        self.keys = [key for key, _ in kept]
        self.records = [record for _, record in kept]
        for voice_id in gone:
            del self.by_id[str(voice_id)]
            self.encoded.pop(str(voice_id), None)
        self.add(new)

    def window(self, low: int, high: int) -> tuple[int, int]:
        """Return the index range of records submitted in ``[low, high]`` (µs)."""
        return (
            bisect.bisect_left(self.keys, (low,)),
            bisect.bisect_left(self.keys, (high + 1,)),
        )

    def encode(self, record: dict[str, Any], blank: float = 0.0) -> bytes:
        """The record's JSON; with its times empty if it is among the ``blank`` share."""
        voice_id: str = record["voiceId"]
        cached = self.encoded.get(voice_id)
        if cached is None:
            served = blank_times(record) if is_blank(voice_id, blank) else record
            cached = self.encoded[voice_id] = dumps(served)
        return cached


def _duplicates(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for voice_id in ids:
        if voice_id in seen:
            repeated.add(voice_id)
        seen.add(voice_id)
    return repeated


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class RecordStore:
    """The records of both kinds and the pages served from them.

    ``tie_order``, ``count_skew``, ``range_ends``, ``arrivals`` and
    ``blank_stamps`` are :class:`~itniotech_async.testing.FakeItnio`'s (see
    its class doc), which checks them; ``now`` is the server's clock, which
    stamps arrivals within the last ``days``.
    """

    def __init__(
        self,
        records: Mapping[RecordKind, Iterable[Mapping[str, Any]]],
        *,
        seed: int,
        days: float,
        now: Callable[[], datetime],
        blank_stamps: float,
    ) -> None:
        self.tie_order = "stable"
        self.count_skew = False
        self.range_ends = "[]"
        self.arrivals = 0.0
        self._blank_stamps = blank_stamps
        self._days = days
        self._now = now
        self._arrived = 0.0  # arrivals owed, fractions included
        self._arrival_seq = 0
        self._hostile_rng = random.Random(f"hostile-{seed}")
        self._latest: dict[str, list[tuple[int, int, str]]] = {kind: [] for kind in KINDS}
        self._tables: dict[str, Table] = {kind: Table(records[kind]) for kind in KINDS}
        self._page_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._page_cache_bytes = 0
        self._filter_cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    @property
    def blank_stamps(self) -> float:
        """The share of records served with every time empty."""
        return self._blank_stamps

    @blank_stamps.setter
    def blank_stamps(self, value: float) -> None:
        self._blank_stamps = value
        for table in self._tables.values():
            table.encoded.clear()
        self._page_cache.clear()
        self._page_cache_bytes = 0

    def table(self, kind: str) -> Table:
        """The table of ``kind``; :class:`ValueError` unless it is ``sip`` or ``group``."""
        table = self._tables.get(kind)
        if table is None:
            raise ValueError(f"kind must be 'sip' or 'group', not {kind!r}")
        return table

    def records(self, kind: RecordKind) -> list[dict[str, Any]]:
        """Copies of the records of ``kind``, in serving order (newest first)."""
        return [dict(record) for record in reversed(self.table(kind).records)]

    def add(self, kind: RecordKind, records: Iterable[Mapping[str, Any]]) -> None:
        """Insert copies of ``records``; they are the latest arrivals (see ``count_skew``)."""
        records = [dict(record) for record in records]
        self.table(kind).add(records)
        self._latest[kind] = [record_key(record) for record in records]
        self._clear_caches()

    def update(self, kind: RecordKind, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace the records that share a ``voiceId`` with copies of ``records``."""
        self.table(kind).replace(records)
        self._clear_caches()

    def _clear_caches(self) -> None:
        self._page_cache.clear()
        self._page_cache_bytes = 0
        self._filter_cache.clear()

    def forget_arrivals(self) -> None:
        """Start a request: only calls that arrive while it is served count as its latest."""
        for kind in self._latest:
            self._latest[kind] = []

    def record_json(self, kind: RecordKind, voice_id: str) -> bytes:
        """The JSON of the record ``voice_id``, or ``null``."""
        table = self._tables[kind]
        record = table.by_id.get(voice_id)
        return b"null" if record is None else table.encode(record, self._blank_stamps)

    def query(
        self,
        kind: RecordKind,
        start: datetime,
        end: datetime,
        group: str,
        phone: str,
        current: int,
        size: int,
    ) -> bytes:
        """The envelope of page ``current`` of the records in ``[start, end]`` (checked)."""
        self._arrive(kind)
        low, high = to_micros(start), to_micros(end)
        # Stamps are whole microseconds: an exclusive end is one microsecond inside.
        low += self.range_ends[0] == "("
        high -= self.range_ends[1] == ")"
        return self._page(kind, low, high, group, phone, current, size)

    def _arrive(self, kind: RecordKind) -> None:
        """Add the calls that arrive with this request, stamped anywhere in the last days."""
        if not self.arrivals:
            return
        self._arrived += self.arrivals
        count = int(self._arrived)
        if not count:
            return
        self._arrived -= count
        self._arrival_seq += 1
        records = generate_records(
            kind, count, seed=self._arrival_seq, now=self._now(), days=self._days
        )
        for record in records:
            self._arrival_seq += 1
            # 20 digits: never the id of a generated record (19).
            record["voiceId"] = record["voiceId"][:12] + f"9{self._arrival_seq:07d}"
        self.add(kind, records)

    def _page(
        self, kind: RecordKind, low: int, high: int, group: str, phone: str, current: int, size: int
    ) -> bytes:
        if self.tie_order != "stable" or self.count_skew:
            return self._hostile_page(kind, low, high, group, phone, current, size)
        key = (kind, low, high, group, phone, current, size)
        cached = self._page_cache.get(key)
        if cached is not None:
            self._page_cache.move_to_end(key)
            return cached

        table = self._tables[kind]
        left, right = table.window(low, high)
        first = (current - 1) * size
        chosen: Iterable[int]
        if group or phone:
            matches = self._filtered(table, kind, left, right, group, phone)
            total = len(matches)
            chosen = matches[first : first + size]
        else:
            total = right - left
            last = min(first + size, total)
            chosen = range(right - 1 - first, right - 1 - last, -1) if first < total else ()
        body = self._envelope(table, total, size, current, chosen)
        self._page_cache[key] = body
        self._page_cache_bytes += len(body)
        while self._page_cache_bytes > _PAGE_CACHE_BYTES and len(self._page_cache) > 1:
            _, evicted = self._page_cache.popitem(last=False)
            self._page_cache_bytes -= len(evicted)
        return body

    def _hostile_page(
        self, kind: RecordKind, low: int, high: int, group: str, phone: str, current: int, size: int
    ) -> bytes:
        """A page served as the vendor allows: ties reordered, count and rows apart."""
        table = self._tables[kind]
        left, right = table.window(low, high)
        matches: Sequence[int]
        if group or phone:
            matches = self._filtered(table, kind, left, right, group, phone)
        else:
            matches = range(right - 1, left - 1, -1)
        total = len(matches)
        rng = self._hostile_rng
        if self.count_skew and self._latest[kind]:
            # The latest arrival falls between the two reads.
            latest = {
                bisect.bisect_left(table.keys, key)
                for key in self._latest[kind]
                if low <= key[0] <= high
            }
            latest &= set(matches)
            if rng.random() < 0.5:
                total -= len(latest)  # counted before it arrived
            elif latest:
                matches = [index for index in matches if index not in latest]  # rows before
        keys = table.keys
        rows = served_rows(
            matches,
            (current - 1) * size,
            size,
            lambda index: keys[index][0] // 1_000_000,
            rng if self.tie_order == "shuffle" else None,
        )
        return self._envelope(table, total, size, current, rows)

    def _envelope(
        self, table: Table, total: int, size: int, current: int, rows: Iterable[int]
    ) -> bytes:
        """A success envelope holding one page: its counts and the records at ``rows``."""
        records = table.records
        return b"".join(
            (
                b'{"status":"0","reason":"success","data":{"total":%d,"size":%d,"current":%d,'
                b'"pages":%d,"searchCount":true,"records":['
                % (total, size, current, math.ceil(total / size)),
                b",".join([table.encode(records[index], self._blank_stamps) for index in rows]),
                b"]}}",
            )
        )

    def _filtered(
        self, table: Table, kind: RecordKind, left: int, right: int, group: str, phone: str
    ) -> list[int]:
        """Return the indices of matching records in ``[left, right)``, newest first."""
        key = (kind, left, right, group, phone)
        matches = self._filter_cache.get(key)
        if matches is None:
            records = table.records
            matches = [
                index
                for index in range(right - 1, left - 1, -1)
                if (not group or records[index].get("sipGroupName") == group)
                and (not phone or records[index].get("phoneName") == phone)
            ]
            self._filter_cache[key] = matches
            if len(self._filter_cache) > _FILTER_CACHE_ENTRIES:
                self._filter_cache.popitem(last=False)
        return matches
