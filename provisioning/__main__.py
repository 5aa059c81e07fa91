"""``python -m provisioning``: the operator CA tool (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from provisioning import mosquitto, registry
from provisioning.ca import STATION_DAYS, OperatorCa
from station import keys
from station.errors import StationError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m provisioning",
        description="Operator CA for station deployments: broker CA and certificates, "
                    "station certificates, the Mosquitto listener + ACL, the station registry.")
    p.add_argument("--dir", required=True, type=Path,
                   help="the CA directory (keep it off the stations; ca.key is the crown jewel)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", help="create the CA, broker certificate, backend identity")
    init.add_argument("--broker", action="append", required=True, metavar="NAME",
                      help="broker DNS name or IP address (repeatable; the first is its CN)")
    init.add_argument("--no-seal-key", action="store_true",
                      help="do not make the backend's X25519 sealing key pair here")
    init.set_defaults(func=cmd_init)

    sign = sub.add_parser("sign", help="sign a station's CSR and register its signing key")
    sign.add_argument("station_id")
    sign.add_argument("--csr", type=Path, required=True, help="the station's keys/client.csr")
    sign.add_argument("--signing-key", type=Path, required=True,
                      help="the station's keys/signing.pub.pem")
    sign.add_argument("--days", type=int, default=STATION_DAYS)
    sign.add_argument("--rotate", action="store_true",
                      help="replace the station's registered signing key")
    sign.set_defaults(func=cmd_sign)

    mq = sub.add_parser("mosquitto", help="write the Mosquitto TLS listener snippet and ACL")
    mq.add_argument("--out", type=Path, default=Path("/etc/mosquitto"),
                    help="Mosquitto's configuration directory (default /etc/mosquitto)")
    mq.add_argument("--port", type=int, default=8883)
    mq.add_argument("--bind", default="", help="address to listen on (default: all)")
    mq.set_defaults(func=cmd_mosquitto)

    reg = sub.add_parser("registry", help="list registered stations")
    reg.set_defaults(func=cmd_registry)
    return p


def cmd_init(args: argparse.Namespace) -> int:
    ca = OperatorCa.create(args.dir)
    ca.issue_server(args.broker)
    ca.issue_client(mosquitto.BACKEND_USER)
    print(f"CA        {ca.paths.ca_cert}")
    print(f"broker    {ca.paths.server_cert} ({', '.join(args.broker)})")
    print(f"backend   {ca.paths.client(mosquitto.BACKEND_USER)[0]}")
    if not args.no_seal_key:
        print(f"seal key  {ca.paths.seal_public} (key id {ca.create_seal_key()})")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    ca = OperatorCa(args.dir)
    if args.rotate:
        ca.forget_station(args.station_id)
    cert = ca.sign_station(args.station_id, args.csr.read_bytes(),
                           args.signing_key.read_bytes(), days=args.days)
    entry = registry.load(ca.paths.registry)[args.station_id]
    print(f"certificate {cert}")
    print(f"registered  {args.station_id} signing key id {entry.key_id}")
    print(f"on the station: station provision install-cert {cert.name} --ca ca.pem")
    return 0


def cmd_mosquitto(args: argparse.Namespace) -> int:
    ca = OperatorCa(args.dir)
    certs = args.out / "certs" / "station"
    certs.mkdir(parents=True, exist_ok=True)
    owner = _mosquitto_owner()
    shutil.copyfile(ca.paths.ca_cert, certs / "ca.pem")
    shutil.copyfile(ca.paths.server_cert, certs / "server.pem")
    # The broker drops to its own user before it reads its key: that user must own it.
    keys.write_file(certs / "server.key", ca.paths.server_key.read_bytes(), keys.PRIVATE_MODE,
                    owner=owner)
    acl_path = args.out / "station.acl"
    keys.write_file(acl_path, mosquitto.acl().encode(), keys.PUBLIC_MODE)
    conf = args.out / "conf.d" / "station.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    keys.write_file(conf, mosquitto.listener_snippet(
        port=args.port, bind=args.bind, cafile=str(certs / "ca.pem"),
        certfile=str(certs / "server.pem"), keyfile=str(certs / "server.key"),
        aclfile=str(acl_path)).encode(), keys.PUBLIC_MODE)
    print(f"listener  {conf}\nacl       {acl_path}\ncerts     {certs}")
    return 0


def _mosquitto_owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def cmd_registry(args: argparse.Namespace) -> int:
    for sid, entry in registry.load(OperatorCa(args.dir).paths.registry).items():
        print(f"{sid:<24} key {entry.key_id}  tls until {entry.tls_not_after[:10]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StationError as exc:
        print(f"provisioning {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"provisioning {args.command}: {exc.filename}: no such file", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
