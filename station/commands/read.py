"""`station read`: wait for a card, read its chip (PACE, or BAC when the card has no PACE) and
print what it holds. Tag loss mid-read is resumed on the next tap within the timeout."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any

from station.commands import Subparsers
from station.errors import AuthFailed, NoCard, PaceUnavailable, QrFormatError, TagLost


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "read", help="read a card's chip on the reader",
        description="Wait for a card, authenticate with the CAN (PACE) or the MRZ key "
                    "(PACE, or BAC when the card has no PACE), read EF.COM, DG1, DG13, DG14, "
                    "DG15 and EF.SOD (or the --files list; DG2 with --face), and print them. "
                    "Chip Authentication runs right after DG14 (the rest is read under its "
                    "keys) and Active Authentication after DG15; with a trust store their "
                    "results decide between 'genuine' and 'not-genuine'. "
                    "With --qr (a CCCD) a chip offering no PACE is refused (pace-unavailable), "
                    "never read by BAC. "
                    "Exit 0 when read; 1 on a wrong key (with the tries left), no reader, "
                    "no card, a card removed for good, or an unsupported card.")
    p.add_argument("--reader", default="", metavar="NAME",
                   help="the first PC/SC reader whose name contains NAME (default: any)")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--can", metavar="6DIGITS", help="card access number")
    keys.add_argument("--mrz-key", metavar="DOCNO,YYMMDD,YYMMDD",
                      help="document number, date of birth, date of expiry (991231 = none)")
    keys.add_argument("--qr", metavar="PAYLOAD",
                      help="the card's QR payload: the CAN is the last 6 digits of its ID")
    p.add_argument("--face", action=argparse.BooleanOptionalAction, default=False,
                   help="also read DG2 (the face image, 10-26 KB)")
    p.add_argument("--files", metavar="LIST", default="",
                   help="comma-separated files to read instead of the default set, e.g. "
                        "COM,DG1,DG2,DG11,DG12,DG15,SOD for a foreign passport (files the "
                        "card does not have are reported as skipped)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--trust", metavar="PATH",
                   help="trust store directory (CSCA certificates, master lists, CRLs) for "
                        "passive authentication; adds 'verification' to the output (default: "
                        "trust.path from the configuration when that directory exists)")
    p.add_argument("--revocation", choices=("prefer", "require"), default="prefer",
                   help="with --trust: 'require' refuses a DSC whose revocation status is "
                        "unknown (no current CRL of its CSCA in the store), as the bank "
                        "profile does; 'prefer' (default) reports it as revocation-unknown")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the card (and for a re-tap after removal)")
    p.set_defaults(func=run)


def _key(args: argparse.Namespace) -> Any:
    from station.nfc.password import AccessKey

    try:
        if args.can is not None:
            return AccessKey.can(args.can.strip())
        if args.mrz_key is not None:
            return AccessKey.parse_mrz_key(args.mrz_key)
        from station.qr import cccd

        return AccessKey.can(cccd.parse(args.qr).chip_keys().can)
    except (ValueError, QrFormatError) as exc:
        raise SystemExit(f"station read: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from station.drivers.reader.pcsc import PcscReader
    from station.nfc.lds.chip import ChipData
    from station.nfc.session import DEFAULT_FILES, FILE_IDS, ChipSession

    key = _key(args)
    files = ([f.strip().upper() for f in args.files.split(",") if f.strip()] if args.files
             else list(DEFAULT_FILES))
    if args.face and "DG2" not in files:
        files.insert(min(2, len(files)), "DG2")
    unknown = [f for f in files if f not in FILE_IDS]
    if unknown:
        raise SystemExit(f"station read: unknown file {unknown[0]!r} (known: "
                         + ", ".join(FILE_IDS) + ")")

    def progress(name: str, done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  {name}: {done}/{total} bytes", end="", file=sys.stderr, flush=True)

    # A QR is a CCCD's: its chip has PACE, and a card offering none is refused, not read by BAC.
    session = ChipSession(key, files, progress=progress, require_pace=args.qr is not None)
    reader = PcscReader(args.reader)
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        conn = reader.wait_for_card(remaining)
        try:
            chip_read = session.read(conn)
            break
        except TagLost as exc:
            print(f"station read: card removed ({exc}); tap it again to resume",
                  file=sys.stderr)
            # Give the card time to leave; the next wait_for_card then sees the next tap.
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise NoCard("the card was not presented again in time") from None
        except AuthFailed as exc:
            hint = "" if exc.tries_left is None else f" ({exc.tries_left} tries left)"
            print(f"station read: wrong access key: {exc}{hint}", file=sys.stderr)
            return 1
        except PaceUnavailable as exc:
            print(f"station read: {exc.reason}: {exc}", file=sys.stderr)
            if args.json:
                check = {"name": "access-control", "ok": False, "reason": exc.reason,
                         "detail": str(exc)}
                print(json.dumps({"verification": {"outcome": "not-genuine",
                                                   "reason": exc.reason,
                                                   "checks": [check]}}, indent=2))
            return 1
        finally:
            conn.close()
    ms = (time.monotonic() - started) * 1000
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    data = ChipData.from_files(chip_read.protocol, chip_read.files, chip_read.skipped)
    out = data.to_json()
    out["verification"] = _verification(args, data, chip_read)
    out["card_security"] = (None if chip_read.card_security is None else {
        "bytes": len(chip_read.card_security),
        "sha256": hashlib.sha256(chip_read.card_security).hexdigest()})
    out.update(apdus=chip_read.apdus, ms=round(ms, 1), detail=chip_read.detail,
               taps=chip_read.taps)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        _print_table(out)
    return 0


def _verification(args: argparse.Namespace, data: Any, chip_read: Any) -> dict[str, Any]:
    """Passive authentication of what was read, with the chip and active authentication run
    during the read (station.trust); never raises."""

    from station.commands import load_config
    from station.trust.store import TrustStore
    from station.trust.verification import verify

    store = None
    if args.trust:
        store = TrustStore.load(args.trust)
    else:
        path = load_config(args).trust_dir()
        if path is not None and path.is_dir():
            store = TrustStore.load(path)
    return verify(data, store, chip_authentication=chip_read.chip_authentication,
                  active_authentication=chip_read.active_authentication,
                  card_access=chip_read.card_access,
                  revocation=args.revocation).to_json()


def _print_table(out: dict[str, Any]) -> None:
    print(f"protocol   {out['detail'] or out['protocol']}")
    print(f"apdus      {out['apdus']}  ({out['ms']:.0f} ms, {out['taps']} tap(s))")
    mrz = out.get("mrz") or {}
    for k in ("document_number", "birth", "sex", "expiry", "nationality"):
        if k in mrz:
            print(f"mrz.{k:<16} {mrz[k]}")
    for group in ("dg13", "dg11", "dg12"):
        for k, v in (out.get(group) or {}).items():
            if isinstance(v, str) and v:
                print(f"{group}.{k:<15} {v}")
    if out.get("com_mismatch"):
        print(f"EF.COM     does not match the card: {', '.join(out['com_mismatch'])}")
    for name, f in out["files"].items():
        print(f"file {name:<6} {f['bytes']:>6} bytes  sha256 {f['sha256'][:16]}…")
    if out["skipped"]:
        print(f"skipped    {', '.join(out['skipped'])}")
    v = out.get("verification")
    if v:
        print(f"verified   {v['outcome']}" + (f" ({v['reason']})" if v["reason"] else ""))
        for c in v["checks"]:
            mark = {True: "ok", False: "FAIL", None: "--"}[c["ok"]]
            print(f"  {mark:<4} {c['name']:<22} {c['reason'] or ''} {c['detail']}".rstrip())
