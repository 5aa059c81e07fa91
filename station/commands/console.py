"""`station console`: serve the web console; manage its accounts, desk bindings and API tokens."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from station.commands import Subparsers, load_config
from station.errors import ConfigError

if TYPE_CHECKING:
    from station.console.store import ConsoleStore

ROLES = ("clerk", "operator", "admin")


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "console", help="the web console: desk view, operator pages, desk-system API",
        description="The backend's web application (needs the console extra). `serve` runs it "
                    "on the ingest database; the other actions manage its accounts in the same "
                    "database: clerks see the readings of the desks (station ids) they are "
                    "bound to, operators the stations, admins the accounts and the audit log.")
    p.add_argument("--db", default="ingest.sqlite3",
                   help="the ingest database: a SQLite file or a postgresql://user@host/db DSN "
                        "(default ingest.sqlite3)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    s = actions.add_parser(
        "serve", help="serve the console over HTTP(S)",
        description="Serve the console. Put it behind a TLS proxy (or give --tls-cert/--tls-key) "
                    "in any real deployment: its cookies are Secure and browsers send them "
                    "over plain HTTP to localhost only.")
    s.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--secret-file", type=Path, required=True,
                   help="file with the console's 32+ byte secret (keys the CSRF tokens); made "
                        "0600 with random bytes when it does not exist. Every process of one "
                        "deployment uses the same file")
    s.add_argument("--backend-key", type=Path,
                   help="the backend's X25519 sealing private key (PKCS#8 PEM): opens the "
                        "readings for the desk view and the API; without it only metadata")
    s.add_argument("--lodging-layout", type=Path, metavar="FILE",
                   help="the columns of the lodging forms the API returns, as the "
                        "establishment's upload template wants them: a TOML file like "
                        "contract/lodging-layout.example.toml (default: that layout)")
    s.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    s.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    s.add_argument("--proxy", action="store_true",
                   help="behind a reverse proxy on loopback: trust its X-Forwarded-For/-Proto "
                        "(the sign-in rate limit then counts the real client addresses)")
    s.add_argument("--reading-ttl", type=float, default=120.0,
                   help="seconds a reading stays on the desk view (default 120)")
    s.add_argument("--fill-origin", action="append", default=[], metavar="ORIGIN",
                   help="origin (https://host[:port]) of desk software that receives the fill "
                        "hand-off by window.postMessage and may frame the desk view; repeat")
    s.add_argument("--language", choices=("vi", "en"), default="vi",
                   help="language of the pages (default vi)")
    s.add_argument("--track", action="store_true",
                   help="run the fleet tracker in this process (the operator pages' live "
                        "state and their commands), as the backend identity in the "
                        "configuration's [mqtt] section: an operator… certificate (python -m "
                        "provisioning backend operator), one per running tracker")
    s.add_argument("--registry", type=Path,
                   help="provisioning's registry.json for the tracker (certificate expiry, "
                        "revocation; default CA_DIR/registry.json)")
    s.add_argument("--ca-dir", type=Path,
                   help="the operator CA directory: operators may revoke stations from the "
                        "console (its ca.key is then on this host)")
    s.add_argument("--insecure-cookies", action="store_true",
                   help="cookies without Secure, for a plain-HTTP test rig on another host "
                        "than localhost; never in production")
    s.set_defaults(func=serve)

    a = actions.add_parser("add-user", help="create an account",
                           description="Create an account. The password is read from "
                                       "--password-file, else asked for twice on the terminal.")
    a.add_argument("name")
    a.add_argument("--role", choices=ROLES, required=True)
    a.add_argument("--desk", action="append", default=[], metavar="STATION_ID",
                   help="bind the account to this desk (repeat)")
    a.add_argument("--password-file", type=Path,
                   help="file whose first line is the password (at least 10 characters)")
    a.set_defaults(func=add_user)

    b = actions.add_parser("bind", help="bind an account to a desk (station id)")
    b.add_argument("name")
    b.add_argument("desk", metavar="STATION_ID")
    b.set_defaults(func=bind)
    u = actions.add_parser("unbind", help="remove an account's desk binding")
    u.add_argument("name")
    u.add_argument("desk", metavar="STATION_ID")
    u.set_defaults(func=unbind)
    d = actions.add_parser("disable", help="disable an account (its sessions end at once)")
    d.add_argument("name")
    d.set_defaults(func=disable)

    t = actions.add_parser(
        "add-token", help="make an API token for a desk system (printed once)",
        description="Make an API token for the account NAME (a clerk account bound to the desk "
                    "system's desks). Printed once; the database keeps its SHA-256 only.")
    t.add_argument("name")
    t.add_argument("--label", default="", help="what the token is for (shown to admins)")
    t.set_defaults(func=add_token)
    r = actions.add_parser("revoke-tokens", help="revoke every API token of an account")
    r.add_argument("name")
    r.set_defaults(func=revoke_tokens)

    lg = actions.add_parser("audit", help="print the audit log (who saw which record id)")
    lg.add_argument("--record", help="only this record id")
    lg.add_argument("--limit", type=int, default=100)
    lg.set_defaults(func=audit)

    o = actions.add_parser("openapi", help="print the API's OpenAPI document (JSON)")
    o.set_defaults(func=openapi)


def _store(args: argparse.Namespace) -> ConsoleStore:
    # Deferred: the console extra (argon2, fastapi) is not on a station.
    from station.console.store import ConsoleStore

    return ConsoleStore(args.db)


def read_secret(path: Path) -> bytes:
    """The console secret; a missing file is made (0600, 32 random bytes, hex)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise ConfigError("--secret-file", "holds fewer than 32 bytes")
    return data


def serve(args: argparse.Namespace) -> int:
    # Deferred: the console extra.
    import uvicorn

    from station import keys
    from station.console.app import create_app
    from station.console.config import ConsoleConfig, FleetConfig
    from station.ingest.layout import load_layout
    from station.pipeline.mqtt import BrokerSettings

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert", "give both --tls-cert and --tls-key")
    fleet = FleetConfig(registry=args.registry, ca_dir=args.ca_dir)
    if args.track:
        m = load_config(args).mqtt
        fleet = FleetConfig(
            broker=BrokerSettings(m.host, m.port, m.tls, m.ca_file, m.cert_file, m.key_file,
                                  m.keepalive_s),
            client_id=(keys.certificate_cn(keys.load_certificate(Path(m.cert_file)))
                       if m.tls and m.cert_file else "operator"),
            registry=args.registry, ca_dir=args.ca_dir)
    cfg = ConsoleConfig(
        store=args.db, session_secret=read_secret(args.secret_file),
        backend_key=keys.load_seal_private_key(args.backend_key) if args.backend_key else None,
        secure_cookies=not args.insecure_cookies, reading_ttl_s=args.reading_ttl,
        fill_origins=tuple(args.fill_origin), language=args.language, fleet=fleet,
        lodging_layout=load_layout(args.lodging_layout) if args.lodging_layout else None)
    scheme = "https" if args.tls_cert else "http"
    print(f"console on {scheme}://{args.bind}:{args.port}/", flush=True)
    app = create_app(cfg)
    hub = app.state.console.hub

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            hub.closing = True  # open desk views end their streams, then the server stops
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=args.bind, port=args.port, log_level="warning",
                          access_log=False, proxy_headers=args.proxy,
                          forwarded_allow_ips="127.0.0.1" if args.proxy else None,
                          ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
                          ssl_keyfile=str(args.tls_key) if args.tls_key else None,
                          timeout_graceful_shutdown=3)).run()
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        lines = args.password_file.read_text().splitlines()
        return lines[0] if lines else ""
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("password", "the two entries differ")
    return first


def add_user(args: argparse.Namespace) -> int:
    from station.console.auth import hash_password

    try:
        hashed = hash_password(_password(args))
    except ValueError as exc:
        raise ConfigError("password", str(exc)) from exc
    store = _store(args)
    try:
        store.add_user(args.name, args.role, hashed)
        for desk in args.desk:
            store.bind(args.name, desk)
    finally:
        store.close()
    print(f"user {args.name} ({args.role}) added" + (
        f", bound to {', '.join(args.desk)}" if args.desk else ""))
    return 0


def bind(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.bind(args.name, args.desk)
    finally:
        store.close()
    print(f"{args.name} bound to desk {args.desk}")
    return 0


def unbind(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.unbind(args.name, args.desk)
    finally:
        store.close()
    return 0


def disable(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.disable_user(args.name)
    finally:
        store.close()
    return 0


def add_token(args: argparse.Namespace) -> int:
    from station.console.auth import new_secret

    token = new_secret()
    store = _store(args)
    try:
        store.add_token(token, args.name, args.label)
    finally:
        store.close()
    print(token)
    return 0


def revoke_tokens(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        print(f"{store.revoke_tokens(args.name)} token(s) revoked")
    finally:
        store.close()
    return 0


def audit(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        for e in store.audit_log(args.record, args.limit):
            print(json.dumps({"at": e.at, "user": e.user_name, "action": e.action,
                              "record_id": e.record_id, "detail": e.detail}))
    finally:
        store.close()
    return 0


def openapi(args: argparse.Namespace) -> int:
    from station.console.app import openapi_document

    json.dump(openapi_document(), sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
    print()
    return 0
