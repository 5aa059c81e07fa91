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

    be = sub.add_parser("backend", help="issue another backend identity (an ingest worker, "
                        "an operator tool): ingest-2, ingest-3, operator-1, …")
    be.add_argument("name", help="a reserved backend name: ingest|operator|backend|admin[-N]")
    be.add_argument("--days", type=int, default=STATION_DAYS)
    be.set_defaults(func=cmd_backend)

    rv = sub.add_parser("revoke", help="revoke a station (stolen or retired desk): CRL, "
                        "broker access list and registry; then re-run `mosquitto` and "
                        "restart the broker")
    rv.add_argument("station_id")
    rv.set_defaults(func=cmd_revoke, revoked=True)
    urv = sub.add_parser("unrevoke", help="take a station off the CRL again")
    urv.add_argument("station_id")
    urv.set_defaults(func=cmd_revoke, revoked=False)

    mq = sub.add_parser("mosquitto", help="write the Mosquitto TLS listener snippet, the "
                        "dynamic-security access list (registered, unrevoked stations and "
                        "the backend identities) and the CRL")
    mq.add_argument("--out", type=Path, default=Path("/etc/mosquitto"),
                    help="Mosquitto's configuration directory (default /etc/mosquitto)")
    mq.add_argument("--port", type=int, default=8883)
    mq.add_argument("--bind", default="", help="address to listen on (default: all)")
    mq.set_defaults(func=cmd_mosquitto)

    reg = sub.add_parser("registry", help="list registered stations (and which are revoked)")
    reg.set_defaults(func=cmd_registry)
    return p


def cmd_init(args: argparse.Namespace) -> int:
    ca = OperatorCa.create(args.dir)
    ca.issue_server(args.broker)
    ca.issue_client(mosquitto.BACKEND_USER)
    ca.write_crl()
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


def cmd_backend(args: argparse.Namespace) -> int:
    cert, key = OperatorCa(args.dir).issue_client(args.name, days=args.days)
    print(f"backend   {cert} (key {key}); re-run `mosquitto` and restart the broker")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    ca = OperatorCa(args.dir)
    ca.set_revoked(args.station_id, args.revoked)
    state = "revoked" if args.revoked else "no longer revoked"
    print(f"{args.station_id} {state}; CRL {ca.paths.crl}")
    print("next: python -m provisioning --dir … mosquitto --out /etc/mosquitto && "
          "systemctl restart mosquitto; restart ingest so it reloads the registry")
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
    shutil.copyfile(ca.write_crl(), certs / "crl.pem")
    entries = registry.load(ca.paths.registry)
    stations = [sid for sid, e in entries.items() if not e.revoked_at]
    dynsec = args.out / "station-dynsec.json"
    # The plugin rewrites this file when changed over $CONTROL: the broker's user owns it.
    keys.write_file(dynsec, mosquitto.dynsec_config(stations, ca.backends()).encode(),
                    keys.PRIVATE_MODE, owner=owner)
    conf = args.out / "conf.d" / "station.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    keys.write_file(conf, mosquitto.listener_snippet(
        port=args.port, bind=args.bind, cafile=str(certs / "ca.pem"),
        certfile=str(certs / "server.pem"), keyfile=str(certs / "server.key"),
        crlfile=str(certs / "crl.pem"), dynsec_file=str(dynsec)).encode(), keys.PUBLIC_MODE)
    print(f"listener  {conf}\naccess    {dynsec} ({len(stations)} station(s), "
          f"{len(entries) - len(stations)} revoked)\ncerts     {certs}")
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
        revoked = f"  REVOKED {entry.revoked_at}" if entry.revoked_at else ""
        print(f"{sid:<24} key {entry.key_id}  tls until {entry.tls_not_after[:10]}{revoked}")
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
