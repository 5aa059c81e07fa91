"""`station demo`: a whole station on software twins that a newcomer can watch work.

Starts a private pcscd with the vpcd driver, a local Mosquitto on a free loopback port, the
reference ingest backend and an outbox on a temporary file; then taps synthetic cards one after
the other and prints every stage as it happens. Everything it started is stopped at the end.

The broker is Mosquitto when it is installed, else the embedded pure-Python MQTT 5 broker
(:mod:`station.testing.embedded_broker`); ``broker="embedded"`` (``--broker embedded`` or
``STATION_DEMO_BROKER=embedded``) forces the fallback. The demo says which one it uses.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from station import keys
from station.drivers.reader.pcsc import PcscReader
from station.ingest import Ingest, Received
from station.nfc.lds.dg1 import parse_dg1
from station.nfc.session import read_plain
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher, wait_until
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.sim.citizens import skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.embedded_broker import EmbeddedBroker
from station.testing.mosquitto import MosquittoBroker, mosquitto_binary
from station.testing.pcscd import PcscdTestbed

Say = Callable[[str], None]
BROKERS = ("auto", "mosquitto", "embedded")


def choose_broker(choice: str | None = None) -> str:
    """``mosquitto`` or ``embedded``: the explicit choice, else ``STATION_DEMO_BROKER``, else
    Mosquitto when installed."""
    choice = choice or os.environ.get("STATION_DEMO_BROKER") or "auto"
    if choice not in BROKERS:
        raise ValueError(f"unknown broker {choice!r} (choose from {', '.join(BROKERS)})")
    if choice == "auto":
        return "mosquitto" if mosquitto_binary() is not None else "embedded"
    return choice


@dataclass(frozen=True)
class DemoResult:
    cards: int
    stored: int
    published: int
    acknowledged: int

    @property
    def ok(self) -> bool:
        return self.cards == self.stored == self.published == self.acknowledged


@contextlib.contextmanager
def _started(say: Say, workdir: Path,
             broker_kind: str) -> Iterator[tuple[PcscdTestbed, MosquittoBroker | EmbeddedBroker]]:
    with contextlib.ExitStack() as stack:
        say("starting pcscd with the vpcd virtual reader driver …")
        testbed = stack.enter_context(PcscdTestbed())
        testbed.activate()
        say(f"  pcscd up, readers: {', '.join(testbed.readers)} (vpcd port {testbed.port}, "
            f"pid {testbed.pid})")
        broker: MosquittoBroker | EmbeddedBroker
        if broker_kind == "mosquitto":
            say("starting Mosquitto on a free loopback port …")
            broker = stack.enter_context(MosquittoBroker())
            say(f"  broker up on 127.0.0.1:{broker.port} (Mosquitto, pid {broker.pid})")
        else:
            say("starting the embedded MQTT 5 broker on a free loopback port (Mosquitto "
                + ("not installed" if mosquitto_binary() is None else "not chosen") + ") …")
            broker = stack.enter_context(EmbeddedBroker())
            say(f"  broker up on 127.0.0.1:{broker.port} (embedded pure-Python broker, in "
                "this process)")
        yield testbed, broker


def run(cards: int = 3, station_id: str = "demo-desk-01", say: Say = print,
        broker: str | None = None) -> DemoResult:
    broker_kind = choose_broker(broker)
    t0 = time.monotonic()

    def stage(seed: int, text: str) -> None:
        say(f"[{(time.monotonic() - t0) * 1000:7.0f} ms] card {seed}: {text}")

    with tempfile.TemporaryDirectory(prefix="station-demo-") as tmp, \
            _started(say, Path(tmp), broker_kind) as (testbed, mqtt):
        # Throw-away keys: the station's Ed25519 signing key and the backend's X25519 sealing
        # key pair (on a real station these come from `station provision`).
        signing = keys.generate_signing_key()
        sealing = keys.generate_seal_key()
        acked_by_backend: set[str] = set()

        def received(r: Received) -> None:
            if not r.duplicate:
                acked_by_backend.add(r.record.record_id)

        ingest = Ingest(Path(tmp) / "ingest.sqlite3", mqtt.settings(),
                        stations={station_id: signing.public_key()}, backend_key=sealing,
                        on_record=received)
        ingest.start()
        say("reference ingest backend subscribed to $share/ingest/stations/+/records")
        outbox = Outbox(Path(tmp) / "outbox.sqlite3")
        pubacked: set[str] = set()
        publisher = Publisher(outbox, station_id, mqtt.settings(),
                              on_ack=lambda rid, ok: pubacked.add(rid) if ok else None)
        publisher.start()
        store = OutboxStore(outbox, RecordSigner(station_id, signing, sealing.public_key()),
                            publisher)
        publisher.wait_connected(10)
        reader = PcscReader(testbed.readers[0])
        stored = 0
        say("")
        try:
            for seed in range(1, cards + 1):
                link = VpcdLink(FileCard(skeleton_files(seed)), testbed.slot_port(0))
                link.insert()
                conn = reader.wait_for_card(10)
                stage(seed, f"card seen on {conn.reader_name}")
                chip = read_plain(conn)
                sizes = ", ".join(f"{n} {len(d)} B" for n, d in chip.files.items())
                stage(seed, f"read ({sizes}; {link.apdu_count} APDUs)")
                stage(seed, "verified: skipped — the walking skeleton has no passive "
                            "authentication yet")
                mrz = parse_dg1(chip.files["DG1"])
                citizen = {"id_number": mrz.optional1.rstrip("<"),
                           "full_name": f"{mrz.primary_identifier} {mrz.secondary_identifier}",
                           "sex": mrz.sex}
                reading = Reading("reception", chip.protocol, "unverified",
                                  (Check("passive_authentication", False, "not run"),),
                                  citizen, chip.files)
                (signed,) = store.store_many([reading])
                record = signed.record
                stage(seed, f"record {record.record_id} built (seq {record.seq}; JWS Ed25519, "
                            f"{len(citizen)} citizen fields sealed with HPKE, "
                            f"{len(signed.token)} B)")
                stored += 1
                stage(seed, "stored (SQLite WAL, synchronous=FULL, committed)")
                conn.close()
                link.remove()
                rid = record.record_id
                if wait_until(lambda rid=rid: rid in pubacked, 10):  # type: ignore[misc]
                    stage(seed, "published (PUBACK from the broker)")
                if wait_until(lambda rid=rid: rid in acked_by_backend, 10):  # type: ignore[misc]
                    stage(seed, "acknowledged by the backend (signature verified, sealed "
                                "fields opened, stored in ingest's database)")
        finally:
            publisher.stop()
            ingest.stop()
            outbox.close()
        result = DemoResult(cards, stored, len(pubacked), len(acked_by_backend))
    say("")
    say(f"summary: {result.cards} card(s) tapped, {result.stored} stored, {result.published} "
        f"published, {result.acknowledged} acknowledged by the backend — "
        + ("all delivered" if result.ok else "SOMETHING WAS NOT DELIVERED"))
    say("all processes the demo started are stopped")
    return result
