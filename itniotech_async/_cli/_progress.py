"""Progress bars on a terminal: for exports, recording downloads and archive syncs.

Each is one line on stderr, redrawn in place with ``\\r`` at most ten times
a second, and shown only when stderr is a terminal and neither ``--quiet``
nor ``--debug`` is given (see :func:`show_progress`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

from .._pagination import RecordStream
from .._recordings import RecordingDownloads
from ..archive import SyncProgress

__all__ = ["DownloadProgress", "Progress", "SyncBar", "show_progress", "size_text"]

_REDRAW_INTERVAL = 0.1  # seconds: at most ten redraws a second
_BAR = 24


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw a bar: on a terminal, and not with ``--quiet`` or ``--debug``.

    DEBUG log lines would be overwritten by the redraws, so ``--debug`` turns it off.
    """
    return not args.quiet and not args.debug and sys.stderr.isatty()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _terminal_width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def size_text(n: int) -> str:
    """``n`` bytes in B, KB, MB or GB (powers of 1000)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _bar(share: float) -> str:
    filled = min(_BAR, int(share * _BAR))
    return "#" * filled + "-" * (_BAR - filled)


class _StatusLine:
    """One line redrawn in place: when a redraw is due, drawing it, and ending it."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._next_draw = 0.0
        self._width = 0

    def _due(self, now: float, *, force: bool = False) -> bool:
        if force or now >= self._next_draw:
            self._next_draw = now + _REDRAW_INTERVAL
            return True
        return False

    def _show(self, line: str) -> None:
        self._out.write("\r" + line.ljust(self._width))
        self._out.flush()
        self._width = max(self._width, len(line))

    def _end_line(self) -> None:
        if self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0


class Progress(_StatusLine):
    """The bar of an export: records done of total, rate, ETA.

    :meth:`close` ends the line.
    """

    def __init__(self, stream: RecordStream[Any], out: TextIO) -> None:
        super().__init__(out)
        self._stream = stream

    def update(self) -> None:
        now = time.monotonic()
        if self._due(now):
            self._draw(now)

    def close(self, *, completed: bool) -> None:
        if completed:
            self._draw(time.monotonic())
        self._end_line()

    def _draw(self, now: float) -> None:
        line = self.render(now - self._started)
        self._show(line[: _terminal_width(self._out) - 1])

    def render(self, elapsed: float) -> str:
        """The bar's text after ``elapsed`` seconds."""
        done = self._stream.records_done
        total = self._stream.total
        rate = done / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:,.0f} records/s"
        if total is None:
            return f"{done:,} records (counting...)  {speed}"
        share = done / total if total else 1.0
        eta = _clock((total - done) / rate) if rate > 0 else "?"
        return f"[{_bar(share)}] {done:,}/{total:,} records {share:4.0%}  {speed}  ETA {eta}"


class DownloadProgress(_StatusLine):
    """The bar of recording downloads: records done of total, failures, bytes, rate."""

    def __init__(self, downloads: RecordingDownloads, stream: RecordStream[Any], out: TextIO):
        super().__init__(out)
        self._downloads = downloads
        self._stream = stream

    def render(self, elapsed: float) -> str:
        """The bar's text after ``elapsed`` seconds."""
        d = self._downloads
        total = self._stream.total
        rate = d.bytes / elapsed if elapsed > 0 else 0.0
        tail = f"{d.failed} failed  {size_text(d.bytes)}  {size_text(int(rate))}/s"
        if total is None:
            return f"{d.done:,} recordings (counting...)  {tail}"
        share = d.done / total if total else 1.0
        return f"[{_bar(share)}] {d.done:,}/{total:,} records {share:4.0%}  {tail}"

    def update(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._due(now, force=force):
            self._show(self.render(now - self._started))

    def clear(self) -> None:
        """Blank the line so that a message can be printed in its place."""
        if self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()

    def close(self) -> None:
        self.update(force=True)
        self._end_line()


class SyncBar(_StatusLine):
    """The bar of an archive sync, called with each :class:`SyncProgress`."""

    def __call__(self, state: SyncProgress) -> None:
        now = time.monotonic()
        if not self._due(now, force=state.chunk >= state.chunks):
            return
        elapsed = now - self._started
        rate = state.records / elapsed if elapsed > 0 else 0.0
        share = state.chunk / state.chunks if state.chunks else 1.0
        self._show(
            f"{state.scope} [{_bar(share)}] chunk {state.chunk}/"
            f"{state.chunks} ({state.chunk_start:%Y-%m-%d})  {state.records:,} records  "
            f"{rate:,.0f}/s"
        )

    def close(self) -> None:
        self._end_line()
