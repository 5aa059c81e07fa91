"""`station sim`: software twins (virtual cards on the vpcd protocol)."""

from __future__ import annotations

import argparse
import threading

from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sim", help="run simulated hardware (virtual cards)",
                       description="Simulated hardware for tests, demos and integrators.")
    simsub = p.add_subparsers(dest="sim_command", metavar="WHAT", required=True)
    card = simsub.add_parser(
        "card", help="insert a virtual card into a vpcd reader",
        description="Connect a virtual card to pcscd's vpcd driver (the card is a TCP client "
                    "of vpcd) and serve it until interrupted.",
    )
    card.add_argument("--seed", type=int, default=1, help="synthetic citizen seed")
    card.add_argument("--port", type=int, default=0x8C7B,
                      help="vpcd port (default 35963, Debian's /etc/reader.conf.d/vpcd)")
    card.add_argument("--host", default="127.0.0.1", help="vpcd host")
    card.set_defaults(func=run_card)


def run_card(args: argparse.Namespace) -> int:
    from station.sim.citizens import skeleton_files
    from station.sim.filecard import FileCard
    from station.sim.vpcd import VpcdLink

    link = VpcdLink(FileCard(skeleton_files(args.seed)), args.port, args.host)
    link.insert()
    print(f"sim card: inserted into vpcd at {args.host}:{args.port} (Ctrl-C to remove)",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        link.remove()
    return 0
