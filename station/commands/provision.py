"""`station provision`: the station side of provisioning (keys, certificate, backend key, trust).

The operator side (CA, broker config, registry) is ``python -m provisioning``.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
from pathlib import Path
from typing import Any

from station.commands import Subparsers, load_config

SERVICE_USER = "station"


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "provision", help="provision this station's keys and certificates",
        description="Create this station's identity (Ed25519 signing key, TLS key + CSR), "
                    "install the certificate the operator CA signed, the backend's sealing "
                    "key and the CSCA trust store. Paths come from the configuration.")
    p.add_argument("--root", type=Path, default=Path("/"),
                   help="prefix for every configured path (a temp root for tests/images)")
    p.add_argument("--user", default=None,
                   help=f"owner of the keys (default: {SERVICE_USER!r} when it exists and "
                        "we run as root, else the caller)")
    p.add_argument("--id", help="station id (default: station.id from the configuration)")
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = acts.add_parser("init", help="create the signing key and TLS key + CSR "
                                        "(keeps an existing identity)")
    init.add_argument("--rotate", action="store_true",
                      help="replace an existing identity (the old certificate is dropped)")
    init.set_defaults(func=run_init)

    cert = acts.add_parser("install-cert", help="install the signed client certificate")
    cert.add_argument("cert", type=Path, help="the certificate the operator CA issued")
    cert.add_argument("--ca", type=Path, required=True, help="the broker CA certificate")
    cert.set_defaults(func=run_install_cert)

    seal = acts.add_parser("install-backend-key",
                           help="install the backend's X25519 sealing public key")
    seal.add_argument("pem", type=Path)
    seal.set_defaults(func=run_install_backend_key)

    trust = acts.add_parser("install-trust",
                            help="install CSCA certificates and/or CMS master lists")
    trust.add_argument("files", type=Path, nargs="+")
    trust.set_defaults(func=run_install_trust)

    show = acts.add_parser("show", help="what is installed (key ids, no key material)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)


def _under(root: Path, path: str | Path) -> Path:
    p = Path(path)
    return root / p.relative_to("/") if p.is_absolute() else root / p


def _state_dir(args: argparse.Namespace, cfg: Any) -> Path:
    return _under(args.root, cfg.station.state_dir)


def _owner(args: argparse.Namespace) -> tuple[int, int] | None:
    name = args.user
    if name is None:
        if os.geteuid() != 0:
            return None
        name = SERVICE_USER
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            return None
    else:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            from station.errors import ProvisioningError

            raise ProvisioningError(f"no user {name!r}") from None
    return pw.pw_uid, pw.pw_gid


def _ca_dest(args: argparse.Namespace, cfg: Any) -> Path:
    if cfg.mqtt.ca_file:
        return _under(args.root, cfg.mqtt.ca_file)
    return _state_dir(args, cfg) / "keys" / "ca.pem"


def run_init(args: argparse.Namespace) -> int:
    from station import identity

    cfg = load_config(args)
    station_id = args.id or cfg.station.id
    ident = identity.create(_state_dir(args, cfg), station_id, owner=_owner(args),
                            rotate=args.rotate)
    verb = "created" if ident.created else "kept existing"
    print(f"{verb} identity for station {station_id}")
    print(f"signing key id  {ident.signing_key_id}")
    print(f"send to the operator: {ident.csr} and {ident.signing_public}")
    return 0


def run_install_cert(args: argparse.Namespace) -> int:
    from station import identity

    cfg = load_config(args)
    cert = identity.install_certificate(
        _state_dir(args, cfg), args.id or cfg.station.id, args.cert.read_bytes(),
        args.ca.read_bytes(), _ca_dest(args, cfg), owner=_owner(args))
    print(f"installed certificate for {keys_cn(cert)}, valid until "
          f"{cert.not_valid_after_utc:%Y-%m-%d}; CA at {_ca_dest(args, cfg)}")
    return 0


def keys_cn(cert: Any) -> str:
    from station import keys

    return keys.certificate_cn(cert)


def run_install_backend_key(args: argparse.Namespace) -> int:
    from station import identity

    cfg = load_config(args)
    kid = identity.install_backend_key(_state_dir(args, cfg), args.pem.read_bytes(),
                                       owner=_owner(args))
    print(f"installed backend sealing key, key id {kid} (compare with the operator's)")
    return 0


def run_install_trust(args: argparse.Namespace) -> int:
    from station import identity

    cfg = load_config(args)
    trust_dir = cfg.trust_dir()
    if trust_dir is None:
        from station.errors import ConfigError

        raise ConfigError("trust.path", "is empty: no trust store configured")
    dest = _under(args.root, trust_dir)
    counts = identity.install_trust(dest, list(args.files))
    print(f"installed {counts['csca']} CSCA certificate(s) and {counts['masterlist']} "
          f"master list(s) into {dest}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from station import keys
    from station.errors import KeyStoreError

    cfg = load_config(args)
    paths = keys.KeyPaths.under(_state_dir(args, cfg))
    info: dict[str, Any] = {"station_id": args.id or cfg.station.id}
    try:
        info["signing_key_id"] = keys.key_id(keys.load_signing_key(paths.signing).public_key())
    except KeyStoreError as exc:
        info["signing_key_id"] = None
        info["signing_key_problem"] = exc.problem
    try:
        cert = keys.load_certificate(paths.client_cert)
        info["client_cert_cn"] = keys.certificate_cn(cert)
        info["client_cert_not_after"] = cert.not_valid_after_utc.isoformat()
    except KeyStoreError as exc:
        info["client_cert_problem"] = exc.problem
    try:
        info["backend_key_id"] = keys.key_id(keys.load_backend_seal_key(paths.backend_seal))
    except KeyStoreError as exc:
        info["backend_key_problem"] = exc.problem
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:<22} {v}")
    return 0
