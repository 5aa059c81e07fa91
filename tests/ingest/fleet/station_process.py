"""A provisioned station's MQTT side as a process of its own, for the fleet tests: the real
outbox and publisher with the station's own certificate and keys (``station provision`` made
them), the desk's command handler (lodging profile: ``booking``, ``entry``, ``can``), and with
``--record`` one signed, sealed record of a virtual citizen. The tests kill it (SIGKILL: the
broker sends its Last Will) or freeze it (SIGSTOP: no Will, the heartbeat just stops).

``python -m tests.ingest.fleet.station_process --state DIR --outbox FILE --id ID --port N
--ca CA.pem``; prints ``ready`` once connected (and the record stored).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from station import keys
from station.config import ProfileSection
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.service import profiles
from station.service.commands import DeskCommands

CITIZEN = {"id_number": "079203001234", "full_name": "Nguyễn Văn Thử",
           "date_of_birth": "1990-07-15"}
"""The virtual citizen of ``--record`` (the tests search the fleet tables for these)."""


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--outbox", type=Path, required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--interval", type=float, default=0.3)
    p.add_argument("--record", action="store_true")
    args = p.parse_args()
    k = keys.KeyPaths.under(args.state)
    settings = BrokerSettings("127.0.0.1", args.port, True, args.ca, str(k.client_cert),
                              str(k.client_key), keepalive_s=30)
    outbox = Outbox(args.outbox)
    desk = DeskCommands(profiles.build("lodging", ProfileSection(establishment_id="LT-0001")))
    desk.bind(lambda e: None)
    publisher = Publisher(outbox, args.id, settings, on_command=desk,
                          health_interval_s=args.interval)
    store = OutboxStore(outbox, RecordSigner(args.id, keys.load_signing_key(k.signing),
                                             keys.load_backend_seal_key(k.backend_seal)),
                        publisher)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    publisher.start()
    if not publisher.wait_connected(15):
        print("not connected", flush=True)
        return 1
    if args.record:
        store.store(Reading("lodging", "PACE", "authentic",
                                    (Check("passive_authentication", True),), dict(CITIZEN)))
    print("ready", flush=True)
    stop.wait()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
