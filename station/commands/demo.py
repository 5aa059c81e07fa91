"""`station demo`: watch the station service read virtual cards end to end."""

from __future__ import annotations

import argparse

from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo", help="watch the station service read virtual cards end to end",
        description="Run the real desk service (station.service.desk) on software twins: a "
                    "private pcscd with virtual CCCD chips, a replay camera showing each "
                    "synthetic citizen's QR, a trust store of a synthetic issuer, a local "
                    "Mosquitto (mTLS, the generated access list), the reference ingest "
                    "backend and the web console (its desk view on http://localhost). Taps "
                    "--cards genuine cards, then one "
                    "forged card (a clone, refused as not genuine), and shows every stage. "
                    "Needs root (for the private pcscd) and the packages scripts/bootstrap "
                    "installs.",
    )
    p.add_argument("--cards", type=int, default=3,
                   help="how many genuine cards to tap before the forged one (default 3)")
    p.add_argument("--console-hold", type=float, default=0.0, metavar="SECONDS",
                   help="keep the web console (its URL and a demo clerk's credentials are "
                        "printed) up this long after the taps, to look at the desk view "
                        "(default 0; make demo: 300)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station import demo
    from station.testing.mosquitto import BrokerUnavailable
    from station.testing.pcscd import TestbedUnavailable

    try:
        result = demo.run(cards=args.cards, hold_s=getattr(args, "console_hold", 0.0))
    except (TestbedUnavailable, BrokerUnavailable) as exc:
        print(f"station demo: {exc}. Run scripts/bootstrap (as root) first.")
        return 1
    return 0 if result.ok else 1
