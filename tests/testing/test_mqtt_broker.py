"""What the station and the backend rely on from their MQTT 5 broker, checked on Mosquitto (the
broker of the field, the demo and every test), driven by real paho MQTT 5 clients and raw
sockets where a client library would hide the behaviour (abrupt close, PINGREQ, Receive
Maximum, bad bytes): topic filters, PUBACK reason codes, shared subscriptions, retained status,
the Will, keep-alive, persistent sessions, the access list, and the publisher → ingest path."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from station import keys
from station.ingest import Ingest, Received
from station.pipeline.mqtt import make_client
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until


@pytest.fixture
def ebroker(module_broker: MosquittoBroker) -> Iterator[MosquittoBroker]:
    """A plain Mosquitto of this module: persistent sessions left here meet no other test's."""
    yield module_broker


class Client:
    """A paho MQTT 5 client that records what it receives and the PUBACK reason codes."""

    def __init__(self, broker: MosquittoBroker, cid: str, *, clean_start: bool = True,
                 expiry: int = 0, will: tuple[str, bytes] | None = None) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.c = make_client(cid, broker.settings(cid if broker.tls else None))
        self.messages: list[tuple[str, bytes, bool]] = []
        self.acks: dict[int, int] = {}
        self.connack: dict[str, Any] = {}
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self.c.on_message = lambda c, u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain)))
        self.c.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, int(rc.value))
        self.c.on_subscribe = lambda *a: self.subscribed.set()

        def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
            self.connack = {"present": flags.session_present,
                            "receive_max": getattr(props, "ReceiveMaximum", None)}
            self.connected.set()

        self.c.on_connect = on_connect
        if will is not None:
            self.c.will_set(will[0], will[1], qos=1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if expiry:
            props.SessionExpiryInterval = expiry
        self.c.connect("127.0.0.1", broker.port, clean_start=clean_start, properties=props)
        self.c.loop_start()
        assert self.connected.wait(5)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscribed.clear()
        self.c.subscribe(topic, qos=qos)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            assert wait_until(lambda: info.mid in self.acks, 5)
            return self.acks[info.mid]
        return 0

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _raw_connect(broker: MosquittoBroker, cid: str, *, receive_max: int | None = None,
                 will: tuple[str, bytes] | None = None, keepalive: int = 60) -> socket.socket:
    def utf8(s: str) -> bytes:
        return struct.pack("!H", len(s)) + s.encode()

    props = b"" if receive_max is None else b"\x21" + struct.pack("!H", receive_max)
    flags = 0x02 | (0x04 | 0x08 if will else 0)  # clean start, will at QoS 1
    body = utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive) \
        + bytes([len(props)]) + props + utf8(cid)
    if will:
        body += b"\x00" + utf8(will[0]) + struct.pack("!H", len(will[1])) + will[1]
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.sendall(bytes([0x10, len(body)]) + body)
    head = s.recv(2)
    assert head[0] == 0x20
    connack = s.recv(head[1])
    assert connack[1] == 0  # success
    return s


def _read_packet(s: socket.socket) -> tuple[int, bytes]:
    head = s.recv(1)
    if not head:
        return 0, b""
    length, shift = 0, 0
    while True:
        b = s.recv(1)[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    body = b""
    while len(body) < length:
        body += s.recv(length - len(body))
    return head[0], body


def test_topic_filters(ebroker: MosquittoBroker) -> None:
    """The filters ingest and the status watchers subscribe with match as MQTT says: ``+`` one
    level, ``#`` the parent level too, and no wildcard at the root reaches ``$SYS``."""
    one, multi, odd, root = (Client(ebroker, f"filter-{n}") for n in ("one", "multi", "odd",
                                                                      "root"))
    pub = Client(ebroker, "filter-pub")
    try:
        one.subscribe("stations/+/records")
        multi.subscribe("stations/#")
        odd.subscribe("+/d1")
        root.subscribe("#")
        for topic in ("stations/d1/records", "stations/d1/status", "stations",
                      "stations/d1/events/command", "stations/d1/x"):
            pub.publish(topic, b"t", qos=0)
        expected = {"stations/d1/records", "stations/d1/status", "stations",
                    "stations/d1/events/command", "stations/d1/x"}
        assert wait_until(lambda: {m[0] for m in root.messages} >= expected, 5)
        assert wait_until(lambda: len(multi.messages) == 5, 5)
        time.sleep(0.2)
        assert [m[0] for m in one.messages] == ["stations/d1/records"]
        assert {m[0] for m in multi.messages} == expected
        assert odd.messages == []
        assert not any(m[0].startswith("$SYS") for m in root.messages)
    finally:
        for c in (one, multi, odd, root, pub):
            c.close()


def test_connack_qos1_and_no_subscribers(ebroker: MosquittoBroker) -> None:
    pub = Client(ebroker, "pub")
    sub = Client(ebroker, "sub")
    try:
        assert pub.connack["receive_max"] == 20
        assert pub.publish("stations/d1/records", b"nobody") == 0x10  # no matching subscribers
        sub.subscribe("stations/+/records")
        assert pub.publish("stations/d1/records", b"one") == 0x00
        pub.publish("stations/d1/status", b"zero", qos=0)
        sub.subscribe("stations/#", qos=0)
        pub.publish("stations/d1/health", b"h", qos=0)
        assert wait_until(lambda: len(sub.messages) == 2, 5)
        assert sub.messages == [("stations/d1/records", b"one", False),
                                ("stations/d1/health", b"h", False)]
    finally:
        pub.close()
        sub.close()


def test_shared_subscription_splits_the_load(ebroker: MosquittoBroker) -> None:
    a, b, pub = Client(ebroker, "a"), Client(ebroker, "b"), Client(ebroker, "pub")
    try:
        a.subscribe("$share/ingest/stations/+/records")
        b.subscribe("$share/ingest/stations/+/records")
        for n in range(20):
            assert pub.publish(f"stations/d{n % 3}/records", str(n).encode()) == 0
        assert wait_until(lambda: len(a.messages) + len(b.messages) == 20, 5)
        time.sleep(0.1)
        got = sorted(int(m[1]) for m in a.messages + b.messages)
        assert got == list(range(20))  # each exactly once across the group
        assert a.messages and b.messages  # and both members got some
    finally:
        for c in (a, b, pub):
            c.close()


def test_retained_messages(ebroker: MosquittoBroker) -> None:
    pub = Client(ebroker, "pub")
    try:
        pub.publish("stations/d1/status", b"online", retain=True)
        late = Client(ebroker, "late")
        late.subscribe("stations/+/status")
        assert wait_until(lambda: late.messages == [("stations/d1/status", b"online", True)], 5)
        pub.publish("stations/d1/status", b"", retain=True)  # an empty payload clears it
        later = Client(ebroker, "later")
        later.subscribe("stations/+/status")
        time.sleep(0.2)
        assert later.messages == []
        late.close()
        later.close()
    finally:
        pub.close()


def test_last_will_on_abrupt_close_not_on_disconnect(ebroker: MosquittoBroker) -> None:
    watcher = Client(ebroker, "watcher")
    try:
        watcher.subscribe("stations/+/status")
        polite = Client(ebroker, "polite", will=("stations/p/status", b"offline"))
        polite.close()
        s = _raw_connect(ebroker, "crashy", will=("stations/c/status", b"offline"))
        s.close()  # no DISCONNECT: the broker must publish the Will
        assert wait_until(lambda: len(watcher.messages) == 1, 5)
        time.sleep(0.2)
        assert watcher.messages == [("stations/c/status", b"offline", False)]
    finally:
        watcher.close()


def test_pingreq_and_keepalive(ebroker: MosquittoBroker) -> None:
    s = _raw_connect(ebroker, "pinger", keepalive=1)
    try:
        s.sendall(b"\xc0\x00")
        assert _read_packet(s) == (0xD0, b"")
        # Silent for more than 1.5 × keep-alive: the broker closes the connection (Mosquitto
        # checks keep-alives on a coarse timer, a few seconds late; never early).
        s.settimeout(10)
        t0 = time.monotonic()
        kind, _ = _read_packet(s)
        assert kind == 0 and 1.4 < time.monotonic() - t0 < 9
    finally:
        s.close()


def test_client_receive_maximum_is_honoured(ebroker: MosquittoBroker) -> None:
    s = _raw_connect(ebroker, "slow", receive_max=2)
    pub = Client(ebroker, "pub")
    try:
        sub_body = struct.pack("!H", 1) + b"\x00" + struct.pack("!H", 3) + b"a/b" + b"\x01"
        s.sendall(bytes([0x82, len(sub_body)]) + sub_body)
        assert _read_packet(s)[0] == 0x90  # SUBACK
        for n in range(5):
            pub.publish("a/b", bytes([n]))
        got = [_read_packet(s) for _ in range(2)]
        assert all(k >> 4 == 3 for k, _ in got)
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(1)  # a third one would exceed the client's Receive Maximum
        s.settimeout(5)
        pid = got[0][1][5:7]  # topic "a/b" (2+3 bytes), then the packet id
        s.sendall(b"\x40\x02" + pid)  # PUBACK frees one slot
        assert _read_packet(s)[0] >> 4 == 3
    finally:
        s.close()
        pub.close()


def test_persistent_session_queues_while_away(ebroker: MosquittoBroker) -> None:
    sub = Client(ebroker, "backend", clean_start=False, expiry=300)
    sub.subscribe("stations/+/records")
    assert sub.connack["present"] is False
    sub.close()
    pub = Client(ebroker, "pub")
    try:
        for n in range(3):
            assert pub.publish("stations/d1/records", bytes([n])) == 0  # queued for "backend"
        again = Client(ebroker, "backend", clean_start=False, expiry=300)
        assert again.connack["present"] is True
        assert wait_until(lambda: len(again.messages) == 3, 5)
        assert [m[1] for m in again.messages] == [b"\x00", b"\x01", b"\x02"]
        again.close()
        fresh = Client(ebroker, "backend", clean_start=True)
        assert fresh.connack["present"] is False
        fresh.close()
    finally:
        pub.close()


def test_access_list_refuses_with_0x87_and_delivers_nothing(tls_broker: MosquittoBroker
                                                             ) -> None:
    """The generated access list: a station publishing under another station's topic gets
    PUBACK 0x87 (not authorized) and the backend subscribed to every station's records sees
    only the station's own record."""
    backend = Client(tls_broker, "ingest")
    backend.subscribe("$share/ingest/stations/+/records")
    desk = Client(tls_broker, "d1")
    try:
        assert desk.publish("stations/d1/records", b"own") == 0
        assert desk.publish("stations/d2/records", b"forged") == 0x87
        assert wait_until(lambda: len(backend.messages) == 1, 5)
        time.sleep(0.2)
        assert backend.messages == [("stations/d1/records", b"own", False)]
    finally:
        desk.close()
        backend.close()


def test_malformed_packet_does_not_stop_the_broker(ebroker: MosquittoBroker) -> None:
    s = socket.create_connection(("127.0.0.1", ebroker.port), timeout=5)
    s.sendall(b"\x10\xff\xff\xff\xff\x7f")  # remaining length longer than 4 bytes
    s.close()
    s = _raw_connect(ebroker, "bad")
    s.sendall(b"\x30\x03\x00\x05a")  # PUBLISH whose topic length exceeds the packet
    assert _read_packet(s)[0] == 0xE0  # DISCONNECT (malformed)
    s.close()
    c = Client(ebroker, "ok")
    c.close()


def test_publisher_and_ingest_end_to_end(tmp_path: Path, ebroker: MosquittoBroker) -> None:
    """The real station publisher and the reference ingest, through Mosquitto."""
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    received: list[Received] = []
    ingest = Ingest(tmp_path / "ingest.sqlite3", ebroker.settings(),
                    stations={"desk-1": sk.public_key()}, backend_key=bk,
                    on_record=received.append)
    ingest.start()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-1", ebroker.settings())
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-1", sk, bk.public_key()), publisher)
    status = Client(ebroker, "watch")
    try:
        status.subscribe("stations/desk-1/status")
        assert publisher.wait_connected(5)
        readings = [Reading("reception", "PACE", "authentic", (Check("pa", True),),
                            {"id_number": f"00109000{n:04d}"}, {"DG1": bytes([n])})
                    for n in range(150)]
        store.store_many(readings[:50])
        store.store_many(readings[50:])
        assert wait_until(lambda: outbox.counts()["acked"] == 150, 20)
        assert wait_until(lambda: len({r.record.record_id for r in received}) == 150, 10)
        assert publisher.stats().window == 20  # capped at the broker's Receive Maximum
        assert ingest.sequences("desk-1") == list(range(1, 151))
        assert received[-1].citizen == {"id_number": "001090000149"}
        assert wait_until(lambda: any(b'"online"' in m[1] for m in status.messages), 5)
    finally:
        publisher.stop()
        ingest.stop()
        outbox.close()
    assert wait_until(lambda: b'"offline"' in status.messages[-1][1], 5)
    status.close()
