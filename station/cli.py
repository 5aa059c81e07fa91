"""The ``station`` command: parses global options and dispatches to ``station.commands``.

Exit codes: 0 ok, 1 failed, 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from station import __version__
from station import log as slog
from station.errors import StationError

# Subcommand modules, in --help order.
COMMANDS = ("run", "read", "scan", "demo", "doctor", "outbox", "ingest", "console", "fleet",
            "sim", "trust", "bench", "provision")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station",
        description="Reader station for Vietnamese chip identity cards (CCCD).",
    )
    parser.add_argument("--version", action="version", version=f"station {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="configuration file (default /etc/station/station.toml)")
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    parser.add_argument("--log-level", default=None,
                        choices=("debug", "info", "warning", "error"),
                        help="log level (default: the config's, or warning for tools)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"station.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    slog.setup(args.log_level or "warning", as_json=args.log_json)
    try:
        return int(args.func(args))
    except StationError as exc:
        print(f"station {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
