"""Running a command: dispatch, stop signals, and the mapping of failures to exit statuses.

See :mod:`itniotech_async._cli._exits` for the statuses. SIGTERM and SIGHUP
stop an export as Ctrl-C does, with its clean-ups run (no partial file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

from .._errors import InvalidArgumentError, ItnioError
from ._archive import check_archive_args, run_archive, run_report, sync_logging
from ._demo import run_demo, run_demo_archive
from ._exits import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    STOP_SIGNALS,
    CommandError,
    Stopped,
    UsageError,
)
from ._export import check_records_args, run_record, run_records
from ._parser import build_parser
from ._recordings import run_recordings

__all__ = ["main"]

T = TypeVar("T")


def _enable_debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("itniotech_async")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


async def _stoppable(command: Callable[[argparse.Namespace], Awaitable[T]], args: Any) -> T:
    """Run ``command(args)``; SIGTERM or SIGHUP stop it as Ctrl-C does, then raise Stopped.

    Like asyncio's own Ctrl-C handling, a stop signal cancels the main task
    once, so the command unwinds with its clean-ups running (an export's
    temporary file is removed, the client is closed).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    caught: list[int] = []

    def stop(signum: int) -> None:
        if not caught:
            caught.append(signum)
            task.cancel()

    installed: list[int] = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
    try:
        return await command(args)
    except BaseException:
        if caught:
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise Stopped(caught[0]) from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _run_archive_command(args: argparse.Namespace) -> None:
    # Archive syncs handle SIGTERM themselves: they stop at the next commit.
    check_archive_args(args)
    if args.command == "archive":
        sync_logging(args)
        anyio.run(run_archive, args, backend="asyncio")
    elif args.command == "report":
        anyio.run(run_report, args, backend="asyncio")
    else:
        print(anyio.run(run_demo_archive, args, backend="asyncio"), flush=True)


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "records":
        check_records_args(args)
    if args.command in ("archive", "report") or getattr(args, "mode", None) == "archive":
        _run_archive_command(args)
    elif args.command == "records":
        anyio.run(_stoppable, run_records, args, backend="asyncio")
    elif args.command == "record":
        anyio.run(_stoppable, run_record, args, backend="asyncio")
    elif args.command == "recordings":
        anyio.run(_stoppable, run_recordings, args, backend="asyncio")
    else:
        result = anyio.run(_stoppable, run_demo, args, backend="asyncio")
        # Keep the summary out of the data when the data goes to stdout.
        where = sys.stderr if result.output == "-" else sys.stdout
        print(result.summary(), file=where, flush=True)


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return status


def _silence_stdout() -> None:
    # After a reader closed the pipe (``| head``), further flushes must not fail.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    if args.debug:
        _enable_debug_logging()
    try:
        _dispatch(args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Python 3.10's event loop surfaces Ctrl-C as the main task's cancellation.
        return _fail(args, "interrupted", EXIT_INTERRUPTED)
    except Stopped as exc:
        return _fail(args, f"interrupted by {exc}", 128 + exc.signum)
    except (UsageError, InvalidArgumentError) as exc:
        return _fail(args, f"error: {exc}", EXIT_USAGE)
    except (ItnioError, CommandError) as exc:
        return _fail(args, f"error: {exc}", EXIT_ERROR)
    except BrokenPipeError:
        # The reader has gone (``| head``): not a failure, as for other Unix tools.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        return _fail(args, f"error: {exc}", EXIT_ERROR)
    except Exception as exc:
        hint = "" if args.debug else " (run with --debug for a traceback)"
        return _fail(args, f"error: unexpected {type(exc).__name__}: {exc}{hint}", EXIT_ERROR)
    return EXIT_OK
