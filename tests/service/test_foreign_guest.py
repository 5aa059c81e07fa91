"""A foreign guest's record for the temporary residence declaration: from the chip (DG1 + DG11)
when it was read with the MRZ key, from the MRZ alone when not — and recorded as such."""

from __future__ import annotations

import datetime as dt

import pytest

from station.mrz.parse import parse_mrz
from station.nfc.lds.chip import ChipData
from station.service.profiles import EntryDetails, foreign_guest
from station.sim import lds, passport

ENTRY = EntryDetails(visa_number="V1234567", entry_date=dt.date(2025, 3, 1),
                     entry_port="SGN", purpose="tourism", stay_until=dt.date(2025, 3, 14))


def _chip(t: passport.Traveller, dg11: bool = True) -> ChipData:
    files = {"DG1": lds.dg1(t.mrz())}
    if dg11:
        files["DG11"] = passport.dg11(t)
    return ChipData.from_files("BAC", files)


def test_from_chip_with_dg11() -> None:
    t = passport.generate(31, state="FRA")
    rec = foreign_guest(parse_mrz(t.mrz()), _chip(t), ENTRY)
    assert rec["source"] == "chip" and rec["document_kind"] == "TD3"
    assert (rec["nationality"], rec["issuing_state"]) == ("FRA", "FRA")
    assert rec["passport_number"] == t.document_number
    assert rec["date_of_birth"] == t.birth.isoformat()
    assert rec["document_expiry"] == t.expiry.isoformat()
    assert rec["full_name"] == f"{t.surname} {t.given_names}"  # with accents, from DG11
    assert rec["sex"] == t.sex
    assert (rec["visa_number"], rec["entry_date"], rec["entry_port"], rec["stay_until"]) == (
        "V1234567", "2025-03-01", "SGN", "2025-03-14")


def test_mrz_only_when_the_chip_cannot_be_read() -> None:
    t = passport.generate(32, state="D", kind="id")
    rec = foreign_guest(parse_mrz(t.mrz()), None, EntryDetails(), chip_failure="AuthFailed")
    assert rec["source"] == "mrz" and rec["chip_failure"] == "AuthFailed"
    assert rec["document_kind"] == "TD1" and rec["nationality"] == "D"
    assert rec["full_name"] == passport.mrz_text(t.surname) + " " + passport.mrz_text(
        t.given_names).replace("<", " ")
    assert rec["entry_date"] == ""


def test_chip_of_another_document_is_refused() -> None:
    a, b = passport.generate(33), passport.generate(34)
    with pytest.raises(ValueError, match="another document"):
        foreign_guest(parse_mrz(a.mrz()), _chip(b), ENTRY)


def test_chip_without_dg11_uses_its_dg1() -> None:
    t = passport.generate(35, state="JPN")
    rec = foreign_guest(parse_mrz(t.mrz()), _chip(t, dg11=False), ENTRY)
    assert rec["source"] == "chip" and rec["date_of_birth"] == t.birth.isoformat()
