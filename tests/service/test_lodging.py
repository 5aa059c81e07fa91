"""Foreign guests at a lodging desk, on real parts (pcscd + vpcd, replay camera, Mosquitto,
ingest): the passport's MRZ photographed, then its chip tapped → a foreign-guest record with the
entry details the clerk sent on the commands topic; a chip that cannot be read → a record from
the MRZ alone, saying so; and a Vietnamese citizen at the same desk still by QR."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import openpyxl
from PIL import Image

from station.ingest import outputs
from station.service import machine as m
from station.service.profiles import FOREIGN_FIELDS
from station.service.verify import TrustVerifier
from station.sim import mrzimage, passport
from station.sim.chip import CccdChip
from station.sim.citizens import generate
from station.sim.qrimage import render
from station.sim.vpcd import VpcdLink
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from tests.service.desk_bed import (
    Backend,
    Bed,
    ingest_token,
    outbox_files,
    running,
    settled,
    tap,
    wait,
)

ENTRY = {"visa_number": "VN1234567", "entry_date": "2030-01-02", "entry_port": "SGN",
         "purpose": "tourism", "stay_until": "2030-01-09"}


def _show_mrz(bed: Bed, t: passport.Traveller) -> None:
    png = bed.tmp / f"mrz-{t.seed}.png"
    mrzimage.render_frame(t.mrz(), seed=t.seed).save(png)
    bed.phases.clear()
    bed.camera.show(png)
    assert wait(lambda: bed.session.phase is m.Phase.WAITING
                 and bed.session.source is m.KeySource.MRZ), bed.session


def _tap_passport(bed: Bed, p: passport.Passport, **quirks: object) -> None:
    link = VpcdLink(CccdChip(p.image, replace(p.options, **quirks)), bed.pcscd.slot_port(0))
    link.insert()
    try:
        settled(bed)
    finally:
        link.remove()


def test_foreign_guests_by_mrz_then_chip_or_mrz_only_and_a_citizen_by_qr(
        tmp_path: Path, pcscd: PcscdTestbed, desk_broker: MosquittoBroker) -> None:
    fra = passport.issue(passport.generate(61, state="FRA"))
    jpn = passport.issue(passport.generate(62, state="JPN"),
                         passport.PassportOptions(access="PACE-MRZ"))
    usa = passport.issue(passport.generate(63, state="USA"))
    citizen = generate(64)
    bed = Bed(tmp_path, pcscd, desk_broker, "lodging", booking_from_commands=True,
              session="card_wait_s = 4\n")
    # The trust store holds France's CSCA (as a master list would), not Japan's.
    (tmp_path / "state" / "trust" / "csca-fr.pem").write_bytes(fra.csca.pem)
    verifier = bed.desk.service.verifier
    assert isinstance(verifier, TrustVerifier) and verifier.store is not None
    verifier.store.reload()
    backend = Backend(desk_broker, bed.station)
    try:
        with running(bed):
            assert backend.command("b1", "booking", booking_id="BK-F", room="12",
                                   arrival="2030-01-02", departure="2030-01-09")["ok"]
            bad = backend.command("e0", "entry", **{**ENTRY, "stay_until": "2030-13-01"})
            assert bad["ok"] is False and "stay_until" in bad["message"]
            assert "2030-13-01" not in json.dumps(bad)
            ok = backend.command("e1", "entry", **ENTRY)
            assert ok["ok"] is True and "VN1234567" not in json.dumps(ok)

            # 1. A BAC-only French passport: MRZ, then the chip.
            _show_mrz(bed, fra.traveller)
            _tap_passport(bed, fra)
            assert wait(lambda: len(bed.received) == 1, 15), bed.phases[-1]
            assert wait(lambda: bed.session.phase is m.Phase.IDLE)

            # 2. A Japanese passport with PACE-MRZ, its state's CSCA not in the store.
            _show_mrz(bed, jpn.traveller)
            _tap_passport(bed, jpn)
            assert wait(lambda: len(bed.received) == 2, 15), bed.phases[-1]
            assert wait(lambda: bed.session.phase is m.Phase.IDLE)

            # 3. A US passport whose chip answers garbage: after the wait, the MRZ alone.
            _show_mrz(bed, usa.traveller)
            _tap_passport(bed, usa, faults={i: "garbage" for i in range(1, 400)})
            assert wait(lambda: len(bed.received) == 3, 20), bed.phases[-1]
            assert wait(lambda: bed.session.phase is m.Phase.IDLE)

            # 4. A Vietnamese citizen at the same desk: QR, then the CCCD.
            png = tmp_path / "qr.png"
            Image.fromarray(render(citizen.qr_text())).save(png)
            bed.phases.clear()
            bed.camera.show(png)
            assert wait(lambda: bed.session.phase is m.Phase.WAITING
                         and bed.session.source is m.KeySource.QR), bed.session
            tap(bed, citizen)
            assert wait(lambda: len(bed.received) == 4, 15), bed.phases[-1]
    finally:
        backend.close()

    by_number = {r.citizen.get("passport_number") or r.citizen.get("id_number"): r
                 for r in bed.received if r.citizen is not None}
    profile = bed.desk.profile

    r1 = by_number[fra.traveller.document_number]
    t1 = fra.traveller
    assert r1.record.outcome == "authentic" and r1.record.protocol.startswith("BAC")
    assert r1.record.context["booking_id"] == "BK-F"
    c1 = r1.citizen
    assert c1 is not None and set(c1) <= set(profile.foreign_fields) <= set(FOREIGN_FIELDS)
    assert c1["source"] == "chip" and c1["nationality"] == "FRA"
    assert c1["full_name"] == f"{t1.surname} {t1.given_names}"  # DG11, with accents
    assert c1["date_of_birth"] == t1.birth.isoformat()
    assert {k: c1[k] for k in ENTRY} == ENTRY
    assert r1.dg_hashes is not None and {"DG11", "DG12"} <= set(r1.dg_hashes)

    r2 = by_number[jpn.traveller.document_number]
    assert r2.record.outcome == "unverified" and r2.record.protocol.startswith("PACE")
    checks = {c.name: c.ok for c in r2.record.checks}
    assert checks["dsc-issuer"] is False and checks["dg-hashes"] is True
    assert r2.citizen is not None and r2.citizen["source"] == "chip"
    assert r2.citizen["visa_number"] == ""  # the entry details were spent on guest 1

    r3 = by_number[usa.traveller.document_number]
    assert r3.record.outcome == "unverified" and r3.record.protocol == "MRZ"
    assert r3.record.checks == () and r3.dg_hashes == {}
    assert r3.citizen is not None and r3.citizen["source"] == "mrz"
    assert r3.citizen["chip_failure"] == "read_error"
    assert r3.citizen["nationality"] == "USA"

    r4 = by_number[citizen.id_number]
    assert r4.record.outcome == "genuine" and r4.citizen is not None
    assert set(r4.citizen) == set(profile.fields)

    # What the lodging profile leaves out of a foreign guest (DG11's address, telephone,
    # profession; the face) is nowhere: not in the outbox, not in what MRZ carried.
    blobs = [*outbox_files(bed), *(ingest_token(bed, r) for r in bed.received)]

    # What the establishment uploads, from what ingest stored: one file for the four guests.
    key = bed.ingest.verifier.backend_key
    assert key is not None
    stored = [outputs.OpenedRecord.from_token(ingest_token(bed, r), key) for r in bed.received]
    book = openpyxl.load_workbook(io.BytesIO(outputs.render(stored, "lodging-xlsx").body))
    sheets = {name: [[c.value or "" for c in row] for row in book[name].iter_rows()]
              for name in book.sheetnames}
    citizens = [dict(zip(sheets["Lưu trú"][0], r, strict=True)) for r in sheets["Lưu trú"][1:]]
    assert [r["Số định danh cá nhân"] for r in citizens] == [citizen.id_number]
    assert citizens[0]["Họ và tên"] == r4.citizen["full_name"]
    assert citizens[0]["Số phòng"] == "12" and citizens[0]["Ngày đến"] == "02/01/2030"
    guests = {r[5]: dict(zip(sheets["Người nước ngoài"][0], r, strict=True))
              for r in sheets["Người nước ngoài"][1:]}
    assert set(guests) == {t.document_number for t in (t1, jpn.traveller, usa.traveller)}
    g1 = guests[t1.document_number]
    assert g1["Họ tên"] == c1["full_name"] and g1["Quốc tịch"] == "FRA"
    assert (g1["Số thị thực / thẻ tạm trú"], g1["Cửa khẩu nhập cảnh"]) == ("VN1234567", "SGN")
    assert g1["Tạm trú đến ngày"] == "09/01/2030" and g1["Nguồn dữ liệu"] == "chip"
    g3 = guests[usa.traveller.document_number]
    assert g3["Nguồn dữ liệu"] == "mrz (chip: read_error)" and g3["Ngày nhập cảnh"] == ""
    face = fra.image.app_files[0x0102]
    for blob in blobs:
        for value in (t1.address, t1.telephone, t1.profession):
            assert value.encode() not in blob
        assert face[-64:] not in blob
