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
    pki = simsub.add_parser(
        "pki", help="write the issuer's test PKI (CSCA, DSCs, CRL, master list)",
        description="Generate a synthetic issuer PKI: a CSCA (ECDSA brainpoolP512r1 + SHA-512 "
                    "by default), Document Signers (good, revoked, expired, and one under a "
                    "rogue CSCA with the same name), a CRL and a CMS-signed CSCA master list. "
                    "Certificates as PEM and DER, keys as PKCS#8 PEM (mode 0600).",
    )
    pki.add_argument("--out", required=True, metavar="DIR", help="output directory")
    pki.add_argument("--rsa-pss", action="store_true", help="RSA-PSS CSCA and DSCs")
    pki.add_argument("--explicit", action="store_true",
                     help="write the CSCA's EC public key with explicit curve parameters "
                          "(like Vietnam's CSCA)")
    pki.set_defaults(func=run_pki)


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


def run_pki(args: argparse.Namespace) -> int:
    from pathlib import Path

    from station.sim.pki import make_test_pki, write_pki

    if args.rsa_pss and args.explicit:
        print("sim pki: --explicit applies to EC keys only", flush=True)
        return 2
    pki = make_test_pki(algorithm="rsa-pss" if args.rsa_pss else "ecdsa",
                        explicit=args.explicit)
    for path in write_pki(pki, Path(args.out)):
        print(path)
    return 0
