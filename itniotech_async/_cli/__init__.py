"""The ``itniotech`` command line: export records, fetch one, download recordings, archive, demo.

::

    itniotech records sip --start 2026-01-01T00:00:00+08:00 --end 2026-02-28T00:00:00+08:00 \\
        --format csv --output calls.csv
    itniotech record group 2203031113381000002
    itniotech demo

A package of small modules, on top of the SDK (it imports the client, the
archive and the fake server; nothing below imports it):

- ``_main``: :func:`main`, dispatch, stop signals and exit statuses;
- ``_exits``: the exit statuses and the errors that choose them;
- ``_parser``: the whole parser; ``_args``: argument types and shared flags;
- ``_connect``: the client, with credentials from the environment;
- ``_output``: atomic output files and stdout; ``_writers``: JSONL and CSV;
- ``_progress``: the progress bars;
- ``_export``, ``_recordings``, ``_archive``, ``_demo``: one module per command
  or group of commands.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
