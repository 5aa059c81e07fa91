"""CCCD payload: parse/format, each validation rule, expiry milestones, chip keys (synthetic)."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.errors import QrFormatError
from station.mrz import check_digit
from station.qr import cccd
from station.qr.cccd import CccdPayload, parse

D = dt.date
TODAY = D(2025, 6, 1)
NAME = "Nguyễn Thị Thanh Hương"
ADDRESS = "Số 12 Ngõ 34, Phường Láng Thượng, Quận Đống Đa, Hà Nội"
GOOD = f"001190012345|123456789|{NAME}|15031990|Nữ|{ADDRESS}|01052021"


def fields(**changes: str) -> str:
    parts = GOOD.split("|")
    for k, v in changes.items():
        parts[cccd.FIELDS.index(k)] = v
    return "|".join(parts)


def test_parse_good_payload() -> None:
    p = parse(GOOD, today=TODAY)
    assert (p.id_number, p.old_id, p.name, p.birth, p.sex, p.address, p.issued, p.extra) == (
        "001190012345", "123456789", NAME, D(1990, 3, 15), "Nữ", ADDRESS, D(2021, 5, 1), ())
    assert p.province == "Hà Nội"
    assert p.format() == GOOD


@pytest.mark.parametrize("raw, check", [
    (fields(old_id=""), lambda p: p.old_id == ""),
    (GOOD + "|X1|", lambda p: p.extra == ("X1", "")),
    (GOOD + "|Nguyễn Văn Ba|Trần Thị Tư", lambda p: p.extra == ("Nguyễn Văn Ba", "Trần Thị Tư")),
    (GOOD + "\r\n", lambda p: p.extra == ()),
    (fields(address=""), lambda p: p.address == ""),
    (fields(id_number="079200123456", birth="01012000", sex="Nam"),
     lambda p: p.province == "Hồ Chí Minh" and p.sex == "Nam"),
    (fields(id_number="096304000001", birth="29022004", issued="01032021"),
     lambda p: p.birth == D(2004, 2, 29)),
    (fields(id_number="002099000001", birth="31121899", sex="Nam"), None),
])
def test_valid_variants(raw: str, check: object) -> None:
    if check is None:  # born before 1900: no century digit for it
        with pytest.raises(QrFormatError) as e:
            parse(raw, today=TODAY)
        assert e.value.field == "birth"
        return
    p = parse(raw, today=TODAY)
    assert check(p)  # type: ignore[operator]
    assert p.format() == raw.rstrip("\r\n")


def test_nfc_and_nfd_names_parse_to_the_same_payload() -> None:
    nfd = unicodedata.normalize("NFD", GOOD)
    assert nfd != GOOD
    a, b = parse(GOOD, today=TODAY), parse(nfd, today=TODAY)
    assert a == b and a.name == NAME and b.sex == "Nữ"
    assert unicodedata.is_normalized("NFC", b.address)


# Each invalid field: (changes, the field the error names). Values never appear in the message.
INVALID = [
    ({"id_number": "00119001234"}, "id_number"),          # 11 digits
    ({"id_number": "0011900123456"}, "id_number"),        # 13 digits
    ({"id_number": "00119001234A"}, "id_number"),
    ({"id_number": "００１190012345"}, "id_number"),       # full-width digits
    ({"id_number": "000190012345"}, "id_number"),          # province 000
    ({"id_number": "003190012345"}, "id_number"),          # 003 is not a province code
    ({"id_number": "097190012345"}, "id_number"),          # beyond 096
    ({"id_number": "001090012345"}, "id_number"),          # century/sex says man, 20th c.
    ({"id_number": "001390012345"}, "id_number"),          # woman but 21st century
    ({"id_number": "001191012345"}, "id_number"),          # year digits 91 for 1990
    ({"old_id": "12345678"}, "old_id"),
    ({"old_id": "12345678X"}, "old_id"),
    ({"name": ""}, "name"),
    ({"name": "  "}, "name"),
    ({"name": "Nguyễn\x00Văn"}, "name"),
    ({"address": "Hà\u200bNội"}, "address"),
    ({"birth": "1531990"}, "birth"),
    ({"birth": "31021990"}, "birth"),                       # 31 February
    ({"birth": "15131990"}, "birth"),
    ({"birth": "1990-03-"}, "birth"),
    ({"sex": "Nu"}, "sex"),
    ({"sex": "F"}, "sex"),
    ({"sex": ""}, "sex"),
    ({"issued": "29022021"}, "issued"),                     # 2021 is not a leap year
    ({"issued": "15031990"}, "issued"),                     # the day of birth
    ({"issued": "01011980"}, "issued"),                     # before birth
    ({"issued": "02062025"}, "issued"),                     # after TODAY
]


@pytest.mark.parametrize("changes, field", INVALID)
def test_each_invalid_field_is_named_and_its_value_not_echoed(
        changes: dict[str, str], field: str) -> None:
    with pytest.raises(QrFormatError) as e:
        parse(fields(**changes), today=TODAY)
    assert e.value.field == field
    for value in (*changes.values(), *GOOD.split("|")):
        if len(value.strip()) >= 3:
            assert value not in str(e.value)


@pytest.mark.parametrize("raw", ["", "abc", "|".join(GOOD.split("|")[:6]), "\n"])
def test_too_few_fields(raw: str) -> None:
    with pytest.raises(QrFormatError) as e:
        parse(raw, today=TODAY)
    assert e.value.field == "payload"


def test_every_official_province_code_and_only_those() -> None:
    assert len(cccd.PROVINCE_CODES) == 63
    for n in range(1000):
        code = f"{n:03d}"
        raw = fields(id_number=f"{code}190012345")
        if code in cccd.PROVINCE_CODES:
            assert parse(raw, today=TODAY).province == cccd.PROVINCE_CODES[code]
        else:
            with pytest.raises(QrFormatError):
                parse(raw, today=TODAY)


@pytest.mark.parametrize("year, sex, digit", [
    (1900, "Nam", 0), (1999, "Nữ", 1), (2000, "Nam", 2), (2099, "Nữ", 3), (2100, "Nam", 4),
    (2200, "Nữ", 7), (2399, "Nam", 8),
])
def test_century_sex_digit(year: int, sex: cccd.Sex, digit: int) -> None:
    assert cccd.century_sex_digit(year, sex) == digit


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(QrFormatError) as e:
        CccdPayload("001090012345", "", "Trần Văn Bảy", D(1990, 1, 1), "Nữ", "", D(2021, 1, 1))
    assert e.value.field == "id_number"
    p = CccdPayload("001190012345", "", NAME, D(1990, 3, 15), "Nữ", ADDRESS, D(2021, 5, 1))
    assert parse(p.format(), today=TODAY) == p


def test_repr_does_not_leak_citizen_data() -> None:
    p = parse(GOOD, today=TODAY)
    for text in (repr(p), str(p), repr(p.chip_keys())):
        assert "Nguy" not in text and "0012345" not in text and "1990" not in text


# --- expiry milestones ---------------------------------------------------------------------

EXPIRY = [
    # birth, issued, expiry (None = no expiry), why
    (D(1990, 3, 15), D(2021, 5, 1), D(2030, 3, 15), "age 31 → valid to 40"),
    (D(1998, 6, 10), D(2021, 6, 9), D(2023, 6, 10), "a day short of 23 → 25"),
    (D(1998, 6, 10), D(2021, 6, 10), D(2038, 6, 10), "turns 23 that day: within 2y of 25 → 40"),
    (D(1983, 1, 20), D(2021, 1, 19), D(2023, 1, 20), "age 37 (day before 38) → 40"),
    (D(1983, 1, 20), D(2021, 1, 20), D(2043, 1, 20), "turns 38: within 2y of 40 → 60"),
    (D(1963, 1, 20), D(2021, 1, 19), D(2023, 1, 20), "a day short of 58 → 60"),
    (D(1963, 1, 20), D(2021, 1, 20), None, "turns 58: within 2y of 60 → no expiry"),
    (D(1950, 7, 7), D(2021, 7, 1), None, "age 70 → no expiry"),
    (D(2005, 8, 1), D(2021, 9, 1), D(2030, 8, 1), "age 16, 2014 law → 25"),
    (D(2012, 9, 1), D(2024, 6, 30), D(2037, 9, 1), "age 11 under the 2014 law: no 14 → 25"),
    (D(2012, 9, 1), D(2024, 7, 1), D(2026, 9, 1), "age 11 under the 2023 law → 14"),
    (D(2012, 9, 1), D(2024, 9, 1), D(2037, 9, 1), "turns 12 under 2023 law: within 2y → 25"),
    (D(2024, 7, 2), D(2024, 8, 1), D(2038, 7, 2), "newborn under the 2023 law → 14"),
    (D(1999, 12, 31), D(2024, 7, 1), D(2039, 12, 31), "age 24, 2023 law → 40"),
    (D(1965, 5, 5), D(2024, 8, 1), None, "age 59, 2023 law → no expiry"),
    (D(2000, 2, 29), D(2021, 3, 1), D(2025, 2, 28), "born 29 Feb, milestone in a common year"),
    (D(1984, 2, 29), D(2021, 3, 1), D(2024, 2, 29), "born 29 Feb, milestone in a leap year"),
]


@pytest.mark.parametrize("birth, issued, expected, why", EXPIRY, ids=[c[3] for c in EXPIRY])
def test_expiry_milestones(birth: dt.date, issued: dt.date, expected: dt.date | None,
                           why: str) -> None:
    assert cccd.expiry(birth, issued) == expected


# --- chip keys -----------------------------------------------------------------------------


def test_chip_keys() -> None:
    keys = parse(GOOD, today=TODAY).chip_keys()
    assert (keys.can, keys.document_number, keys.birth, keys.expiry) == (
        "012345", "190012345", "900315", "300315")
    doc = "190012345"
    assert keys.mrz_information() == (
        doc + check_digit(doc) + "900315" + check_digit("900315") + "300315"
        + check_digit("300315"))


def test_chip_keys_without_expiry_use_991231() -> None:
    p = parse(fields(id_number="001060012345", birth="20011960", sex="Nam"), today=TODAY)
    assert p.expiry is None
    keys = p.chip_keys()
    assert keys.expiry == cccd.NO_EXPIRY == "991231"
    assert keys.mrz_information().endswith("9912315")  # 7·9+3·9+1+7·2+3·3+1 = 115
    assert keys.birth == "600120"


def test_to_json_round_trips_the_fields() -> None:
    j = parse(GOOD + "|x", today=TODAY).to_json()
    assert j["birth"] == "1990-03-15" and j["expiry"] == "2030-03-15" and j["extra"] == ["x"]


# --- fuzzing: anything in gives a payload or a QrFormatError, nothing else ------------------

_alphabet = st.sampled_from(list("0123456789|| \r\nNamNữễ\x00\u0301ab/-")) | st.characters()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_alphabet, max_size=120))
def test_fuzz_only_typed_errors(raw: str) -> None:
    try:
        p = parse(raw, today=TODAY)
    except QrFormatError as e:
        assert e.field in (*cccd.FIELDS, "payload")
    else:
        assert parse(p.format(), today=TODAY) == p


@st.composite
def payloads(draw: st.DrawFn) -> str:
    sex: cccd.Sex = draw(st.sampled_from(["Nam", "Nữ"]))
    birth = draw(st.dates(D(1900, 1, 1), D(2024, 12, 31)))
    issued = draw(st.dates(birth + dt.timedelta(days=1), TODAY))
    code = draw(st.sampled_from(sorted(cccd.PROVINCE_CODES)))
    id_number = (f"{code}{cccd.century_sex_digit(birth.year, sex)}{birth.year % 100:02d}"
                 f"{draw(st.integers(0, 999_999)):06d}")
    text = st.text(st.characters(exclude_characters="|", exclude_categories=("C",)), max_size=40)
    name = draw(text.filter(lambda s: s.strip() != ""))
    extra = draw(st.lists(text, max_size=3))
    return "|".join([id_number, draw(st.sampled_from(["", "987654321"])), name,
                     birth.strftime("%d%m%Y"), sex, draw(text), issued.strftime("%d%m%Y"),
                     *extra])


@settings(max_examples=200, deadline=None)
@given(payloads())
def test_fuzz_generated_valid_payloads_parse(raw: str) -> None:
    p = parse(raw, today=TODAY)
    assert p.chip_keys().can == raw[6:12]
    assert parse(p.format(), today=TODAY) == p
