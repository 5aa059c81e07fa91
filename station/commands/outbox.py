"""`station outbox`: inspect the durable outbox (counts only, never citizen data)."""

from __future__ import annotations

import argparse
import json

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("outbox", help="inspect the outbox",
                       description="Show the outbox's record counts by state (no citizen data).")
    p.add_argument("action", nargs="?", default="status", choices=("status",),
                   help="what to show (default: status)")
    p.add_argument("--path", help="outbox file (default: from the configuration)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.errors import StoreError
    from station.pipeline.outbox import Outbox

    cfg = load_config(args)
    path = args.path or cfg.state_path(cfg.outbox.path)
    from pathlib import Path

    if not Path(path).exists():
        raise StoreError(f"no outbox at {path}")
    box = Outbox(path)
    try:
        counts = box.counts()
    finally:
        box.close()
    if args.json:
        print(json.dumps(counts))
    else:
        for state, n in counts.items():
            print(f"{state:<10} {n}")
    return 0
