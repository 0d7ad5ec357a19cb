"""The client-wide limiter: how many requests may be in flight, how fast, and pauses.

Design notes: docs/design.md, "The limiter".
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import Literal

import anyio
import attrs

__all__ = ["ClientStats", "Limiter", "Outcome"]

logger = logging.getLogger("itniotech_async")

#: How an attempt ended, as far as the limiter cares.
Outcome = Literal["ok", "overload", "throttle", "other"]

_START = 8  # the cap in flight at first: the default max_concurrency
_DECREASE = 0.5
_RATE_SHARE = 0.9  # of the healthy rate seen before a throttle
_RATE_GROWTH = 0.01  # per second, of the learned rate
_RATE_CUT = 0.8  # of the rate, per throttled round, until the admitted rate is measured
_RATE_WINDOW = 2.0  # seconds of healthy answers the learned rate is measured on


@attrs.frozen
class ClientStats:
    """What a client is doing, read at one instant (``client.stats``).

    ``limit`` is how many requests may be in flight now (``max_concurrency``
    when adaptation is off), ``in_flight`` how many are. ``rate`` is the cap
    on requests per second in force (``max_rate`` or one learned from
    throttles), ``None`` for none. ``requests`` counts attempts sent,
    ``retries`` the attempts that were retries, ``throttles`` the answers
    that signalled overload (HTTP 429 and 503, status ``-18``, timeouts) and
    ``limit_changes`` the changes of ``limit``.
    """

    limit: int
    in_flight: int
    rate: float | None
    requests: int
    retries: int
    throttles: int
    limit_changes: int


class Limiter:
    """Gates the attempts of one client (docs/design.md, "The limiter")."""

    def __init__(self, max_concurrency: int, *, adaptive: bool, max_rate: float | None) -> None:
        self._max = max_concurrency
        self._adaptive = adaptive
        self._max_rate = max_rate
        self._limit = float(min(_START, max_concurrency) if adaptive else max_concurrency)
        self._slow_start = adaptive
        self._epoch = 0
        self._learned_rate: float | None = None
        self._learned_at = 0.0
        self._episode: float | None = None
        self._last_throttle = -math.inf
        self._next_send = -math.inf
        self._paused_until = -math.inf
        self._healthy: deque[float] = deque()
        self._capacity: anyio.CapacityLimiter | None = None
        self.requests = 0
        self.retries = 0
        self.throttles = 0
        self.limit_changes = 0

    # -- reading ----------------------------------------------------------

    @property
    def limit(self) -> int:
        return max(1, int(self._limit))

    def rate(self, now: float | None = None) -> float | None:
        """The cap on requests per second in force, or ``None``."""
        learned = self._learned_rate
        if learned is not None:
            if now is None:
                now = time.monotonic()
            # Grows back by _RATE_GROWTH a second since it was learned.
            learned *= 1 + _RATE_GROWTH * max(0.0, now - self._learned_at)
        if self._max_rate is None:
            return learned
        return self._max_rate if learned is None else min(learned, self._max_rate)

    def stats(self) -> ClientStats:
        capacity = self._capacity
        return ClientStats(
            limit=self.limit,
            in_flight=0 if capacity is None else int(capacity.borrowed_tokens),
            rate=self.rate(),
            requests=self.requests,
            retries=self.retries,
            throttles=self.throttles,
            limit_changes=self.limit_changes,
        )

    # -- gating -----------------------------------------------------------

    def capacity(self) -> anyio.CapacityLimiter:
        """The slots in flight themselves (made on first use: they need a running loop).

        Work that is not an API request (a file download) holds one as
        ``async with``; it neither waits for pauses or the rate nor teaches
        the limit anything.
        """
        if self._capacity is None:
            self._capacity = anyio.CapacityLimiter(self.limit)
        return self._capacity

    async def acquire(self) -> int:
        """Wait for a turn (pause, slot in flight, rate); return the round it belongs to."""
        capacity = self._capacity
        if capacity is None:
            capacity = self.capacity()
        if self._paused_until != -math.inf:
            await self._wait_pause()
        # A free slot is taken without the two event-loop round trips that
        # ``async with limiter`` makes; a busy one is waited for.
        try:
            capacity.acquire_nowait()
        except anyio.WouldBlock:
            await capacity.acquire()
        if self._max_rate is not None or self._learned_rate is not None:
            try:
                await self._wait_rate()
            except BaseException:
                capacity.release()
                raise
        self.requests += 1
        return self._epoch

    async def _wait_pause(self) -> None:
        while True:
            wait = self._paused_until - time.monotonic()
            if wait <= 0:
                return
            await anyio.sleep(wait)

    async def _wait_rate(self) -> None:
        now = time.monotonic()
        rate = self.rate(now)
        if rate is None:
            return
        # Each request takes the next free moment, 1/rate after the last one.
        slot = max(now, self._next_send)
        self._next_send = slot + 1 / rate
        if slot > now:
            await anyio.sleep(slot - now)

    def release(self, epoch: int, outcome: Outcome) -> None:
        """Give the slot back, and learn from how the attempt ended."""
        assert self._capacity is not None
        if self._adaptive:
            self._learn(epoch, outcome)
        # Released after learning: a task waiting for this slot takes it
        # under the new limit and belongs to the new round.
        self._capacity.release()

    def _learn(self, epoch: int, outcome: Outcome) -> None:
        if outcome == "ok":
            now = time.monotonic()
            healthy = self._healthy
            healthy.append(now)
            while healthy[0] < now - _RATE_WINDOW:
                healthy.popleft()
            if self._limit < self._max:
                # Slow start: +1 per answer (doubling per round trip); then
                # +1/limit per answer (about +1 per round trip).
                self._set_limit(self._limit + (1 if self._slow_start else 1 / self._limit))
        elif outcome in ("overload", "throttle"):
            self.throttles += 1
            if epoch == self._epoch:  # the first bad news of this round
                self._epoch += 1
                self._slow_start = False
                # Once throttles have taught a rate, that cap does the work:
                # halving the slots again would only starve it, and make the
                # rate it measures next too low.
                if outcome == "overload" or self._learned_rate is None:
                    self._set_limit(max(1.0, self._limit * _DECREASE))
                if outcome == "throttle":
                    self._learn_rate()

    def note_retry(self) -> None:
        self.retries += 1

    def pause(self, seconds: float) -> None:
        """Hold every new request of the client for ``seconds`` (a Retry-After)."""
        until = time.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.debug("server asked for a pause: holding new requests for %.2f s", seconds)

    # -- learning ---------------------------------------------------------

    def _set_limit(self, value: float) -> None:
        value = min(float(self._max), value)
        old = self.limit
        self._limit = value
        new = self.limit
        if new != old:
            self.limit_changes += 1
            if self._capacity is not None:
                self._capacity.total_tokens = new
            logger.debug("requests in flight allowed: %d -> %d", old, new)

    def _learn_rate(self) -> None:
        """Cap the rate below what the server admitted before saying no.

        The first throttle of an episode of them measures the healthy
        answers of the last second, which a server's burst allowance may
        inflate; while throttles keep coming, the server admits just its own
        rate, so from half a second into the episode the healthy answers
        since it began measure that rate, and the cap is set just below it.
        """
        now = time.monotonic()
        healthy = self._healthy
        current = self.rate(now)
        episode = self._episode
        if episode is None or now - self._last_throttle > _RATE_WINDOW:
            self._episode = now
            recent = [t for t in healthy if t >= now - 1.0]
            if len(recent) < 2:
                return
            seen = len(recent) / max(now - recent[0], 0.1)
            rate = _RATE_CUT * (seen if current is None else min(seen, current))
        elif now - episode >= 0.5:
            since = max(episode, now - _RATE_WINDOW)  # (healthy holds no more anyway)
            admitted = sum(1 for t in healthy if t >= since) / (now - since)
            rate = _RATE_SHARE * admitted if admitted > 0 else _DECREASE * (current or 1.0)
            if current is not None:  # a throttle never raises the rate
                rate = min(rate, current)
        else:
            rate = _RATE_CUT * (current if current is not None else len(healthy) / _RATE_WINDOW)
        self._last_throttle = now
        self._learned_rate = max(rate, 0.1)
        self._learned_at = now
        logger.debug("server throttles: requests per second capped at %.2f", self._learned_rate)
