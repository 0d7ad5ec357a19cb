"""How the fake serves pages when told to behave as the vendor allows, not as is convenient.

The vendor does not promise that a page's ``total`` and its rows are read at
one instant, that rows sharing a second keep their order between requests,
that range ends are inclusive, or that any field is filled in. A client that
is correct only against a kind server is not correct; these behaviours let
tests (ours and users') check that:

- ``tie_order="shuffle"``: rows sharing a second come back in a new order on
  every request, as under ``ORDER BY submit_time LIMIT ... OFFSET ...``;
- ``count_skew=True``: each page's ``total`` and rows straddle the latest
  arrival: either the count was read before it (rows include it) or the rows
  were (the count includes it);
- ``range_ends``: which ends of ``[strTime, endTime]`` are inclusive;
- ``blank_stamps``: the share of records served with every time empty, while
  the service still files them by their real ``submitTime``.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["TIME_FIELDS", "blank_times", "is_blank", "served_rows"]

#: The record fields that hold times.
TIME_FIELDS = ("submitTime", "callTime", "ringingTime", "answerTime", "hangupTime")


def is_blank(voice_id: str, share: float) -> bool:
    """Whether the record ``voice_id`` is among the ``share`` served with empty times.

    The choice is fixed per id (a CRC32 of it), so a record looks the same on
    every request.
    """
    return share > 0 and zlib.crc32(voice_id.encode()) / 2**32 < share


def blank_times(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with every time field empty."""
    return {**record, **dict.fromkeys(TIME_FIELDS, "")}


def served_rows(
    matches: Sequence[int],
    first: int,
    size: int,
    second_of: Callable[[int], int],
    rng: random.Random | None,
) -> list[int]:
    """The rows of a page: positions ``[first, first + size)`` of ``matches``, newest first.

    With ``rng``, each run of rows that share a second is drawn from a fresh
    random order of the whole run, as a database does when it sorts on the
    second alone: a run that straddles the page's edges shows a different
    part of itself on every request.
    """
    end = min(first + size, len(matches))
    if rng is None or first >= end:
        return [matches[i] for i in range(first, end)]
    rows: list[int] = []
    pos = first
    while pos < end:
        second = second_of(matches[pos])
        lo = pos
        while lo > 0 and second_of(matches[lo - 1]) == second:
            lo -= 1
        hi = pos + 1
        while hi < len(matches) and second_of(matches[hi]) == second:
            hi += 1
        run = [matches[i] for i in range(lo, hi)]
        rng.shuffle(run)
        stop = min(hi, end)
        rows.extend(run[pos - lo : stop - lo])
        pos = stop
    return rows
