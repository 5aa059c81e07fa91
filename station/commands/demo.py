"""`station demo`: watch a station read virtual cards end to end."""

from __future__ import annotations

import argparse

from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo", help="watch a station read virtual cards end to end",
        description="Start a private pcscd with a virtual card, a local MQTT broker "
                    "(Mosquitto when installed, else the embedded pure-Python broker) and the "
                    "reference ingest backend; tap synthetic cards and show every stage. "
                    "Needs root (for the private pcscd) and the packages scripts/bootstrap "
                    "installs.",
    )
    p.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default=None,
                   help="which broker to start (default: $STATION_DEMO_BROKER, else auto = "
                        "Mosquitto when installed, else embedded)")
    p.add_argument("--cards", type=int, default=3, help="how many cards to tap (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station import demo
    from station.testing.mosquitto import BrokerUnavailable
    from station.testing.pcscd import TestbedUnavailable

    try:
        result = demo.run(cards=args.cards, broker=args.broker)
    except ValueError as exc:  # a bad STATION_DEMO_BROKER
        print(f"station demo: {exc}")
        return 2
    except (TestbedUnavailable, BrokerUnavailable) as exc:
        print(f"station demo: {exc}. Run scripts/bootstrap (as root) first.")
        return 1
    return 0 if result.ok else 1
