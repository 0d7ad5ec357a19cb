"""The exception tree. Users catch one root, :class:`ItnioError`.

::

    ItnioError
    ├── InvalidArgumentError (also ValueError)   bad input, raised before sending
    ├── ApiError (.status, .reason)              non-zero envelope status
    │   ├── AuthenticationError         -1   bad Api-Key or Sign
    │   ├── IpRestrictedError           -2   caller IP not whitelisted
    │   ├── TimestampExpiredError      -16   clock too far from the server's
    │   ├── ServerError                -18   "port program unusual" (retried)
    │   ├── ParameterError             -22   parameter exception
    │   └── TimeRangeError             -25   window over 31 days or too old
    ├── TransportError                       connection failed, timed out, dropped
    ├── HttpStatusError (.status_code)       an HTTP answer other than 200
    ├── ResponseDecodeError                  a body that is not a JSON envelope
    │   └── ResponseTooLargeError (.limit)   a body over the client's max_response_size
    ├── ResponseValidationError              JSON that does not fit the record types
    ├── PaginationError                      a result set that would not hold still
    ├── RecordingError (.status_code)        a recording could not be downloaded
    │   ├── RecordingNotFoundError           the service has no URL for that file id
    │   ├── RecordingUrlExpiredError         the file host refused even a fresh URL as expired
    │   └── RecordingTooLargeError           the file is larger than the size limit
    └── ArchiveError                         the archive's database failed or refused
        └── ArchiveVersionError              an archive written by a newer version

Foreign exceptions met while sending a request and reading its answer
(httpx, aiohttp through the transport, ssl, zlib, json, orjson) are
translated by one table, :data:`_EXCEPTION_MAP`, and one context manager,
:func:`map_exceptions`; cattrs errors are translated where records are
structured, and sqlite3's and psycopg's where the archive
uses them. The original is kept as ``__cause__`` and the message says in
words what happened. No message ever carries the API secret or a ``Sign``.
"""

from __future__ import annotations

import contextlib
import ssl
import zlib
from collections.abc import Iterator, Mapping
from typing import TypeVar

import anyio
import httpx

__all__ = [
    "ApiError",
    "ArchiveError",
    "ArchiveVersionError",
    "AuthenticationError",
    "HttpStatusError",
    "InvalidArgumentError",
    "IpRestrictedError",
    "ItnioError",
    "PaginationError",
    "ParameterError",
    "RecordingError",
    "RecordingNotFoundError",
    "RecordingTooLargeError",
    "RecordingUrlExpiredError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "TimeRangeError",
    "TimestampExpiredError",
    "TransportError",
    "api_error",
    "describe",
    "first_in_mro",
    "map_exceptions",
]

T = TypeVar("T")


class ItnioError(Exception):
    """Root of every error this SDK raises."""


class InvalidArgumentError(ItnioError, ValueError):
    """An argument is invalid; raised before anything is sent."""


class ApiError(ItnioError):
    """The service answered with a non-zero ``status``.

    ``status`` is the envelope's status string (such as ``"-22"``) and
    ``reason`` the service's own words.
    """

    #: The status this class stands for; ``None`` for the generic class.
    code: str | None = None

    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"ITNIO API status {status}: {reason}")

    def __reduce__(self) -> tuple[type[ApiError], tuple[str, str]]:
        return (type(self), (self.status, self.reason))


class AuthenticationError(ApiError):
    """Status -1: the Api-Key or Sign was rejected."""

    code = "-1"


class IpRestrictedError(ApiError):
    """Status -2: the caller's IP address is not whitelisted."""

    code = "-2"


class TimestampExpiredError(ApiError):
    """Status -16: the Timestamp is too far from the server's clock, even after correcting it."""

    code = "-16"


class ServerError(ApiError):
    """Status -18: a fault on the service's side, still there after the retries."""

    code = "-18"


class ParameterError(ApiError):
    """Status -22: the service rejected a parameter."""

    code = "-22"


class TimeRangeError(ApiError):
    """Status -25: the window spans over 31 days or reaches back past ~2 months."""

    code = "-25"

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(status, reason)
        self.args = (
            f"{self.args[0]} (a query window spans at most 31 days, and the service "
            "keeps about two months of records: 62 days at the most)",
        )


_BY_STATUS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        AuthenticationError,
        IpRestrictedError,
        TimestampExpiredError,
        ServerError,
        ParameterError,
        TimeRangeError,
    )
    if cls.code is not None
}


def api_error(status: str, reason: str) -> ApiError:
    """Build the :class:`ApiError` subclass that matches ``status``."""
    return _BY_STATUS.get(status, ApiError)(status, reason)


class TransportError(ItnioError):
    """The request could not be completed: connection refused, timed out, dropped."""


class HttpStatusError(ItnioError):
    """The service (or a gateway before it) answered with an HTTP status other than 200."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        super().__init__(message)

    def __reduce__(self) -> tuple[type[HttpStatusError], tuple[int, str]]:
        return (type(self), (self.status_code, self.args[0]))


class ResponseDecodeError(ItnioError):
    """The body is not JSON, or not an ITNIO envelope."""


class ResponseTooLargeError(ResponseDecodeError):
    """The body is larger than the client's ``max_response_size``; the rest was not read.

    ``limit`` is that size in bytes. Both the bytes on the wire and the bytes
    they decompress to are counted against it.
    """

    def __init__(self, limit: int, message: str) -> None:
        self.limit = limit
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ResponseTooLargeError], tuple[int, str]]:
        return (type(self), (self.limit, self.args[0]))


class ResponseValidationError(ItnioError):
    """The JSON does not fit the record types (a field of the wrong shape)."""


class PaginationError(ItnioError):
    """A query's result set kept changing under a stream faster than it could be walked."""


class RecordingError(ItnioError):
    """A call recording could not be downloaded.

    ``status_code`` is the file host's HTTP status when it answered with one
    that ends the download, else ``None``. The message names the file id and
    the file host's host and path, never the URL's query (it may hold a token).
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)

    def __reduce__(self) -> tuple[type[RecordingError], tuple[str, int | None]]:
        return (type(self), (self.args[0], self.status_code))


class RecordingNotFoundError(RecordingError):
    """The service gave no download URL for that file id (its ``data`` was empty)."""


class RecordingUrlExpiredError(RecordingError):
    """The file host refused the download as expired, even with a freshly resolved URL."""


class RecordingTooLargeError(RecordingError):
    """The recording is larger than the size limit the download was given."""


class ArchiveError(ItnioError):
    """The archive's database could not be opened, read or written."""


class ArchiveVersionError(ArchiveError):
    """The archive was written by a newer version of this package, with a newer schema."""


# What each foreign exception met while sending and reading means, most
# specific first by class: the first class of an exception's MRO found here
# decides. Transport errors are retried by the client; the others are not.
_EXCEPTION_MAP: dict[type[BaseException], tuple[type[ItnioError], str]] = {
    httpx.TimeoutException: (TransportError, "timed out"),
    httpx.ProxyError: (TransportError, "failed at the proxy"),
    httpx.UnsupportedProtocol: (InvalidArgumentError, "cannot be sent"),
    httpx.TransportError: (TransportError, "failed"),
    httpx.DecodingError: (ResponseDecodeError, "sent a body that could not be decoded"),
    httpx.InvalidURL: (InvalidArgumentError, "has an invalid URL"),
    httpx.HTTPError: (TransportError, "failed"),
    httpx.StreamError: (ItnioError, "could not read the answer"),
    anyio.BrokenResourceError: (TransportError, "failed"),
    anyio.ClosedResourceError: (TransportError, "failed"),
    anyio.EndOfStream: (TransportError, "failed"),
    ssl.SSLError: (TransportError, "failed"),
    OSError: (TransportError, "failed"),
    EOFError: (TransportError, "failed"),
    zlib.error: (ResponseDecodeError, "sent a corrupt compressed body"),
    RecursionError: (ResponseDecodeError, "sent JSON nested too deeply to decode"),
    UnicodeError: (ResponseDecodeError, "sent a body that is not valid text"),
    ValueError: (ResponseDecodeError, "sent a body that is not JSON"),
    # Anything else a transport may raise (a custom one passed in, say).
    Exception: (ItnioError, "failed unexpectedly"),
}


@contextlib.contextmanager
def map_exceptions(what: str) -> Iterator[None]:
    """Raise the :class:`ItnioError` that stands for a foreign exception raised inside.

    ``what`` names the request in messages, such as ``"GET /voice/recordSip/1"``.
    The foreign exception becomes the ``__cause__``; exceptions not in the
    table (and this SDK's own) pass through unchanged.
    """
    try:
        yield
    except ItnioError:
        raise
    except Exception as exc:
        mapped = first_in_mro(_EXCEPTION_MAP, exc)
        if mapped is None:
            raise
        error_class, verb = mapped
        raise error_class(f"{what} {verb}: {describe(exc)}") from exc


def first_in_mro(table: Mapping[type[BaseException], T], exc: BaseException) -> T | None:
    """The entry of ``table`` for the first class of ``exc``'s MRO found in it, else ``None``."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def describe(exc: BaseException) -> str:
    """Say in words what an exception means, looking through its causes.

    Transports often wrap the telling error (a TLS alert, a refused
    connection) in one with an empty message; this finds it.
    """
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 16:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    # aiohttp's TLS errors subclass ssl's without their attributes (the real
    # one is their cause): prefer an error that has them.
    tls = sorted(
        (error for error in chain if isinstance(error, ssl.SSLError)),
        key=lambda error: getattr(error, "reason", None) is None,
    )
    for failure in tls:
        if isinstance(failure, ssl.SSLCertVerificationError):
            detail = getattr(failure, "verify_message", None) or getattr(failure, "reason", None)
            return f"TLS certificate verification failed: {detail or failure}"
    if tls:
        return f"TLS handshake failed: {getattr(tls[0], 'reason', None) or tls[0]}"
    for error in chain:
        text = str(error).strip()
        if text:
            return f"{type(error).__name__}: {text}"
    return type(exc).__name__
