"""DG11 / DG12 (ICAO 9303-10 §4.7.11/§4.7.12) on synthetic files: every field, the A0
multi-valued template in the forms chips use, dates (ASCII and packed BCD), tag-list mismatches,
typed errors; fuzzed inputs give only LdsFormatError."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.errors import LdsFormatError
from station.nfc.lds.chip import ChipData
from station.nfc.lds.dg11 import Dg11, parse_dg11
from station.nfc.lds.dg12 import parse_dg12
from station.nfc.tlv import encode as T
from station.sim import lds, passport

# A hand-encoded DG11 in the layout of 9303-10 §4.7.11 (synthetic values).
DG11_HAND = T(0x6B, (
    T(0x5C, bytes.fromhex("5F0EA05F105F2B5F115F425F125F135F145F155F175F18"))
    + T(0x5F0E, b"TESTER<<ANNA<MARIA")
    + T(0xA0, T(0x02, b"\x02") + T(0x5F0F, b"TESTER<<ANNE") + T(0x5F0F, b"MUSTER<<ANNA"))
    + T(0x5F10, b"123456789")
    + T(0x5F2B, b"19711019")
    + T(0x5F11, b"SAMPLETOWN<UTO")
    + T(0x5F42, b"1 TEST ROAD<SAMPLETOWN<12345")
    + T(0x5F12, b"+00 123")
    + T(0x5F13, b"TESTER")
    + T(0x5F14, b"DR")
    + T(0x5F15, b"SYNTHETIC PERSON")
    + T(0x5F17, b"X1234567")
    + T(0x5F18, b"NONE")
))

DG12_HAND = T(0x6C, (
    T(0x5C, bytes.fromhex("5F195F26A05F1B5F1C5F1D5F555F56"))
    + T(0x5F19, "BEHÖRDE TEST".encode())
    + T(0x5F26, b"20240131")
    + T(0xA0, T(0x02, b"\x01") + T(0x5F1A, b"CHILD<<ONE"))
    + T(0x5F1B, b"NO ENDORSEMENT")
    + T(0x5F1C, b"NONE")
    + T(0x5F1D, b"\xff\xd8\xff\xe0fake")
    + T(0x5F55, b"20240131123000")
    + T(0x5F56, b"SN-0001")
))


def test_dg11_every_field() -> None:
    d = parse_dg11(DG11_HAND)
    assert d.full_name == "TESTER<<ANNA<MARIA"
    assert Dg11.parts(d.full_name) == ["TESTER", "ANNA MARIA"]
    assert d.other_names == ("TESTER<<ANNE", "MUSTER<<ANNA")
    assert (d.personal_number, d.full_date_of_birth) == ("123456789", "19711019")
    assert Dg11.parts(d.address) == ["1 TEST ROAD", "SAMPLETOWN", "12345"]
    assert (d.place_of_birth, d.telephone, d.profession, d.title) == (
        "SAMPLETOWN<UTO", "+00 123", "TESTER", "DR")
    assert (d.personal_summary, d.other_td_numbers, d.custody_information) == (
        "SYNTHETIC PERSON", "X1234567", "NONE")
    assert d.tag_list_mismatch == () and d.unknown == {}
    assert "TESTER" not in repr(d)  # citizen data stays out of logs and tracebacks
    json.dumps(d.to_json())


def test_dg12_every_field() -> None:
    d = parse_dg12(DG12_HAND)
    assert d.issuing_authority == "BEHÖRDE TEST"
    assert d.date_of_issue == "20240131"
    assert d.other_persons == ("CHILD<<ONE",)
    assert (d.endorsements, d.tax_exit_requirements) == ("NO ENDORSEMENT", "NONE")
    assert d.image_front.startswith(b"\xff\xd8") and d.image_rear == b""
    assert (d.personalization_time, d.personalization_device) == ("20240131123000", "SN-0001")
    assert d.to_json()["image_front"] == 8
    assert d.tag_list_mismatch == ()


def test_other_names_one_a0_per_name_and_outside_a0() -> None:
    """Some chips write one A0 per other name, some put 5F0F directly in the template."""
    data = T(0x6B, T(0x5C, bytes.fromhex("5F0EA0"))
             + T(0x5F0E, b"A<<B")
             + T(0xA0, T(0x02, b"\x02") + T(0x5F0F, b"ONE"))
             + T(0xA0, T(0x5F0F, b"TWO"))
             + T(0x5F0F, b"THREE"))
    d = parse_dg11(data)
    assert d.other_names == ("ONE", "TWO", "THREE")
    assert d.tag_list_mismatch == ("present-unlisted:5F0F",)


def test_bcd_and_partial_dates() -> None:
    bcd = T(0x6B, T(0x5C, b"\x5f\x2b") + T(0x5F2B, bytes.fromhex("19711019")))
    assert parse_dg11(bcd).full_date_of_birth == "19711019"
    unknown_day = T(0x6B, T(0x5C, b"\x5f\x2b") + T(0x5F2B, b"19710000"))
    assert parse_dg11(unknown_day).full_date_of_birth == "19710000"


def test_tag_list_mismatch_recorded_not_fatal() -> None:
    data = T(0x6C, T(0x5C, bytes.fromhex("5F195F26")) + T(0x5F19, b"X") + T(0x5F1B, b"Y"))
    d = parse_dg12(data)
    assert d.issuing_authority == "X" and d.endorsements == "Y"
    assert d.tag_list_mismatch == ("listed-absent:5F26", "present-unlisted:5F1B")


def test_latin1_text_and_nfc_and_unknown_tags() -> None:
    data = T(0x6B, T(0x5C, b"\x5f\x0e\x5f\x40") + T(0x5F0E, "MÜLLER<<JÜRGEN".encode("latin-1"))
             + T(0x5F40, b"\x01\x02"))
    d = parse_dg11(data)
    assert d.full_name == "MÜLLER<<JÜRGEN"
    assert d.unknown == {0x5F40: b"\x01\x02"}
    nfd = T(0x6B, T(0x5C, b"\x5f\x0e") + T(0x5F0E, "E\u0301LODIE".encode()))
    assert parse_dg11(nfd).full_name == "\u00c9LODIE"


@pytest.mark.parametrize("data, message", [
    (T(0x6C, T(0x5C, b"")), "does not start with tag 6B"),
    (T(0x6B, T(0x5F0E, b"A")), "no tag list"),
    (T(0x6B, b""), "no tag list"),
    (T(0x6B, T(0x5C, b"") + T(0x5F2B, b"1971101")), "8-digit date"),
    (T(0x6B, T(0x5C, b"") + T(0x5F2B, b"1971AB19")), "8-digit date"),
    (T(0x6B, T(0x5C, b"") + T(0x5F2B, b"\xff" * 8)), "not a date"),
    (T(0x6B, T(0x5C, b"") + T(0xA0, T(0x5F10, b"X"))), "unexpected tag 5F10 inside A0"),
    (T(0x6B, T(0x5C, b"") + T(0xA0, T(0x02, b""))), "count"),
    (T(0x6B, T(0x5C, b"") + T(0x7F60, b"")), "unexpected template"),
    (T(0x6B, T(0x5C, b"") + b"\x5f\x0e\x05AB"), "overruns"),
])
def test_dg11_errors(data: bytes, message: str) -> None:
    with pytest.raises(LdsFormatError, match=message):
        parse_dg11(data)


def test_dg12_bad_personalization_time() -> None:
    with pytest.raises(LdsFormatError, match="14-digit"):
        parse_dg12(T(0x6C, T(0x5C, b"") + T(0x5F55, b"20240131")))


@pytest.mark.parametrize("state", sorted(passport.STATES))
def test_sim_encoders_round_trip(state: str) -> None:
    t = passport.generate(7, state=state)
    d11 = parse_dg11(passport.dg11(t))
    assert Dg11.parts(d11.full_name)[0] == t.surname
    assert d11.other_names == t.other_names
    assert d11.full_date_of_birth == t.birth.strftime("%Y%m%d")
    assert d11.personal_number == t.personal_number
    assert d11.tag_list_mismatch == ()
    d12 = parse_dg12(passport.dg12(t))
    assert d12.date_of_issue == t.issued.strftime("%Y%m%d")
    assert d12.tag_list_mismatch == ()


def test_chip_data_wires_dg11_dg12_and_com_mismatch() -> None:
    files = {"COM": lds.ef_com([1, 2, 11, 15]), "DG1": lds.dg1(passport.generate(1).mrz()),
             "DG11": DG11_HAND, "DG12": DG12_HAND}
    data = ChipData.from_files("BAC", files, skipped=("DG15",))
    assert data.dg11 is not None and data.dg11.personal_number == "123456789"
    assert data.dg12 is not None and data.dg12.issuing_authority == "BEHÖRDE TEST"
    assert data.com_mismatch == ("unlisted:DG12", "absent:DG15")
    out = data.to_json()
    assert out["dg11"]["full_date_of_birth"] == "19711019"
    assert out["com_mismatch"] == ["unlisted:DG12", "absent:DG15"]
    json.dumps(out)


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)).map(
        lambda iv: base[: iv[0]] + bytes((iv[1],)) + base[iv[0] + 1:])


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200), _mutations(DG11_HAND),
                 st.binary(max_size=40).map(lambda b: T(0x6B, b))))
def test_fuzz_dg11_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(LdsFormatError):
        parse_dg11(data)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200), _mutations(DG12_HAND),
                 st.binary(max_size=40).map(lambda b: T(0x6C, T(0x5C, b"") + b))))
def test_fuzz_dg12_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(LdsFormatError):
        parse_dg12(data)
