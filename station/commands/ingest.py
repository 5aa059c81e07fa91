"""`station ingest`: run the reference ingest backend."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ingest", help="run the reference ingest backend",
        description="Subscribe to every station's records ($share/ingest/stations/+/records), "
                    "verify each record's signature against the station registry, reject "
                    "unknown stations, forgeries and replays, dedupe, open the sealed citizen "
                    "fields with the backend key and store the records (citizen fields only in "
                    "their sealed form) in a SQLite file or PostgreSQL. Runs until "
                    "interrupted; prints one line per record (ids only).",
    )
    p.add_argument("--db", default="ingest.sqlite3",
                   help="where to store received records: a SQLite file (the default, for a "
                        "small site) or a postgresql://user@host/db DSN (production; needs the "
                        "backend extra). Several instances may share one PostgreSQL database")
    p.add_argument("--retention-days", type=float,
                   help="delete the citizen data of records older than this (the audit row "
                        "without personal data stays); default: keep")
    p.add_argument("--registry", required=True, type=Path,
                   help="station registry JSON (python -m provisioning … registry.json)")
    p.add_argument("--backend-key", type=Path,
                   help="the backend's X25519 sealing private key (PKCS#8 PEM, mode 0600); "
                        "without it records are verified and stored still sealed")
    p.add_argument("--host", help="broker host (default: the configuration's mqtt.host)")
    p.add_argument("--port", type=int, help="broker port (default: the configuration's)")
    p.add_argument("--webhook-url",
                   help="POST each new record, opened, in its profile's form (--webhook-form) to "
                        "this https URL: at least once, retried with backoff, HMAC-signed "
                        "(Station-Signature), Idempotency-Key = <record id>:<form>; needs "
                        "--backend-key")
    p.add_argument("--webhook-form", action="append", default=[], metavar="PROFILE=FORM",
                   help="the form a profile's records are posted in (repeatable); defaults: "
                        "reception=one-stop-json, hospital=fhir-patient, lodging=lodging-xlsx, "
                        "bank=bank-json; also lodging-csv, foreigners-csv (lodging), "
                        "lodging-csv/lodging-xlsx (hospital in-patients), record-json (any)")
    p.add_argument("--lodging-layout", type=Path, metavar="FILE",
                   help="the lodging forms' columns as the establishment's upload template "
                        "wants them (names, order, fixed cells, codes, date format): a TOML "
                        "file like contract/lodging-layout.example.toml; default: that file's "
                        "layout")
    p.add_argument("--webhook-secret-file", type=Path,
                   help="file holding the webhook's shared HMAC secret")
    p.add_argument("--client-id",
                   help="MQTT client id of this instance (default: its certificate's CN, "
                        "which the broker's use_username_as_clientid enforces anyway): each "
                        "worker on the shared subscription has its own backend identity "
                        "(python -m provisioning backend ingest-2), stable across restarts "
                        "(its persistent session and what the broker queued for it are "
                        "found by it)")
    p.add_argument("--health-port", type=int,
                   help="serve GET /health (JSON: connected, stored, duplicates, rejected, "
                        "open batch, lag) on this port; 0 picks a free one")
    p.add_argument("--health-bind", default="127.0.0.1",
                   help="address of the health endpoint (default: loopback only)")
    p.add_argument("--verify-threads", type=int, metavar="N",
                   help="threads checking signatures and unsealing off the network thread "
                        "(default: one per core this process may use, at most 4; 0: on the "
                        "network thread). Several workers on one machine share its cores: "
                        "give each its share")
    p.add_argument("--verify-processes", type=int, default=0, metavar="N",
                   help="check and unseal in N child processes instead of threads (their "
                        "Python work then holds no lock the network thread needs); "
                        "overrides --verify-threads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from provisioning import registry
    from station import keys
    from station.errors import ConfigError
    from station.ingest import Ingest, Received
    from station.ingest.health import HealthServer
    from station.ingest.layout import load_layout
    from station.ingest.webhook import WebhookDeliverer, forms_of

    cfg = load_config(args)
    m = cfg.mqtt
    settings = dataclasses.replace(m, host=args.host or m.host, port=args.port or m.port)
    entries = registry.load(args.registry)
    stations = {sid: e.public_key() for sid, e in entries.items() if not e.revoked_at}
    revoked = frozenset(sid for sid, e in entries.items() if e.revoked_at)
    client_id = args.client_id or (keys.certificate_cn(keys.load_certificate(Path(m.cert_file)))
                                   if m.tls and m.cert_file else "ingest")
    backend = keys.load_seal_private_key(args.backend_key) if args.backend_key else None

    def show(r: Received) -> None:
        rec = r.record
        print(f"received station={rec.station_id} seq={rec.seq} record={rec.record_id} "
              f"outcome={rec.outcome}" + (" (duplicate)" if r.duplicate else ""))

    retention = None if args.retention_days is None else args.retention_days * 86400
    if args.webhook_url and (backend is None or args.webhook_secret_file is None):
        raise ConfigError("--webhook-url", "needs --backend-key and --webhook-secret-file")
    forms = forms_of(args.webhook_form)
    layout = load_layout(args.lodging_layout) if args.lodging_layout else None
    ingest = Ingest(args.db, settings, stations=stations, backend_key=backend,
                    client_id=client_id, on_record=show, retention_s=retention,
                    webhook=bool(args.webhook_url), revoked=revoked,
                    verify_threads=args.verify_threads,
                    verify_processes=args.verify_processes, on_batch=sys.stdout.flush)
    deliverer = None
    if args.webhook_url and backend is not None:
        secret = args.webhook_secret_file.read_bytes().strip()
        deliverer = WebhookDeliverer(args.webhook_url, secret, backend, ingest.locked,
                                     forms=forms, layout=layout)
        deliverer.start()
    health = None
    if args.health_port is not None:
        health = HealthServer(ingest, args.health_bind, args.health_port)
        health.start()
        print(f"ingest: health on http://{args.health_bind}:{health.port}/health", flush=True)
    # SIGTERM (systemd stop) ends like Ctrl-C: the open batch committed and receipted first.
    signal.signal(signal.SIGTERM, _interrupt)
    ingest.start()
    print(f"ingest: listening on {settings.host}:{settings.port} for {len(stations)} "
          "registered station(s)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
        if deliverer is not None:
            deliverer.stop()
        if health is not None:
            health.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
