"""`station ingest`: run the reference ingest backend."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ingest", help="run the reference ingest backend",
        description="Subscribe to every station's records ($share/ingest/stations/+/records), "
                    "verify each record's signature against the station registry, reject "
                    "unknown stations, forgeries and replays, dedupe, open the sealed citizen "
                    "fields with the backend key and store them in a SQLite file. Runs until "
                    "interrupted; prints one line per record (ids only).",
    )
    p.add_argument("--db", default="ingest.sqlite3", help="where to store received records")
    p.add_argument("--registry", required=True, type=Path,
                   help="station registry JSON (python -m provisioning … registry.json)")
    p.add_argument("--backend-key", type=Path,
                   help="the backend's X25519 sealing private key (PKCS#8 PEM, mode 0600); "
                        "without it records are verified and stored still sealed")
    p.add_argument("--host", help="broker host (default: the configuration's mqtt.host)")
    p.add_argument("--port", type=int, help="broker port (default: the configuration's)")
    p.add_argument("--client-id", default="ingest-1", help="MQTT client id of this instance")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from provisioning import registry
    from station import keys
    from station.ingest import Ingest, Received
    from station.pipeline.mqtt import BrokerSettings

    cfg = load_config(args)
    m = cfg.mqtt
    settings = BrokerSettings(args.host or m.host, args.port or m.port, m.tls, m.ca_file,
                              m.cert_file, m.key_file, m.keepalive_s)
    stations = {sid: e.public_key() for sid, e in registry.load(args.registry).items()}
    backend = keys.load_seal_private_key(args.backend_key) if args.backend_key else None

    def show(r: Received) -> None:
        rec = r.record
        print(f"received station={rec.station_id} seq={rec.seq} record={rec.record_id} "
              f"outcome={rec.outcome}" + (" (duplicate)" if r.duplicate else ""), flush=True)

    ingest = Ingest(args.db, settings, stations=stations, backend_key=backend,
                    client_id=args.client_id, on_record=show)
    ingest.start()
    print(f"ingest: listening on {settings.host}:{settings.port} for {len(stations)} "
          "registered station(s)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
    return 0
