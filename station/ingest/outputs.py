"""What the consuming system at each desk takes: an opened record rendered in that system's form.

One entry point, :func:`render`, used by the webhook (:mod:`station.ingest.webhook`) and by the
console's pull API: ``render(opened, form) -> Output(media_type, body, filename, …)``, where
``opened`` is one :class:`OpenedRecord` (a record's clear part and its opened fields) or a
sequence of them (a batch into one file), and ``form`` a :class:`Form`:

- ``lodging-csv`` / ``lodging-xlsx`` — the lodging notification (thông báo lưu trú): Law on
  Residence 68/2020/QH14 art. 30 and Circular 55/2021/TT-BCA art. 15 for Vietnamese citizens,
  one row per guest. Hospital records are taken too: a medical establishment notifies its
  in-patients' stays (art. 30(1)), so the hospital renders the records of the patients it
  admits overnight in this form (:class:`Stay` carries the admission). The XLSX has a second
  sheet with the foreign guests (``foreigners-csv``'s columns).
- ``foreigners-csv`` — the foreigners' temporary-residence declaration (Law 47/2014/QH13 art. 33
  as amended; the content of form NA17 of Circular 04/2015/TT-BCA and of the immigration
  portal's online declaration), one row per foreign guest of a lodging desk.
- ``fhir-patient`` — the hospital's HL7 FHIR R4 ``Patient`` (:mod:`station.ingest.fhir`); a
  batch is a ``Bundle`` of type ``collection``.
- ``one-stop-json`` / ``bank-json`` — documented JSON, ``contract/schemas/output-*-v1.json``.
- ``record-json`` — any profile: the clear payload with the opened fields (the webhook's body
  before forms existed).

The lodging forms' columns are a :class:`LodgingLayout` (``render(..., layout=…)``;
:mod:`station.ingest.layout` reads one from the establishment's TOML file), by default
:data:`DEFAULT_LAYOUT`, whose names are ours.

What a record does not carry is an empty cell (or an absent JSON member), never a guess: the
columns of what the establishment enters (room, expected departure, reason of stay) stay empty
unless the booking the desk recorded or a :class:`Stay` supplies them. CSV is UTF-8 with a BOM
(so Excel shows Vietnamese), RFC 4180 quoting, CRLF; in CSV and XLSX a text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (spreadsheet
formula injection, OWASP's CSV-injection advice).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import x25519

from station.errors import OutputError
from station.ingest.fhir import patient
from station.pipeline.records import Record, RecordError, b64url, open_sealed, parse_unverified


class Form(enum.StrEnum):
    LODGING_CSV = "lodging-csv"
    LODGING_XLSX = "lodging-xlsx"
    FOREIGNERS_CSV = "foreigners-csv"
    FHIR_PATIENT = "fhir-patient"
    ONE_STOP_JSON = "one-stop-json"
    BANK_JSON = "bank-json"
    RECORD_JSON = "record-json"


PROFILES: Mapping[Form, frozenset[str]] = MappingProxyType({
    Form.LODGING_CSV: frozenset({"lodging", "hospital"}),
    Form.LODGING_XLSX: frozenset({"lodging", "hospital"}),
    Form.FOREIGNERS_CSV: frozenset({"lodging"}),
    Form.FHIR_PATIENT: frozenset({"hospital"}),
    Form.ONE_STOP_JSON: frozenset({"reception"}),
    Form.BANK_JSON: frozenset({"bank"}),
    Form.RECORD_JSON: frozenset({"reception", "hospital", "lodging", "bank"}),
})
"""The profiles whose records each form takes."""

DEFAULT_FORMS: Mapping[str, Form] = MappingProxyType({
    "reception": Form.ONE_STOP_JSON,
    "hospital": Form.FHIR_PATIENT,
    "lodging": Form.LODGING_XLSX,
    "bank": Form.BANK_JSON,
})
"""Each profile's form when nothing else is configured (the webhook's default)."""

SCHEMAS: Mapping[Form, str] = MappingProxyType({
    Form.ONE_STOP_JSON: "station-output/one-stop/v1",
    Form.BANK_JSON: "station-output/bank/v1",
})
"""The ``schema`` member of each JSON form: its name and version
(``contract/schemas/output-one-stop-v1.json``, ``output-bank-v1.json``)."""

_MEDIA = {
    Form.LODGING_CSV: ("text/csv; charset=utf-8", "csv"),
    Form.FOREIGNERS_CSV: ("text/csv; charset=utf-8", "csv"),
    Form.LODGING_XLSX: (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    Form.FHIR_PATIENT: ("application/fhir+json", "json"),
    Form.ONE_STOP_JSON: ("application/json", "json"),
    Form.BANK_JSON: ("application/json", "json"),
    Form.RECORD_JSON: ("application/json", "json"),
}
_STEM = {
    Form.LODGING_CSV: "luu-tru", Form.LODGING_XLSX: "luu-tru",
    Form.FOREIGNERS_CSV: "tam-tru-nguoi-nuoc-ngoai", Form.FHIR_PATIENT: "fhir-patient",
    Form.ONE_STOP_JSON: "mot-cua", Form.BANK_JSON: "bank-ekyc", Form.RECORD_JSON: "records",
}
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
"""The establishment's day (Vietnam keeps UTC+7 all year) names the file."""


@dataclass(frozen=True, repr=False)
class OpenedRecord:
    """A stored record as the backend reads it: the clear part and the opened fields."""

    record: Record
    fields: Mapping[str, Any]
    """The profile's fields as sealed (bytes fields such as ``face`` as bytes)."""

    @classmethod
    def from_token(cls, token: bytes, backend_key: x25519.X25519PrivateKey) -> OpenedRecord:
        """From a stored token (verified when ingest received it): parsed, opened with the
        backend key. Raises :class:`~station.pipeline.records.RecordError`."""
        try:
            payload = json.loads(parse_unverified(token)[1])
        except ValueError:  # not JSON, or not UTF-8
            raise RecordError("record payload is not JSON") from None
        record = Record.from_json(payload)
        return cls(record, MappingProxyType(open_sealed(record, backend_key).citizen))

    @property
    def foreign(self) -> bool:
        """A foreign guest (passport or foreign ID card), not a CCCD holder."""
        return "source" in self.fields and "passport_number" in self.fields

    def __repr__(self) -> str:
        return f"OpenedRecord({self.record.record_id}, fields={sorted(self.fields)})"


@dataclass(frozen=True, repr=False)
class Stay:
    """What the establishment knows of a stay that the record does not carry: a hospital's
    admission of an in-patient, or the lodging desk's corrections. A value given here takes
    the place of the booking's."""

    arrival: dt.date | None = None
    departure: dt.date | None = None
    room: str = ""
    """Room, or ward and bed for an in-patient."""
    reason: str = ""
    """Reason of stay (lý do lưu trú), e.g. "Điều trị nội trú"."""

    def __repr__(self) -> str:
        return "Stay(…)"


@dataclass(frozen=True, repr=False)
class Output:
    """One rendered file: what a webhook POSTs or the pull API returns."""

    media_type: str
    body: bytes
    filename: str
    """Safe to show: the form, the day and a count or record id, never citizen data."""
    form: Form
    record_ids: tuple[str, ...]
    """The records in ``body``, in order (a batch's records the form has no row for — a
    citizen in ``foreigners-csv`` — are not among them)."""

    def __repr__(self) -> str:
        return (f"Output({self.form}, {self.media_type}, {len(self.body)} bytes, "
                f"{len(self.record_ids)} records)")


def form_of(name: str) -> Form:
    """A form by name (configuration, a query parameter); :class:`OutputError` if unknown."""
    try:
        return Form(name)
    except ValueError:
        raise OutputError(f"unknown output form {name!r} (known: "
                          + ", ".join(f.value for f in Form) + ")") from None


def render(opened: OpenedRecord | Sequence[OpenedRecord], form: Form | str, *,
           stays: Mapping[str, Stay] | None = None,
           layout: LodgingLayout | None = None) -> Output:
    """``opened`` in ``form``: one record, or a batch into one file (a sequence: CSV/XLSX one
    row per guest; ``fhir-patient`` a ``Bundle`` for a sequence, a ``Patient`` for one record;
    the JSON forms one ``records`` array either way; ``record-json`` an array for a sequence,
    an object for one record). ``stays``: per record id, what the establishment entered
    (:class:`Stay`); ``layout``: the lodging forms' columns (:class:`LodgingLayout`, default
    :data:`DEFAULT_LAYOUT`; the other forms ignore it). Raises :class:`OutputError` for an
    unknown form or a record of a profile the form does not take (never quoting the record's
    content)."""
    form = form if isinstance(form, Form) else form_of(form)
    single = isinstance(opened, OpenedRecord)
    batch: tuple[OpenedRecord, ...] = (opened,) if isinstance(opened, OpenedRecord) \
        else tuple(opened)
    for o in batch:
        if o.record.profile not in PROFILES[form]:
            raise OutputError(f"form {form} does not take {o.record.profile!r} records "
                              f"(takes {', '.join(sorted(PROFILES[form]))})")
    stays = stays or {}
    layout = layout or DEFAULT_LAYOUT
    media_type, ext = _MEDIA[form]
    if form is Form.LODGING_CSV:
        rows = [o for o in batch if not o.foreign]
        body = _csv(layout.citizens, rows, stays)
    elif form is Form.FOREIGNERS_CSV:
        rows = [o for o in batch if o.foreign]
        body = _csv(layout.foreigners, rows, stays)
    elif form is Form.LODGING_XLSX:
        citizens = [o for o in batch if not o.foreign]
        foreigners = [o for o in batch if o.foreign]
        rows = citizens + foreigners
        body = _xlsx(((layout.citizens, citizens), (layout.foreigners, foreigners)), stays)
    elif form is Form.FHIR_PATIENT:
        rows = list(batch)
        doc: Any = patient(batch[0].record, batch[0].fields) if single else {
            "resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{o.record.record_id}",
                       "resource": patient(o.record, o.fields)} for o in batch]}
        body = _json(doc)
    elif form is Form.RECORD_JSON:
        rows = list(batch)
        docs = [_record_json(o) for o in batch]
        body = _json(docs[0] if single else docs)
    else:
        rows = list(batch)
        body = _json({"schema": SCHEMAS[form], "records": [_item(o) for o in batch]})
    ids = tuple(o.record.record_id for o in rows)
    return Output(media_type, body, _filename(form, batch, single, ext), form, ids)


# --- columns ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    """What a layout file names it by (``value = "full_name"``)."""
    header: str
    value: Callable[[OpenedRecord, Stay | None], str]
    source: str
    """Where the value comes from (README's column tables are written from these)."""
    date: bool = False
    """A date: ``value`` gives it as the record has it (ISO or dd/mm/yyyy; a partial MRZ date
    as printed) and the table writes it in its ``date_format``."""
    mapping: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Replacements of whole values (a portal's codes, e.g. ``Nam`` → ``1``); a value not in
    it is written as it is."""

    def text(self, o: OpenedRecord, stay: Stay | None, date_format: str) -> str:
        value = self.value(o, stay)
        if self.date:
            value = format_date(value, date_format)
        return self.mapping.get(value, value)


def _field(name: str) -> Callable[[OpenedRecord, Stay | None], str]:
    return lambda o, s: _text(o.fields.get(name))


def _context(name: str) -> Callable[[OpenedRecord, Stay | None], str]:
    return lambda o, s: _text(o.record.context.get(name))


def _fixed(text: str) -> Callable[[OpenedRecord, Stay | None], str]:
    return lambda o, s: text


def _room(o: OpenedRecord, s: Stay | None) -> str:
    return s.room if s is not None and s.room else _text(o.record.context.get("room"))


def _reason(o: OpenedRecord, s: Stay | None) -> str:
    return s.reason if s is not None else ""


def _arrival(o: OpenedRecord, s: Stay | None) -> str:
    if s is not None and s.arrival is not None:
        return s.arrival.isoformat()
    return _text(o.record.context.get("arrival"))


def _departure(o: OpenedRecord, s: Stay | None) -> str:
    if s is not None and s.departure is not None:
        return s.departure.isoformat()
    return _text(o.fields.get("stay_until")) or _text(o.record.context.get("departure"))


def _sex(o: OpenedRecord, s: Stay | None) -> str:
    sex = _text(o.fields.get("sex"))
    if o.foreign:  # the MRZ's M/F; '<' (unspecified) has no box on the form
        return {"M": "Nam", "F": "Nữ"}.get(sex, "")
    return sex


def _source(o: OpenedRecord, s: Stay | None) -> str:
    source = _text(o.fields.get("source"))
    failure = _text(o.fields.get("chip_failure"))
    return f"{source} (chip: {failure})" if failure else source


def _outcome(o: OpenedRecord, s: Stay | None) -> str:
    return o.record.outcome


def _record_id(o: OpenedRecord, s: Stay | None) -> str:
    return o.record.record_id


def _station(o: OpenedRecord, s: Stay | None) -> str:
    return o.record.station_id


_NOTHING = "— (the establishment fills it)"

CITIZEN_SHEET = "Lưu trú"
CITIZEN_COLUMNS: tuple[Column, ...] = (
    Column("full_name", "Họ và tên", _field("full_name"), "DG13 full_name"),
    Column("date_of_birth", "Ngày sinh", _field("date_of_birth"),
           "DG13 date_of_birth (dd/mm/yyyy)", date=True),
    Column("sex", "Giới tính", _sex, "DG13 sex (Nam/Nữ)"),
    Column("id_number", "Số định danh cá nhân", _field("id_number"),
           "DG13 id_number (12 digits)"),
    Column("nationality", "Quốc tịch", _field("nationality"), "DG13 nationality"),
    Column("place_of_residence", "Nơi thường trú / nơi ở hiện tại",
           _field("place_of_residence"), "DG13 place_of_residence"),
    Column("reason", "Lý do lưu trú", _reason, f"Stay.reason {_NOTHING}"),
    Column("arrival", "Ngày đến", _arrival, "Stay.arrival, else the booking's arrival",
           date=True),
    Column("departure", "Ngày đi dự kiến", _departure,
           "Stay.departure, else the booking's departure", date=True),
    Column("room", "Số phòng", _room, "Stay.room, else the booking's room"),
    Column("establishment_id", "Mã cơ sở lưu trú", _context("establishment_id"),
           "the desk's establishment_id (lodging profile)"),
    Column("booking_id", "Mã đặt phòng", _context("booking_id"), "the booking's id"),
    Column("outcome", "Kết quả xác thực", _outcome, "the record's verification outcome"),
    Column("record_id", "Mã bản ghi", _record_id, "the record's id (UUIDv7)"),
)
"""A Vietnamese citizen's lodging notification row (Law 68/2020 art. 30(3): name, personal ID
number, reason, time and address of the stay; the portals also ask date of birth, sex,
nationality and residence)."""

FOREIGNER_SHEET = "Người nước ngoài"
FOREIGNER_COLUMNS: tuple[Column, ...] = (
    Column("full_name", "Họ tên", _field("full_name"), "DG11 full name, else the MRZ name"),
    Column("sex", "Giới tính", _sex, "DG1/MRZ sex (M → Nam, F → Nữ, unspecified → empty)"),
    Column("date_of_birth", "Ngày sinh", _field("date_of_birth"),
           "DG11 full date of birth, else the MRZ's (dd/mm/yyyy; as printed when partial)",
           date=True),
    Column("nationality", "Quốc tịch", _field("nationality"),
           "DG1/MRZ nationality (ICAO code)"),
    Column("passport_number", "Số hộ chiếu", _field("passport_number"),
           "DG1/MRZ document number"),
    Column("passport_type", "Loại hộ chiếu", _fixed(""),
           f"not in the record (ordinary/official/diplomatic) {_NOTHING}"),
    Column("document_kind", "Khổ giấy tờ (ICAO 9303)", _field("document_kind"),
           "MRZ format: TD3 passport, TD1/TD2 card"),
    Column("issuing_state", "Quốc gia cấp", _field("issuing_state"), "DG1/MRZ issuing state"),
    Column("document_expiry", "Có giá trị đến", _field("document_expiry"),
           "DG1/MRZ date of expiry", date=True),
    Column("visa_number", "Số thị thực / thẻ tạm trú", _field("visa_number"),
           "desk entry (visa_number)"),
    Column("entry_date", "Ngày nhập cảnh", _field("entry_date"), "desk entry (entry_date)",
           date=True),
    Column("entry_port", "Cửa khẩu nhập cảnh", _field("entry_port"),
           "desk entry (entry_port)"),
    Column("purpose", "Mục đích nhập cảnh", _field("purpose"), "desk entry (purpose)"),
    Column("arrival", "Tạm trú từ ngày", _arrival, "Stay.arrival, else the booking's arrival",
           date=True),
    Column("departure", "Tạm trú đến ngày", _departure,
           "Stay.departure, else the desk's stay_until, else the booking's departure",
           date=True),
    Column("room", "Số phòng", _room, "Stay.room, else the booking's room"),
    Column("establishment_id", "Mã cơ sở lưu trú", _context("establishment_id"),
           "the desk's establishment_id"),
    Column("booking_id", "Mã đặt phòng", _context("booking_id"), "the booking's id"),
    Column("source", "Nguồn dữ liệu", _source, "chip or mrz (with the chip's failure)"),
    Column("outcome", "Kết quả xác thực", _outcome, "the record's verification outcome"),
    Column("record_id", "Mã bản ghi", _record_id, "the record's id (UUIDv7)"),
)
"""A foreign guest's temporary-residence declaration row (NA17 / the online declaration:
name, sex, date of birth, nationality, passport, visa, entry, stay, establishment)."""

# DG13 fields the default citizen columns leave out, which a portal's template may still ask
# for (the old CMND number, ethnicity…): a layout file names them like the others. They are
# written only when the desk's profile keeps them (``[profile] fields``), else empty.
_DG13_MORE = (
    ("ethnicity", False), ("religion", False), ("place_of_origin", False),
    ("personal_identification", False), ("date_of_issue", True), ("date_of_expiry", True),
    ("father_name", False), ("mother_name", False), ("spouse_name", False),
    ("old_id_number", False),
)
CITIZEN_VALUES: Mapping[str, Column] = MappingProxyType({
    **{c.key: c for c in CITIZEN_COLUMNS},
    **{name: Column(name, name, _field(name), f"DG13 {name}", date=date)
       for name, date in _DG13_MORE},
    "station": Column("station", "station", _station, "the station's id"),
})
"""Every value a citizen row can hold, by key (a layout file's ``value``)."""
FOREIGNER_VALUES: Mapping[str, Column] = MappingProxyType({
    **{c.key: c for c in FOREIGNER_COLUMNS},
    "station": Column("station", "station", _station, "the station's id"),
})
"""Every value a foreign guest's row can hold, by key."""

DMY = "%d/%m/%Y"


@dataclass(frozen=True)
class Table:
    """One table of a lodging upload: a CSV file, or a sheet of the XLSX."""

    sheet: str
    """The XLSX sheet's name."""
    columns: tuple[Column, ...]
    row_number: str = "STT"
    """The header of a first column numbering the rows; empty: no such column."""
    date_format: str = DMY
    """``strftime`` format of the date columns (a date the record holds only in part, as
    an MRZ may, is written as printed)."""


@dataclass(frozen=True)
class LodgingLayout:
    """The columns of the lodging forms (``lodging-csv``, ``foreigners-csv``, the two sheets
    of ``lodging-xlsx``), as the establishment's upload template wants them: names, order,
    fixed cells, value codes, date format. :func:`station.ingest.layout.load_layout` reads one
    from a TOML file; without one, :data:`DEFAULT_LAYOUT`."""

    citizens: Table
    foreigners: Table


DEFAULT_LAYOUT = LodgingLayout(Table(CITIZEN_SHEET, CITIZEN_COLUMNS),
                               Table(FOREIGNER_SHEET, FOREIGNER_COLUMNS))
"""Our column names, in the order of ``contract/README.md``
(``contract/lodging-layout.example.toml`` writes the same layout out)."""

_INJECTION = ("=", "+", "-", "@", "\t", "\r")


_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    if value is None or isinstance(value, bytes | bytearray):
        return ""
    # A lone surrogate (JSON's "\ud800" escape) has no UTF-8 form: shown as U+FFFD, not a crash.
    return unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", str(value)))


def xml_text(text: str) -> str:
    """``text`` as an XLSX cell holds it: XML 1.0 has no control characters (openpyxl refuses
    them) nor U+FFFE/U+FFFF (it would write a file Excel calls corrupt), shown as U+FFFD; its
    parsers read CR LF and CR as LF."""
    return _NOT_XML.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DMY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def format_date(text: str, date_format: str = DMY) -> str:
    """An ISO or dd/mm/yyyy date in ``date_format``; anything else (a partial MRZ date,
    "Không thời hạn", an impossible date) as the record has it."""
    if m := _ISO.match(text):
        y, mo, d = m.groups()
    elif m := _DMY.match(text):
        d, mo, y = m.groups()
    else:
        return text
    try:
        return dt.date(int(y), int(mo), int(d)).strftime(date_format)
    except ValueError:
        return text


def cell(text: str) -> str:
    """A text cell safe to open in a spreadsheet: a leading formula character is escaped."""
    return "'" + text if text.startswith(_INJECTION) else text


def _table(table: Table, rows: Sequence[OpenedRecord],
           stays: Mapping[str, Stay]) -> list[list[str]]:
    number = [table.row_number] if table.row_number else []
    # Headers come from a layout file too: guarded like the cells.
    out = [[cell(h) for h in (*number, *(c.header for c in table.columns))]]
    for n, o in enumerate(rows, 1):
        stay = stays.get(o.record.record_id)
        out.append([*([str(n)] if number else []),
                    *(cell(c.text(o, stay, table.date_format)) for c in table.columns)])
    return out


def _csv(table: Table, rows: Sequence[OpenedRecord], stays: Mapping[str, Stay]) -> bytes:
    buf = io.StringIO(newline="")
    # RFC 4180: CRLF, fields with a comma, quote or line break quoted, quotes doubled.
    csv.writer(buf, lineterminator="\r\n").writerows(_table(table, rows, stays))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _xlsx(sheets: Sequence[tuple[Table, Sequence[OpenedRecord]]],
          stays: Mapping[str, Stay]) -> bytes:
    try:
        # Deferred on purpose: openpyxl is the ``backend`` extra, not on a station.
        from openpyxl import Workbook
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter
    except ImportError:
        raise OutputError("lodging-xlsx needs openpyxl (the backend extra)") from None
    wb = Workbook()
    first = True
    for spec, rows in sheets:
        ws = wb.active if first and wb.active is not None else wb.create_sheet()
        first = False
        ws.title = spec.sheet
        table = _table(spec, rows, stays)
        for r, values in enumerate(table, 1):
            for c, value in enumerate(values, 1):
                target = ws.cell(row=r, column=c)
                target.value = xml_text(value)
                target.data_type = "s"  # text, always: an ID keeps its leading zeros
                if r == 1:
                    target.font = Font(bold=True)
        for c in range(len(table[0])):
            # As wide as the column's longest line, up to 60 characters.
            longest = max(len(line) for row in table for line in (row[c] or " ").splitlines())
            ws.column_dimensions[get_column_letter(c + 1)].width = min(60, longest + 2)
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- JSON ------------------------------------------------------------------------------------


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _wire(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The opened fields as ``contract/schemas/opened-{profile}.json`` has them."""
    return {k: {"b64": b64url(bytes(v))} if isinstance(v, bytes | bytearray) else v
            for k, v in fields.items()}


def _item(o: OpenedRecord) -> dict[str, Any]:
    rec = o.record
    full = rec.to_json()
    return {"record_id": rec.record_id, "station": rec.station_id, "seq": rec.seq,
            "time": rec.wall, "profile": rec.profile, "protocol": rec.protocol,
            "context": dict(rec.context), "verification": full["verification"],
            "person": _wire(o.fields)}


def _record_json(o: OpenedRecord) -> dict[str, Any]:
    rec = o.record
    doc: dict[str, Any] = {"id": rec.record_id, "station": rec.station_id,
                           "profile": rec.profile, "outcome": rec.outcome,
                           "record": rec.to_json(), "citizen": _wire(o.fields)}
    if rec.profile == "hospital":
        doc["fhir_patient"] = patient(rec, o.fields)
    return doc


def _filename(form: Form, batch: Sequence[OpenedRecord], single: bool, ext: str) -> str:
    if single:
        return f"{_STEM[form]}-{batch[0].record.record_id}.{ext}"
    days = sorted(_day(o.record.wall) for o in batch)
    span = "empty" if not days else days[0] if days[0] == days[-1] else f"{days[0]}-{days[-1]}"
    return f"{_STEM[form]}-{span}-{len(batch)}.{ext}"


def _day(wall: str) -> str:
    try:
        t = dt.datetime.strptime(wall, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "unknown"
    return t.astimezone(VIETNAM).strftime("%Y%m%d")
