"""`station doctor`: check this station's health (exit 0 only when nothing fails)."""

from __future__ import annotations

import argparse
import json
import pwd
from typing import Any

from station.commands import Subparsers

SERVICE_USER = "station"


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "doctor", help="check this station's health",
        description="Check configuration, keys, pcscd/readers/card, camera, clock, "
                    "certificate, broker (mTLS), trust store, outbox and disk; print ok/warn/"
                    "fail with how to fix. Exit 0 only when nothing fails.")
    p.add_argument("--json", action="store_true", help="one JSON document (for fleet tools)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="per-check network/camera timeout (default 5 s)")
    p.set_defaults(func=run)


def _service_uid() -> int | None:
    try:
        return pwd.getpwnam(SERVICE_USER).pw_uid
    except KeyError:
        return None


def run(args: argparse.Namespace) -> int:
    from station import config
    from station.commands import load_config
    from station.doctor import Context, Finding, healthy
    from station.doctor import run as run_checks
    from station.errors import ConfigError

    try:
        cfg = load_config(args)
        where = args.config or (str(config.DEFAULT_PATH) if config.DEFAULT_PATH.exists()
                                else "built-in defaults")
        findings = [Finding("config", "ok", f"{where} is valid")]
        findings += run_checks(Context(cfg, _service_uid(), timeout_s=args.timeout))
    except ConfigError as exc:
        findings = [Finding("config", "fail", str(exc),
                            "fix the key named (examples/station.toml documents each)")]
    ok = healthy(findings)
    if args.json:
        doc: dict[str, Any] = {"ok": ok, "checks": [f.as_dict() for f in findings]}
        print(json.dumps(doc, indent=2))
    else:
        _table(findings)
        print("healthy" if ok else "NOT healthy: fix the 'fail' lines above")
    return 0 if ok else 1


def _table(findings: list[Any]) -> None:
    width = max(len(f.check) for f in findings)
    for f in findings:
        print(f"{f.check:<{width}}  {f.status.upper():<4}  {f.detail}")
        if f.fix and f.status in ("warn", "fail"):
            print(f"{'':<{width}}        fix: {f.fix}")
