"""Argument checks: each raises :class:`~itniotech_async.InvalidArgumentError` before sending."""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from ._errors import InvalidArgumentError
from ._times import utc

__all__ = [
    "check_base_url",
    "check_credentials",
    "check_directory",
    "check_filter",
    "check_int",
    "check_max_bytes",
    "check_max_rate",
    "check_range",
    "check_retry_backoff",
    "check_time",
    "check_timeout",
    "check_voice_id",
]

# Characters that would change the request path if put in it raw or decoded.
_PATH_BREAKERS = frozenset("/\\?#%")

# The longest voice id (percent-encoded) put in a request path: far above
# real ids, far below what servers accept in a request line (often 8 KiB).
_MAX_VOICE_ID_LENGTH = 1024


def check_int(name: str, value: object, low: int, high: float = math.inf) -> int:
    """Return ``value`` if it is an ``int`` in ``[low, high]``, else raise."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        bounds = f"in {low}..{int(high)}" if high != math.inf else f">= {low}"
        raise InvalidArgumentError(f"{name} must be an integer {bounds}, got {value!r}")
    return value


def check_voice_id(voice_id: object) -> str:
    """Return ``voice_id`` quoted for the path, or raise if it is unusable."""
    if not isinstance(voice_id, str):
        raise InvalidArgumentError(f"voice_id must be a str, got {type(voice_id).__name__}")
    if not voice_id:
        raise InvalidArgumentError("voice_id must not be empty")
    if voice_id in (".", "..") or any(
        c in _PATH_BREAKERS or c.isspace() or not c.isprintable() for c in voice_id
    ):
        raise InvalidArgumentError(
            f"voice_id {voice_id!r} contains characters that would change the request path"
        )
    quoted = quote(voice_id, safe="")
    if len(quoted) > _MAX_VOICE_ID_LENGTH:
        raise InvalidArgumentError(
            f"voice_id is too long for a URL: {len(quoted)} characters once percent-encoded, "
            f"over {_MAX_VOICE_ID_LENGTH} (real ids are about 19 digits)"
        )
    return quoted


def check_time(name: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise."""
    if not isinstance(value, datetime):
        raise InvalidArgumentError(
            f"{name} must be a timezone-aware datetime, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            f"{name} must be timezone-aware (a naive datetime's zone is ambiguous): {value!r}"
        )
    return value


def check_range(start: object, end: object) -> tuple[datetime, datetime]:
    """Check that ``start`` and ``end`` are aware datetimes with ``start <= end``."""
    start, end = check_time("start", start), check_time("end", end)
    if utc(end) < utc(start):
        raise InvalidArgumentError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    return start, end


def check_filter(name: str, value: object) -> str:
    """Return an exact-match filter's value, ``""`` for ``None``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


def _positive_number(value: object) -> bool:
    """Whether ``value`` is a finite ``int`` or ``float`` (not a ``bool``) above zero."""
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
    )


def check_timeout(timeout: object) -> None:
    """Accept ``None`` (no timeout, as in httpx), an :class:`httpx.Timeout` or a positive number."""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return
    if not _positive_number(timeout):
        raise InvalidArgumentError(
            f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
        )


def check_max_rate(max_rate: object) -> None:
    """Accept ``None`` (no cap) or a positive number of requests per second."""
    if max_rate is not None and not _positive_number(max_rate):
        raise InvalidArgumentError(
            f"max_rate must be a positive number of requests per second or None, got {max_rate!r}"
        )


def check_retry_backoff(retry_backoff: object) -> None:
    """Accept a number of seconds >= 0."""
    if not isinstance(retry_backoff, (int, float)) or not retry_backoff >= 0:
        raise InvalidArgumentError(f"retry_backoff must be >= 0, got {retry_backoff!r}")


def check_credentials(api_key: object, api_secret: object) -> tuple[str, str]:
    """Return the API key and secret if both are given and the key can go in a header."""
    if not api_key or not isinstance(api_key, str):
        raise InvalidArgumentError(
            "missing API key: pass api_key or set the ITNIO_API_KEY environment variable"
        )
    if not (api_key.isascii() and api_key.isprintable()) or any(c.isspace() for c in api_key):
        raise InvalidArgumentError(
            "the API key has characters that cannot be sent in a header "
            "(it must be printable ASCII without spaces)"
        )
    if not api_secret or not isinstance(api_secret, str):
        raise InvalidArgumentError(
            "missing API secret: pass api_secret or set the ITNIO_API_SECRET environment variable"
        )
    return api_key, api_secret


def _redact(url: str) -> str:
    """``url`` with any ``user:password@``, query and fragment hidden, for messages."""
    return re.sub(r"[?#].*", "?***", re.sub(r"(?<=//)[^/?#]*@", "***@", url), flags=re.DOTALL)


def check_base_url(base_url: object) -> httpx.URL:
    """Return ``base_url`` parsed if it is a plain http(s) URL without credentials or query."""
    if not isinstance(base_url, str):
        raise InvalidArgumentError(f"base_url must be a str, got {type(base_url).__name__}")
    shown = _redact(base_url)
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        # (httpx's message may quote the URL: it is not chained.)
        raise InvalidArgumentError(f"invalid base_url {shown!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError(f"base_url must be an http(s) URL, got {shown!r}")
    if url.userinfo:
        raise InvalidArgumentError(
            "base_url must not carry credentials (user:password@): the API is "
            f"authenticated by api_key and api_secret; got {shown!r}"
        )
    if url.query or url.fragment or "?" in base_url or "#" in base_url:
        raise InvalidArgumentError(f"base_url must not carry a query or fragment, got {shown!r}")
    return url


def check_max_bytes(max_bytes: object) -> int | None:
    """Return a download's size limit: ``None`` (no limit) or an integer >= 0."""
    if max_bytes is None:
        return None
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
        raise InvalidArgumentError(f"max_bytes must be None or an integer >= 0, got {max_bytes!r}")
    return max_bytes


def check_directory(directory: object) -> Path:
    """Return a download directory as a :class:`~pathlib.Path`."""
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"directory must be a str or path, got {type(directory).__name__}"
        )
    path = Path(directory)
    if not str(path):
        raise InvalidArgumentError("directory must not be empty")
    return path
