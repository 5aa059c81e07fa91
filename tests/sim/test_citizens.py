"""Synthetic citizens: reproducible, realistic, and consistent with the QR helper's CCCD rules
and the MRZ parser."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import unicodedata

import pytest

from station.mrz.parse import parse_mrz
from station.qr import cccd
from station.sim.citizens import Citizen, ascii_fold, generate

SEEDS = range(200)


@pytest.fixture(scope="module")
def people() -> list[Citizen]:
    return [generate(s) for s in SEEDS]


def test_same_seed_same_citizen_different_seed_different() -> None:
    assert generate(42).to_json() == generate(42).to_json()
    assert generate(42).id_number != generate(43).id_number


def test_id_number_follows_the_real_rule(people: list[Citizen]) -> None:
    for c in people:
        n = c.id_number
        assert len(n) == 12 and n.isdigit()
        assert n[:3] in cccd.PROVINCE_CODES
        assert int(n[3]) == cccd.century_sex_digit(c.birth.year, c.sex)
        assert n[4:6] == f"{c.birth.year % 100:02d}"
        assert c.can == n[-6:] and c.document_number == n[-9:]


def test_spread_of_people(people: list[Citizen]) -> None:
    assert {c.sex for c in people} == {"Nam", "Nữ"}
    years = [c.birth.year for c in people]
    assert min(years) >= 1930 and max(years) <= 2020
    assert min(years) < 1950 and max(years) > 2005
    assert any(c.spouse for c in people) and any(c.spouse is None for c in people)
    assert any(c.old_id for c in people) and any(not c.old_id for c in people)
    assert any(c.expiry is None for c in people) and any(c.expiry for c in people)
    assert len({c.ethnicity for c in people}) > 2
    assert len({c.full_name.split()[0] for c in people}) > 8


def test_text_is_nfc_with_diacritics(people: list[Citizen]) -> None:
    for c in people:
        for text in (c.full_name, c.hometown, c.residence, c.father, c.mother, c.ethnicity):
            assert unicodedata.normalize("NFC", text) == text
    assert any(ascii_fold(c.full_name) != c.full_name.upper() for c in people)
    assert all(c.full_name.split()[0] == c.father.split()[0] for c in people)


def test_old_id_only_for_people_who_could_have_had_a_cmnd(people: list[Citizen]) -> None:
    for c in people:
        if c.old_id:
            assert len(c.old_id) == 9 and c.birth.year < 2002


def test_issue_and_expiry_follow_the_milestones(people: list[Citizen]) -> None:
    for c in people:
        assert c.birth < c.issued <= dt.date(2025, 12, 31)
        assert c.expiry == cccd.expiry(c.birth, c.issued)
        if c.expiry is None:
            assert c.mrz_expiry == "991231" and c.expiry_text() == "Không thời hạn"
        else:
            assert c.expiry > c.issued
            assert c.expiry.month == c.birth.month


def test_qr_payload_parses_back(people: list[Citizen]) -> None:
    for c in people:
        p = cccd.parse(c.qr_text())
        assert (p.id_number, p.name, p.birth, p.sex, p.issued) == (
            c.id_number, c.full_name, c.birth, c.sex, c.issued)
        assert p.chip_keys().mrz_information() == c.mrz_information
        assert p.chip_keys().can == c.can


def test_td1_mrz_as_on_a_cccd(people: list[Citizen]) -> None:
    for c in people:
        m = parse_mrz(c.mrz())
        assert m.format == "TD1" and m.issuer == "VNM" and m.nationality == "VNM"
        assert m.document_number == c.id_number[-9:]
        assert m.optional1.startswith(c.id_number)
        assert m.expiry == c.mrz_expiry
        assert m.key_information() == c.mrz_information
        assert m.primary_identifier == ascii_fold(c.full_name).split()[0]


def test_json_round_trip() -> None:
    c = generate(9)
    again = Citizen.from_json(json.loads(c.dumps()))
    assert again.to_json() == c.to_json()
    assert "seed=9" in repr(c) and c.full_name not in repr(c)


def test_cli_prints_json() -> None:
    out = subprocess.run([sys.executable, "-m", "station", "sim", "citizen", "--seed", "5",
                          "--count", "2"], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert [d["id_number"] for d in data] == [generate(5).id_number, generate(6).id_number]
