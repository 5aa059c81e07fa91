"""The fleet tracker on a real Mosquitto started from the configuration `python -m provisioning
mosquitto` generates (mTLS, dynamic-security roles, CRL), with a provisioned station running as
a process of its own (station_process.py: the real outbox and publisher), on both backend
stores: a station comes online and its heartbeat is seen; killed, its Last Will makes it
offline; frozen (no Will), its missing heartbeat makes it silent; commands make the round trip;
a revoke from the console updates the fleet state; a station certificate cannot read what the
tracker reads; nothing of a record's citizen data, nor a command's arguments, reaches the
fleet tables."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from provisioning import registry
from provisioning.__main__ import main as operator
from station import __version__, keys
from station.errors import CommandRefused
from station.ingest import Ingest, Received
from station.ingest.fleet import (
    Filter,
    FleetPolicy,
    FleetStore,
    FleetTracker,
    Verdict,
    fleet_topics,
    open_fleet_store,
    set_revoked,
)
from station.testing.wait import wait_until
from tests.ingest.fleet import fleet_bed
from tests.ingest.fleet.fleet_bed import (
    INTERVAL_S,
    NOSY,
    ROOT,
    SPARE,
    STATION,
    StationProcess,
    settings,
)
from tests.ingest.fleet.station_process import CITIZEN
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment

pytestmark = pytest.mark.mqtt

@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = fleet_bed.build(tmp_path_factory.mktemp("fleet"))
    yield d
    deployment.cleanup(d)


@pytest.fixture(params=["sqlite", "postgres"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FleetStore]:
    target = (tmp_path / "ingest.sqlite3" if request.param == "sqlite"
              else request.getfixturevalue("pg_dsn"))
    s = open_fleet_store(target)
    s.target = target  # type: ignore[attr-defined]
    yield s
    s.close()


@pytest.fixture()
def tracker(fleet: Deployment, store: FleetStore) -> Iterator[FleetTracker]:
    t = FleetTracker(store, settings(fleet, "operator"), client_id="operator",
                     registry_path=fleet.ca_dir / "registry.json",
                     policy=FleetPolicy(stale_after_intervals=4), sweep_s=0.2,
                     session_expiry_s=0)
    t.start()
    yield t
    t.stop()


@pytest.fixture()
def station(fleet: Deployment, tmp_path: Path) -> Iterator[StationProcess]:
    p = StationProcess(fleet, tmp_path / "outbox.sqlite3")
    yield p
    p.close()


def row_of(store: FleetStore, sid: str = STATION) -> Any:
    return store.station(sid)


def test_online_heartbeat_then_killed_is_offline_by_its_last_will(
        tracker: FleetTracker, store: FleetStore, station: StationProcess) -> None:
    assert wait_until(lambda: (r := row_of(store)) is not None and r.state == "online"
                      and r.heartbeat is not None, 10)
    row = row_of(store)
    assert row.registered and row.tls_not_after is not None and not row.revoked
    assert row.heartbeat.version == __version__
    assert row.heartbeat.interval_s == pytest.approx(INTERVAL_S)
    assert row.verdict(row.health_at, tracker.policy) is Verdict.ONLINE
    station.signal(signal.SIGKILL)  # no clean "offline": only the broker's Last Will says it
    assert wait_until(lambda: row_of(store).state == "offline", 10)
    row = row_of(store)
    assert row.verdict(row.state_at, tracker.policy) is Verdict.OFFLINE
    assert Filter.OFFLINE.matches(row, row.state_at, tracker.policy)
    assert [e.detail for e in store.events(STATION) if e.kind == "status"][:2] == [
        "offline", "online"]


def test_a_frozen_station_goes_silent_without_a_will(
        tracker: FleetTracker, store: FleetStore, station: StationProcess) -> None:
    assert wait_until(lambda: (r := row_of(store)) is not None and r.heartbeat is not None, 10)
    station.signal(signal.SIGSTOP)  # its TCP connection stays up: the broker sends no Will
    try:
        assert wait_until(lambda: any(e.kind == "silent" for e in store.events(STATION)), 10)
        row = row_of(store)
        assert row.state == "online"
        assert row.verdict(time.time(), tracker.policy) is Verdict.SILENT
    finally:
        station.signal(signal.SIGCONT)
    # Back: heartbeats again, online again.
    assert wait_until(lambda: row_of(store).verdict(time.time(), tracker.policy)
                      is Verdict.ONLINE, 10)


def test_command_round_trip(tracker: FleetTracker, store: FleetStore,
                            station: StationProcess) -> None:
    assert wait_until(lambda: (r := row_of(store)) is not None and r.state == "online", 10)
    ping = tracker.send_command(STATION, "ping", by="op-anna")
    booking = tracker.send_command(STATION, "booking", {
        "booking_id": "BK-77", "room": "203", "arrival": "2030-01-02",
        "departure": "2030-01-04"}, by="op-anna")
    bad = tracker.send_command(STATION, "booking", {"room": "203"}, by="op-anna")
    for sent in (ping, booking, bad):
        assert wait_until(lambda s=sent: store.command(s.command_id).answered_at is not None,
                          10)
    got = {s.command_id: store.command(s.command_id) for s in (ping, booking, bad)}
    assert (got[ping.command_id].ok, got[ping.command_id].message) == (True, "pong")
    assert got[booking.command_id].ok and "room 203" in got[booking.command_id].message
    assert got[bad.command_id].ok is False and "bad booking" in got[bad.command_id].message
    assert got[ping.command_id].sent_by == "op-anna"
    kinds = [e.kind for e in store.events(STATION)]
    assert kinds.count("command-sent") == 3 and kinds.count("command") == 3


def test_revoke_from_the_console_updates_the_fleet_state(
        fleet: Deployment, tracker: FleetTracker, store: FleetStore) -> None:
    assert wait_until(lambda: (r := row_of(store, SPARE)) is not None and r.registered, 5)
    try:
        done = set_revoked(fleet.ca_dir, store, SPARE, revoked=True, by="admin-binh")
        row = row_of(store, SPARE)
        assert row.revoked and row.revoked_at == done.revoked_at
        assert Filter.REVOKED.matches(row, 0, tracker.policy)
        assert any("restart mosquitto" in step for step in done.remaining)
        # provisioning's own state: the registry and the CRL list it.
        entry = registry.load(fleet.ca_dir / "registry.json")[SPARE]
        assert entry.revoked_at == done.revoked_at
        from cryptography import x509

        crl = x509.load_pem_x509_crl(done.crl.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(int(entry.tls_serial, 16))
        assert [e.kind for e in store.events(SPARE)][:2] == ["revoked", "revoke-requested"]
        with pytest.raises(CommandRefused, match="revoked"):
            tracker.send_command(SPARE, "ping", by="op-anna")
    finally:
        set_revoked(fleet.ca_dir, store, SPARE, revoked=False, by="admin-binh")
    assert not row_of(store, SPARE).revoked
    # A revoke made with the CLI instead reaches the console through the tracker's sweep.
    try:
        assert operator(["--dir", str(fleet.ca_dir), "revoke", SPARE]) == 0
        assert wait_until(lambda: row_of(store, SPARE).revoked, 5)
    finally:
        assert operator(["--dir", str(fleet.ca_dir), "unrevoke", SPARE]) == 0
    assert wait_until(lambda: not row_of(store, SPARE).revoked, 5)
    with pytest.raises(CommandRefused, match="no registered station"):
        set_revoked(fleet.ca_dir, store, "desk-unknown", revoked=True, by="admin-binh")


class Peer:
    """A raw paho client with one of the deployment's certificates."""

    def __init__(self, d: Deployment, cert: Path, key: Path, cn: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cn,
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(d.ca_dir / "ca.pem"), certfile=str(cert),
                            keyfile=str(key))
        self.cond = threading.Condition()
        self.subacks: dict[int, int] = {}
        self.pubacks: dict[int, int] = {}
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect("127.0.0.1", d.port)
        self.client.loop_start()
        assert connected.wait(5)

    def _on_subscribe(self, c: Any, u: Any, mid: int, rcs: Any, props: Any) -> None:
        with self.cond:
            self.subacks[mid] = rcs[0].value
            self.cond.notify_all()

    def _on_publish(self, c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        with self.cond:
            self.pubacks[mid] = rc.value
            self.cond.notify_all()

    def subscribe(self, topic: str) -> int:
        _, mid = self.client.subscribe(topic, qos=1)
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.subacks, 5)
            return self.subacks[mid]

    def publish(self, topic: str) -> int:
        info = self.client.publish(topic, b"{}", qos=1)
        with self.cond:
            assert self.cond.wait_for(lambda: info.mid in self.pubacks, 5)
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_station_cannot_read_what_the_tracker_reads(fleet: Deployment) -> None:
    nosy = Peer(fleet, *fleet.extra[NOSY], NOSY)
    try:
        topics = [*fleet_topics(), *(f"stations/{STATION}/{leaf}" for leaf in
                                     ("status", "health", "events/#", "events/command"))]
        for topic in topics:
            assert nosy.subscribe(topic) >= 0x80, topic
        assert nosy.publish(f"stations/{STATION}/commands") >= 0x80
    finally:
        nosy.close()


def test_the_fleet_role_reads_no_records_and_writes_no_receipts(fleet: Deployment) -> None:
    console = Peer(fleet, fleet.ca_dir / "operator.pem", fleet.ca_dir / "operator.key",
                   "operator")
    try:
        for topic in fleet_topics():
            assert console.subscribe(topic) < 0x80, topic
        for topic in ("stations/+/records", f"stations/{STATION}/records", "stations/#",
                      "$share/ingest/stations/+/records", "#"):
            assert console.subscribe(topic) >= 0x80, topic
        assert console.publish(f"stations/{STATION}/commands") == 0
        assert console.publish(f"stations/{STATION}/receipts") >= 0x80
    finally:
        console.close()


def _fleet_text(store: FleetStore) -> str:
    """Every row of the fleet tables, as text."""
    rows: list[Any] = []
    for table in ("fleet_station", "fleet_event", "fleet_command"):
        rows += store.db.query(f"SELECT * FROM {table}")
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_nothing_of_a_records_citizen_data_reaches_the_fleet_tables(
        fleet: Deployment, tracker: FleetTracker, store: FleetStore, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    entries = registry.load(fleet.ca_dir / "registry.json")
    received: list[Received] = []
    ingest = Ingest(store.target,  # type: ignore[attr-defined]
                    settings(fleet, "ingest"), client_id="ingest",
                    stations={s: e.public_key() for s, e in entries.items()},
                    backend_key=keys.load_seal_private_key(fleet.ca_dir / "backend-seal.key"),
                    on_record=received.append)
    ingest.start()
    caplog.set_level(logging.DEBUG)
    proc = StationProcess(fleet, tmp_path / "outbox.sqlite3", record=True)
    try:
        assert wait_until(lambda: len(received) == 1, 15)  # the record went through, opened
        assert received[0].citizen == CITIZEN
        secrets = {"visa_number": "VX1234567", "can": "493817"}
        sent = [tracker.send_command(STATION, "entry", {
                    "visa_number": secrets["visa_number"], "entry_date": "2030-01-02",
                    "entry_port": "SGN", "purpose": "DL", "stay_until": "2030-02-01"},
                    by="op-anna"),
                tracker.send_command(STATION, "can", {"can": secrets["can"]}, by="op-anna")]
        for s in sent:
            assert wait_until(lambda s=s: store.command(s.command_id).ok is not None, 10)
        assert all(store.command(s.command_id).ok for s in sent)
        assert wait_until(lambda: row_of(store).heartbeat is not None
                          and row_of(store).heartbeat.acked >= 1, 10)
    finally:
        proc.close()
        ingest.stop()
    text = _fleet_text(store)
    assert STATION in text and "entry" in text  # the tables are not empty
    for value in [*CITIZEN.values(), *secrets.values()]:
        assert value not in text
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'kv', '')}" for r in caplog.records)
    for value in [*CITIZEN.values(), *secrets.values()]:
        assert value not in logged


def test_station_fleet_track_runs_the_tracker_as_a_process(
        fleet: Deployment, tmp_path: Path, station: StationProcess) -> None:
    cfg = tmp_path / "backend.toml"
    cfg.write_text(f"[mqtt]\nhost = '127.0.0.1'\nport = {fleet.port}\ntls = true\n"
                   f"ca_file = '{fleet.ca_dir / 'ca.pem'}'\n"
                   f"cert_file = '{fleet.ca_dir / 'operator.pem'}'\n"
                   f"key_file = '{fleet.ca_dir / 'operator.key'}'\n")
    db = tmp_path / "backend.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "--config", str(cfg), "fleet", "--db", str(db),
         "track", "--registry", str(fleet.ca_dir / "registry.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        assert "tracking" in proc.stdout.readline()
        store = open_fleet_store(db)
        try:
            assert wait_until(lambda: (r := row_of(store)) is not None
                              and r.heartbeat is not None and r.state == "online", 10)
        finally:
            store.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
