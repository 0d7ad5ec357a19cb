"""An asyncio- and trio-native SDK for the ITNIO Tech voice call-record API.

::

    import itniotech_async as itnio

    async with itnio.ItnioClient(api_key, api_secret) as client:
        record = await client.voice.record_sip("2203031113381000002")
"""

from ._auth import ItnioAuth
from ._client import ItnioClient
from ._errors import (
    ApiError,
    AuthenticationError,
    HttpStatusError,
    InvalidArgumentError,
    IpRestrictedError,
    ItnioError,
    PaginationError,
    ParameterError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    TimeRangeError,
    TimestampExpiredError,
    TransportError,
)
from ._limiter import ClientStats
from ._models import CallRecord, GroupCallRecord, Page, SipCallRecord
from ._pagination import PageStream, RecordStream

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CallRecord",
    "ClientStats",
    "GroupCallRecord",
    "HttpStatusError",
    "InvalidArgumentError",
    "IpRestrictedError",
    "ItnioAuth",
    "ItnioClient",
    "ItnioError",
    "Page",
    "PageStream",
    "PaginationError",
    "ParameterError",
    "RecordStream",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "SipCallRecord",
    "TimeRangeError",
    "TimestampExpiredError",
    "TransportError",
    "__version__",
]
