"""Record writers of the command line: one function per format that writes a record.

JSON Lines writes each record as one line of the SDK's JSON; CSV writes a
header of the record type's field names, then one row per record with
empty cells for missing values.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import TextIO

import attrs

from .._models import CallRecord
from .._serialize import to_dict, to_json

__all__ = ["Writer", "make_writer"]

Writer = Callable[[CallRecord], None]


def _jsonl_writer(out: TextIO) -> Writer:
    def write(record: CallRecord) -> None:
        out.write(to_json(record))
        out.write("\n")

    return write


def _csv_writer(out: TextIO, record_type: type[CallRecord]) -> Writer:
    fields = [field.name for field in attrs.fields(record_type)]
    rows = csv.writer(out)
    rows.writerow(fields)

    def write(record: CallRecord) -> None:
        data = to_dict(record)
        rows.writerow(["" if data.get(name) is None else data[name] for name in fields])

    return write


def make_writer(out: TextIO, fmt: str, record_type: type[CallRecord]) -> Writer:
    """A function that writes one record to ``out`` (CSV: after writing the header)."""
    return _csv_writer(out, record_type) if fmt == "csv" else _jsonl_writer(out)
