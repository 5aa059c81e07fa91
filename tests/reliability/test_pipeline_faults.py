"""The pipeline's fault campaign on real Mosquitto: ACL refusal, broker outage, kill -9."""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import keys
from station.ingest import Ingest, Received
from station.pipeline.mqtt import make_client
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until
from tests.reliability.campaign import Tally, scale

pytestmark = pytest.mark.mqtt

ID_NUMBER = "079099012345"
NAME = "Phạm Quốc Dũng"


def integrity_ok(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PayloadTap:
    """A plain MQTT subscriber on ``stations/#``: every payload the broker carried, to scan
    for plaintext citizen data."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.payloads: list[bytes] = []
        self.client: Any = make_client("payload-tap", broker.settings())
        self.client.on_connect = lambda c, *_: c.subscribe("stations/#", qos=1)
        self.client.on_message = lambda c, u, msg: self.payloads.append(bytes(msg.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


def reading(n: int = 0) -> Reading:
    return Reading("reception", "PACE", "authentic", (Check("passive_authentication", True),),
                   {"id_number": ID_NUMBER, "full_name": NAME}, {"DG1": n.to_bytes(4, "big")})


@pytest.fixture(scope="module")
def keypair() -> tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]:
    return keys.generate_signing_key(), keys.generate_seal_key()


def test_station_cannot_publish_under_another_station(
        tmp_path: Path, tls_broker: MosquittoBroker,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    sk, bk = keypair
    received: list[Received] = []
    ingest = Ingest(tmp_path / "ingest.sqlite3", tls_broker.settings("ingest"),
                    stations={"desk-a": sk.public_key(), "desk-b": sk.public_key()},
                    backend_key=bk, on_record=received.append)
    ingest.start()
    # desk-a's certificate, but configured (or compromised) to write as desk-b.
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    verdicts: list[bool] = []
    publisher = Publisher(outbox, "desk-b", tls_broker.settings("desk-a"),
                          on_ack=lambda rid, ok: verdicts.append(ok))
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-b", sk, bk.public_key()), publisher)
    try:
        assert publisher.wait_connected(10)
        store.store(reading())
        assert wait_until(lambda: verdicts == [False], 10)
        time.sleep(0.3)
        # kept
        assert outbox.counts() == {"pending": 1, "delivered": 0, "acked": 0}
        assert any("0x87" in a for a in outbox.alarms)  # Not authorized
        assert publisher.stats().refused >= 1
    finally:
        publisher.stop()
        outbox.close()
    # The same station under its own id goes through, over mTLS.
    outbox2 = Outbox(tmp_path / "outbox2.sqlite3")
    publisher2 = Publisher(outbox2, "desk-a", tls_broker.settings("desk-a"))
    publisher2.start()
    store2 = OutboxStore(outbox2, RecordSigner("desk-a", sk, bk.public_key()), publisher2)
    try:
        store2.store(reading())
        assert wait_until(lambda: outbox2.counts()["acked"] == 1, 10)
        assert wait_until(lambda: len(received) == 1, 10)
    finally:
        store2.close()
        ingest.stop()
    assert received[0].record.station_id == "desk-a"
    assert not verdicts[1:]  # nothing of desk-b's ever got through


def test_broker_outage_loses_nothing_and_drains_in_order(
        tmp_path: Path, own_broker: MosquittoBroker, tally: Tally,
        caplog: pytest.LogCaptureFixture,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    """Taps go on while the broker is down (0.3 s here, 90 s under ``make reliability``):
    nothing is lost, memory stays bounded, the backlog drains in order; no plaintext citizen
    data on the wire or in the logs."""
    caplog.set_level(logging.DEBUG)
    sk, bk = keypair
    outage_taps = scale(30, 1800)
    ingest = Ingest(tmp_path / "ingest.sqlite3", own_broker.settings(),
                    stations={"desk-o": sk.public_key()}, backend_key=bk)
    ingest.start()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-o", own_broker.settings(), backoff_base_s=0.2,
                          backoff_max_s=1.0)
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-o", sk, bk.public_key()), publisher)
    taps = [PayloadTap(own_broker)]
    total = 10 + outage_taps
    rss_growth = 0
    try:
        assert publisher.wait_connected(10)
        for n in range(10):
            store.store(reading(n))
        assert wait_until(lambda: ingest.count() == 10, 10)
        assert wait_until(lambda: outbox.counts()["acked"] == 10, 10)  # their receipts came
        # The tap listens only while ingest is surely subscribed: a second subscriber on
        # stations/# during the restart would turn the broker's "no matching subscribers"
        # (0x10, not delivered) into success before ingest has re-subscribed.
        assert wait_until(lambda: len(taps[0].payloads) >= 10, 10)
        taps[0].stop()
        own_broker.stop()
        rss_before = rss_kib()
        for n in range(10, total):  # taps while the broker is down: stored, not lost
            store.store(reading(n))
            time.sleep(0.01 if outage_taps <= 30 else 0.05)
        rss_growth = rss_kib() - rss_before
        assert outbox.counts()["acked"] == 10
        assert outbox.counts()["pending"] == outage_taps
        own_broker.start()
        assert wait_until(lambda: ingest.count() == total, 60), outbox.counts()
        assert wait_until(lambda: outbox.counts()["acked"] == total, 10)
    finally:
        store.close()
        ingest.stop()
        taps[0].stop()
    seqs = ingest.sequences("desk-o")
    tally.record("broker outage (Mosquitto stopped)", runs=1, faults=1, committed=total,
                 delivered=len(set(seqs)), lost=total - len(set(seqs)),
                 duplicates=len(seqs) - len(set(seqs)),
                 note=f"{outage_taps} taps during the outage, RSS growth {rss_growth} KiB")
    assert seqs == list(range(1, total + 1))  # every record, once, in order
    # The backlog is in the database, not in RAM (paho queues nothing while disconnected).
    assert rss_growth < 20 * 1024
    assert integrity_ok(tmp_path / "outbox.sqlite3")
    # No plaintext citizen data on the wire or in the logs.
    payloads = taps[0].payloads
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.sqlite3*"))
    for payload in [*payloads, raw]:
        assert ID_NUMBER.encode() not in payload and NAME.encode() not in payload
    assert ID_NUMBER not in caplog.text and NAME not in caplog.text


def test_kill_9_at_random_moments_delivers_every_committed_record_once(
        tmp_path: Path, own_broker: MosquittoBroker, tally: Tally,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    sk, bk = keypair
    keys.save_private_key(sk, tmp_path / "signing.pem")
    keys.save_public(keys.public_pem(bk.public_key()), tmp_path / "backend-seal.pub.pem")
    ingest = Ingest(tmp_path / "ingest.sqlite3", own_broker.settings(),
                    stations={"desk-k": sk.public_key()}, backend_key=bk)
    ingest.start()
    script = Path(__file__).with_name("station_proc.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    rng = random.Random(20261123)
    committed: set[int] = set()
    runs = scale(20, 60)
    try:
        for _ in range(runs):
            proc = subprocess.Popen([sys.executable, str(script), str(tmp_path),
                                     str(own_broker.port)], stdout=subprocess.PIPE, env=env,
                                    text=True)
            assert proc.stdout is not None
            # Kill after a random number of commits (so the kill lands mid-stream), at a random
            # extra delay (between commits, mid-commit, mid-publish).
            target = rng.randint(1, 60)
            got = 0
            for line in proc.stdout:
                if line.startswith("committed "):
                    committed.add(int(line.split()[1]))
                    got += 1
                    if got >= target:
                        break
            time.sleep(rng.random() * 0.02)
            proc.send_signal(signal.SIGKILL)
            for line in proc.stdout:  # what it printed before dying was committed
                if line.startswith("committed "):
                    committed.add(int(line.split()[1]))
            proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL
        # A last, clean run delivers whatever is left.
        done = subprocess.run([sys.executable, str(script), str(tmp_path),
                               str(own_broker.port), "1"], capture_output=True, text=True,
                              env=env, timeout=60, check=False)
        assert "drained" in done.stdout, done.stderr[-2000:]
        committed.update(int(x.split()[1]) for x in done.stdout.splitlines()
                         if x.startswith("committed "))
        box = Outbox(tmp_path / "outbox.sqlite3")
        last = box.status().last_seq
        counts = box.counts()
        box.close()
        # Everything released on the backend's receipt, including what a kill left between
        # PUBACK and receipt (re-sent by the last run after its receipt timeout).
        assert counts["pending"] == counts["delivered"] == 0
        assert counts["acked"] == last
        assert wait_until(lambda: ingest.count() == last, 10)
    finally:
        ingest.stop()
    seqs = ingest.sequences("desk-k")
    tally.record("crash (kill -9 of a station process)", runs=runs + 1, faults=runs,
                 committed=last, delivered=len(set(seqs)),
                 lost=len(set(range(1, last + 1)) - set(seqs)) + len(committed - set(seqs)),
                 duplicates=len(seqs) - len(set(seqs)))
    assert integrity_ok(tmp_path / "outbox.sqlite3")
    assert integrity_ok(tmp_path / "ingest.sqlite3")
    assert sorted(seqs) == list(range(1, last + 1))  # every stored record, exactly once
    assert committed <= set(seqs)
    assert len(committed) > runs
    # No plaintext citizen data anywhere in the outbox files.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.sqlite3*"))
    assert b"0790990" not in raw and "Phạm Quốc Dũng".encode() not in raw
