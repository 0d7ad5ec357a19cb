"""Argument types of the ``itniotech`` command line and the flags every command shares.

Each type is an argparse ``type=`` function: it returns the parsed value or
raises :class:`argparse.ArgumentTypeError`, whose message argparse prints in
its one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

from .._models import CallRecord, GroupCallRecord, SipCallRecord
from .._times import parse_iso_time

__all__ = [
    "FORMATS",
    "RECORD_TYPES",
    "add_common",
    "add_output",
    "iso_time",
    "parse_duration",
    "positive_duration",
    "positive_int",
]

FORMATS = ("jsonl", "csv")
RECORD_TYPES: dict[str, type[CallRecord]] = {"sip": SipCallRecord, "group": GroupCallRecord}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def iso_time(text: str) -> datetime:
    """An ISO 8601 time that carries a UTC offset (a trailing ``Z`` is UTC)."""
    try:
        return parse_iso_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_duration(text: str) -> timedelta:
    """A duration such as ``90s``, ``10m``, ``6h``, ``3d``, ``2w``, ``1d12h`` or ``0.5s``."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise argparse.ArgumentTypeError(
            f"not a duration such as 30s, 10m, 6h, 3d or 1d12h (units w, d, h, m, s): {text!r}"
        )
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def positive_duration(text: str) -> timedelta:
    """A :func:`parse_duration` duration longer than zero."""
    value = parse_duration(text)
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"the duration must be more than zero: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_common(parser: argparse.ArgumentParser, *, connects: bool, top: bool) -> None:
    """Add ``--quiet``, ``--debug`` and (when the command ``connects``) ``--base-url``.

    The same flags are accepted before and after the command; on a command
    (``top`` false) their default is "not given", so they do not undo a flag
    given before it.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress bar"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show tracebacks and DEBUG logs of the itniotech_async logger on stderr",
    )
    if connects:
        parser.add_argument(
            "--base-url",
            metavar="URL",
            default=default(None),
            help="API base URL (default: $ITNIO_BASE_URL, else https://api.itniotech.com)",
        )


def add_output(parser: argparse.ArgumentParser, default_output: str | None = None) -> None:
    """Add ``--format`` and ``--output`` (stdout, or ``default_output.FORMAT`` when given)."""
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)"
    )
    where = f"{default_output}.FORMAT" if default_output else "stdout"
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        default=None,
        help=f"file to write, replaced only when complete; '-' is stdout (default: {where})",
    )
