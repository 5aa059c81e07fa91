"""Release on the backend's receipt, on real Mosquitto: a PUBACK only means the broker queued a
record (Mosquitto drops beyond ``max_queued_messages`` after answering 0x00), so the citizen data
leaves the station only when ingest has committed it and says so on
``stations/{id}/receipts``."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import keys
from station.ingest import Ingest
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher, _receipt_ids
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until

pytestmark = pytest.mark.mqtt

ID_NUMBER = "079099054321"


class Raw:
    """A plain paho client: subscribes, collects messages, remembers each PUBACK's reason."""

    def __init__(self, name: str, settings: BrokerSettings, *topics: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.reasons: dict[int, int] = {}
        self.client: Any = make_client(name, settings)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic,
                                                                       bytes(m.payload)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_publish = lambda c, u, mid, rc, p: self.reasons.__setitem__(
            mid, int(rc.value))
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        for t in topics:
            subscribed.clear()
            self.client.subscribe(t, qos=1)
            assert subscribed.wait(5)

    def publish(self, topic: str, payload: bytes) -> int:
        mid = int(self.client.publish(topic, payload, qos=1).mid)
        assert wait_until(lambda: mid in self.reasons, 5)
        return self.reasons[mid]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def reading(n: int) -> Reading:
    return Reading("reception", "PACE", "authentic", (Check("passive_authentication", True),),
                   {"id_number": ID_NUMBER, "full_name": "Lê Văn Tám"},
                   {"DG1": n.to_bytes(4, "big")})


@pytest.fixture(scope="module")
def keypair() -> tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]:
    return keys.generate_signing_key(), keys.generate_seal_key()


def payload_of(path: Path, rid: str) -> bytes | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT payload FROM records WHERE id=?", (rid,)).fetchone()
        return None if row[0] is None else bytes(row[0])
    finally:
        conn.close()


def committed_at_ingest(path: Path) -> set[str]:
    """What ingest has *committed* (a connection of our own sees no open transaction)."""
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT record_id FROM received")}
    finally:
        conn.close()


def test_payload_released_only_after_ingest_stored_it(
        tmp_path: Path, own_broker: MosquittoBroker, caplog: pytest.LogCaptureFixture,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    caplog.set_level(logging.INFO)
    sk, bk = keypair
    # Something takes the records (PUBACK 0x00) but sends no receipt.
    mute = Raw("mute-backend", own_broker.settings(), "stations/+/records")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    released: list[tuple[str, set[str]]] = []
    ingest_db = tmp_path / "ingest.sqlite3"
    publisher = Publisher(outbox, "desk-r", own_broker.settings(), receipt_timeout_s=1.0,
                          # ok=False is a refused publish (0x10 while neither backend is
                          # subscribed, between mute.stop() and ingest's subscribe), not a
                          # release: only releases are checked against what ingest committed.
                          on_ack=lambda rid, ok: ok and released.append(
                              (rid, committed_at_ingest(ingest_db))))
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-r", sk, bk.public_key()), publisher)
    ingest: Ingest | None = None
    try:
        ids = [store.store(reading(n)) for n in range(5)]
        assert wait_until(lambda: publisher.stats().delivered >= 5, 10)
        assert outbox.counts()["acked"] == 0 and not released
        sealed = payload_of(tmp_path / "outbox.sqlite3", ids[0])
        assert sealed is not None and ID_NUMBER.encode() not in sealed  # kept, still sealed
        # No receipt: re-sent after each timeout, an alarm once it keeps happening.
        assert wait_until(lambda: any(a.startswith("no receipt from the backend")
                                      for a in outbox.alarms), 15)
        assert "outbox.receipt_timeout" in caplog.text
        assert len(mute.messages) >= 10  # the copies the mute backend got
        mute.stop()
        ingest = Ingest(ingest_db, own_broker.settings(), stations={"desk-r": sk.public_key()},
                        backend_key=bk)
        ingest.start()
        assert wait_until(lambda: outbox.counts()["acked"] == 5, 15), outbox.counts()
        assert wait_until(lambda: not any(a.startswith("no receipt")
                                          for a in outbox.alarms), 5)  # cleared
    finally:
        store.close()
        if ingest is not None:
            ingest.stop()
    assert sorted(r for r, _ in released) == sorted(ids)
    for rid, stored in released:  # released only once ingest had committed it
        assert rid in stored
    assert all(payload_of(tmp_path / "outbox.sqlite3", rid) is None for rid in ids)


def _broker_drop_run(tmp_path: Path, release: str,
                     keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]
                     ) -> tuple[Ingest, Outbox, Publisher, OutboxStore, MosquittoBroker]:
    """Ingest offline on its persistent session behind a broker that queues 5 per client;
    50 records published, all PUBACKed 0x00; then ingest comes back."""
    sk, bk = keypair
    broker = MosquittoBroker(max_queued_messages=5).start()
    ingest = Ingest(tmp_path / "ingest.sqlite3", broker.settings(),
                    stations={"desk-d": sk.public_key()}, backend_key=bk, client_id="ingest-d")
    ingest.start()
    ingest.stop()  # its session (and subscription) stays: the broker queues for it
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-d", broker.settings(), release=release,
                          receipt_timeout_s=2.0)
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-d", sk, bk.public_key()), publisher)
    store.store_many([reading(n) for n in range(50)])
    assert wait_until(lambda: publisher.stats().delivered >= 50, 15)
    assert publisher.stats().refused == 0  # every PUBACK was a success (0x00)
    ingest = Ingest(tmp_path / "ingest.sqlite3", broker.settings(),
                    stations={"desk-d": sk.public_key()}, backend_key=bk, client_id="ingest-d")
    ingest.start()
    return ingest, outbox, publisher, store, broker


def test_broker_drops_are_recovered_by_receipts(
        tmp_path: Path,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    ingest, outbox, publisher, store, broker = _broker_drop_run(tmp_path, "receipt", keypair)
    try:
        assert wait_until(lambda: outbox.counts()["acked"] == 50, 40), outbox.counts()
        assert ingest.count() == 50
    finally:
        store.close()
        ingest.stop()
        broker.close()
    seqs = ingest.sequences("desk-d")
    assert sorted(seqs) == list(range(1, 51))  # every record, exactly once, in the end
    assert publisher.stats().delivered > 50  # some had to be re-sent: the broker dropped them


def test_broker_drops_lose_records_when_released_on_puback(
        tmp_path: Path,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    """Documents why receipts exist: the same run released on PUBACK loses records."""
    ingest, outbox, _publisher, store, broker = _broker_drop_run(tmp_path, "puback", keypair)
    try:
        assert outbox.counts()["acked"] == 50  # every payload deleted on PUBACK 0x00
        wait_until(lambda: ingest.count() >= 50, 3)
        time.sleep(0.5)
        got = ingest.count()
    finally:
        store.close()
        ingest.stop()
        broker.close()
    assert 0 < got < 50  # the broker kept a few for the offline session, dropped the rest


def test_station_cannot_forge_receipts(
        tmp_path: Path, tls_broker: MosquittoBroker,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    sk, bk = keypair
    backend = Raw("backend", tls_broker.settings("ingest"), "stations/+/records")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-a", tls_broker.settings("desk-a"))
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-a", sk, bk.public_key()), publisher)
    forger = Raw("forger", tls_broker.settings("desk-a"))
    other = Raw("other", tls_broker.settings("desk-b"))
    try:
        rid = store.store(reading(1))
        assert wait_until(lambda: outbox.counts()["delivered"] == 1, 10)
        forged = json.dumps({"ids": [rid]}).encode()
        # Its own receipts topic, another station's, and via another station's certificate.
        assert forger.publish("stations/desk-a/receipts", forged) == 0x87
        assert forger.publish("stations/desk-b/receipts", forged) == 0x87
        assert other.publish("stations/desk-a/receipts", forged) == 0x87
        time.sleep(0.5)
        assert outbox.counts()["delivered"] == 1 and outbox.counts()["acked"] == 0
        assert payload_of(tmp_path / "outbox.sqlite3", rid) is not None
        # The backend's certificate may write it: that one releases the record.
        assert backend.publish("stations/desk-a/receipts", forged) == 0
        assert wait_until(lambda: outbox.counts()["acked"] == 1, 10)
    finally:
        store.close()
        for c in (backend, forger, other):
            c.stop()


def test_duplicates_are_receipted_and_malformed_receipts_ignored(
        tmp_path: Path, own_broker: MosquittoBroker, caplog: pytest.LogCaptureFixture,
        keypair: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    caplog.set_level(logging.INFO)
    sk, bk = keypair
    ingest = Ingest(tmp_path / "ingest.sqlite3", own_broker.settings(),
                    stations={"desk-m": sk.public_key()}, backend_key=bk)
    ingest.start()
    watcher = Raw("watcher", own_broker.settings(), "stations/desk-m/receipts")
    signed = RecordSigner("desk-m", sk, bk.public_key()).build(reading(1), 1)
    rid = signed.record.record_id
    try:
        for _ in range(2):  # a QoS 1 duplicate: the first receipt may have been lost
            assert watcher.publish("stations/desk-m/records", signed.token) == 0
        assert wait_until(lambda: sum(json.loads(p)["ids"].count(rid)
                                      for _, p in watcher.messages) == 2, 10)
        assert ingest.count() == 1 and ingest.duplicates == 1
        # A station receiving garbage on its receipts topic logs it and carries on.
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        publisher = Publisher(outbox, "desk-m", own_broker.settings())
        publisher.start()
        store = OutboxStore(outbox, RecordSigner("desk-m", sk, bk.public_key()), publisher)
        assert publisher.wait_connected(10)

        def malformed() -> int:
            return caplog.text.count("receipt.malformed")

        # Its SUBSCRIBE travels on another connection than ours: repeat until it has landed.
        assert wait_until(lambda: watcher.publish("stations/desk-m/receipts", b"not json") == 0
                          and wait_until(lambda: malformed() > 0, 0.2), 10)
        before = malformed()
        for junk in (b'{"ids": "r1"}', b'{"ids": [1]}', b"[]"):
            watcher.publish("stations/desk-m/receipts", junk)
        assert wait_until(lambda: malformed() >= before + 3, 10)
        store.store_many([reading(2)])  # seq 1 again for this fresh outbox: a replay ...
        assert wait_until(lambda: ingest.rejections.get("replay") == 1, 10)
        time.sleep(0.3)
        assert outbox.counts()["acked"] == 0  # ... which gets no receipt: kept
        store.store_many([reading(3)])
        assert wait_until(lambda: outbox.counts()["acked"] == 1, 10)  # publisher still works
        store.close()
    finally:
        watcher.stop()
        ingest.stop()


def test_receipt_parsing() -> None:
    assert _receipt_ids(b'{"ids": ["a", "b"]}') == ["a", "b"]
    assert _receipt_ids(b'{"ids": []}') == []
    for junk in (b"", b"\xff", b"null", b'{"id": ["a"]}', b'{"ids": [""]}',
                 b'{"ids": ["' + b"x" * 101 + b'"]}', b'{"ids": [null]}'):
        assert _receipt_ids(junk) is None
