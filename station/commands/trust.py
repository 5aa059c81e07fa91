"""`station trust`: manage the CSCA trust store (CSCA certificates, master lists, CRLs)."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from station.commands import Subparsers, load_config
from station.errors import ConfigError


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "trust", help="manage the CSCA trust store",
        description="The trust store is a directory (trust.path in the configuration) of CSCA "
                    "certificates (PEM/DER), Document Signer certificates, CRLs and ICAO CSCA "
                    "master lists. A master list counts only when its signer was issued by a "
                    "CSCA certificate already in the store.")
    p.add_argument("--path", metavar="DIR", help="trust store directory (default: trust.path)")
    acts = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    imp = acts.add_parser(
        "import", help="check files and add them to the store",
        description="Check each file against the store (and the other files given) before "
                    "copying any: certificates must parse with a usable key, DSCs must be "
                    "issued by a CSCA of the store, CRLs signed by one, master lists signed by "
                    "a master list signer (EKU 2.23.136.1.1.3) a CSCA of the store issued. "
                    "Nothing is copied if one fails. A file never replaces a different one "
                    "of the same name (it is kept under a name with its digest); an identical "
                    "one is reported as already present.")
    imp.add_argument("files", type=Path, nargs="+", metavar="FILE")
    imp.set_defaults(func=run_import)
    ls = acts.add_parser("list", help="show what the store holds and what it could not use")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)


def _store_path(args: argparse.Namespace) -> Path:
    if args.path:
        return Path(args.path)
    cfg = load_config(args)
    trust_dir: Path | None = cfg.trust_dir()
    if trust_dir is None:
        raise ConfigError("trust.path", "is empty: no trust store configured")
    return trust_dir


def run_import(args: argparse.Namespace) -> int:
    from station.reasons import TrustError
    from station.trust.store import TrustStore

    root = _store_path(args)
    for f in args.files:
        if not f.is_file():
            print(f"station trust import: {f}: not a file")
            return 1
    if len({f.name for f in args.files}) != len(args.files):
        print("station trust import: two files have the same name")
        return 1
    # A file is never replaced because its name matches (another state's "csca.der" must not
    # remove ours): an identical one is already present, a different one gets its own name.
    targets: dict[Path, str] = {}
    present: list[str] = []
    for f in args.files:
        name = _store_name(root, f)
        if name is None:
            present.append(f.name)
        else:
            targets[f] = name
    names = list(targets.values())
    # Load the store as it would be with the new files, in a scratch copy.
    with tempfile.TemporaryDirectory(prefix="station-trust-") as scratch:
        stage = Path(scratch)
        if root.is_dir():
            for existing in root.iterdir():
                if existing.is_file() and not existing.name.startswith("."):
                    shutil.copyfile(existing, stage / existing.name)
        for f, name in targets.items():
            shutil.copyfile(f, stage / name)
        staged = TrustStore.load(stage)
    bad = [(name, why) for name, why in staged.problems if name in names]
    dsc_names = {c.source for c in staged.dscs}
    for dsc in staged.dscs:
        if dsc.source in names:
            try:
                staged.issuer_of(dsc)
            except TrustError as exc:
                bad.append((dsc.source, str(exc)))
    if bad:
        for name, why in bad:
            print(f"station trust import: {name}: {why}")
        print("station trust import: nothing imported")
        return 1
    root.mkdir(parents=True, exist_ok=True)
    for f, name in targets.items():
        tmp = root / f".{name}.tmp"
        shutil.copyfile(f, tmp)
        tmp.chmod(0o644)
        tmp.replace(root / name)
        if name != f.name:
            print(f"station trust import: {f.name}: the store has a different file of that "
                  f"name; kept both, this one as {name}")
    for name in present:
        print(f"station trust import: {name}: already present (identical file)")
    counts = {
        "csca": sum(1 for c in staged.cscas if c.source in names),
        "dsc": sum(1 for n in dsc_names if n in names),
        "master_list": sum(1 for m in staged.master_lists if m.source in names),
        "crl": sum(1 for c in staged.crls if c.source in names),
    }
    listed = sum(len(m.cscas) for m in staged.master_lists if m.source in names)
    print(f"imported into {root}: {counts['csca']} CSCA certificate(s), "
          f"{counts['master_list']} master list(s) with {listed} CSCA(s), "
          f"{counts['dsc']} document signer(s), {counts['crl']} CRL(s)")
    return 0


def _store_name(root: Path, f: Path) -> str | None:
    """The name ``f`` takes in the store: its own, or — when the store has a different file of
    that name — the name with a digest of its content; None when an identical file is there."""
    import hashlib

    data = f.read_bytes()
    candidates = [f.name, f"{f.stem}-{hashlib.sha256(data).hexdigest()[:12]}{f.suffix}"]
    for name in candidates:
        existing = root / name
        if not existing.exists():
            return name
        if existing.is_file() and existing.read_bytes() == data:
            return None
    raise ConfigError("trust.path", f"{f.name}: the store holds different files under both "
                                    f"{candidates[0]} and {candidates[1]}")


def run_list(args: argparse.Namespace) -> int:
    from station.trust.store import TrustStore

    store = TrustStore.load(_store_path(args))
    out = {
        "path": store.path,
        "cscas": [c.to_json() for c in store.cscas],
        "document_signers": [c.to_json() for c in store.dscs],
        "master_lists": [{"source": m.source, "signer": m.signer.subject,
                          "signed_under": m.anchor.subject, "cscas": len(m.cscas),
                          "skipped": m.skipped} for m in store.master_lists],
        "crls": [{"source": c.source, "issuer": c.issuer.subject, "revoked": len(c.revoked),
                  "this_update": c.this_update.isoformat(),
                  "next_update": c.next_update.isoformat() if c.next_update else None}
                 for c in store.crls],
        "problems": [{"file": n, "problem": p} for n, p in store.problems],
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"trust store {store.path}: {len(store.cscas)} CSCA(s), {len(store.dscs)} DSC(s), "
          f"{len(store.master_lists)} master list(s), {len(store.crls)} CRL(s)")
    for c in store.cscas:
        print(f"  CSCA  {c.subject}  {c.key.description}  "
              f"{c.not_before:%Y-%m-%d}..{c.not_after:%Y-%m-%d}  [{c.source}]")
    for c in store.dscs:
        print(f"  DSC   {c.subject}  serial {c.serial:X}  [{c.source}]")
    for m in store.master_lists:
        print(f"  list  {m.source}: {len(m.cscas)} CSCA(s), signer issued by {m.anchor.subject}")
    for r in store.crls:
        print(f"  CRL   {r.source}: {len(r.revoked)} revoked, by {r.issuer.subject}")
    for name, problem in store.problems:
        print(f"  unusable {name}: {problem}")
    return 0
