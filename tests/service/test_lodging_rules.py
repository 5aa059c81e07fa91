"""The lodging desk's foreign-guest rules as pure data: the MRZ key path in the session machine
(its lower minimum, the MRZ-only record when the chip cannot be read), the foreign-guest field
vocabulary and its minimisation, the entry details, and the verifier's unanchored-signer rule."""

from __future__ import annotations

import datetime as dt

import pytest

from station.config import ProfileSection
from station.errors import ConfigError
from station.mrz.parse import parse_mrz
from station.service import machine as m
from station.service.commands import DeskCommands
from station.service.profiles import (
    FOREIGN_FIELDS,
    EntryDetails,
    build,
    foreign_guest,
    minimise,
)
from station.service.readings import DeskKeys, MrzOnlyReading
from station.service.verify import TrustVerifier, _anchor_missing
from station.sim import passport
from station.trust import verdict as v

LODGING = ProfileSection(establishment_id="LT-1")
RULES = build("lodging", LODGING).rules(m.Rules(card_wait_s=30, result_hold_s=3))
KEYS = ("MRZ", "doc")


def _run(events: list[tuple[float, m.Event]], rules: m.Rules = RULES
         ) -> tuple[m.Session, list[m.Effect]]:
    s, effects = m.Session(since=0.0), []
    for t, ev in events:
        tr = m.advance(s, ev, t, rules)
        s = tr.session
        effects += tr.effects
    return s, effects


def test_the_lodging_profile_keys_by_mrz_with_an_unverified_minimum() -> None:
    assert RULES.require is m.Outcome.AUTHENTIC and RULES.mrz_require is m.Outcome.UNVERIFIED
    assert RULES.mrz_only
    reception = build("reception", ProfileSection()).rules(m.Rules())
    assert not reception.mrz_only and reception.mrz_require is m.Outcome.AUTHENTIC


@pytest.mark.parametrize(("outcome", "phase"), [
    (m.Outcome.UNVERIFIED, m.Phase.STORING), (m.Outcome.INVALID, m.Phase.FAILED)])
def test_an_mrz_read_chip_needs_only_unverified_but_never_invalid(
        outcome: m.Outcome, phase: m.Phase) -> None:
    s, _ = _run([(0, m.MrzSeen(KEYS, "s")), (1, m.CardPresent("r")),
                 (2, m.ReadDone(1, "reading", "s")), (3, m.Verified(1, outcome, "v"))])
    assert s.phase is phase and s.source is (m.KeySource.MRZ if phase is m.Phase.STORING
                                             else None)
    # The same outcome from a QR-keyed card is refused by the profile's own minimum.
    q, _ = _run([(0, m.QrSeen(KEYS, "s")), (1, m.CardPresent("r")),
                 (2, m.ReadDone(1, "reading", "s")), (3, m.Verified(1, outcome, "v"))])
    assert q.phase is m.Phase.FAILED and q.failure is m.Failure.NOT_GENUINE


def test_no_chip_within_the_wait_gives_an_mrz_only_record() -> None:
    s, eff = _run([(0, m.MrzSeen(KEYS, "s")), (29, m.Tick()), (30, m.Tick())])
    assert s.phase is m.Phase.VERIFYING
    assert eff == [m.Verify(1, m.NoChip(KEYS, "no_chip"))]
    s, eff = _run([(0, m.MrzSeen(KEYS, "s")), (30, m.Tick()),
                   (31, m.Verified(1, m.Outcome.UNVERIFIED, "mrz-only"))])
    assert s.phase is m.Phase.STORING and eff[-1] == m.Store(1, "mrz-only", m.Outcome.UNVERIFIED)


def test_a_failing_chip_keeps_the_wait_then_the_mrz_alone_names_the_failure() -> None:
    s, eff = _run([(0, m.MrzSeen(KEYS, "s")), (1, m.CardPresent("r")),
                   (2, m.ReadFailed(1, m.ReadFailure.ERROR)), (5, m.Tick()), (6, m.Tick()),
                   (36, m.Tick())])
    assert s.phase is m.Phase.VERIFYING
    assert eff[-1] == m.Verify(2, m.NoChip(KEYS, "read_error"))


def test_a_qr_wait_or_a_desk_without_mrz_only_just_ends() -> None:
    s, eff = _run([(0, m.QrSeen(KEYS, "s")), (30, m.Tick())])
    assert s.phase is m.Phase.IDLE and eff == []
    s, eff = _run([(0, m.MrzSeen(KEYS, "s")), (30, m.Tick())],
                  build("lodging", ProfileSection(establishment_id="E", mrz_only=False))
                  .rules(m.Rules()))
    assert s.phase is m.Phase.IDLE and eff == []


def test_foreign_fields_are_data_validated_and_minimised() -> None:
    p = build("lodging", LODGING)
    assert "face" not in p.foreign_fields and {"DG11", "DG12"} <= set(p.files)
    t = passport.generate(71, state="KOR")
    data = foreign_guest(parse_mrz(t.mrz()), None, EntryDetails(), chip_failure="no_chip")
    data["face"] = b"jpeg"
    kept = minimise(p, data, foreign=True)
    assert "face" not in kept and kept["passport_number"] == t.document_number
    with pytest.raises(ValueError, match="not a foreign guest field"):
        minimise(p, {**data, "shoe_size": 4}, foreign=True)
    with pytest.raises(ValueError, match="not a citizen field"):
        minimise(p, data)  # foreign fields never pass as citizen fields
    with pytest.raises(ValueError, match="takes no foreign guests"):
        minimise(build("reception", ProfileSection()), data, foreign=True)
    narrow = build("lodging", ProfileSection(establishment_id="E", foreign_fields=(
        "source", "chip_failure", "nationality", "passport_number", "full_name",
        "date_of_birth", "sex", "face")))
    assert set(minimise(narrow, data, foreign=True)) == set(narrow.foreign_fields)
    assert "DG2" in narrow.files


@pytest.mark.parametrize(("name", "section", "message"), [
    ("lodging", ProfileSection(establishment_id="E", foreign_fields=("source", "x")),
     "unknown field"),
    ("lodging", ProfileSection(establishment_id="E", foreign_fields=("source",)),
     "cannot leave out"),
    ("reception", ProfileSection(foreign_fields=FOREIGN_FIELDS), "only the lodging"),
])
def test_bad_foreign_field_lists_are_config_errors(name: str, section: ProfileSection,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(name, section)


@pytest.mark.parametrize(("args", "message"), [
    ({"entry_date": "2030-02-30"}, "entry_date"),
    ({"entry_date": "2030-02-03", "stay_until": "2030-02-01"}, "stay_until is before"),
    ({"visa_number": "AB 12;DROP"}, "visa_number"),
    ({"purpose": "x" * 65}, "purpose"),
    ({"passport": "C1234"}, "unknown entry field"),
])
def test_entry_details_are_validated_without_echoing_values(args: dict[str, str],
                                                             message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        EntryDetails.parse(args)
    for value in args.values():
        assert value not in str(exc.value)


def test_entry_details_are_spent_by_one_guest() -> None:
    from types import SimpleNamespace as Cmd

    desk = DeskCommands(build("lodging", LODGING))
    ok, _ = desk(Cmd(name="entry", args={"visa_number": "v-1", "entry_date": "2030-01-01"}))
    assert ok
    entry = desk.entry()
    assert entry == EntryDetails("V-1", dt.date(2030, 1, 1)) and "V-1" not in repr(entry)
    assert desk.entry() is None
    refused, msg = DeskCommands(build("hospital", ProfileSection()))(
        Cmd(name="entry", args={}))
    assert not refused and "no foreign guests" in msg


def test_an_unanchored_foreign_signer_is_unverified_not_a_forgery() -> None:
    def ver(*checks: tuple[str, bool | None, str | None]) -> v.Verification:
        return v.Verification(v.NOT_GENUINE, tuple(v.Check(*c) for c in checks))

    assert _anchor_missing(ver(("sod-signature", True, None),
                               ("dsc-issuer", False, "untrusted-csca")))
    assert not _anchor_missing(ver(("dsc-issuer", False, "untrusted-csca"),
                                   ("dg-hashes", False, "dg-hash-mismatch")))
    t = passport.generate(72, state="AUS")
    keys, _ = DeskKeys.from_mrz(parse_mrz(t.mrz()))
    outcome, got = TrustVerifier(None).verify(m.NoChip(keys, "no_chip"))
    assert outcome is m.Outcome.UNVERIFIED and isinstance(got, MrzOnlyReading)
    with pytest.raises(TypeError):
        TrustVerifier(None).verify(m.NoChip(DeskKeys.typed_can("123456"), "no_chip"))
