"""Keep call records past the service's two-month history, in SQLite or PostgreSQL.

::

    from itniotech_async.archive import Archive

    async with ItnioClient() as client, Archive.open("calls.db") as archive:
        print(await archive.sync(client, "sip"))
        print((await archive.report("sip", by="day")).to_text())

See :class:`Archive` for how syncs stay incremental and crash-safe.
"""

from .._errors import ArchiveError, ArchiveVersionError
from ._archive import (
    DEFAULT_CHUNK,
    DEFAULT_HISTORY,
    DEFAULT_LOOKBACK,
    DEFAULT_PARALLEL,
    Archive,
    SyncProgress,
    SyncReport,
)
from ._columns import Scope
from ._report import Report, ReportLine
from ._store import SCHEMA_VERSION

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveVersionError",
    "DEFAULT_CHUNK",
    "DEFAULT_HISTORY",
    "DEFAULT_LOOKBACK",
    "DEFAULT_PARALLEL",
    "Report",
    "ReportLine",
    "SCHEMA_VERSION",
    "Scope",
    "SyncProgress",
    "SyncReport",
]
