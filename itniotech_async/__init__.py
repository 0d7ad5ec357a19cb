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
    ArchiveError,
    ArchiveVersionError,
    AuthenticationError,
    HttpStatusError,
    InvalidArgumentError,
    IpRestrictedError,
    ItnioError,
    PaginationError,
    ParameterError,
    RecordingError,
    RecordingNotFoundError,
    RecordingTooLargeError,
    RecordingUrlExpiredError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    TimeRangeError,
    TimestampExpiredError,
    TransportError,
)
from ._iterator import StreamIterator
from ._limiter import ClientStats
from ._models import CallRecord, GroupCallRecord, Page, SipCallRecord
from ._pagination import PageStream, RecordStream
from ._recordings import (
    DownloadStatus,
    RecordingDownload,
    RecordingDownloads,
    RecordingSource,
    RecordingUrl,
    recording_filename,
)
from ._serialize import to_dict, to_json
from ._version import __version__
from ._voice import VoiceResource

__all__ = [
    "ApiError",
    "ArchiveError",
    "ArchiveVersionError",
    "AuthenticationError",
    "CallRecord",
    "ClientStats",
    "DownloadStatus",
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
    "RecordingDownload",
    "RecordingDownloads",
    "RecordingError",
    "RecordingNotFoundError",
    "RecordingSource",
    "RecordingTooLargeError",
    "RecordingUrl",
    "RecordingUrlExpiredError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "SipCallRecord",
    "StreamIterator",
    "TimeRangeError",
    "TimestampExpiredError",
    "TransportError",
    "VoiceResource",
    "__version__",
    "recording_filename",
    "to_dict",
    "to_json",
]
