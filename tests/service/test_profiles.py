"""Profiles as data: defaults, validated adjustments, and minimisation that never leaks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station import config
from station.config import ProfileSection
from station.errors import ConfigError
from station.service.machine import Rules
from station.service.profiles import (
    DG13_FIELDS,
    FIELDS,
    SPECS,
    Booking,
    build,
    context,
    minimise,
    resolve,
)
from station.trust.verdict import Outcome

LODGING = ProfileSection(establishment_id="HCM-Q1-0042")
# A synthetic reading with every field the chip can give (nobody's data).
FULL = {f: f"synthetic-{f}" for f in FIELDS}


@pytest.mark.parametrize(
    ("name", "fields", "require", "files"),
    [
        ("reception", ("id_number", "full_name", "date_of_birth", "sex", "place_of_residence"),
         Outcome.AUTHENTIC, ("COM", "SOD", "DG1", "DG14", "DG15", "DG13")),
        ("hospital", ("id_number", "full_name", "date_of_birth", "sex"),
         Outcome.AUTHENTIC, ("COM", "SOD", "DG1", "DG14", "DG15", "DG13")),
        ("lodging", ("id_number", "full_name", "date_of_birth", "sex", "nationality",
                     "place_of_residence"),
         # Foreign guests' passports: DG11/DG12 (skipped on a CCCD, which has neither).
         Outcome.AUTHENTIC, ("COM", "SOD", "DG1", "DG14", "DG15", "DG13", "DG11", "DG12")),
        ("bank", FIELDS, Outcome.GENUINE, ("COM", "SOD", "DG1", "DG14", "DG15", "DG13", "DG2")),
    ],
)
def test_profile_defaults(name: str, fields: tuple[str, ...], require: Outcome,
                          files: tuple[str, ...]) -> None:
    p = build(name, LODGING if name == "lodging" else ProfileSection())
    assert p.fields == fields
    assert p.require is require
    assert p.files == files
    out = minimise(p, FULL)
    assert tuple(out) == fields
    assert set(FULL) - set(out) == set(FIELDS) - set(fields)


def test_no_face_unless_configured() -> None:
    for name in ("reception", "hospital", "lodging"):
        p = build(name, LODGING)
        assert "face" not in minimise(p, FULL) and "DG2" not in p.files
    p = build("lodging", ProfileSection(
        fields=(*SPECS["lodging"].default_fields, "face"), establishment_id="E1"))
    assert minimise(p, FULL)["face"] == FULL["face"] and "DG2" in p.files


def test_bank_keeps_the_full_dg13_and_the_face() -> None:
    p = build("bank", ProfileSection())
    assert set(DG13_FIELDS) <= set(p.fields) and "face" in p.fields


def test_a_profile_without_dg13_fields_does_not_read_dg13() -> None:
    p = build("reception", ProfileSection(fields=("id_number",)))
    # id_number is a DG13 field on the CCCD; a "face only" list is impossible (id is mandatory),
    # so DG13 is always read — but nothing else of it is kept.
    assert p.files[-1] == "DG13"
    assert minimise(p, FULL) == {"id_number": FULL["id_number"]}


@pytest.mark.parametrize(
    ("name", "section", "key", "problem"),
    [
        ("reception", ProfileSection(fields=("id_number", "shoe_size")), "profile.fields",
         "unknown field 'shoe_size'"),
        ("reception", ProfileSection(fields=("full_name",)), "profile.fields",
         "cannot leave out id_number"),
        ("reception", ProfileSection(fields=("id_number", "id_number")), "profile.fields",
         "twice"),
        ("lodging", ProfileSection(fields=("id_number", "full_name"), establishment_id="E"),
         "profile.fields", "cannot leave out"),
        ("bank", ProfileSection(fields=DG13_FIELDS), "profile.fields", "cannot leave out face"),
        ("bank", ProfileSection(require="authentic"), "profile.require", "at least genuine"),
        ("lodging", ProfileSection(), "profile.establishment_id", "required"),
    ],
)
def test_invalid_adjustments_name_the_key(name: str, section: ProfileSection, key: str,
                                          problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build(name, section)
    assert exc.value.key == key and problem in exc.value.problem


def test_resolve_from_toml_and_rules() -> None:
    cfg = config.from_dict({
        "station": {"profile": "hospital"},
        "profile": {"fields": ["id_number", "full_name"], "require": "unverified",
                    "key_cache_s": 60, "keypad": False},
    })
    p = resolve(cfg)
    assert p.fields == ("id_number", "full_name") and p.require is Outcome.UNVERIFIED
    r = p.rules(Rules(card_wait_s=12))
    assert (r.card_wait_s, r.require, r.key_cache_s, r.keypad) == (
        12, Outcome.UNVERIFIED, 60, False)
    with pytest.raises(ConfigError) as exc:
        config.from_dict({"profile": {"require": "trusted"}})
    assert exc.value.key == "profile.require"


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(SPECS)),
    extra=st.lists(st.sampled_from(FIELDS), unique=True),
    present=st.lists(st.sampled_from(FIELDS), unique=True),
)
def test_a_field_not_in_the_profile_never_comes_out(
        name: str, extra: list[str], present: list[str]) -> None:
    spec = SPECS[name]
    fields = tuple(dict.fromkeys([*spec.mandatory, *extra]))
    p = build(name, ProfileSection(fields=fields, establishment_id="E"))
    data = {f: FULL[f] for f in present}
    out = minimise(p, data)
    assert set(out) <= set(p.fields)
    assert set(out) == set(p.fields) & set(present)
    for f in set(FIELDS) - set(p.fields):
        assert FULL[f] not in out.values()


def test_minimise_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="not a citizen field"):
        minimise(build("bank", ProfileSection()), {"raw_dg13": b"..."})


def test_lodging_booking_and_context() -> None:
    p = build("lodging", LODGING)
    b = Booking.parse({"booking_id": "BK-7", "room": "301", "arrival": "2026-11-23",
                       "departure": "2026-11-25"})
    assert b.departure - b.arrival == dt.timedelta(days=2)
    ctx = [context(p, b, guest=i) for i in (1, 2, 3)]  # several guests, one booking
    assert {c["booking_id"] for c in ctx} == {"BK-7"}
    assert [c["guest"] for c in ctx] == [1, 2, 3]
    assert ctx[0]["establishment_id"] == "HCM-Q1-0042" and ctx[0]["room"] == "301"
    with pytest.raises(ValueError, match="open booking"):
        context(p)
    with pytest.raises(ValueError, match="before arrival"):
        Booking.parse({"booking_id": "B", "room": "1", "arrival": "2026-11-25",
                       "departure": "2026-11-23"})
    with pytest.raises(ValueError, match="lacks 'room'"):
        Booking.parse({"booking_id": "B", "arrival": "2026-11-25", "departure": "2026-11-26"})


def test_reception_service_code_only_when_set() -> None:
    assert context(build("reception", ProfileSection())) == {"profile": "reception"}
    assert context(build("reception", ProfileSection(service_code="Q-A")))["service_code"] == "Q-A"
