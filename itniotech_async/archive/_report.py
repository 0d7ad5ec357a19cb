"""The archive's report: per day, destination or phone group, with exact decimals.

For each key: calls, answered calls (``terminationCode`` 200), ASR (answered
/ calls), ACD (mean ``callDuration`` of answered calls, seconds), charged
minutes (``chargedDuration`` summed, / 60) and cost summed per currency.
Days are UTC days of ``submitTime``. Sums are exact; only the ratios shown
are rounded (ASR to 0.0001, ACD to 0.1 s, minutes to 0.01), half to even.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs

from ._store import ReportRow

__all__ = ["NO_VALUE", "Report", "ReportLine", "build_report"]

#: The key of rows without the grouped field.
NO_VALUE = "(none)"
_ASR = Decimal("0.0001")
_ACD = Decimal("0.1")
_MINUTES = Decimal("0.01")
ANSWERED = "200"


def _ratio(numerator: int, denominator: int, places: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(places, ROUND_HALF_EVEN)


@attrs.define
class ReportLine:
    """The figures of one key (a day, a code, a phone group, or ``"total"``)."""

    key: str
    calls: int = 0
    answered: int = 0
    answered_timed: int = 0
    answered_seconds: int = 0
    charged_seconds: int = 0
    cost: dict[str, Decimal] = attrs.field(factory=dict)

    @property
    def asr(self) -> Decimal | None:
        """Answered / calls, to 4 places (``None`` without calls)."""
        return _ratio(self.answered, self.calls, _ASR)

    @property
    def acd(self) -> Decimal | None:
        """Mean call duration of answered calls in seconds, to 0.1 (``None`` if none)."""
        return _ratio(self.answered_seconds, self.answered_timed, _ACD)

    @property
    def charged_minutes(self) -> Decimal:
        """Charged seconds / 60, to 0.01."""
        return (Decimal(self.charged_seconds) / 60).quantize(_MINUTES, ROUND_HALF_EVEN)

    def add(self, row: ReportRow) -> None:
        _, _, _, termination, duration, charged, cost, currency = row
        self.calls += 1
        if termination == ANSWERED:
            self.answered += 1
            if duration is not None:
                self.answered_timed += 1
                self.answered_seconds += duration
        if charged is not None:
            self.charged_seconds += charged
        if cost is not None:
            key = currency or NO_VALUE
            self.cost[key] = self.cost.get(key, Decimal(0)) + cost

    def merge(self, other: ReportLine) -> None:
        self.calls += other.calls
        self.answered += other.answered
        self.answered_timed += other.answered_timed
        self.answered_seconds += other.answered_seconds
        self.charged_seconds += other.charged_seconds
        for currency, amount in other.cost.items():
            self.cost[currency] = self.cost.get(currency, Decimal(0)) + amount

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: counts as ints, decimals as exact strings."""
        return {
            "key": self.key,
            "calls": self.calls,
            "answered": self.answered,
            "asr": _text(self.asr),
            "acd_seconds": _text(self.acd),
            "charged_minutes": str(self.charged_minutes),
            "cost": {currency: str(amount) for currency, amount in sorted(self.cost.items())},
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _key(row: ReportRow, by: str) -> str:
    if by == "day":
        moment = row[0]
        return moment.astimezone(timezone.utc).date().isoformat() if moment else NO_VALUE
    value = row[1] if by == "code" else row[2]
    return value or NO_VALUE


@attrs.frozen
class Report:
    """Report lines sorted by key, and their total."""

    by: str
    lines: tuple[ReportLine, ...]
    total: ReportLine
    #: Ranges the archive records as lost past the service's history:
    #: ``(scope, start, end)``, the scope as text (kind and filters).
    lost: tuple[tuple[str, datetime, datetime], ...] = ()

    def lost_lines(self) -> list[str]:
        """One warning line per lost range."""
        return [
            f"LOST FOR GOOD: {scope} records of {_utc_text(start)} .. {_utc_text(end)} "
            "are not in the archive (older than the service kept when synced)"
            for scope, start, end in self.lost
        ]

    @property
    def currencies(self) -> list[str]:
        """Every currency that appears, sorted."""
        return sorted(self.total.cost)

    def to_json(self) -> str:
        """The report as a JSON document (decimals as strings)."""
        return json.dumps(
            {
                "by": self.by,
                "lines": [line.as_dict() for line in self.lines],
                "total": self.total.as_dict(),
                "lost": [
                    {"scope": scope, "start": _utc_text(start), "end": _utc_text(end)}
                    for scope, start, end in self.lost
                ],
            },
            indent=2,
        )

    def _table(self) -> tuple[list[str], list[list[str]]]:
        header = [self.by, "calls", "answered", "asr", "acd_s", "charged_min"]
        header += [f"cost_{currency}" for currency in self.currencies]
        rows = []
        for line in (*self.lines, self.total):
            row = [
                line.key,
                str(line.calls),
                str(line.answered),
                _text(line.asr) or "",
                _text(line.acd) or "",
                str(line.charged_minutes),
            ]
            row += [str(line.cost.get(currency, "")) for currency in self.currencies]
            rows.append(row)
        return header, rows

    def to_csv(self) -> str:
        """CSV: a header, one row per key, then the ``total`` row; a cost column per currency."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header, rows = self._table()
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()

    def to_text(self) -> str:
        """An aligned text table, ASR shown as a percentage."""
        header, rows = self._table()
        for row in rows:
            if row[3]:
                row[3] = f"{Decimal(row[3]) * 100:.1f}%"
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

        def fmt(row: list[str]) -> str:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * width for width in widths)
        table = [fmt(header), rule, *map(fmt, rows[:-1]), rule, fmt(rows[-1])]
        return "\n".join(table + self.lost_lines())

    def format(self, fmt: str) -> str:
        """The report as ``table``, ``csv`` or ``json`` text."""
        if fmt == "csv":
            return self.to_csv()
        if fmt == "json":
            return self.to_json() + "\n"
        return self.to_text() + "\n"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build_report(
    rows: Iterable[ReportRow],
    *,
    by: str,
    lost: tuple[tuple[str, datetime, datetime], ...] = (),
) -> Report:
    """Aggregate report rows by ``day``, ``code`` or ``group``."""
    lines: dict[str, ReportLine] = {}
    for row in rows:
        key = _key(row, by)
        line = lines.get(key)
        if line is None:
            line = lines[key] = ReportLine(key)
        line.add(row)
    total = ReportLine("total")
    ordered = tuple(lines[key] for key in sorted(lines))
    for line in ordered:
        total.merge(line)
    return Report(by=by, lines=ordered, total=total, lost=lost)
