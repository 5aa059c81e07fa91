"""The whole desk on real parts: the service built by ``station.service.desk`` with the PC/SC
card watch and chip reader on a real pcscd + vpcd virtual CCCD, the QR watch on a replay camera
showing the card's QR photographed, the trust store of the synthetic issuer, the SQLite outbox
and the MQTT publisher on a real Mosquitto, and the reference ingest backend. For each profile:
QR image → tap → a verified record at ingest holding exactly the profile's fields — and no field
outside the profile anywhere in the outbox file or on MQTT."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from station import config
from station.pipeline.records import b64url, parse_unverified
from station.service import machine as m
from station.service.chip import citizen_fields
from station.service.profiles import FIELDS, minimise
from station.service.profiles import resolve as resolve_profile
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.qrimage import render
from station.sim.vpcd import VpcdLink
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from tests.contract import schemas as contract
from tests.service.desk_bed import (
    Backend,
    Bed,
    ingest_token,
    outbox_files,
    running,
    tap,
    wait,
)


@pytest.fixture(params=["reception", "hospital", "lodging", "bank"])
def bed(request: pytest.FixtureRequest, tmp_path: Path, pcscd: PcscdTestbed,
        desk_broker: MosquittoBroker) -> Iterator[Bed]:
    with running(Bed(tmp_path, pcscd, desk_broker, request.param)) as b:
        yield b


def test_qr_then_tap_gives_a_verified_record_with_only_the_profile_fields(bed: Bed) -> None:
    citizen = generate(51)
    options = ChipOptions()
    png = bed.tmp / "qr.png"
    Image.fromarray(render(citizen.qr_text())).save(png)
    bed.camera.show(png)
    assert wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
    link = VpcdLink(CccdChip(issuer.issue(citizen, options), options), bed.pcscd.slot_port(0))
    link.insert()
    try:
        settled = wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                    for s in bed.phases), 20)
    finally:
        link.remove()
    assert settled, bed.session
    phases = [s.phase for s in bed.phases]
    assert m.Phase.READING in phases and m.Phase.VERIFYING in phases
    profile = bed.desk.profile
    assert any(s.phase is m.Phase.SUCCESS for s in bed.phases)
    assert wait(lambda: bool(bed.received), 15), "no record reached the backend"
    got = bed.received[0]
    # Chip and Active Authentication ran in the tap and passed: the chip is genuine.
    assert got.record.outcome == "genuine" and got.record.profile == profile.name
    checks = {c.name: c.ok for c in got.record.checks}
    assert checks.get("chip-authentication") is True, checks
    expected = minimise(profile, citizen_fields_of(citizen))
    assert got.citizen is not None
    assert set(got.citizen) == set(expected) <= set(profile.fields)
    # What the desk sent follows the published contract (contract/schemas).
    sent = ingest_token(bed, got)
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
        for blob in [*outbox_files(bed), ingest_token(bed, got)]:
            assert face[:64] not in blob and citizen.id_number.encode() not in blob
        return
    # No field outside the profile is anywhere: not in the outbox, not in what MQTT carried.
    leaked = {k: v for k, v in citizen_fields_of(citizen).items()
              if k not in profile.fields and isinstance(v, str) and len(v) >= 4}
    assert leaked, "the citizen has fields the profile leaves out"
    token = ingest_token(bed, got)
    for blob in [*outbox_files(bed), token]:
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
    assert wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
    forged = issuer.clone(issuer.issue(citizen, options), options)
    link = VpcdLink(CccdChip(forged, options), bed.pcscd.slot_port(0))
    link.insert()
    try:
        assert wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
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


def test_profile_resolution_matches_the_desk(tmp_path: Path) -> None:
    cfg = config.from_dict({"station": {"profile": "hospital"}})
    assert "face" not in resolve_profile(cfg).fields


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
            assert wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
            assert bed.session.source is m.KeySource.KEYPAD
            tap(bed, citizen)
            assert wait(lambda: bool(bed.received), 15), bed.phases[-1]
            success = next(s for s in bed.phases if s.phase is m.Phase.SUCCESS)
            assert success.initial == initial_of(citizen.full_name) is not None
            assert wait(lambda: bed.session.phase is m.Phase.IDLE)
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
            assert wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
            tap(bed, citizen)
            assert wait(lambda: bool(bed.received), 15), bed.phases[-1]
            assert backend.command("b2", "booking", close=True)["ok"] is True
            assert bed.desk.commands.booking() is None
    finally:
        backend.close()
    ctx = bed.received[0].record.context
    assert (ctx["booking_id"], ctx["room"], ctx["arrival"], ctx["departure"]) == (
        "BK-9", "305", "2030-02-01", "2030-02-03")
    assert ctx["establishment_id"] == "LT-0001"
