"""Instants and windows: UTC arithmetic, whole seconds, and the 31-day windows of a range.

The service stamps records in whole seconds and takes ranges of at most 31
days. Everything here works on real elapsed time (UTC), never on wall-clock
arithmetic in a zone with daylight saving.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo

__all__ = [
    "MAX_WINDOW",
    "MAX_WINDOW_SECONDS",
    "epoch_seconds",
    "floor_seconds",
    "has_whole_second",
    "parse_iso_time",
    "seconds_to_datetime",
    "utc",
    "whole_second_span",
    "window_spans",
]

#: The longest range one query may span.
MAX_WINDOW = timedelta(days=31)
MAX_WINDOW_SECONDS = int(MAX_WINDOW.total_seconds())

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY = _EPOCH.toordinal()


def utc(value: datetime) -> datetime:
    """The same instant in UTC.

    Arithmetic and comparisons between two datetimes that share a tzinfo
    (a ``ZoneInfo`` zone, say) use wall-clock time in Python, which is wrong
    across a DST change: the SDK always measures instants in UTC.
    """
    return value.astimezone(timezone.utc)


def epoch_seconds(value: datetime, *, ceil: bool = False) -> int:
    """Whole seconds since the Unix epoch of an aware datetime, rounded down (or up)."""
    delta = utc(value) - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds + 1 if ceil and delta.microseconds else seconds


def floor_seconds(values: Iterable[datetime | None]) -> list[int]:
    """:func:`epoch_seconds` of each aware datetime of ``values``; ``None`` is skipped.

    It costs about two thirds of ``int(value.timestamp())``, which does its
    arithmetic in Python integers: the planner takes the second of every
    record it reads. The offset of a fixed zone (``datetime.timezone``, what
    parsed ISO times carry) is looked up once per zone, any other zone's for
    each value, and each day's first second once per day.
    """
    offsets: dict[tzinfo, int] = {}
    days: dict[int, int] = {}
    seconds: list[int] = []
    append = seconds.append
    for value in values:
        if value is None:
            continue
        zone = value.tzinfo
        offset = offsets.get(zone) if zone is not None else None
        if offset is None:
            delta = value.utcoffset()
            if delta is None:
                raise ValueError(f"expected an aware datetime, got {value!r}")
            if delta.microseconds or zone.__class__ is not timezone:
                append(epoch_seconds(value))
                continue
            offset = offsets[zone] = delta.days * 86_400 + delta.seconds
        day = value.toordinal()
        first = days.get(day)
        if first is None:
            first = days[day] = (day - _EPOCH_DAY) * 86_400
        # (Small numbers first: sums past 2**30 are slower in CPython.)
        append(first + ((value.hour * 60 + value.minute) * 60 + value.second - offset))
    return seconds


def parse_iso_time(text: str) -> datetime:
    """Parse an ISO 8601 time that carries a UTC offset; a trailing ``Z`` is UTC.

    Surrounding spaces are ignored. Raises :class:`ValueError` for text that
    is not ISO 8601 and for a time without an offset: guessing a zone (UTC?
    the vendor's +08:00?) could shift a call by hours.
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat lacks "Z"
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from None
    if parsed.utcoffset() is None:
        raise ValueError(
            f"expected an ISO 8601 time with a UTC offset (such as +08:00 or Z), got {text!r}"
        )
    return parsed


def seconds_to_datetime(seconds: int, tz: tzinfo | None) -> datetime:
    """The instant ``seconds`` after the epoch, in ``tz`` (UTC when ``None``)."""
    return datetime.fromtimestamp(seconds, tz or timezone.utc)


def whole_second_span(start: datetime, end: datetime) -> tuple[int, int] | None:
    """The whole seconds ``[first, last]`` that ``[start, end]`` holds, or ``None``.

    A record is stamped in whole seconds, so ``start`` is rounded up and
    ``end`` rounded down; a range inside one second can match nothing.
    """
    first, last = epoch_seconds(start, ceil=True), epoch_seconds(end)
    return (first, last) if first <= last else None


def has_whole_second(start: datetime, end: datetime) -> bool:
    """Whether ``[start, end]`` holds a whole second, the stamp of any record."""
    return whole_second_span(start, end) is not None


def window_spans(first: int, last: int, span: int = MAX_WINDOW_SECONDS) -> list[tuple[int, int]]:
    """Split the seconds ``[first, last]`` into windows of at most ``span`` seconds.

    Neighbouring windows overlap by two seconds (the next starts one second
    before the previous ends). Whether the service's range ends are inclusive
    is not published: with that overlap every second lies inside some window
    whatever the rule, and a record the two windows share is recognised by
    its id.
    """
    windows = []
    lo = first
    while True:
        hi = min(lo + span, last)
        windows.append((lo, hi))
        if hi >= last:
            return windows
        lo = hi - 1
