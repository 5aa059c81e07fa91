"""The outputs the consuming systems read (station.ingest.outputs), each rendered from records
that took ingest's real path: built from a virtual card's data groups by the station's own
code, sealed and signed, accepted and stored by ingest (SQLite), read back from the store and
opened with the backend key. CSV is parsed back with the csv module, XLSX with openpyxl, JSON
validated with jsonschema against contract/schemas, FHIR with fhir.resources."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station import keys
from station.config import ProfileSection
from station.errors import OutputError
from station.ingest import Ingest
from station.ingest.outputs import (
    CITIZEN_COLUMNS,
    FOREIGNER_COLUMNS,
    Form,
    OpenedRecord,
    Stay,
    cell,
    render,
    xml_text,
)
from station.mrz.parse import parse_mrz
from station.nfc.lds.chip import ChipData
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Check, Reading, RecordError, RecordSigner, b64url
from station.service import profiles
from station.service.chip import citizen_fields
from station.service.profiles import Booking, EntryDetails, foreign_guest, minimise
from station.service.profiles import build as build_profile
from station.sim import issuer, lds, passport
from station.sim.chip import ChipOptions
from station.sim.citizens import Citizen, generate
from tests.contract.schemas import check, validator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.patient import Patient

BOOKING = Booking("BK-7", "305", dt.date(2030, 1, 2), dt.date(2030, 1, 5))
CHECKS = (Check("passive_authentication", True), Check("chip_authentication", True))


class Backend:
    """A station's signer and ingest on a store (SQLite unless a DSN is given): records go in
    as the station builds them and come out as the store holds them, opened with the backend
    key."""

    def __init__(self, db: Path | str) -> None:
        self.sk, self.bk = keys.generate_signing_key(), keys.generate_seal_key()
        self.ingest = Ingest(db, BrokerSettings(),
                             stations={"desk-o": self.sk.public_key()}, backend_key=self.bk)
        self.signer = RecordSigner("desk-o", self.sk, self.bk.public_key())
        self.seq = 0

    def record(self, profile: str, fields: dict[str, Any], context: dict[str, Any],
               outcome: str = "genuine") -> OpenedRecord:
        self.seq += 1
        token = self.signer.build(Reading(profile, "PACE", outcome, CHECKS, fields,
                                          {"DG1": b"dg1"}, context), self.seq).token
        got = self.ingest.accept("stations/desk-o/records", token)
        assert got is not None and not got.duplicate
        self.ingest.flush()
        stored = self.ingest.store.token(got.record.record_id)
        assert stored == token
        return OpenedRecord.from_token(stored, self.bk)


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    b = Backend(tmp_path / "ingest.sqlite3")
    yield b
    b.ingest.store.close()


def chip_fields(person: Citizen) -> dict[str, Any]:
    """A virtual CCCD's DG1/DG2/DG13 as the desk reads them."""
    image = issuer.issue(person, ChipOptions())
    files = {n: image.app_files[f] for f, n in {0x0101: "DG1", 0x0102: "DG2",
                                                 0x010D: "DG13"}.items()}
    return citizen_fields(ChipData.from_files("PACE", files))


def desk_record(backend: Backend, profile: str, person: Citizen,
                **section: Any) -> OpenedRecord:
    desk = build_profile(profile, ProfileSection(
        establishment_id="LT-0001" if profile == "lodging" else "", **section))
    return backend.record(profile, dict(minimise(desk, chip_fields(person))),
                          profiles.context(desk, BOOKING if profile == "lodging" else None))


def foreign_records(backend: Backend) -> tuple[OpenedRecord, OpenedRecord, passport.Traveller,
                                                 passport.Traveller]:
    """A French guest read from the chip (DG1 + DG11) with the desk's entry details, and a
    US guest from the MRZ alone (the chip could not be read)."""
    desk = build_profile("lodging", ProfileSection(establishment_id="LT-0001"))
    fra, usa = passport.generate(31, state="FRA"), passport.generate(32, state="USA")
    chip = ChipData.from_files("BAC", {"DG1": lds.dg1(fra.mrz()), "DG11": passport.dg11(fra)})
    entry = EntryDetails(visa_number="V1234567", entry_date=dt.date(2030, 1, 1),
                         entry_port="SGN", purpose="du lịch", stay_until=dt.date(2030, 1, 4))
    ctx = profiles.context(desk, BOOKING, 1)
    g1 = minimise(desk, foreign_guest(parse_mrz(fra.mrz()), chip, entry), foreign=True)
    g2 = minimise(desk, foreign_guest(parse_mrz(usa.mrz()), None, EntryDetails(),
                                      chip_failure="read_error"), foreign=True)
    return (backend.record("lodging", dict(g1), ctx, "authentic"),
            backend.record("lodging", dict(g2), ctx, "unverified"), fra, usa)


def parse_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    text = body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert text.endswith("\r\n") and all(len(r) == len(rows[0]) for r in rows)
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_lodging_csv_one_row_per_guest_from_the_card(backend: Backend) -> None:
    people = [generate(s) for s in (41, 42, 43)]
    opened = [desk_record(backend, "lodging", p) for p in people]
    out = render(opened, Form.LODGING_CSV)
    assert out.media_type == "text/csv; charset=utf-8" and out.filename.endswith("-3.csv")
    assert out.record_ids == tuple(o.record.record_id for o in opened)
    rows = parse_csv(out.body)
    assert list(rows[0]) == ["STT", *(c.header for c in CITIZEN_COLUMNS)]
    for n, (row, person, o) in enumerate(zip(rows, people, opened, strict=True), 1):
        assert row["STT"] == str(n)
        assert row["Họ và tên"] == unicodedata.normalize("NFC", person.full_name)
        assert row["Số định danh cá nhân"] == person.id_number
        assert row["Ngày sinh"] == o.fields["date_of_birth"]
        assert row["Giới tính"] in ("Nam", "Nữ") and row["Quốc tịch"] == "Việt Nam"
        assert row["Nơi thường trú / nơi ở hiện tại"] == o.fields["place_of_residence"]
        assert ", " in row["Nơi thường trú / nơi ở hiện tại"]  # a quoted comma came back
        # From the booking the desk recorded; the reason of stay is nowhere in a record.
        assert (row["Ngày đến"], row["Ngày đi dự kiến"], row["Số phòng"]) == (
            "02/01/2030", "05/01/2030", "305")
        assert row["Mã cơ sở lưu trú"] == "LT-0001" and row["Mã đặt phòng"] == "BK-7"
        assert row["Lý do lưu trú"] == ""
        assert row["Mã bản ghi"] == o.record.record_id
    # Vietnamese diacritics are in the file as UTF-8, not transliterated or escaped.
    assert "Việt Nam".encode() in out.body


def test_quoting_and_the_formula_injection_guard(backend: Backend) -> None:
    hostile = {"id_number": "001099012345", "full_name": '=HYPERLINK("http://x","Bấm")',
               "date_of_birth": "01/02/1990", "sex": "Nữ", "nationality": "+Việt Nam",
               "place_of_residence": 'Số 1, "Ngõ 2"\r\nPhường @Bến Nghé'}
    o = backend.record("lodging", hostile,
                       profiles.context(build_profile("lodging", ProfileSection(
                           establishment_id="-LT")), BOOKING))
    row = parse_csv(render([o], Form.LODGING_CSV).body)[0]
    assert row["Họ và tên"] == "'" + hostile["full_name"]
    assert row["Quốc tịch"] == "'+Việt Nam" and row["Mã cơ sở lưu trú"] == "'-LT"
    # A comma, quotes and a line break inside a cell survive RFC 4180 quoting unchanged.
    assert row["Nơi thường trú / nơi ở hiện tại"] == hostile["place_of_residence"]
    assert [cell(v) for v in ("@x", "\tx", "x=1", "")] == ["'@x", "'\tx", "x=1", ""]
    wb = openpyxl.load_workbook(io.BytesIO(render([o], Form.LODGING_XLSX).body))
    values = [c.value for c in wb["Lưu trú"][2]]
    assert values[1] == "'" + hostile["full_name"]
    assert all(c.data_type == "s" for c in wb["Lưu trú"][2] if c.value is not None)


def test_xlsx_both_sheets_read_back_with_openpyxl(backend: Backend) -> None:
    person = generate(44)
    citizen = desk_record(backend, "lodging", person)
    g1, g2, fra, _ = foreign_records(backend)
    out = render([g1, citizen, g2], Form.LODGING_XLSX)
    assert out.media_type.endswith("spreadsheetml.sheet") and out.filename.endswith(".xlsx")
    assert out.record_ids == tuple(o.record.record_id for o in (citizen, g1, g2))
    wb = openpyxl.load_workbook(io.BytesIO(out.body))
    assert wb.sheetnames == ["Lưu trú", "Người nước ngoài"]
    head, *rows = ([c.value for c in r] for r in wb["Lưu trú"].iter_rows())
    assert head == ["STT", *(c.header for c in CITIZEN_COLUMNS)] and len(rows) == 1
    got = dict(zip(head, rows[0], strict=True))
    # Text cells: the ID keeps its leading zeros, the date is not reinterpreted.
    assert got["Số định danh cá nhân"] == person.id_number
    assert got["Ngày sinh"] == citizen.fields["date_of_birth"]
    assert got["Họ và tên"] == unicodedata.normalize("NFC", person.full_name)
    widths = wb["Lưu trú"].column_dimensions
    assert widths["E"].width >= len("Số định danh cá nhân") and widths["A"].width < 10
    head, *rows = ([c.value for c in r] for r in wb["Người nước ngoài"].iter_rows())
    assert head == ["STT", *(c.header for c in FOREIGNER_COLUMNS)] and len(rows) == 2
    assert dict(zip(head, rows[0], strict=True))["Số hộ chiếu"] == fra.document_number


def test_foreign_guests_get_the_declarations_columns(backend: Backend) -> None:
    citizen = desk_record(backend, "lodging", generate(45))
    g1, g2, fra, usa = foreign_records(backend)
    out = render([citizen, g1, g2], Form.FOREIGNERS_CSV)
    assert out.record_ids == (g1.record.record_id, g2.record.record_id)  # no citizen row
    r1, r2 = parse_csv(out.body)
    assert list(r1) == ["STT", *(c.header for c in FOREIGNER_COLUMNS)]
    assert r1["Họ tên"] == f"{fra.surname} {fra.given_names}"  # DG11: accents kept
    assert r1["Giới tính"] == {"M": "Nam", "F": "Nữ"}[fra.sex]
    assert r1["Ngày sinh"] == fra.birth.strftime("%d/%m/%Y")
    assert (r1["Quốc tịch"], r1["Quốc gia cấp"], r1["Số hộ chiếu"]) == (
        "FRA", "FRA", fra.document_number)
    assert r1["Khổ giấy tờ (ICAO 9303)"] == "TD3"
    assert (r1["Số thị thực / thẻ tạm trú"], r1["Ngày nhập cảnh"], r1["Cửa khẩu nhập cảnh"],
            r1["Mục đích nhập cảnh"]) == ("V1234567", "01/01/2030", "SGN", "du lịch")
    # The desk's stay_until wins over the booking's departure; arrival is the booking's.
    assert (r1["Tạm trú từ ngày"], r1["Tạm trú đến ngày"], r1["Số phòng"]) == (
        "02/01/2030", "04/01/2030", "305")
    assert r1["Nguồn dữ liệu"] == "chip" and r1["Kết quả xác thực"] == "authentic"
    # The MRZ-only guest: what the MRZ gives, the desk's entries empty, nothing invented.
    assert r2["Số hộ chiếu"] == usa.document_number and r2["Quốc tịch"] == "USA"
    assert r2["Nguồn dữ liệu"] == "mrz (chip: read_error)"
    for column in ("Số thị thực / thẻ tạm trú", "Ngày nhập cảnh", "Cửa khẩu nhập cảnh",
                   "Mục đích nhập cảnh", "Loại hộ chiếu"):
        assert r2[column] == "", column
    assert r2["Tạm trú đến ngày"] == "05/01/2030"  # no stay_until: the booking's departure
    # And no foreign guest is a row of the citizens' notification.
    assert render([citizen, g1, g2], Form.LODGING_CSV).record_ids == (citizen.record.record_id,)


def test_hospital_in_patients_missing_fields_empty_never_invented(backend: Backend) -> None:
    person = generate(46)
    bare = desk_record(backend, "hospital", person)  # default fields: no nationality/address
    assert set(bare.fields) == {"id_number", "full_name", "date_of_birth", "sex"}
    full = desk_record(backend, "hospital", person,
                       fields=("id_number", "full_name", "date_of_birth", "sex",
                               "nationality", "place_of_residence"))
    admitted = Stay(arrival=dt.date(2030, 2, 1), room="Khoa Nội, giường 12",
                    reason="Điều trị nội trú")
    rows = parse_csv(render([bare, full], Form.LODGING_CSV,
                            stays={full.record.record_id: admitted}).body)
    assert rows[0]["Số định danh cá nhân"] == rows[1]["Số định danh cá nhân"] == person.id_number
    for column in ("Quốc tịch", "Nơi thường trú / nơi ở hiện tại", "Lý do lưu trú",
                   "Ngày đến", "Ngày đi dự kiến", "Số phòng", "Mã cơ sở lưu trú",
                   "Mã đặt phòng"):
        assert rows[0][column] == "", column
    assert rows[1]["Quốc tịch"] == "Việt Nam" and rows[1]["Nơi thường trú / nơi ở hiện tại"]
    assert (rows[1]["Ngày đến"], rows[1]["Số phòng"], rows[1]["Lý do lưu trú"]) == (
        "01/02/2030", "Khoa Nội, giường 12", "Điều trị nội trú")
    assert rows[1]["Ngày đi dự kiến"] == ""


def test_hospital_fhir_patient_and_bundle(backend: Backend) -> None:
    people = [generate(47), generate(48)]
    opened = [desk_record(backend, "hospital", p) for p in people]
    one = render(opened[0], Form.FHIR_PATIENT)
    assert one.media_type == "application/fhir+json"
    model = Patient.model_validate(json.loads(one.body))
    assert model.identifier is not None and model.identifier[0].value == people[0].id_number
    bundle = Bundle.model_validate(json.loads(render(opened, "fhir-patient").body))
    assert bundle.type == "collection" and bundle.entry is not None and len(bundle.entry) == 2
    assert [e.fullUrl for e in bundle.entry] == [f"urn:uuid:{o.record.record_id}"
                                                for o in opened]


@pytest.mark.parametrize(("profile", "form", "schema"), [
    ("reception", Form.ONE_STOP_JSON, "output-one-stop-v1.json"),
    ("bank", Form.BANK_JSON, "output-bank-v1.json")])
def test_json_forms_validate_against_their_published_schema(
        backend: Backend, profile: str, form: Form, schema: str) -> None:
    people = [generate(s) for s in (51, 52)]
    opened = [desk_record(backend, profile, p, service_code="HCC-07"
                          if profile == "reception" else "") for p in people]
    out = render(opened, form)
    doc = json.loads(out.body)
    check(f"schemas/{schema}", doc)
    assert [r["record_id"] for r in doc["records"]] == list(out.record_ids)
    first = doc["records"][0]
    assert first["person"]["full_name"] == unicodedata.normalize("NFC", people[0].full_name)
    assert first["verification"]["checks"][0] == {"name": "passive_authentication", "ok": True}
    if profile == "bank":
        assert set(first["person"]) == set(opened[0].fields) and "face" in first["person"]
    else:
        assert first["context"]["service_code"] == "HCC-07"
    # The schema can fail: another form's document, or a person without the ID number.
    wrong = {**doc, "schema": "station-output/other/v1"}
    assert not validator(f"schemas/{schema}").is_valid(wrong)
    del first["person"]["id_number"]
    assert not validator(f"schemas/{schema}").is_valid(doc)


def test_a_form_refuses_another_desks_records_naming_no_content(backend: Backend) -> None:
    person = generate(53)
    bank = desk_record(backend, "bank", person)
    with pytest.raises(OutputError) as err:
        render([bank], Form.LODGING_CSV)
    with pytest.raises(OutputError):
        render(bank, "bank-csv")
    for text in (str(err.value), repr(bank), repr(render(bank, Form.BANK_JSON))):
        assert person.id_number not in text and person.full_name not in text
    empty = render([], Form.LODGING_CSV)
    assert parse_csv(empty.body) == [] and empty.record_ids == ()
    assert render(bank, Form.RECORD_JSON).filename == f"records-{bank.record.record_id}.json"


def test_a_stored_token_that_does_not_open_is_a_typed_error(backend: Backend) -> None:
    o = desk_record(backend, "reception", generate(54))
    token = backend.ingest.store.token(o.record.record_id)
    assert token is not None
    head, _, tail = token.split(b".")
    for bad in (b"garbage", head + b"." + b64url(b"\xff{").encode() + b"." + tail,
                head + b"." + b64url(b"[1]").encode() + b"." + tail):
        with pytest.raises(RecordError):
            OpenedRecord.from_token(bad, backend.bk)
    with pytest.raises(RecordError):  # another backend's key
        OpenedRecord.from_token(token, keys.generate_seal_key())


_SIGNER = RecordSigner("desk-h", keys.generate_signing_key(), keys.generate_seal_key().public_key())
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(name=_TEXT, residence=_TEXT, room=_TEXT)
def test_any_text_comes_back_from_csv_and_xlsx_as_guarded(name: str, residence: str,
                                                      room: str) -> None:
    """Whatever the chip or the desk held — quotes, separators, line breaks, formula
    characters, any script — the cell parses back to exactly the guarded text."""
    record = _SIGNER.build(Reading("lodging", "PACE", "genuine", (), {}, {},
                                   {"profile": "lodging", "room": room}), 1).record
    o = OpenedRecord(record, {"id_number": "001099012345", "full_name": name,
                              "place_of_residence": residence})
    expected = {k: cell(unicodedata.normalize("NFC", v)) for k, v in (
        ("Họ và tên", name), ("Nơi thường trú / nơi ở hiện tại", residence), ("Số phòng", room))}
    row = parse_csv(render([o], Form.LODGING_CSV).body)[0]
    # The csv module reads a lone CR inside a quoted field back as written; nothing is lost.
    assert {k: row[k] for k in expected} == expected
    assert all(not v.startswith(("=", "+", "-", "@")) for v in row.values())
    book = openpyxl.load_workbook(io.BytesIO(render([o], Form.LODGING_XLSX).body))
    head, values = ([c.value or "" for c in r] for r in book["Lưu trú"].iter_rows())
    got = dict(zip(head, values, strict=True))
    assert {k: got[k] for k in expected} == {k: xml_text(v) for k, v in expected.items()}


def test_text_a_spreadsheet_cannot_hold_is_marked_not_a_crash(backend: Backend) -> None:
    record = _SIGNER.build(Reading("lodging", "PACE", "genuine", (), {}, {}, {}), 1).record
    o = OpenedRecord(record, {"id_number": "001099012345", "full_name": "Lê\x01Văn\ud800",
                              "place_of_residence": "Thôn 1\uffff"})
    row = parse_csv(render([o], Form.LODGING_CSV).body)[0]
    assert row["Họ và tên"] == "Lê\x01Văn\ufffd"  # CSV carries a control character
    book = openpyxl.load_workbook(io.BytesIO(render([o], Form.LODGING_XLSX).body))
    values = [c.value for c in book["Lưu trú"][2]]
    assert values[1:7:5] == ["Lê\ufffdVăn\ufffd", "Thôn 1\ufffd"]


def test_the_forms_from_a_postgresql_store(pg_dsn: str) -> None:
    """The production store hands back the same tokens: a lodging batch from PostgreSQL."""
    pg = Backend(pg_dsn)
    try:
        person = generate(55)
        citizen = desk_record(pg, "lodging", person)
        g1, _, fra, _ = foreign_records(pg)
        book = openpyxl.load_workbook(io.BytesIO(render([citizen, g1], "lodging-xlsx").body))
        assert book["Lưu trú"]["E2"].value == person.id_number
        assert book["Người nước ngoài"]["F2"].value == fra.document_number
    finally:
        pg.ingest.store.close()
