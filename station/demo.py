"""`station demo`: a whole station on software twins that a newcomer can watch work.

Starts a private pcscd with the vpcd driver, a local Mosquitto on a free loopback port, the
reference ingest backend and an outbox on a temporary file; then taps synthetic cards one after
the other and prints every stage as it happens. Everything it started is stopped at the end.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from station.drivers.reader.pcsc import PcscReader
from station.ingest import Ingest
from station.nfc.session import read_plain
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher, records_topic, wait_until
from station.pipeline.records import Record
from station.sim.citizens import skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed

Say = Callable[[str], None]


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
def _started(say: Say, workdir: Path) -> Iterator[tuple[PcscdTestbed, MosquittoBroker]]:
    with contextlib.ExitStack() as stack:
        say("starting pcscd with the vpcd virtual reader driver …")
        testbed = stack.enter_context(PcscdTestbed())
        testbed.activate()
        say(f"  pcscd up, readers: {', '.join(testbed.readers)} (vpcd port {testbed.port}, "
            f"pid {testbed.pid})")
        say("starting Mosquitto on a free loopback port …")
        broker = stack.enter_context(MosquittoBroker())
        say(f"  broker up on 127.0.0.1:{broker.port} (pid {broker.pid})")
        yield testbed, broker


def run(cards: int = 3, station_id: str = "demo-desk-01", say: Say = print) -> DemoResult:
    t0 = time.monotonic()

    def stage(seed: int, text: str) -> None:
        say(f"[{(time.monotonic() - t0) * 1000:7.0f} ms] card {seed}: {text}")

    with tempfile.TemporaryDirectory(prefix="station-demo-") as tmp, \
            _started(say, Path(tmp)) as (testbed, broker):
        acked_by_backend: set[str] = set()
        ingest = Ingest(Path(tmp) / "ingest.sqlite3", broker.settings(),
                        on_record=lambda r, dup: acked_by_backend.add(r.record_id))
        ingest.start()
        say("reference ingest backend subscribed to $share/ingest/stations/+/records")
        outbox = Outbox(Path(tmp) / "outbox.sqlite3")
        pubacked: set[str] = set()
        publisher = Publisher(outbox, station_id, broker.settings(),
                              on_ack=lambda rid, ok: pubacked.add(rid) if ok else None)
        publisher.start()
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
                record = Record.from_files(station_id, outbox.next_seq(), "reception",
                                           chip.protocol, chip.files)
                stage(seed, f"record {record.record_id} built (seq {record.seq}; "
                            "skeleton: hashes only, not yet signed)")
                outbox.add(record.record_id, record.seq, records_topic(station_id),
                           record.encode())
                stored += 1
                stage(seed, "stored (SQLite WAL, synchronous=FULL, committed)")
                conn.close()
                link.remove()
                rid = record.record_id
                if wait_until(lambda rid=rid: rid in pubacked, 10):  # type: ignore[misc]
                    stage(seed, "published (PUBACK from the broker)")
                if wait_until(lambda rid=rid: rid in acked_by_backend, 10):  # type: ignore[misc]
                    stage(seed, "acknowledged by the backend (stored in ingest's database)")
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
