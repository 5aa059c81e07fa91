"""`station ingest`: run the reference ingest backend."""

from __future__ import annotations

import argparse
import threading

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ingest", help="run the reference ingest backend",
        description="Subscribe to every station's records ($share/ingest/stations/+/records), "
                    "dedupe and store them in a SQLite file. Runs until interrupted.",
    )
    p.add_argument("--db", default="ingest.sqlite3", help="where to store received records")
    p.add_argument("--host", help="broker host (default: the configuration's mqtt.host)")
    p.add_argument("--port", type=int, help="broker port (default: the configuration's)")
    p.add_argument("--client-id", default="ingest-1", help="MQTT client id of this instance")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.ingest import Ingest
    from station.pipeline.mqtt import BrokerSettings

    cfg = load_config(args)
    m = cfg.mqtt
    settings = BrokerSettings(args.host or m.host, args.port or m.port, m.tls, m.ca_file,
                              m.cert_file, m.key_file, m.keepalive_s)
    ingest = Ingest(args.db, settings, client_id=args.client_id,
                    on_record=lambda r, dup: print(
                        f"received station={r.station_id} seq={r.seq} record={r.record_id}"
                        + (" (duplicate)" if dup else ""), flush=True))
    ingest.start()
    print(f"ingest: listening on {settings.host}:{settings.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
    return 0
