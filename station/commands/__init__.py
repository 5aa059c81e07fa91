"""One module per subcommand: ``register(subparsers)`` adds its parser and sets ``func``,
a callable ``(args) -> int`` exit code."""

from __future__ import annotations

import argparse
from typing import Any

Subparsers = Any  # argparse's _SubParsersAction is private


def pending(sub: Subparsers, name: str, help: str, issue: int) -> argparse.ArgumentParser:
    """Register a subcommand whose issue has not landed: it says so and exits 2."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=f"{help} [not implemented yet]",
        description=f"{help}. Not implemented yet (issue #{issue}).",
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(args: argparse.Namespace) -> int:
        print(f"station {name}: not implemented yet (issue #{issue})")
        return 2

    parser.set_defaults(func=run)
    return parser


def load_config(args: argparse.Namespace) -> Any:
    """The configuration named by ``--config``, else the default file, else built-in defaults
    (only when the default file does not exist: a broken file is always an error)."""
    from station import config

    if args.config:
        return config.load(args.config)
    if config.DEFAULT_PATH.exists():
        return config.load(config.DEFAULT_PATH)
    return config.Config()
