"""The whole desk on real parts: the service built by ``station.service.desk`` with the PC/SC
card watch and chip reader on a real pcscd + vpcd virtual CCCD, the QR watch on a replay camera
showing the card's QR photographed, the trust store of the synthetic issuer, the SQLite outbox
and the MQTT publisher on a real Mosquitto, and the reference ingest backend. For each profile:
QR image → tap → a verified record at ingest holding exactly the profile's fields — and no field
outside the profile anywhere in the outbox file or on MQTT."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from station import config
from station.ingest import Ingest, Received
from station.pipeline.records import b64url, parse_unverified
from station.service import machine as m
from station.service.chip import citizen_fields
from station.service.desk import build
from station.service.profiles import FIELDS, Booking, minimise
from station.service.profiles import resolve as resolve_profile
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.qrimage import render
from station.sim.vpcd import VpcdLink
from station.testing.desk import DeskCamera, prepare_state
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from tests.contract import schemas as contract

BOOKING = Booking("BK-1", "203", *(__import__("datetime").date(2030, 1, d) for d in (2, 4)))


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Bed:
    def __init__(self, tmp: Path, pcscd: PcscdTestbed, broker: MosquittoBroker,
                 profile: str, *, booking_from_commands: bool = False, display: str = "",
                 session: str = "") -> None:
        self.tmp, self.pcscd = tmp, pcscd
        self.station = f"desk-{profile}"
        signing_pub, backend = prepare_state(tmp / "state")
        extra = "establishment_id = 'LT-0001'\n" if profile == "lodging" else ""
        (tmp / "station.toml").write_text(
            f"[station]\nid = '{self.station}'\nprofile = '{profile}'\n"
            f"state_dir = '{tmp / 'state'}'\n"
            f"[reader]\nname = '{pcscd.readers[0]}'\n"
            f"[camera]\nsource = 'none'\n"
            f"[trust]\npath = '{tmp / 'state' / 'trust'}'\n"
            f"[mqtt]\nhost = '127.0.0.1'\nport = {broker.port}\ntls = false\n"
            f"[session]\nresult_hold_s = 0.5\n{session}"
            f"[feedback]\nenabled = false\n{display}"
            f"[profile]\n{extra}")
        self.cfg = config.load(tmp / "station.toml")
        self.received: list[Received] = []
        self.ingest = Ingest(tmp / "ingest.sqlite3", broker.settings(),
                             stations={self.station: signing_pub},  # type: ignore[dict-item]
                             backend_key=backend,  # type: ignore[arg-type]
                             client_id="ingest-desk", on_record=self.received.append)
        self.camera = DeskCamera()
        self.desk = build(self.cfg, camera=self.camera.open,
                          booking=None if booking_from_commands else (lambda: BOOKING),
                          tick_s=0.05)
        self.phases: list[m.Session] = []
        self.desk.service.machine.listeners.append(lambda a, b: self.phases.append(b))

    @property
    def session(self) -> m.Session:
        return self.desk.service.machine.session


@contextlib.contextmanager
def running(b: Bed) -> Iterator[Bed]:
    b.ingest.start()
    runner = threading.Thread(target=b.desk.service.run, daemon=True)
    runner.start()
    assert b.desk.service.ready.wait(10), "the desk never became ready"
    try:
        yield b
    finally:
        b.desk.service.request_stop()
        runner.join(timeout=15)
        b.ingest.stop()
    assert not runner.is_alive()


@pytest.fixture(params=["reception", "hospital", "lodging", "bank"])
def bed(request: pytest.FixtureRequest, tmp_path: Path, pcscd: PcscdTestbed,
        desk_broker: MosquittoBroker) -> Iterator[Bed]:
    with running(Bed(tmp_path, pcscd, desk_broker, request.param)) as b:
        yield b


class Backend:
    """The backend's side of the commands topic: send a command, wait for its reply."""

    def __init__(self, broker: MosquittoBroker, station: str) -> None:
        from station.pipeline.mqtt import make_client

        self.station = station
        self.replies: dict[str, dict[str, Any]] = {}
        self.client = make_client(f"backend-{station}", broker.settings())
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, msg: self._reply(json.loads(msg.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.settings().host, broker.port)
        self.client.loop_start()
        self.client.subscribe(f"stations/{station}/events/command", qos=1)
        assert subscribed.wait(5)

    def _reply(self, r: dict[str, Any]) -> None:
        self.replies[r["id"]] = r

    def command(self, cid: str, name: str, **args: Any) -> dict[str, Any]:
        topic = f"stations/{self.station}/commands"
        body = json.dumps({"cmd": name, "id": cid, "args": args}).encode()
        # The desk's publisher subscribes once connected: repeat until it answers.
        for _ in range(50):
            self.client.publish(topic, body, qos=1)
            if _wait(lambda: cid in self.replies, 0.2):
                return self.replies[cid]
        raise AssertionError(f"no reply to {name}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_qr_then_tap_gives_a_verified_record_with_only_the_profile_fields(bed: Bed) -> None:
    citizen = generate(51)
    options = ChipOptions()
    png = bed.tmp / "qr.png"
    Image.fromarray(render(citizen.qr_text())).save(png)
    bed.camera.show(png)
    assert _wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
    link = VpcdLink(CccdChip(issuer.issue(citizen, options), options), bed.pcscd.slot_port(0))
    link.insert()
    try:
        settled = _wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                    for s in bed.phases), 20)
    finally:
        link.remove()
    assert settled, bed.session
    phases = [s.phase for s in bed.phases]
    assert m.Phase.READING in phases and m.Phase.VERIFYING in phases
    profile = bed.desk.profile
    assert any(s.phase is m.Phase.SUCCESS for s in bed.phases)
    assert _wait(lambda: bool(bed.received), 15), "no record reached the backend"
    got = bed.received[0]
    # Chip and Active Authentication ran in the tap and passed: the chip is genuine.
    assert got.record.outcome == "genuine" and got.record.profile == profile.name
    checks = {c.name: c.ok for c in got.record.checks}
    assert checks.get("chip-authentication") is True, checks
    expected = minimise(profile, citizen_fields_of(citizen))
    assert got.citizen is not None
    assert set(got.citizen) == set(expected) <= set(profile.fields)
    # What the desk sent follows the published contract (contract/schemas).
    sent = _token(bed, got)
    contract.check("schemas/record-jws.json", sent.decode())
    contract.check("schemas/record-v2.json", json.loads(parse_unverified(sent)[1]))
    contract.check(f"schemas/opened-{profile.name}.json",
                   {k: {"b64": b64url(v)} if isinstance(v, bytes) else v
                    for k, v in got.citizen.items()})
    if profile.name != "bank":  # a synthetic citizen may lack a spouse or an old ID number
        assert set(expected) == set(profile.fields)
    assert got.citizen["id_number"] == citizen.id_number
    if profile.name == "lodging":
        assert got.record.context["room"] == "203"
    if profile.name == "bank":
        # eKYC: the full DG13 and the face, all sealed for the backend (never in clear).
        assert set(FIELDS) - set(got.citizen) <= {"spouse_name", "old_id_number"}
        assert "face" in got.citizen and "place_of_origin" in got.citizen
        face = citizen_fields_of(citizen)["face"]
        assert got.citizen["face"] == face
        for blob in [*_outbox(bed), _token(bed, got)]:
            assert face[:64] not in blob and citizen.id_number.encode() not in blob
        return
    # No field outside the profile is anywhere: not in the outbox, not in what MQTT carried.
    leaked = {k: v for k, v in citizen_fields_of(citizen).items()
              if k not in profile.fields and isinstance(v, str) and len(v) >= 4}
    assert leaked, "the citizen has fields the profile leaves out"
    token = _token(bed, got)
    for blob in [*_outbox(bed), token]:
        for field_name, value in leaked.items():
            assert value.encode() not in blob, field_name
            assert value.encode("utf-16-le") not in blob, field_name


def test_a_clone_is_refused_as_not_genuine_and_nothing_is_recorded(bed: Bed) -> None:
    """A clone (every file copied, so PA passes; other chip keys, so CA/AA fail) is refused by
    every profile, the bank's included, and no record is made."""
    citizen = generate(52)
    options = ChipOptions()
    png = bed.tmp / "qr.png"
    Image.fromarray(render(citizen.qr_text())).save(png)
    bed.camera.show(png)
    assert _wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
    forged = issuer.clone(issuer.issue(citizen, options), options)
    link = VpcdLink(CccdChip(forged, options), bed.pcscd.slot_port(0))
    link.insert()
    try:
        assert _wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                 for s in bed.phases), 20), bed.session
    finally:
        link.remove()
    failed = next(s for s in bed.phases if s.phase is m.Phase.FAILED)
    assert failed.failure is m.Failure.NOT_GENUINE and failed.outcome is m.Outcome.INVALID
    assert not any(s.phase is m.Phase.SUCCESS for s in bed.phases)
    time.sleep(0.5)
    assert bed.received == []
    assert bed.desk.store.has_room()


def citizen_fields_of(citizen: Any) -> dict[str, Any]:
    from station.nfc.lds.chip import ChipData

    image = issuer.issue(citizen, ChipOptions())
    names = {0x0101: "DG1", 0x0102: "DG2", 0x010D: "DG13"}
    return citizen_fields(ChipData.from_files(
        "PACE", {n: image.app_files[f] for f, n in names.items()}))


def _outbox(b: Bed) -> list[bytes]:
    return [p.read_bytes() for p in (b.tmp / "state").glob("outbox.sqlite3*")]


def _token(b: Bed, got: Received) -> bytes:
    import sqlite3

    with sqlite3.connect(b.tmp / "ingest.sqlite3") as db:
        row = db.execute("SELECT token FROM received WHERE record_id=?",
                         (got.record.record_id,)).fetchone()
    assert row is not None
    return bytes(row[0])


def test_profile_resolution_matches_the_desk(tmp_path: Path) -> None:
    cfg = config.from_dict({"station": {"profile": "hospital"}})
    assert "face" not in resolve_profile(cfg).fields


def _tap(b: Bed, citizen: Any) -> None:
    options = ChipOptions()
    link = VpcdLink(CccdChip(issuer.issue(citizen, options), options), b.pcscd.slot_port(0))
    link.insert()
    try:
        assert _wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                 for s in b.phases), 20), b.session
    finally:
        link.remove()


def test_a_can_sent_on_the_commands_topic_reads_a_card_without_qr(
        tmp_path: Path, pcscd: PcscdTestbed, desk_broker: MosquittoBroker) -> None:
    """No QR: the backend sends the CAN typed by the clerk; the card is read with it. With
    ``[display] show_initial`` the success screen gets the first-name initial, and only then."""
    from station.display.screens import initial_of

    citizen = generate(53)
    bed = Bed(tmp_path, pcscd, desk_broker, "reception",
              display="[display]\nshow_initial = true\n")
    backend = Backend(desk_broker, bed.station)
    try:
        with running(bed):
            bad = backend.command("c0", "can", can="12345")
            assert bad["ok"] is False and bad["message"] == "a CAN is 6 digits"
            assert bed.session.phase is m.Phase.IDLE
            ok = backend.command("c1", "can", can=citizen.can)
            assert ok["ok"] is True and citizen.can not in json.dumps(ok)
            assert _wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
            assert bed.session.source is m.KeySource.KEYPAD
            _tap(bed, citizen)
            assert _wait(lambda: bool(bed.received), 15), bed.phases[-1]
            success = next(s for s in bed.phases if s.phase is m.Phase.SUCCESS)
            assert success.initial == initial_of(citizen.full_name) is not None
            assert _wait(lambda: bed.session.phase is m.Phase.IDLE)
            assert bed.session.initial is None  # forgotten once the screen moves on
            assert backend.command("c2", "booking", booking_id="B", room="1",
                                   arrival="2030-01-01", departure="2030-01-02")["ok"] is False
    finally:
        backend.close()
    got = bed.received[0]
    assert got.record.outcome == "genuine" and got.citizen is not None
    assert got.citizen["id_number"] == citizen.id_number


def test_lodging_guests_join_the_booking_opened_on_the_commands_topic(
        tmp_path: Path, pcscd: PcscdTestbed, desk_broker: MosquittoBroker) -> None:
    citizen = generate(54)
    bed = Bed(tmp_path, pcscd, desk_broker, "lodging", booking_from_commands=True)
    backend = Backend(desk_broker, bed.station)
    try:
        with running(bed):
            assert backend.command("b0", "booking", room="7")["ok"] is False  # no id, dates
            r = backend.command("b1", "booking", booking_id="BK-9", room="305",
                                arrival="2030-02-01", departure="2030-02-03")
            assert r["ok"] is True, r
            png = bed.tmp / "qr.png"
            Image.fromarray(render(citizen.qr_text())).save(png)
            bed.camera.show(png)
            assert _wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
            _tap(bed, citizen)
            assert _wait(lambda: bool(bed.received), 15), bed.phases[-1]
            assert backend.command("b2", "booking", close=True)["ok"] is True
            assert bed.desk.commands.booking() is None
    finally:
        backend.close()
    ctx = bed.received[0].record.context
    assert (ctx["booking_id"], ctx["room"], ctx["arrival"], ctx["departure"]) == (
        "BK-9", "305", "2030-02-01", "2030-02-03")
    assert ctx["establishment_id"] == "LT-0001"
