"""Run the fake ITNIO server in its own process, for benchmarks and manual tests.

Prints exactly one line, ``ITNIO_BASE_URL=http://127.0.0.1:PORT``, to stdout
once it accepts connections (for programs that start it), and to stderr the
credentials it accepts and the ``export`` line that points the ``itniotech``
command (or ``ItnioClient()``) at it. It serves until SIGTERM or SIGINT, or
until stdin reaches end of file when stdin is a pipe or socket (so a parent
that dies takes the server with it). For example::

    python -m itniotech_async.testing --port 0 --n-records 30000 --latency 0.05:0.15
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import stat
import sys
from collections.abc import Sequence

import anyio
import anyio.abc

from ._faults import Fault
from ._latency import LATENCY_HELP, parse_latency
from ._server import FakeItnio

# The mix of faults --chaos-rate draws from.
_CHAOS_FAULTS = (Fault.http(503), Fault.http(502), Fault.status("-18"), Fault.drop())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m itniotech_async.testing",
        description="Run the fake ITNIO voice-record server on loopback TCP. It prints "
        "ITNIO_BASE_URL=... on stdout, and the credentials it accepts with the export "
        "line for the itniotech command on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and latency")
    parser.add_argument(
        "--n-records", type=int, default=2000, help="synthetic records of each kind"
    )
    parser.add_argument("--days", type=float, default=60, help="days the data spans, up to now")
    parser.add_argument(
        "--latency",
        type=parse_latency,
        default=None,
        help=LATENCY_HELP,
    )
    parser.add_argument("--api-key", default="test-key", help="the Api-Key it accepts")
    parser.add_argument("--api-secret", default="test-secret", help="the secret it accepts")
    parser.add_argument(
        "--clock-skew", type=float, default=0.0, help="seconds added to the server's clock"
    )
    parser.add_argument(
        "--timestamp-tolerance",
        type=float,
        default=300.0,
        help="seconds a request's Timestamp may be off before status -16",
    )
    parser.add_argument(
        "--chaos-rate",
        type=float,
        default=0.0,
        help="probability of a 503/502/-18/drop fault per request",
    )
    hostile = parser.add_argument_group(
        "behaving as the vendor allows (see FakeItnio's documentation)"
    )
    hostile.add_argument(
        "--tie-order",
        choices=("stable", "shuffle"),
        default="stable",
        help="order of rows that share a second, per request",
    )
    hostile.add_argument(
        "--count-skew",
        action="store_true",
        help="read each page's total and rows on either side of the latest arrival",
    )
    hostile.add_argument(
        "--range-ends",
        choices=("[]", "[)", "(]", "()"),
        default="[]",
        help="which ends of a query's range are inclusive",
    )
    hostile.add_argument(
        "--blank-stamps",
        type=float,
        default=0.0,
        help="share of records served with every time empty",
    )
    hostile.add_argument(
        "--arrivals",
        type=float,
        default=0.0,
        help="calls arriving per query request, stamped anywhere in the last --days",
    )
    hostile.add_argument(
        "--batches", type=int, default=0, help="batch calls whose callees share one second"
    )
    hostile.add_argument("--batch-size", type=int, default=150, help="callees per batch call")
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop to run on"
    )
    return parser


def banner(base_url: str, api_key: str, api_secret: str) -> str:
    """What a person needs to use the server: its credentials and an ``export`` line."""
    exports = " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in (
            ("ITNIO_BASE_URL", base_url),
            ("ITNIO_API_KEY", api_key),
            ("ITNIO_API_SECRET", api_secret),
        )
    )
    return (
        f"Fake ITNIO server on {base_url}\n"
        f"It accepts Api-Key {api_key!r} signed with the secret {api_secret!r}.\n"
        "Point the itniotech command (or ItnioClient()) at it with:\n"
        f"  export {exports}\n"
        "Stop it with Ctrl-C.\n"
    )


def _stdin_is_pipe() -> bool:
    if os.name == "nt" or sys.stdin is None:
        return False
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _until_stdin_closes(scope: anyio.CancelScope) -> None:
    fd = sys.stdin.fileno()
    while True:
        await anyio.wait_readable(fd)
        if not os.read(fd, 65_536):
            scope.cancel()
            return


async def _until_signal(
    scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    try:
        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
        with receiver as signals:
            task_status.started()
            async for _ in signals:
                scope.cancel()
                return
    except NotImplementedError:  # pragma: no cover - asyncio on Windows
        task_status.started()
        await anyio.sleep_forever()


async def _run(args: argparse.Namespace) -> None:
    fake = FakeItnio(
        args.api_key,
        args.api_secret,
        seed=args.seed,
        n_records=args.n_records,
        days=args.days,
        clock_skew=args.clock_skew,
        timestamp_tolerance=args.timestamp_tolerance,
        latency=args.latency,
        tie_order=args.tie_order,
        count_skew=args.count_skew,
        range_ends=args.range_ends,
        blank_stamps=args.blank_stamps,
        arrivals=args.arrivals,
        batches=args.batches,
        batch_size=args.batch_size,
    )
    if args.chaos_rate:
        fake.set_chaos(args.chaos_rate, _CHAOS_FAULTS, seed=args.seed)
    async with anyio.create_task_group() as watchers:
        # Watch signals before announcing the URL, so a parent that signals
        # right after reading it is heard.
        await watchers.start(_until_signal, watchers.cancel_scope)
        if _stdin_is_pipe():
            watchers.start_soon(_until_stdin_closes, watchers.cancel_scope)
        async with fake.serve(host=args.host, port=args.port) as base_url:
            print(f"ITNIO_BASE_URL={base_url}", flush=True)
            print(banner(base_url, args.api_key, args.api_secret), file=sys.stderr, end="")
            sys.stderr.flush()
            await anyio.sleep_forever()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, serve until told to stop, and return the exit status."""
    args = _parser().parse_args(argv)
    try:
        anyio.run(_run, args, backend=args.backend)
    except KeyboardInterrupt:  # pragma: no cover - only when signals cannot be caught
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
