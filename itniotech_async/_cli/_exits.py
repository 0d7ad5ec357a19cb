"""Exit statuses of the ``itniotech`` command and the errors that choose them.

0 success (also when the reader of stdout goes away, as with ``| head``); 1 a
runtime failure (:class:`CommandError`, or any ``ItnioError``); 2 bad input
found before anything is sent (:class:`UsageError`); 128 + the signal's
number when stopped by a signal: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.
"""

from __future__ import annotations

import signal

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "STOP_SIGNALS",
    "CommandError",
    "Stopped",
    "UsageError",
]

PROG = "itniotech"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report Ctrl-C

#: Signals that stop the command as Ctrl-C does (nothing half-written is left).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class UsageError(Exception):
    """Bad input noticed after parsing; exit 2, nothing has been sent."""


class CommandError(Exception):
    """A runtime failure to report in one line; exit 1."""


class Stopped(Exception):
    """A stop signal (SIGTERM, SIGHUP) ended the command after it cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
