"""LDS parsers on synthetic files (never real citizens): EF.COM, DG1 TD1/TD3, DG2 JPEG/JP2,
DG13 by field number, DG14, DG15, EF.SOD structure; fuzzed inputs give only typed errors."""

from __future__ import annotations

import contextlib
import io
import json
import unicodedata

import pytest
from asn1crypto import algos, cms, core
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from station.errors import LdsFormatError
from station.nfc.lds.chip import ChipData
from station.nfc.lds.com import parse_com
from station.nfc.lds.dg1 import parse_dg1
from station.nfc.lds.dg2 import parse_dg2
from station.nfc.lds.dg13 import parse_dg13
from station.nfc.lds.security import parse_dg14, parse_dg15, parse_sod
from station.nfc.tlv import encode as T
from station.sim.citizens import dg1, ef_com, skeleton_citizen, td1_mrz

UTF8_OID = bytes.fromhex("060628D316010008")


def _field(n: int, *values: bytes) -> bytes:
    return T(0x30, T(0x02, bytes((n,))) + b"".join(values))


def _u(s: str) -> bytes:
    return T(0x0C, s.encode())


def _p(s: str) -> bytes:
    return T(0x13, s.encode())


def _dg13(*fields: bytes, grouped: bool = False) -> bytes:
    body = b"".join(fields)
    if grouped:
        body = T(0x31, body)
    return T(0x6D, T(0x30, T(0x02, b"\x01") + UTF8_OID + body))


SYNTHETIC_FIELDS = (
    _field(1, _p("001099012345")),
    _field(2, _u(unicodedata.normalize("NFD", "Nguyễn Văn Thử"))),
    _field(3, _p("01/02/1990")),
    _field(4, _u("Nữ")),
    _field(5, _u("Việt Nam")),
    _field(6, _u("Kinh")),
    _field(7, _u("Không")),
    _field(8, _u("Xã Thử, Huyện Mẫu, Tỉnh Giả " * 8)),  # long: multi-byte length
    _field(9, _u("Số 1, Phố Thử, Hà Nội")),
    _field(10, _u("Nốt ruồi C:1cm trên trước mày phải")),
    _field(11, _p("01/02/2021")),
    _field(12, _u("Không thời hạn")),
    _field(13, T(0x30, _u("Nguyễn Văn Cha")), T(0x30, _u("Trần Thị Mẹ"))),
    _field(14),
    _field(15, _p("123456789")),
    _field(16, _p("ABCDEFGH12345678")),
    _field(17, _u("trường mới")),
)


@pytest.mark.parametrize("grouped", [False, True])
def test_dg13_by_field_number(grouped: bool) -> None:
    fields = list(SYNTHETIC_FIELDS)
    fields.reverse()  # order must not matter
    d = parse_dg13(_dg13(*fields, grouped=grouped))
    assert d.id_number == "001099012345"
    assert d.full_name == "Nguyễn Văn Thử"
    assert unicodedata.is_normalized("NFC", d.full_name)
    assert (d.sex, d.date_of_birth, d.date_of_expiry) == ("Nữ", "01/02/1990", "Không thời hạn")
    assert (d.father, d.mother, d.spouse) == ("Nguyễn Văn Cha", "Trần Thị Mẹ", "")
    assert d.old_id_number == "123456789" and d.identifier == "ABCDEFGH12345678"
    assert d.hometown.startswith("Xã Thử")
    assert d.unknown == {17: _u("trường mới")}
    assert d.to_json()["unknown"] == {"17": _u("trường mới").hex()}


def test_dg13_married_and_other_string_types() -> None:
    d = parse_dg13(_dg13(_field(14, T(0x30, _u("Lê Thị Vợ"))),
                         _field(2, T(0x1E, "Phạm Minh".encode("utf-16-be")))))
    assert d.spouse == "Lê Thị Vợ" and d.full_name == "Phạm Minh"


@pytest.mark.parametrize("bad", [
    b"", bytes.fromhex("6D00"), bytes.fromhex("6C00"), _dg13(T(0x30, _u("no number"))),
])
def test_dg13_malformed(bad: bytes) -> None:
    with pytest.raises(LdsFormatError):
        parse_dg13(bad)


def test_dg1_td1_of_a_synthetic_cccd() -> None:
    c = skeleton_citizen(7)
    mrz = parse_dg1(dg1(td1_mrz(c)))
    assert mrz.format == "TD1"
    assert mrz.document_number == c.id_number[-9:]
    assert mrz.optional1.startswith(c.id_number)
    assert mrz.nationality == "VNM" and mrz.expiry == "991231"


def test_dg1_td3_specimen_and_bad_check_digit() -> None:
    td3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
           "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    mrz = parse_dg1(dg1(td3))
    assert (mrz.format, mrz.document_number, mrz.birth) == ("TD3", "L898902C3", "740812")
    with pytest.raises(LdsFormatError):
        parse_dg1(dg1(td3.replace("7408122", "7408123")))
    with pytest.raises(LdsFormatError):
        parse_dg1(dg1(td3[:80]))


def test_ef_com() -> None:
    com = parse_com(ef_com(bytes.fromhex("61756D6E6F")))
    assert com.data_groups == (1, 2, 13, 14, 15)
    with pytest.raises(LdsFormatError):
        parse_com(ef_com(b"\x99"))


def _face_record(image: bytes) -> bytes:
    record = b"FAC\x00" + b"010\x00" + len(image).to_bytes(4, "big") + bytes(2) + bytes(32)
    return T(0x75, T(0x7F61, T(0x02, b"\x01") + T(0x7F60, T(0xA1, bytes(3))
                                                     + T(0x5F2E, record + image))))


@pytest.mark.parametrize("fmt", ["JPEG", "JPEG2000"])
def test_dg2_face_decodes(fmt: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (24, 32), (200, 150, 120)).save(buf, fmt)
    face = parse_dg2(_face_record(buf.getvalue()))
    assert face.image_format == fmt.lower()
    assert face.image().size == (24, 32)
    assert "bytes" in repr(face)


def test_dg2_without_image_or_broken_image() -> None:
    with pytest.raises(LdsFormatError):
        parse_dg2(_face_record(b"not an image at all" * 3))
    face = parse_dg2(_face_record(b"\xff\xd8\xff" + bytes(40)))
    with pytest.raises(LdsFormatError):
        face.image()


def test_dg14_dg15() -> None:
    infos = bytes.fromhex("3111300F060A04007F00070202030202020101")
    assert parse_dg14(T(0x6E, infos)).chip_authentication[0].agreement == "ECDH"
    spki = T(0x30, T(0x30, T(0x06, bytes.fromhex("2A8648CE3D0201"))) + T(0x03, b"\x00\x04"))
    assert parse_dg15(T(0x6F, spki)) == spki


def _sod(hashes: dict[int, bytes]) -> bytes:
    alg = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
    items = b"".join(T(0x30, T(0x02, bytes((n,))) + T(0x04, h)) for n, h in hashes.items())
    lso_der = T(0x30, T(0x02, b"\x00") + alg + T(0x30, items))
    signed = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "2.23.136.1.1.1",
                               "content": core.ParsableOctetString(lso_der)},
        "signer_infos": [],
    })
    return T(0x77, cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def test_sod_structure() -> None:
    sod = parse_sod(_sod({1: bytes(32), 13: b"\x11" * 32}))
    assert sod.hash_algorithm == "sha256"
    assert sod.dg_hashes == {1: bytes(32), 13: b"\x11" * 32}
    with pytest.raises(LdsFormatError):
        parse_sod(T(0x77, b"\x30\x03\x02\x01\x01"))


def test_chip_data_json_has_no_raw_bytes() -> None:
    c = skeleton_citizen(3)
    files = {"COM": ef_com(b"\x61\x6d"), "DG1": dg1(td1_mrz(c)),
             "DG13": _dg13(*SYNTHETIC_FIELDS)}
    data = ChipData.from_files("PACE", files, ("DG3",))
    out = data.to_json()
    assert out["protocol"] == "PACE" and out["skipped"] == ["DG3"]
    assert out["files"]["DG1"]["bytes"] == len(files["DG1"])
    assert out["dg13"]["sex"] == "Nữ"
    json.dumps(out)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_parsers_give_only_typed_errors(raw: bytes) -> None:
    for parser in (parse_dg13, parse_dg1, parse_com, parse_dg2, parse_dg14):
        for candidate in (raw, T(0x6D, raw), T(0x61, raw)):
            with contextlib.suppress(LdsFormatError):
                parser(candidate)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.text(max_size=20)), max_size=8))
def test_fuzz_dg13_structures(fields: list[tuple[int, str]]) -> None:
    raw = _dg13(*(_field(n, _u(s)) for n, s in fields))
    try:
        d = parse_dg13(raw)
    except LdsFormatError:
        return
    assert all(unicodedata.is_normalized("NFC", v) for v in d.to_json().values()
               if isinstance(v, str))


@pytest.mark.parametrize("number", sorted({*range(1, 17)}))
def test_dg13_empty_field_is_empty_not_a_lost_dg13(number: int) -> None:
    """Issued CCCDs encode an absent value as the field number alone: the issue's example is an
    unmarried citizen's spouse, ``30 03 02 01 0E``. Every field may be so."""
    raw = _dg13(_field(1, _p("001099012345")), _field(number)) if number != 1 else \
        _dg13(_field(1), _field(2, _u("Nguyễn Văn Thử")))
    assert _field(14) == bytes.fromhex("3003 02010E")
    d = parse_dg13(raw)
    assert d.unknown == {}
    if number == 1:
        assert d.id_number == "" and d.full_name == "Nguyễn Văn Thử"
    else:
        assert d.id_number == "001099012345"
        assert all(v == "" for k, v in d.to_json().items() if k not in ("id_number", "unknown"))


@pytest.mark.parametrize("odd", [
    _field(2, T(0x04, b"x")),                      # OCTET STRING, not text
    _field(2, _u("a"), _u("b")),                   # two values
    _field(2, T(0x0C, b"\xff\xfe")),               # not UTF-8
    _field(13, T(0x30, T(0x02, b"\x01"))),         # a parent that is not text
    _field(14, _u("a"), _u("b")),
], ids=["octets", "two-values", "bad-utf8", "parent-integer", "spouse-two"])
def test_dg13_unreadable_field_is_kept_aside_and_the_rest_read(odd: bytes) -> None:
    d = parse_dg13(_dg13(_field(1, _p("001099012345")), odd, _field(4, _u("Nữ"))))
    assert d.id_number == "001099012345" and d.sex == "Nữ"
    number = odd[4]
    value = odd[5:]
    assert d.unknown == {number: value}
    assert d.full_name == "" and d.father == "" and d.spouse == ""


def test_a_malformed_ef_com_is_reported_and_the_read_kept() -> None:
    """vsmartcard's vicc ePass (Debian 3.3) writes EF.COM's tag list as the ASCII text "6175"
    under length 2, so the rest of it parses as a TLV that overruns the file."""
    from station.nfc.lds.chip import ChipData

    vicc_com = bytes.fromhex("60165f0104") + b"0107" + bytes.fromhex("5f3606") + b"040000" \
        + bytes.fromhex("5c02") + b"6175"
    data = ChipData.from_files("BAC", {"COM": vicc_com})
    assert data.com is None and data.com_mismatch == ("malformed:COM",)
    assert data.files["COM"] == vicc_com
