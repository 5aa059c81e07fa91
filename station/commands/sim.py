"""`station sim`: software twins (synthetic citizens, virtual CCCD chips on the vpcd protocol,
the issuer PKI)."""

from __future__ import annotations

import argparse
import threading

from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sim", help="run simulated hardware (virtual cards)",
                       description="Simulated hardware for tests, demos and integrators.")
    simsub = p.add_subparsers(dest="sim_command", metavar="WHAT", required=True)
    citizen = simsub.add_parser(
        "citizen", help="print synthetic citizens as JSON",
        description="Generate synthetic Vietnamese citizens (never real people), reproducibly "
                    "from a seed: name, ID number by the real rule, dates, addresses, parents, "
                    "spouse, expiry by the age milestones, the QR payload and the TD1 MRZ.",
    )
    citizen.add_argument("--seed", type=int, default=1, help="seed of the first citizen")
    citizen.add_argument("--count", type=int, default=1,
                         help="how many (seeds N, N+1, …; a JSON list when more than one)")
    citizen.set_defaults(func=run_citizen)
    card = simsub.add_parser(
        "card", help="insert virtual CCCD chips into a vpcd reader",
        description="Issue a virtual CCCD chip for a synthetic citizen (PACE-GM with CAN or "
                    "MRZ, BAC, secure messaging, chip and active authentication, EF.SOD signed "
                    "by the test PKI) and connect it to pcscd's vpcd driver (the card is a TCP "
                    "client of vpcd) until interrupted. The CAN is printed: the last 6 digits "
                    "of the ID number.",
    )
    who = card.add_mutually_exclusive_group()
    who.add_argument("--seed", type=int, default=1, help="synthetic citizen seed (default 1)")
    who.add_argument("--citizen", metavar="FILE",
                     help="a citizen JSON file as `station sim citizen` writes it")
    card.add_argument("--count", type=int, default=1,
                      help="cards to insert: seeds N.. on ports P.. (vpcd has 2 slots)")
    card.add_argument("--port", type=int, default=0x8C7B,
                      help="vpcd port (default 35963, Debian's /etc/reader.conf.d/vpcd)")
    card.add_argument("--host", default="127.0.0.1", help="vpcd host")
    card.add_argument("--plain", action="store_true",
                      help="the walking skeleton's plain file card (EF.COM + DG1, no access "
                           "control) instead of the CCCD chip")
    card.add_argument("--bac-only", action="store_true", help="a chip without PACE")
    card.add_argument("--pace-curve", default="brainpoolP256r1",
                      choices=["brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1",
                               "secp256r1", "secp384r1", "secp521r1"])
    card.add_argument("--pace-cipher", default="AES-128",
                      choices=["AES-128", "AES-192", "AES-256", "3DES"])
    card.add_argument("--aa", default="rsa", choices=["rsa", "ecdsa", "none"],
                      help="active authentication key (default RSA, ISO 9796-2)")
    card.add_argument("--face", default="jpeg", choices=["jpeg", "jpeg2000"],
                      help="DG2 image format")
    card.add_argument("--extended", action="store_true",
                      help="accept extended-length APDUs and advertise them in the ATR")
    card.add_argument("--max-read", type=lambda v: int(v, 0), default=None, metavar="N",
                      help="quirk: at most N bytes per READ BINARY (e.g. 0xDF, 0x80)")
    card.add_argument("--withhold", default="", metavar="FILES",
                      help="comma-separated files the chip answers 6A82 to although it holds "
                           "them (DG14, DG15, CardAccess): a clone hiding its advertised "
                           "protection, or a CCCD hiding EF.CardAccess to invite BAC")
    card.add_argument("--latency-ms", type=float, default=0.0,
                      help="modelled air-interface round trip per APDU")
    card.add_argument("--bit-rate", type=int, default=0,
                      help="modelled air bit rate (106000 = ISO 14443 base rate)")
    card.set_defaults(func=run_card)
    pki = simsub.add_parser(
        "pki", help="write the issuer's test PKI (CSCA, DSCs, CRL, master list)",
        description="Generate a synthetic issuer PKI: a CSCA (ECDSA brainpoolP512r1 + SHA-512 "
                    "by default), Document Signers (good, revoked, expired, and one under a "
                    "rogue CSCA with the same name), a CRL and a CMS-signed CSCA master list. "
                    "Certificates as PEM and DER, keys as PKCS#8 PEM (mode 0600). DIR/trust/ "
                    "is what a station's trust store holds; DIR/forged/ the rogue CSCA.",
    )
    pki.add_argument("--out", required=True, metavar="DIR", help="output directory")
    pki.add_argument("--rsa-pss", action="store_true", help="RSA-PSS CSCA and DSCs")
    pki.add_argument("--explicit", action="store_true",
                     help="write the CSCA's EC public key with explicit curve parameters "
                          "(like Vietnam's CSCA)")
    pki.set_defaults(func=run_pki)
    qr = simsub.add_parser(
        "qr", help="write synthetic photographs of CCCD QR codes (labelled)",
        description="Render synthetic card faces carrying the QR payload of synthetic citizens "
                    "and photograph them as a desk camera would (1280x720 luma PNGs) with named "
                    "distortions. Writes labels.jsonl: file, distortion, seed, the exact payload.",
    )
    qr.add_argument("--out", required=True, metavar="DIR", help="output directory")
    qr.add_argument("--seed", type=int, default=1, help="first citizen seed")
    qr.add_argument("--count", type=int, default=1, help="images per distortion")
    qr.add_argument("--distortion", action="append", metavar="NAME",
                    help="repeatable; default every one (clean, blur, motion, perspective, "
                         "rotation, low_contrast, glare, noise, jpeg, small, mixed)")
    qr.set_defaults(func=run_qr)


def run_citizen(args: argparse.Namespace) -> int:
    import json

    from station.sim.citizens import generate

    people = [generate(args.seed + i).to_json() for i in range(max(1, args.count))]
    print(json.dumps(people[0] if len(people) == 1 else people, ensure_ascii=False, indent=2))
    return 0


def run_card(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from station.sim.chip import CccdChip, ChipOptions
    from station.sim.citizens import Citizen, generate, skeleton_files
    from station.sim.filecard import FileCard
    from station.sim.issuer import issue
    from station.sim.lds import PaceOption
    from station.sim.vpcd import Card, Latency, VpcdLink

    latency = Latency(args.latency_ms, args.bit_rate)
    links: list[VpcdLink] = []
    try:
        for i in range(max(1, args.count)):
            port = args.port + i
            card: Card
            if args.plain:
                card = FileCard(skeleton_files(args.seed + i))
                label = f"plain file card (seed {args.seed + i})"
            else:
                if args.citizen:
                    citizen = Citizen.from_json(json.loads(Path(args.citizen).read_text("utf-8")))
                else:
                    citizen = generate(args.seed + i)
                options = ChipOptions(
                    pace=() if args.bac_only else (PaceOption(args.pace_curve, args.pace_cipher),),
                    aa=None if args.aa == "none" else args.aa, face_format=args.face,
                    extended_length=args.extended, max_read=args.max_read,
                    withheld=_withheld(args.withhold),
                )
                card = CccdChip(issue(citizen, options), options)
                label = f"CCCD chip, CAN {citizen.can}"
            link = VpcdLink(card, port, args.host, latency=latency)
            link.insert()
            links.append(link)
            print(f"sim card: {label} inserted into vpcd at {args.host}:{port}", flush=True)
        print("Ctrl-C to remove", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for link in links:
            link.remove()
    return 0


def _withheld(names: str) -> frozenset[int]:
    fids = {"DG14": 0x010E, "DG15": 0x010F, "CARDACCESS": 0x011C}
    out: set[int] = set()
    for name in (n.strip().upper() for n in names.split(",") if n.strip()):
        if name not in fids:
            raise SystemExit(f"station sim card: --withhold takes DG14, DG15, CardAccess "
                             f"(not {name!r})")
        out.add(fids[name])
    return frozenset(out)


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


def run_qr(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from PIL import Image

    from station.sim import qrimage

    names = args.distortion or [*qrimage.DISTORTIONS, "mixed"]
    unknown = sorted(set(names) - {*qrimage.DISTORTIONS, "mixed"})
    if unknown:
        print(f"sim qr: unknown distortion(s): {', '.join(unknown)}", flush=True)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.jsonl", "w", encoding="utf-8") as labels:
        for name in names:
            for seed in range(args.seed, args.seed + max(1, args.count)):
                payload = qrimage.synthetic_payload(seed)
                file = f"{name}-{seed:05d}.png"
                Image.fromarray(qrimage.render(payload, name, seed=seed)).save(out / file)
                labels.write(json.dumps({"file": file, "distortion": name, "seed": seed,
                                         "payload": payload}, ensure_ascii=False) + "\n")
                print(out / file, flush=True)
    return 0
