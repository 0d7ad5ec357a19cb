"""The archive's columns: one table for both kinds, typed from the record classes.

Every field of :class:`~itniotech_async.SipCallRecord` and
:class:`~itniotech_async.GroupCallRecord` is a column; a column a kind does not
have stays NULL. Each column has a type: ``text``, ``int``, ``decimal`` (money
and rates, exact) or ``time`` (an aware instant, stored in UTC).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from decimal import Decimal
from operator import attrgetter
from typing import Any, Literal

import attrs

from .._errors import ArchiveError
from .._models import CallRecord, GroupCallRecord, SipCallRecord

__all__ = [
    "COLUMNS",
    "KINDS",
    "RECORD_TYPES",
    "ColumnType",
    "Kind",
    "Scope",
    "column_types",
    "sqlite_time",
    "values",
]

Kind = Literal["sip", "group"]
KINDS: tuple[Kind, ...] = ("sip", "group")
RECORD_TYPES: dict[str, type[CallRecord]] = {"sip": SipCallRecord, "group": GroupCallRecord}
ColumnType = Literal["text", "int", "decimal", "time"]

_TYPES: dict[object, ColumnType] = {
    str: "text",
    int: "int",
    Decimal: "decimal",
    datetime: "time",
}


def column_types() -> dict[str, ColumnType]:
    """Every record field, in a fixed order, with its column type."""
    columns: dict[str, ColumnType] = {}
    for cls in (CallRecord, SipCallRecord, GroupCallRecord):
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            hint = hints[field.name]
            args = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
            kind = _TYPES.get(args[0]) if len(args) == 1 else None
            if kind is None:  # a new field type: fail loudly rather than store it wrongly
                raise TypeError(f"no column type for {cls.__name__}.{field.name}: {field.type!r}")
            columns.setdefault(field.name, kind)
    return columns


#: Column name -> type, in table order (``voice_id`` first among the record fields).
COLUMNS: dict[str, ColumnType] = column_types()


@attrs.frozen
class Scope:
    """What one sync covers: a kind and its filters; progress is kept per scope."""

    kind: Kind
    sip_group_name: str = ""
    phone_name: str = ""

    @property
    def key(self) -> str:
        """A stable text key for the database."""
        return json.dumps([self.kind, self.sip_group_name, self.phone_name])

    @classmethod
    def from_key(cls, key: str) -> Scope:
        """The scope whose :attr:`key` is ``key``."""
        kind, group, phone = json.loads(key)
        return cls(kind, group, phone)

    def __str__(self) -> str:
        filters = [
            f"{name}={value!r}"
            for name, value in (("group", self.sip_group_name), ("phone", self.phone_name))
            if value
        ]
        return self.kind + (f" ({', '.join(filters)})" if filters else "")


def _utc(value: datetime, name: str, voice_id: str) -> datetime:
    if value.utcoffset() is None:
        raise ArchiveError(
            f"record {voice_id!r}: {name} {value.isoformat()} has no UTC offset; "
            "the archive stores only aware times and will not guess one"
        )
    return value.astimezone(timezone.utc)


def sqlite_time(value: datetime) -> str:
    """An aware time as SQLite stores it: ISO 8601 in UTC, which sorts as time does."""
    return value.astimezone(timezone.utc).isoformat()


def _voice_id(record: CallRecord) -> str:
    voice_id = record.voice_id
    if not voice_id:
        raise ArchiveError(f"a {type(record).__name__} without a voice_id cannot be archived")
    return voice_id


def values(kind: Kind, records: Iterable[CallRecord], *, for_sqlite: bool) -> list[tuple[Any, ...]]:
    """Rows ``(kind, *COLUMNS)`` for ``records``; one row per voice id, the last one winning.

    For SQLite, times become UTC ISO text and decimals exact decimal text;
    for PostgreSQL they stay :class:`datetime` (converted to UTC) and
    :class:`~decimal.Decimal`.
    """
    names = list(COLUMNS)
    types = [COLUMNS[name] for name in names]
    time_positions = [i for i, t in enumerate(types) if t == "time"]
    decimal_positions = [i for i, t in enumerate(types) if t == "decimal"]
    present = {field.name for field in attrs.fields(RECORD_TYPES[kind])}
    getters = [attrgetter(name) if name in present else None for name in names]
    none: Callable[[object], None] = lambda _: None  # noqa: E731
    readers = [getter or none for getter in getters]
    rows: dict[str, tuple[Any, ...]] = {}
    for record in records:
        voice_id = _voice_id(record)
        row: list[Any] = [reader(record) for reader in readers]
        for i in time_positions:
            moment = row[i]
            if moment is not None:
                moment = _utc(moment, names[i], voice_id)
                row[i] = moment.isoformat() if for_sqlite else moment
        if for_sqlite:
            for i in decimal_positions:
                amount = row[i]
                if amount is not None:
                    row[i] = _decimal_text(amount)
        rows[voice_id] = (kind, *row)
    return list(rows.values())


def _decimal_text(amount: Decimal) -> str:
    if not amount.is_finite():
        raise ArchiveError(f"cannot archive the amount {amount!r}")
    return format(amount, "f")
