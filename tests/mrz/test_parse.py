"""MRZ parsing against the ICAO 9303 specimen documents (Parts 4, 5, 6) and synthetic CCCDs."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.errors import MrzError
from station.mrz import check_digit, mrz_information
from station.mrz.parse import parse_mrz
from station.sim.citizens import skeleton_citizen, td1_mrz

TD3_SPECIMEN = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1_SPECIMEN = ("I<UTOD231458907<<<<<<<<<<<<<<<\n"
                "7408122F1204159UTO<<<<<<<<<<<6\n"
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2_SPECIMEN = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\n"
                "D231458907UTO7408122F1204159<<<<<<<6")
# 9303-5 §4.2.2: a 12-character document number continues in the optional data.
TD1_LONG_NUMBER = ("I<UTOD23145890<7349<<<<<<<<<<<\n"
                   "3407127M9507122UTO<<<<<<<<<<<2\n"
                   "STEVENSON<<PETER<JOHN<<<<<<<<<")


@pytest.mark.parametrize(
    ("text", "fmt", "number", "extra"),
    [
        (TD3_SPECIMEN, "TD3", "L898902C3", {"optional1": "ZE184226B"}),
        (TD1_SPECIMEN, "TD1", "D23145890", {}),
        (TD2_SPECIMEN, "TD2", "D23145890", {}),
    ],
)
def test_icao_specimens(text: str, fmt: str, number: str, extra: dict[str, str]) -> None:
    m = parse_mrz(text)
    assert m.format == fmt
    assert m.document_number == number
    assert (m.issuer, m.nationality) == ("UTO", "UTO")
    assert (m.birth, m.sex, m.expiry) == ("740812", "F", "120415")
    assert (m.primary_identifier, m.secondary_identifier) == ("ERIKSSON", "ANNA MARIA")
    assert m.birth_date(dt.date(2026, 1, 1)) == dt.date(1974, 8, 12)
    assert m.expiry_date() == dt.date(2012, 4, 15)
    assert not m.corrected
    for key, value in extra.items():
        assert getattr(m, key) == value


def test_long_document_number() -> None:
    m = parse_mrz(TD1_LONG_NUMBER)
    assert m.document_number == "D23145890734"
    assert m.optional1 == ""


def test_bac_key_from_appendix_d_specimen() -> None:
    # ICAO 9303-11 Appendix D: document L898902C<, DOB 690806, expiry 940623.
    assert mrz_information("L898902C", "690806", "940623") == "L898902C<369080619406236"


def test_cccd_td1() -> None:
    c = skeleton_citizen(3)
    m = parse_mrz(td1_mrz(c))
    assert m.format == "TD1"
    assert m.document_number == c.id_number[-9:]
    assert m.id_number == c.id_number
    assert m.optional1 == c.id_number + "<<" + check_digit(c.id_number)
    assert m.lines[0] == "IDVNM" + c.id_number[-9:] + check_digit(c.id_number[-9:]) \
        + c.id_number + "<<" + check_digit(c.id_number)
    assert m.nationality == "VNM"
    assert m.expiry == "991231"
    assert m.expiry_date() is None
    assert m.key_information() == mrz_information(c.id_number[-9:], c.birth, "991231")


def _flip(text: str, line: int, pos: int, char: str) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:pos] + char + lines[line][pos + 1:]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "pos", "char", "field"),
    [
        (1, 0, "8", "document number"),        # L → 8: document number check digit fails
        (1, 13, "8", "date of birth"),
        (1, 21, "2", "date of expiry"),
        (1, 43, "1", "composite check digit"),
        (1, 30, "X", "personal number"),
        (1, 20, "Q", "sex"),
    ],
)
def test_every_check_digit_is_verified(line: int, pos: int, char: str, field: str) -> None:
    with pytest.raises(MrzError) as exc:
        parse_mrz(_flip(TD3_SPECIMEN, line, pos, char))
    assert exc.value.field == field


def test_ocr_confusions_repaired_only_when_proven() -> None:
    # O for 0 in the date of birth, I for 1 in the expiry, Z for 2 in a check digit.
    noisy = _flip(_flip(_flip(TD3_SPECIMEN, 1, 15, "O"), 1, 21, "I"), 1, 19, "Z")
    with pytest.raises(MrzError):
        parse_mrz(noisy)
    m = parse_mrz(noisy, correct=True)
    assert m.corrected
    assert (m.birth, m.expiry) == ("740812", "120415")
    assert m.lines == tuple(TD3_SPECIMEN.split("\n"))


def _td3(number: str) -> str:
    doc = number.ljust(9, "<")
    body = doc + check_digit(doc) + "UTO" + "740812" + "2" + "F" + "120415" + "9"
    personal = "<" * 14 + "<"
    composite = body[0:10] + body[13:20] + body[21:28] + personal
    return ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
            + body + personal + check_digit(composite))


def test_document_number_repair_with_a_unique_candidate() -> None:
    text = _td3("XKC4T75HM")
    assert parse_mrz(text).document_number == "XKC4T75HM"
    m = parse_mrz(text.replace("XKC4T75HM", "XKC4T7SHM"), correct=True)  # S read for 5
    assert m.document_number == "XKC4T75HM"
    assert m.corrected


def test_ambiguous_document_number_repair_is_refused() -> None:
    # D23145890 read with "0" for "D": many variants of its confusable characters pass the
    # document and composite check digits, so nothing proves which one was printed.
    with pytest.raises(MrzError) as exc:
        parse_mrz(_flip(TD1_SPECIMEN, 0, 5, "0"), correct=True)
    assert exc.value.field == "composite check digit"


def test_layouts_and_whitespace() -> None:
    assert parse_mrz("  " + TD2_SPECIMEN.replace("\n", "\n\n  ") + "\n").format == "TD2"
    assert parse_mrz(TD1_SPECIMEN.replace("\n", "")).format == "TD1"
    with pytest.raises(MrzError, match="layout"):
        parse_mrz("P<UTO\nL898")
    with pytest.raises(MrzError, match="line 1"):
        parse_mrz(TD3_SPECIMEN.replace("ANNA", "ÄNNA"))


def test_unknown_birth_date_with_fillers() -> None:
    lines = TD3_SPECIMEN.split("\n")
    l2 = lines[1][:13] + "<<<<<<<" + lines[1][20:43]
    body = l2[0:10] + l2[13:20] + l2[21:43]
    lines[1] = l2 + check_digit(body)
    m = parse_mrz("\n".join(lines))
    assert m.birth == "<<<<<<"
    assert m.birth_date() is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<\n OIS", max_size=100),
       st.booleans())
def test_fuzz_only_typed_errors(text: str, correct: bool) -> None:
    try:
        m = parse_mrz(text, correct=correct)
    except MrzError:
        return
    # Whatever parses has passed every check digit.
    assert m.document_number


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2), st.integers(0, 29),
       st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"))
def test_a_repair_never_invents_a_different_key(line: int, pos: int, char: str) -> None:
    original = parse_mrz(TD1_SPECIMEN)
    noisy = _flip(TD1_SPECIMEN, line, pos, char)
    try:
        m = parse_mrz(noisy, correct=True)
    except MrzError:
        return
    if m.corrected:
        assert m.key_information() == original.key_information()
    else:
        # Not repaired: the text passed every check digit as it was read. ICAO check digits
        # cannot see swaps whose character values differ by a multiple of 10 (S/8, G/6,
        # B/1 …); that is the spec's limit, which the CCCD cross-check narrows.
        assert parse_mrz(noisy).lines == m.lines


def test_cccd_cross_check_catches_what_check_digits_miss() -> None:
    c = skeleton_citizen(2)  # document number 205088994
    text = td1_mrz(c)
    i = 5 + c.id_number[-9:].index("8")
    swapped = text[:i] + "S" + text[i + 1:]
    with pytest.raises(MrzError, match="does not match the ID number"):
        parse_mrz(swapped)


def _line2() -> str:
    birth, expiry = "900101", "991231"
    return birth + check_digit(birth) + "M" + expiry + check_digit(expiry) + "VNM" + "<" * 11


def _cccd(id_number: str, id_cd: str | None = None) -> str:
    """A CCCD MRZ in the layout of issued cards (issue #18): line 1 = IDVNM + the 9-digit
    document number + its check digit + the 12-digit ID + << + the ID's check digit; the
    composite computed over what is printed."""
    doc = id_number[-9:]
    line1 = "IDVNM" + doc + check_digit(doc) + id_number + "<<" + (
        check_digit(id_number) if id_cd is None else id_cd)
    line2 = _line2()
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    return "\n".join((line1, line2 + check_digit(composite), "NGUYEN<<VAN<THU".ljust(30, "<")))


def _swap(text: str, line: int, pos: int, char: str) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:pos] + char + lines[line][pos + 1:]
    return "\n".join(lines)


def test_issued_cccd_layout_parses_with_its_id_check_digit() -> None:
    m = parse_mrz(_cccd("001090012345"))
    assert m.id_number == "001090012345" and m.document_number == "090012345"
    assert m.key_information() == mrz_information("090012345", "900101", "991231")


def test_issued_cccd_layout_id_check_digit_is_checked() -> None:
    good = check_digit("001090012345")
    bad = str((int(good) + 1) % 10)
    with pytest.raises(MrzError, match="ID number"):
        parse_mrz(_cccd("001090012345", id_cd=bad))


def test_issued_cccd_layout_cross_checks_the_document_number() -> None:
    """6→G in the document number passes its check digit and the composite (G = 16); on the
    issued layout only the ID cross-check sees it. Before, that layout hid the ID from the
    parser and the wrong number became a wrong chip key."""
    text = _cccd("001090012365")
    j = 5 + text[5:14].index("6")
    swapped = _swap(text, 0, j, "G")
    with pytest.raises(MrzError, match="does not match the ID number"):
        parse_mrz(swapped)
    m = parse_mrz(swapped, correct=True)
    assert m.document_number == "090012365" and m.corrected
    assert m.key_information() == mrz_information("090012365", "900101", "991231")


def test_issued_cccd_layout_ocr_repair_of_the_id() -> None:
    text = _cccd("001090012345")
    j = 15 + text[15:27].index("0")
    noisy = _swap(text, 0, j, "O")
    with pytest.raises(MrzError):
        parse_mrz(noisy)
    m = parse_mrz(noisy, correct=True)
    assert m.corrected and m.id_number == "001090012345" and m.lines == tuple(text.split("\n"))


def test_earlier_virtual_layout_still_parses() -> None:
    """Virtual cards issued before this change printed ID + '<<<' (no ID check digit)."""
    doc = "090012345"
    line1 = "IDVNM" + doc + check_digit(doc) + "001090012345<<<"
    line2 = _line2()
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    m = parse_mrz("\n".join((line1, line2 + check_digit(composite), "A<<B".ljust(30, "<"))))
    assert m.id_number == "001090012345" and m.optional1 == "001090012345"
