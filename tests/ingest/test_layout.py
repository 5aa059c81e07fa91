"""Lodging layout files (station.ingest.layout): the columns an establishment's upload template
wants, applied to records that took ingest's real path (tests.ingest.test_outputs' Backend),
read back from CSV with the csv module and from XLSX with openpyxl; the webhook and the
command line take the same file (the pull API's test: tests/console/test_api.py)."""

from __future__ import annotations

import io
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from station.errors import ConfigError
from station.ingest.layout import load_layout
from station.ingest.outputs import (
    CITIZEN_VALUES,
    DEFAULT_LAYOUT,
    FOREIGNER_VALUES,
    Form,
    LodgingLayout,
    render,
)
from station.ingest.webhook import output_of
from station.sim.citizens import generate
from tests.ingest.test_outputs import (
    Backend,
    desk_record,
    foreign_records,
    parse_csv,
)


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    b = Backend(tmp_path / "ingest.sqlite3")
    yield b
    b.ingest.store.close()


ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contract" / "lodging-layout.example.toml"

PORTAL = """
[citizens]
sheet = "Khach"
row_number = ""
date_format = "%Y-%m-%d"

[[citizens.columns]]
header = "SoGiayTo"
value = "id_number"

[[citizens.columns]]
header = "LoaiGiayTo"
text = "CCCD"

[[citizens.columns]]
header = "HoTen"
value = "full_name"

[[citizens.columns]]
header = "GioiTinh"
value = "sex"
map = { "Nam" = "1", "Nữ" = "2" }

[[citizens.columns]]
header = "NgaySinh"
value = "date_of_birth"

[[citizens.columns]]
header = "DenNgay"
value = "arrival"

[[citizens.columns]]
header = "SoCMND"
value = "old_id_number"
"""


def layout_file(tmp_path: Path, text: str, name: str = "layout.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def shape(layout: LodgingLayout) -> list[object]:
    return [(t.sheet, t.row_number, t.date_format, [(c.key, c.header, c.date, dict(c.mapping))
                                                    for c in t.columns])
            for t in (layout.citizens, layout.foreigners)]


def test_the_example_file_is_the_default_layout() -> None:
    assert shape(load_layout(EXAMPLE)) == shape(DEFAULT_LAYOUT)
    # Every value a layout may name has a row in contract/README.md's key list.
    text = (ROOT / "contract" / "README.md").read_text("utf-8")
    for key in {*CITIZEN_VALUES, *FOREIGNER_VALUES}:
        assert f"`{key}`" in text, key


def test_a_portal_template_in_csv(backend: Backend, tmp_path: Path) -> None:
    layout = load_layout(layout_file(tmp_path, PORTAL))
    people = [generate(51), generate(52)]
    opened = [desk_record(backend, "lodging", p) for p in people]
    body = render(opened, Form.LODGING_CSV, layout=layout).body
    rows = parse_csv(body)
    assert list(rows[0]) == ["SoGiayTo", "LoaiGiayTo", "HoTen", "GioiTinh", "NgaySinh",
                             "DenNgay", "SoCMND"]  # no STT column
    for row, person, o in zip(rows, people, opened, strict=True):
        assert row["SoGiayTo"] == person.id_number and row["LoaiGiayTo"] == "CCCD"
        assert row["HoTen"] == unicodedata.normalize("NFC", person.full_name)
        assert row["GioiTinh"] == {"Nam": "1", "Nữ": "2"}[o.fields["sex"]]
        d, m, y = o.fields["date_of_birth"].split("/")
        assert row["NgaySinh"] == f"{y}-{m}-{d}"
        assert row["DenNgay"] == "2030-01-02"  # the booking's arrival, in the template's format
        assert row["SoCMND"] == ""  # the lodging profile does not keep the old ID: empty
    # The foreigners' table was not given: it keeps the default columns.
    g1, _, fra, _ = foreign_records(backend)
    (f1,) = parse_csv(render([g1], Form.FOREIGNERS_CSV, layout=layout).body)
    assert list(f1) == [DEFAULT_LAYOUT.foreigners.row_number,
                        *(c.header for c in DEFAULT_LAYOUT.foreigners.columns)]
    assert f1["Ngày sinh"] == fra.birth.strftime("%d/%m/%Y")


def test_a_portal_template_in_xlsx_with_both_tables(backend: Backend, tmp_path: Path) -> None:
    text = PORTAL + """
[foreigners]
sheet = "NguoiNuocNgoai"
date_format = "%d.%m.%Y"

[[foreigners.columns]]
header = "SoHoChieu"
value = "passport_number"

[[foreigners.columns]]
header = "GioiTinh"
value = "sex"
map = { "Nam" = "M", "Nữ" = "F" }

[[foreigners.columns]]
header = "NgaySinh"
value = "date_of_birth"

[[foreigners.columns]]
header = "=formula?"
text = "-1"
"""
    layout = load_layout(layout_file(tmp_path, text))
    person = generate(53)
    citizen = desk_record(backend, "lodging", person)
    g1, g2, fra, usa = foreign_records(backend)
    wb = openpyxl.load_workbook(io.BytesIO(render([g1, citizen, g2], Form.LODGING_XLSX,
                                                  layout=layout).body))
    assert wb.sheetnames == ["Khach", "NguoiNuocNgoai"]
    head, *rows = ([c.value for c in r] for r in wb["Khach"].iter_rows())
    assert head[:3] == ["SoGiayTo", "LoaiGiayTo", "HoTen"] and len(rows) == 1
    assert rows[0][0] == person.id_number  # a text cell: leading zeros kept
    head, *rows = ([c.value for c in r] for r in wb["NguoiNuocNgoai"].iter_rows())
    # The default row number stays (the table did not set it); fixed text is guarded too.
    assert head == ["STT", "SoHoChieu", "GioiTinh", "NgaySinh", "'=formula?"]
    assert rows[0] == ["1", fra.document_number, fra.sex, fra.birth.strftime("%d.%m.%Y"),
                       "'-1"]
    assert rows[1][1] == usa.document_number


def test_the_webhook_posts_in_the_layout(backend: Backend, tmp_path: Path) -> None:
    layout = load_layout(layout_file(tmp_path, PORTAL))
    o = desk_record(backend, "lodging", generate(54))
    token_ = backend.ingest.store.token(o.record.record_id)
    assert token_ is not None
    out = output_of(token_, backend.bk, {"lodging": Form.LODGING_CSV}, layout)
    assert list(parse_csv(out.body)[0])[:2] == ["SoGiayTo", "LoaiGiayTo"]
    default = output_of(token_, backend.bk, {"lodging": Form.LODGING_CSV})
    assert list(parse_csv(default.body)[0])[:2] == ["STT", "Họ và tên"]


def _citizens(*columns: str, table: str = "") -> str:
    return "[citizens]\n" + table + "".join(f"[[citizens.columns]]\n{c}\n" for c in columns)


@pytest.mark.parametrize(("text", "key", "says"), [
    ("[citizens\n", "lodging-layout", "not TOML"),
    ("[guests]\n", "lodging-layout.guests", "known: citizens, foreigners"),
    (_citizens('header = "A"\nvalue = "full_name"', table='sheets = "X"\n'),
     "lodging-layout.citizens.sheets", "known: sheet, row_number, date_format, columns"),
    (_citizens('header = "A"\nvalue = "name"'), "lodging-layout.citizens.columns[1].value",
     "unknown value 'name' (known: full_name, date_of_birth"),
    (_citizens('header = "A"\nvalue = "passport_number"'),
     "lodging-layout.citizens.columns[1].value", "unknown value 'passport_number'"),
    (_citizens('header = "A"\nvalue = "full_name"', 'header = "B"\nvalue = "sex"\ntext = "x"'),
     "lodging-layout.citizens.columns[2]", "either value (a key) or text"),
    (_citizens('header = "A"'), "lodging-layout.citizens.columns[1]", "either value"),
    (_citizens('value = "sex"'), "lodging-layout.citizens.columns[1].header", "needs a header"),
    (_citizens('header = "A"\nvalue = "sex"\nmap = { "Nam" = 1 }'),
     "lodging-layout.citizens.columns[1].map", "text replacements"),
    (_citizens('header = "A"\nvalue = "sex"\ncolour = "red"'),
     "lodging-layout.citizens.columns[1].colour", "known: header, value, text, map"),
    (_citizens('header = "A"\nvalue = "sex"', table='date_format = "%d/%m"\n'),
     "lodging-layout.citizens.date_format", "does not write the day, month and year"),
    (_citizens('header = "A"\nvalue = "sex"', table='sheet = "a/b"\n'),
     "lodging-layout.citizens.sheet", "an XLSX sheet name"),
    (_citizens('header = "A"\nvalue = "sex"', table='sheet = "Người nước ngoài"\n'),
     "lodging-layout.foreigners.sheet", "different names"),
    (_citizens('header = "A"\nvalue = "sex"', table='row_number = 1\n'),
     "lodging-layout.citizens.row_number", "must be a string"),
    ("[citizens]\nsheet = \"X\"\n", "lodging-layout.citizens.columns", "lists its columns"),
])
def test_a_bad_layout_is_refused_naming_the_key(tmp_path: Path, text: str, key: str,
                                                says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_layout(layout_file(tmp_path, text))
    assert err.value.key == key and says in err.value.problem, str(err.value)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_layout(tmp_path / "absent.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[citizens]\nsheet = "L\xfau"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_layout(bad)


@pytest.mark.parametrize("command", [
    ["ingest", "--registry", "{reg}", "--lodging-layout", "{bad}"],
    ["console", "--db", "{db}", "serve", "--secret-file", "{secret}", "--lodging-layout",
     "{bad}"],
])
def test_the_commands_refuse_a_bad_layout_before_starting(tmp_path: Path,
                                                          command: list[str]) -> None:
    (tmp_path / "secret").write_bytes(b"s" * 40)
    paths = {"reg": tmp_path / "registry.json",  # absent: an empty registry
             "bad": layout_file(tmp_path, "[guests]\n"),
             "db": tmp_path / "ingest.sqlite3", "secret": tmp_path / "secret"}
    args = [a.format(**paths) for a in command]
    r = subprocess.run([sys.executable, "-m", "station", *args], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "ConfigError: lodging-layout.guests: unknown table" in r.stderr
    assert "Traceback" not in r.stderr
