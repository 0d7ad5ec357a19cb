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
    ├── ResponseValidationError              JSON that does not fit the record types
    ├── PaginationError                      a result set that would not hold still
    ├── RecordingError (.status_code)        a recording could not be downloaded
    │   ├── RecordingNotFoundError           the service has no URL for that file id
    │   ├── RecordingUrlExpiredError         the file host refused even a fresh URL as expired
    │   └── RecordingTooLargeError           the file is larger than the size limit
    └── ArchiveError                         the archive's database failed or refused
        └── ArchiveVersionError              an archive written by a newer version

Foreign exceptions (httpx, json, cattrs, sqlite3, psycopg) are translated where they arise and
kept as ``__cause__``. No message ever carries the API secret or a ``Sign``.
"""

from __future__ import annotations

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
    "ResponseValidationError",
    "ServerError",
    "TimeRangeError",
    "TimestampExpiredError",
    "TransportError",
    "api_error",
]


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
