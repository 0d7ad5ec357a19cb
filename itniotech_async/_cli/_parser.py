"""The parser of the whole ``itniotech`` command line; each command module adds its own commands."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .._version import __version__
from ._archive import add_archive_commands
from ._args import add_common
from ._demo import add_demo_command
from ._exits import EXIT_USAGE, PROG
from ._export import add_export_commands
from ._recordings import add_recordings_command

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = _Parser(
        prog=PROG,
        description="Export and inspect ITNIO Tech voice call records. Credentials come "
        "from the ITNIO_API_KEY and ITNIO_API_SECRET environment variables.",
        epilog="exit status: 0 success (also when a reader such as `head` closes the pipe), "
        "1 runtime error (API, network, record not found, file), 2 bad input (nothing "
        "sent), 128 + the signal when stopped: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_common(parser, connects=True, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_export_commands(commands)
    add_recordings_command(commands)
    add_demo_command(commands)
    add_archive_commands(commands)
    return parser
