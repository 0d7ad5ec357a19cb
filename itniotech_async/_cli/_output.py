"""Output files of the command line: written atomically, or standard output as UTF-8.

An export to a file is written to a temporary file next to the target and
renamed into place only when complete, so an interrupted (SIGINT, SIGTERM,
SIGHUP) or failed export leaves neither a partial file nor the temporary one
behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from ._exits import CommandError, UsageError

__all__ = ["atomic_text_file", "open_output", "stdout_text"]

_WRITE_BUFFER = 1 << 16


def _new_file_mode(target: str) -> int:
    """The mode the target keeps if it exists, else what the umask gives a new file."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_text_file(path: str) -> Iterator[TextIO]:
    """Write a UTF-8 text file through a temporary file renamed into place on success.

    On any exception (``KeyboardInterrupt`` and cancellation included) the
    temporary file is removed and the target is left as it was.
    """
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise UsageError(f"--output {path!r} is a directory")
    directory, name = os.path.split(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise CommandError(f"cannot write {path!r}: {exc.strerror or exc}") from exc
    try:
        with open(fd, "w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _new_file_mode(target))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def stdout_text() -> Iterator[TextIO]:
    """Standard output as UTF-8 with untranslated newlines, the same bytes as a file."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by something without bytes underneath
        yield sys.stdout
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=False)
    try:
        yield out
        out.flush()
    finally:
        with contextlib.suppress(ValueError, OSError):
            out.detach()  # leave sys.stdout's buffer open


def open_output(path: str | None) -> contextlib.AbstractContextManager[TextIO]:
    """``path`` through :func:`atomic_text_file`, or stdout for ``None`` or ``"-"``."""
    if path is None or path == "-":
        return stdout_text()
    return atomic_text_file(path)
