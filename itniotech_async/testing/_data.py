"""Synthetic voice records and the time helpers the fake server shares.

:func:`generate_records` builds realistic, deterministic record dicts in the
service's camelCase JSON shape. The helpers below it parse the service's
ISO 8601 timestamps and give every record the sort key the fake server pages
by: newest ``submitTime`` first, ties broken by ``voiceId`` descending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from .._times import parse_iso_time

__all__ = [
    "KINDS",
    "RecordKind",
    "generate_records",
    "parse_time",
    "record_key",
    "to_micros",
]

RecordKind = Literal["sip", "group"]
KINDS: tuple[RecordKind, ...] = ("sip", "group")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_DAY = 86_400
# voiceIds start with the submit time on the vendor's (Chinese) clock.
_CN_OFFSET = 8 * 3600

# (seconds east of UTC, suffix): +08:00 mostly, some +00:00 and +05:30.
_OFFSETS = ((_CN_OFFSET, "+08:00"),) * 7 + ((0, "+00:00"),) * 2 + ((19_800, "+05:30"),)

# (code, country calling code, national digits, rate range in 1e-4 per minute)
_DESTINATIONS = (
    ("Afghanistan(Kandahar)", "93", 9, (1400, 2600)),
    ("India(Mumbai)", "91", 10, (60, 160)),
    ("India(Delhi)", "91", 10, (60, 160)),
    ("Indonesia(Jakarta)", "62", 10, (250, 520)),
    ("Philippines(Manila)", "63", 10, (900, 1500)),
    ("Brazil(Sao Paulo)", "55", 11, (120, 380)),
    ("Nigeria(Lagos)", "234", 10, (700, 1300)),
    ("Mexico(Mexico City)", "52", 10, (90, 240)),
    ("Vietnam(Hanoi)", "84", 9, (450, 900)),
    ("Pakistan(Karachi)", "92", 10, (500, 1100)),
)

# (code, reason, rang?) for calls that were not answered.
_UNANSWERED = (
    ("480", "Temporarily Unavailable", True),
    ("480", "Temporarily Unavailable", True),
    ("487", "Request Terminated", True),
    ("487", "Request Terminated", True),
    ("486", "Busy Here", True),
    ("408", "Request Timeout", True),
    ("404", "Not Found", False),
    ("503", "Service Unavailable", False),
)

# (text, first increment, next increments)
_BILL_PERIODS = (("20+20", 20, 20), ("60+60", 60, 60), ("1+1", 1, 1), ("60+60", 60, 60))

# Phone groups and the phones in them (10 phones over 4 groups).
_PHONES = (
    ("sales", "sales-01"),
    ("sales", "sales-02"),
    ("sales", "sales-03"),
    ("support", "support-01"),
    ("support", "support-02"),
    ("support", "support-03"),
    ("collections", "collections-01"),
    ("collections", "collections-02"),
    ("outreach", "outreach-01"),
    ("outreach", "outreach-02"),
)

_CALLED_INFO = (
    "customer={n};campaign=spring-sale",
    "order #{n} delivery confirmation",
    "appointment reminder for patient {n}",
    "客户 {n}: 验证码通知",
    "Zahlungserinnerung Nr. {n} — bitte zurückrufen",
    "otp request {n}",
)


def _decimal(units: int, places: int = 4) -> str:
    """Format an integer count of 10**-places as a plain decimal string."""
    scale = 10**places
    text = f"{units // scale}.{units % scale:0{places}d}".rstrip("0").rstrip(".")
    return text or "0"


def _div_round(numerator: int, denominator: int) -> int:
    """Divide non-negative integers, rounding half up."""
    return (2 * numerator + denominator) // (2 * denominator)


def _fmt(ts: int, offset: int, suffix: str) -> str:
    """Format a Unix time as ISO 8601 in the zone ``offset`` seconds east of UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + offset)) + suffix


def generate_records(
    kind: RecordKind,
    n: int,
    *,
    seed: int = 0,
    now: datetime | None = None,
    days: float = 60,
    batches: int = 0,
    batch_size: int = 150,
) -> list[dict[str, Any]]:
    """Return ``n`` synthetic records of one kind, newest first.

    ``kind`` is ``"sip"`` (phone calls, ``recordSip*``) or ``"group"`` (voice
    messages, ``recordGroup*``). Submit times are spread uniformly over
    ``[now - days, now]`` in whole seconds; ``now`` defaults to the current
    time and must be timezone-aware. The same ``seed``, ``now`` and ``days``
    always give the same records, and the list comes back in the order
    :class:`~itniotech_async.testing.FakeItnio` serves it (``submitTime``
    descending, then ``voiceId`` descending), so tests can compute expected
    pages by slicing.

    About 30 % of the calls are unanswered (empty ``answerTime``, zero
    durations, a 4xx/5xx ``terminationCode`` and ``cost`` ``"0"``). Times use
    a mix of ``+08:00``, ``+00:00`` and ``+05:30`` offsets; quotes are in USD
    or EUR (only EUR quotes carry ``settleRate``, ``quoteExchange`` and
    ``settlePay``). ``callDuration`` and ``chargedDuration`` are ints; every
    other field is a string.

    ``batches`` of the records are batch calls: ``batch_size`` callees each
    (as far as ``n`` goes), all submitted in the same second, as a group call
    to many numbers is.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'sip' or 'group', not {kind!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if days < 0:
        raise ValueError(f"days must be >= 0, not {days}")
    if batches < 0 or batch_size < 1:
        raise ValueError(f"batches must be >= 0 and batch_size >= 1, not {batches}, {batch_size}")
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")

    rng = random.Random(f"itnio-{kind}-{seed}")
    rand = rng.random

    def randint(low: int, high: int) -> int:
        # Much cheaper than Random.randint, and just as deterministic.
        return low + int(rand() * (high - low + 1))

    end = int(now.timestamp())
    start = end - int(days * _DAY)
    submits = [randint(start, end) for _ in range(n)]
    position = 0
    for _ in range(batches):
        second = randint(start, end)
        for i in range(position, min(position + batch_size, n)):
            submits[i] = second
        position += batch_size
    submits.sort()
    seq_start = rng.randrange(10**7)
    callers = [f"1{randint(100_000_000, 999_999_999)}" for _ in range(6)]
    voice_files = [f"1{rng.getrandbits(160):040x}.mp3" for _ in range(8)]
    is_group = kind == "group"

    records: list[tuple[tuple[int, int, str], dict[str, Any]]] = []
    for index, submit in enumerate(submits):
        voice_id = time.strftime("%y%m%d%H%M%S", time.gmtime(submit + _CN_OFFSET)) + (
            f"{(seq_start + index) % 10**7:07d}"
        )
        offset, suffix = _OFFSETS[int(rand() * len(_OFFSETS))]
        code, prefix, digits, (rate_low, rate_high) = _DESTINATIONS[
            int(rand() * len(_DESTINATIONS))
        ]
        callee = prefix + str(randint(10 ** (digits - 1), 10**digits - 1))
        bill_text, first, step = _BILL_PERIODS[int(rand() * len(_BILL_PERIODS))]
        rate = randint(rate_low, rate_high)

        call = submit + randint(0, 5)
        if rand() < 0.3:
            term_code, term_reason, rang = _UNANSWERED[int(rand() * len(_UNANSWERED))]
            if rang:
                ringing = call + randint(1, 4)
                hangup = ringing + randint(5, 45)
                ringing_text = _fmt(ringing, offset, suffix)
            else:
                hangup = call + randint(1, 3)
                ringing_text = ""
            answer_text = ""
            duration = charged = 0
            answered = False
        else:
            term_code, term_reason = "200", "success"
            ringing = call + randint(1, 4)
            answer = ringing + randint(2, 20)
            duration = min(1 + int(rng.expovariate(1 / 45)), 1800)
            hangup = answer + duration
            ringing_text = _fmt(ringing, offset, suffix)
            answer_text = _fmt(answer, offset, suffix)
            charged = first if duration <= first else first + -(-(duration - first) // step) * step
            answered = True
        cost = _div_round(rate * charged, 60)

        record: dict[str, Any] = {
            "voiceId": voice_id,
            "callee": callee,
            "displayNum": callers[int(rand() * len(callers))],
            "code": code,
            "submitTime": _fmt(submit, offset, suffix),
            "callTime": _fmt(call, offset, suffix),
            "ringingTime": ringing_text,
            "answerTime": answer_text,
            "hangupTime": _fmt(hangup, offset, suffix),
            "callDuration": duration,
            "chargedDuration": charged,
            "terminationCode": term_code,
            "terminationReason": term_reason,
            "cost": _decimal(cost),
            "billPeriod": bill_text,
            "rate": _decimal(rate),
        }
        if is_group:
            record["baseCost"] = _decimal(cost * randint(60, 90) // 100)
            record["voiceFileId"] = voice_files[int(rand() * len(voice_files))]
            record["feedbackValue"] = str(randint(0, 9)) if answered and rand() < 0.35 else "-1"
            if rand() < 0.4:
                record["calledInfo"] = ""
            else:
                template = _CALLED_INFO[int(rand() * len(_CALLED_INFO))]
                record["calledInfo"] = template.format(n=randint(1000, 99_999))
        else:
            group, phone = _PHONES[int(rand() * len(_PHONES))]
            record["sipGroupName"] = group
            record["phoneName"] = phone
            record["recordingFileId"] = (
                f"rec{rng.getrandbits(128):032x}.wav" if answered and rand() < 0.9 else ""
            )
        if rand() < 0.4:
            exchange = randint(9_200, 9_500)
            record["settleRate"] = _decimal(_div_round(rate * 10_000, exchange))
            record["quoteExchange"] = _decimal(exchange)
            record["currency"] = "EUR"
            record["settlePay"] = _decimal(_div_round(cost * 10_000, exchange))
        else:
            record["settleRate"] = ""
            record["quoteExchange"] = ""
            record["currency"] = "USD"
            record["settlePay"] = ""
        records.append(((submit * 1_000_000, len(voice_id), voice_id), record))

    records.sort(key=lambda item: item[0], reverse=True)
    return [record for _, record in records]


def parse_time(value: object) -> datetime | None:
    """Parse an ISO 8601 timestamp that carries a UTC offset.

    Returns ``None`` for anything else: not a string, not ISO 8601, or a
    naive time. A trailing ``Z`` is accepted as ``+00:00`` (see
    :func:`itniotech_async._times.parse_iso_time`, the one parser of the package).
    """
    if not isinstance(value, str):
        return None
    try:
        return parse_iso_time(value)
    except ValueError:
        return None


def to_micros(moment: datetime) -> int:
    """Return an aware datetime as whole microseconds since the Unix epoch."""
    return (moment - _EPOCH) // _MICROSECOND


def record_key(record: Mapping[str, Any]) -> tuple[int, int, str]:
    """Return the ascending sort key of a record; the server serves it reversed.

    Raises :class:`ValueError` when the record has no string ``voiceId`` or
    no ``submitTime`` with a UTC offset, because the fake server cannot place
    such a record in a time window.
    """
    voice_id = record.get("voiceId")
    if not isinstance(voice_id, str) or not voice_id:
        raise ValueError(f"record needs a non-empty string voiceId: {record!r}")
    submitted = parse_time(record.get("submitTime"))
    if submitted is None:
        raise ValueError(
            f"record {voice_id} needs a submitTime in ISO 8601 with a UTC offset, "
            f"not {record.get('submitTime')!r}"
        )
    return (to_micros(submitted), len(voice_id), voice_id)
