"""A simulated record service that behaves as badly as the vendor allows, for planner tests.

It is written from the vendor's page (``shared/itnio-api.md``), not from the
planner: it reads each request's JSON body as the service would, and answers
from a live set of records with the behaviours the vendor does not rule out:

- range ends inclusive or exclusive, each end on its own (``ends``);
- rows sharing a second come back in a new order on every request (``ties``);
- a page's ``total`` counted at another instant than its rows (``skew``),
  with calls arriving in between;
- calls arriving stamped anywhere in the range, at any moment (``arrivals``);
- records served with an empty ``submitTime`` (``blank``), and a server that
  filters on a stamp a few seconds away from the one it serves (``drift``).

:func:`run` drives a :class:`Planner` against it with requests answered in a
random order, as concurrent requests are, and returns what was yielded.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from itniotech_async import Page, SipCallRecord
from itniotech_async._planner import Planner

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 86_400


@attrs.define
class Rec:
    vid: str
    stamp: int  # the second the service filters and sorts on
    shown: int | None  # the submitTime it serves (None: served empty)


@attrs.define
class SimServer:
    """A live record set and how the service answers queries over it."""

    rng: random.Random
    records: list[Rec] = attrs.Factory(list)
    ends: str = "[]"  # "[]", "[)", "(]" or "()"
    ties: str = "shuffle"  # "stable" or "shuffle"
    skew: bool = False  # count and rows read at different instants
    arrivals: float = 0.0  # chance of a call arriving around each answer
    arrival_span: tuple[int, int] = (0, 0)  # where arrivals are stamped
    requests: int = 0
    _next: int = 0

    def add(self, stamp: int, *, blank: bool = False, drift: int = 0) -> Rec:
        self._next += 1
        rec = Rec(f"v{self._next:07d}", stamp, None if blank else stamp + drift)
        self.records.append(rec)
        return rec

    def maybe_arrive(self) -> None:
        if self.arrivals and self.rng.random() < self.arrivals:
            lo, hi = self.arrival_span
            self.add(self.rng.randint(lo, hi))

    def matches(self, rec: Rec, lo: int, hi: int) -> bool:
        low_ok = rec.stamp >= lo if self.ends[0] == "[" else rec.stamp > lo
        high_ok = rec.stamp <= hi if self.ends[1] == "]" else rec.stamp < hi
        return low_ok and high_ok

    def _matching(self, lo: int, hi: int) -> list[Rec]:
        return [r for r in self.records if self.matches(r, lo, hi)]

    def _ordered(self, rows: list[Rec]) -> list[Rec]:
        # Newest first; rows sharing a second in a fresh order each request.
        if self.ties == "shuffle":
            keyed = [(r.stamp, self.rng.random(), r) for r in rows]
        else:
            keyed = [(r.stamp, 0.0, r) for r in rows]
        keyed.sort(key=lambda k: (-k[0], k[1], k[2].vid))
        return [r for _, _, r in keyed]

    def answer(self, body: bytes) -> Page[SipCallRecord]:
        """Answer one page query, as the service would at this instant."""
        self.requests += 1
        query = json.loads(body)
        page, size = query["current"], query["size"]
        lo = _seconds(query["params"]["strTime"])
        hi = _seconds(query["params"]["endTime"])
        if self.skew and self.rng.random() < 0.5:
            total = len(self._matching(lo, hi))  # counted first ...
            self.maybe_arrive()
            rows = self._ordered(self._matching(lo, hi))  # ... rows read later
        else:
            rows = self._ordered(self._matching(lo, hi))
            if self.skew:
                self.maybe_arrive()  # rows read first, counted later
            total = len(self._matching(lo, hi))
        chunk = rows[(page - 1) * size : page * size]
        records = tuple(
            SipCallRecord(
                voice_id=r.vid,
                submit_time=None if r.shown is None else EPOCH + timedelta(seconds=r.shown),
            )
            for r in chunk
        )
        return Page(records, total, -(-total // size), page, size)


def _seconds(text: str) -> int:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None
    return int((moment - EPOCH).total_seconds())


def in_range(server: SimServer, first: int, last: int) -> set[str]:
    """Ids of the records a query of ``[first, last]`` matches now (the ground truth)."""
    return {r.vid for r in server.records if server.matches(r, first, last)}


@attrs.define
class Outcome:
    yielded: list[str]
    error: BaseException | None
    requests: int


def run(planner: Planner[Any], server: SimServer, *, consume_every: int = 1) -> Outcome:
    """Drive ``planner`` to its end; requests are answered in a random order."""
    rng = server.rng
    in_flight: list[Any] = []
    out: list[str] = []
    step = 0
    for _ in range(1_000_000):
        step += 1
        if step % consume_every == 0:
            while planner.ready:
                out.extend(r.voice_id for r in planner.ready.popleft().records if r.voice_id)
        while (job := planner.next_job()) is not None:
            in_flight.append(job)
        if planner.finished:
            break
        if not in_flight:
            # Only a slow consumer may leave nothing in flight.
            assert planner.ready, "the planner stalled with nothing in flight"
            continue
        job = in_flight.pop(rng.randrange(len(in_flight)))
        server.maybe_arrive()
        planner.request_done(job)
        planner.answered(job, server.answer(job.content()))
    while planner.ready:
        out.extend(r.voice_id for r in planner.ready.popleft().records if r.voice_id)
    return Outcome(out, planner.error, server.requests)


def make_planner(
    first: int,
    last: int,
    *,
    size: int,
    concurrency: int,
    ordered: bool = False,
    limit: int | None = None,
) -> Planner[Any]:
    return Planner(
        (first, last), UTC, {}, size=size, concurrency=concurrency, limit=limit, ordered=ordered
    )


def fill(server: SimServer, stamps: Iterable[int], **kwargs: Any) -> None:
    for stamp in stamps:
        server.add(stamp, **kwargs)
