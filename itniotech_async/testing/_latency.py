"""The fake's latency per request: its type, its check, and the one command-line parser of it.

The fake's constructor and setter, ``python -m itniotech_async.testing
--latency`` and ``itniotech demo --latency`` all go through :func:`check_latency`,
so one rule holds everywhere: seconds ``>= 0``, a range ``0 <= low <= high``.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["LATENCY_HELP", "Latency", "check_latency", "parse_latency"]

#: ``None`` (no delay), fixed seconds, or a ``(low, high)`` range drawn uniformly.
Latency = float | tuple[float, float] | None

LATENCY_HELP = (
    "seconds of latency per request: SECONDS, or LOW:HIGH drawn uniformly per request "
    "(finite, 0 <= LOW <= HIGH; 0 is none)"
)


def check_latency(value: Latency) -> Latency:
    """``value`` with floats for numbers; :class:`ValueError` if negative or a range is reversed."""
    if isinstance(value, tuple):
        low, high = value
        if not 0 <= low <= high:
            raise ValueError(f"latency range must satisfy 0 <= low <= high, not {value}")
        return (float(low), float(high))
    if value is not None:
        if value < 0:
            raise ValueError(f"latency must be >= 0, not {value}")
        return float(value)
    return None


def parse_latency(text: str) -> Latency:
    """Parse ``SECONDS`` or ``LOW:HIGH`` from a command line (an argparse ``type``).

    Both numbers must be finite and satisfy :func:`check_latency`; ``0``
    (or ``0:0``) means no latency, and the empty string is refused.
    """
    low_text, colon, high_text = text.partition(":")
    try:
        low = float(low_text)
        high = float(high_text) if colon else low
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not SECONDS or LOW:HIGH: {text!r}") from None
    try:
        latency = check_latency((low, high) if colon else low)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"need 0 <= SECONDS, or 0 <= LOW <= HIGH, got {text!r}"
        ) from None
    return latency if high else None
