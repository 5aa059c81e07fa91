"""Issue 17: one stolen station must not be able to hurt the others. Each attack runs against a
real Mosquitto started from the configuration `python -m provisioning mosquitto` generates
(mTLS, dynamic-security access list, CRL), with paho clients holding a station's real
certificate as the attacker. On the previous configuration (``acl_file``, no client-id binding,
no CRL) every one of these tests failed: the shared subscription and ``#`` were granted, the
client id was free to take, ``sign ingest`` issued a backend-named certificate, and a revoked
station had no way to be shut out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from provisioning import registry
from provisioning.__main__ import main as operator
from station import keys
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment

pytestmark = pytest.mark.mqtt

VICTIM = "desk-victim"
ATTACKERS = ("desk-thief-1", "desk-thief-2", "desk-thief-3")
RECORDS = 40


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = deployment.build(tmp_path_factory.mktemp("fleet"), VICTIM, start=False)
    for a in ATTACKERS:
        d.extra[a] = deployment.add_station(d, a)
    deployment.regenerate(d)
    yield d
    deployment.cleanup(d)


class Peer:
    """A raw paho MQTT 5 client with a given certificate and client id."""

    def __init__(self, d: Deployment, cert: Path, key: Path, client_id: str, *,
                 persistent: bool = False) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(d.ca_dir / "ca.pem"), certfile=str(cert),
                            keyfile=str(key))
        self.subacks: dict[int, list[int]] = {}
        self.pubacks: dict[int, int] = {}
        self.received: list[tuple[str, bytes]] = []
        self.assigned_id: str | None = None
        self.cond = threading.Condition()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.connected = threading.Event()
        self.client.connect("127.0.0.1", d.port, clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert self.connected.wait(5), "not connected"

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        self.assigned_id = getattr(props, "AssignedClientIdentifier", None)
        self.connected.set()

    def _on_subscribe(self, c: Any, u: Any, mid: int, rcs: Any, props: Any) -> None:
        with self.cond:
            self.subacks[mid] = [r.value for r in rcs]
            self.cond.notify_all()

    def _on_publish(self, c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        with self.cond:
            self.pubacks[mid] = rc.value
            self.cond.notify_all()

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        with self.cond:
            self.received.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def subscribe(self, topic: str) -> int:
        _, mid = self.client.subscribe(topic, qos=1)
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.subacks, 5), "no SUBACK"
            return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.client.publish(topic, payload, qos=1)
        with self.cond:
            assert self.cond.wait_for(lambda: info.mid in self.pubacks, 5), "no PUBACK"
            return self.pubacks[info.mid]

    def wait_count(self, n: int, timeout: float) -> int:
        with self.cond:
            self.cond.wait_for(lambda: len(self.received) >= n, timeout)
            return len(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _victim(d: Deployment) -> tuple[Path, Path]:
    k = keys.KeyPaths.under(d.state)
    return k.client_cert, k.client_key


def _backend(d: Deployment) -> tuple[Path, Path]:
    return d.ca_dir / "ingest.pem", d.ca_dir / "ingest.key"


def test_shared_subscription_black_hole_leaves_ingest_every_record(fleet: Deployment) -> None:
    backend = Peer(fleet, *_backend(fleet), "ingest")
    assert backend.subscribe("$share/ingest/stations/+/records") < 0x80
    thieves = [Peer(fleet, *fleet.extra[a], a) for a in ATTACKERS]
    victim = Peer(fleet, *_victim(fleet), VICTIM)
    try:
        # Refused at SUBSCRIBE time: the broker never counts them in the group.
        assert all(t.subscribe("$share/ingest/stations/+/records") >= 0x80 for t in thieves)
        for n in range(RECORDS):
            assert victim.publish(f"stations/{VICTIM}/records", b"r%d" % n) == 0
        assert backend.wait_count(RECORDS, 10) == RECORDS
        assert all(not t.received for t in thieves)
    finally:
        for p in (backend, victim, *thieves):
            p.close()


@pytest.mark.parametrize("topic", ["#", "+/+/+", "stations/+/records", "stations/#",
                                   f"stations/{VICTIM}/commands", f"stations/{VICTIM}/receipts",
                                   f"stations/{VICTIM}/records", "$SYS/#",
                                   "$CONTROL/dynamic-security/v1/response"])
def test_station_subscriptions_beyond_its_own_are_refused_at_suback(fleet: Deployment,
                                                                     topic: str) -> None:
    thief = Peer(fleet, *fleet.extra[ATTACKERS[0]], ATTACKERS[0])
    try:
        assert thief.subscribe(topic) >= 0x80
        assert thief.subscribe(f"stations/{ATTACKERS[0]}/commands") < 0x80
        assert thief.subscribe(f"stations/{ATTACKERS[0]}/receipts") < 0x80
    finally:
        thief.close()


@pytest.mark.parametrize("name", ["ingest", "ingest-2", "operator", "backend-x", "admin"])
def test_station_certificate_named_like_the_backend_is_refused_at_issue(
        fleet: Deployment, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    csr = fleet.dir / "extra" / ATTACKERS[0] / "client.csr"
    sig = fleet.dir / "extra" / ATTACKERS[0] / "signing.pub.pem"
    assert operator(["--dir", str(fleet.ca_dir), "sign", name, "--csr", str(csr),
                     "--signing-key", str(sig)]) == 1
    assert "reserved for backend identities" in capsys.readouterr().err
    assert not (fleet.ca_dir / "stations" / f"{name}.pem").exists()


def test_backend_role_is_not_a_stations(fleet: Deployment) -> None:
    """Even a station whose certificate CN were 'ingest'-like gets only its own grants: the
    backend role is bound to the identities `init`/`backend` issued."""
    thief = Peer(fleet, *fleet.extra[ATTACKERS[1]], ATTACKERS[1])
    try:
        assert thief.publish(f"stations/{VICTIM}/receipts", b'{"ids": ["x"]}') >= 0x80
        assert thief.publish(f"stations/{VICTIM}/commands", b"{}") >= 0x80
    finally:
        thief.close()


def test_client_id_takeover_leaves_the_victims_session_alone(fleet: Deployment) -> None:
    victim = Peer(fleet, *_victim(fleet), VICTIM, persistent=True)
    assert victim.subscribe(f"stations/{VICTIM}/commands") < 0x80
    victim.close()  # offline, its persistent session keeps the subscription
    backend = Peer(fleet, *_backend(fleet), "ingest")
    try:
        assert backend.publish(f"stations/{VICTIM}/commands", b'{"can": "123456"}') == 0
        # The thief asks for the victim's client id and its session.
        thief = Peer(fleet, *fleet.extra[ATTACKERS[2]], VICTIM, persistent=True)
        time.sleep(0.3)
        assert not thief.received
        thief.close()
        victim = Peer(fleet, *_victim(fleet), VICTIM, persistent=True)
        try:
            assert victim.wait_count(1, 5) == 1
            assert victim.received[0] == (f"stations/{VICTIM}/commands", b'{"can": "123456"}')
        finally:
            victim.close()
    finally:
        backend.close()


def test_revoked_station_is_refused_at_the_handshake_and_by_ingest(fleet: Deployment) -> None:
    cert, key = deployment.add_station(fleet, "desk-stolen")
    deployment.regenerate(fleet)
    assert deployment.tls_session_survives(fleet, cert, key)
    assert operator(["--dir", str(fleet.ca_dir), "revoke", "desk-stolen"]) == 0
    entry = registry.load(fleet.ca_dir / "registry.json")["desk-stolen"]
    assert entry.revoked_at
    deployment.regenerate(fleet)
    try:
        assert not deployment.tls_session_survives(fleet, cert, key)
        # The others are untouched.
        assert deployment.tls_session_survives(fleet, *_victim(fleet))
        # Ingest refuses its records from then on, whatever they carry.
        from station.ingest.verification import Refused, Verifier

        entries = registry.load(fleet.ca_dir / "registry.json")
        verifier = Verifier({s: e.public_key() for s, e in entries.items() if not e.revoked_at},
                            revoked=frozenset(s for s, e in entries.items() if e.revoked_at))
        assert verifier.check("stations/desk-stolen/records", b"x") == Refused(
            "revoked_station")
        # A revoked station cannot be re-signed by accident.
        assert operator(["--dir", str(fleet.ca_dir), "sign", "desk-stolen", "--csr",
                         str(fleet.dir / "extra/desk-stolen/client.csr"), "--signing-key",
                         str(fleet.dir / "extra/desk-stolen/signing.pub.pem")]) == 1
    finally:
        assert operator(["--dir", str(fleet.ca_dir), "unrevoke", "desk-stolen"]) == 0
        deployment.regenerate(fleet)
    assert deployment.tls_session_survives(fleet, cert, key)
