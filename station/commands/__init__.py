"""One module per subcommand: ``register(subparsers)`` adds its parser and sets ``func``,
a callable ``(args) -> int`` exit code.

A subcommand's ``station.*`` imports are deferred into the functions that run it, on purpose:
``station --help`` (and every other subcommand) then loads none of the stacks it does not use
— numpy, OpenCV, zxing-cpp, pyscard, paho, cryptography, the simulator (``station bench
startup`` measures it)."""

from __future__ import annotations

import argparse
from typing import Any

Subparsers = Any  # argparse's _SubParsersAction is private


def load_config(args: argparse.Namespace) -> Any:
    """The configuration named by ``--config``, else the default file, else built-in defaults
    (only when the default file does not exist: a broken file is always an error).

    A configuration read from a file sets the log level (``station.log_level``) unless
    ``--log-level`` was given."""
    from station import config
    from station import log as slog

    path = args.config or (config.DEFAULT_PATH if config.DEFAULT_PATH.exists() else None)
    if path is None:
        return config.Config()
    cfg = config.load(path)
    if getattr(args, "log_level", None) is None:
        slog.setup(cfg.station.log_level, as_json=bool(getattr(args, "log_json", False)))
    return cfg
