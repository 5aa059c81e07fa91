"""The service's chip reader on the virtual CCCD through real pcscd + vpcd: keys from the QR
(PACE with the CAN; a card without PACE refused, never BAC), a typed CAN, the wrong card for
a QR, a tap cut short and resumed, a read abandoned by the service, progress."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.config import ProfileSection
from station.errors import AuthFailed, PaceUnavailable, TagLost
from station.nfc.lds import secinfo
from station.service.chip import PcscChipReader, citizen_fields
from station.service.profiles import FIELDS, SPECS, build
from station.service.readings import DeskKeys, subject_of
from station.service.verify import TrustVerifier
from station.sim import issuer
from station.sim.chip import EF_CARD_ACCESS, CardImage, CccdChip, ChipOptions
from station.sim.citizens import Citizen, generate
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from station.trust.store import TrustStoreRef
from tests.fakes import Direct
from tests.taps import put_back

FILES = build("bank", ProfileSection()).files


@pytest.fixture(scope="module")
def citizen() -> Citizen:
    return generate(41)


def _insert(pcscd: PcscdTestbed, c: Citizen, options: ChipOptions | None = None,
            drop_after: int | None = None, image: CardImage | None = None) -> VpcdLink:
    options = options or ChipOptions()
    image = image or issuer.issue(c, options)
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(0))
    link.drop_after = drop_after
    link.insert()
    return link


def tap_again(pcscd: PcscdTestbed, c: Citizen, timeout_s: float = 10.0,
              image: CardImage | None = None) -> VpcdLink:
    """Put the card (the same ``image``: one chip, one set of keys) back until pcscd sees it."""
    return put_back(pcscd, lambda: _insert(pcscd, c, image=image), timeout_s)


@pytest.fixture()
def card(pcscd: PcscdTestbed, citizen: Citizen) -> Iterator[VpcdLink]:
    link = _insert(pcscd, citizen)
    yield link
    link.remove()


def test_qr_keys_open_the_card_by_pace_and_read_the_profile_files(
        pcscd: PcscdTestbed, citizen: Citizen, card: VpcdLink) -> None:
    keys, subject = DeskKeys.from_qr(citizen.payload())
    fractions: list[float] = []
    reading, got = PcscChipReader(FILES).read(pcscd.readers[0], keys, fractions.append,
                                             threading.Event())
    assert got == subject  # the card is the QR's card
    assert reading.detail.startswith("PACE")
    assert set(reading.chip.files) >= {"COM", "SOD", "DG1", "DG2", "DG13", "DG14", "DG15"}
    assert fractions and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    fields = citizen_fields(reading.chip)
    assert set(fields) <= set(FIELDS)
    assert fields["id_number"] == citizen.id_number
    assert fields["full_name"] == citizen.full_name
    assert isinstance(fields["face"], bytes) and len(fields["face"]) > 1000
    assert repr(keys) == "DeskKeys(<redacted>)" and citizen.can not in repr(reading)


def test_a_card_without_pace_is_refused_for_a_qr_never_opened_by_bac(
        pcscd: PcscdTestbed, citizen: Citizen) -> None:
    # A QR is a CCCD's, whose chip has PACE: BAC with the QR's MRZ key would be a downgrade
    # (issue 16). A foreign BAC-only passport keyed by its MRZ stays readable
    # (tests/service/test_lodging.py).
    link = _insert(pcscd, citizen, ChipOptions(pace=()))
    try:
        keys, _subject = DeskKeys.from_qr(citizen.payload())
        with pytest.raises(PaceUnavailable):
            PcscChipReader(("COM", "DG1", "DG13", "SOD")).read(
                pcscd.readers[0], keys, lambda f: None, threading.Event())
    finally:
        link.remove()


def test_a_typed_can_opens_pace_and_is_refused_on_a_bac_only_card(
        pcscd: PcscdTestbed, citizen: Citizen) -> None:
    reader = PcscChipReader(("COM", "DG1"))
    link = _insert(pcscd, citizen)
    try:
        reading, _ = reader.read(pcscd.readers[0], DeskKeys.typed_can(citizen.can),
                                 lambda f: None, threading.Event())
        assert reading.detail.startswith("PACE")
    finally:
        link.remove()
    link = _insert(pcscd, citizen, ChipOptions(pace=()))
    try:
        with pytest.raises(AuthFailed):
            reader.read(pcscd.readers[0], DeskKeys.typed_can(citizen.can), lambda f: None,
                        threading.Event())
    finally:
        link.remove()


def test_the_qr_of_another_card_is_refused_by_the_chip(
        pcscd: PcscdTestbed, card: VpcdLink) -> None:
    other, _ = DeskKeys.from_qr(generate(42).payload())
    with pytest.raises(AuthFailed):
        PcscChipReader(("COM", "DG1")).read(pcscd.readers[0], other, lambda f: None,
                                            threading.Event())


def test_a_tap_cut_short_resumes_on_the_next_tap(pcscd: PcscdTestbed,
                                                 citizen: Citizen) -> None:
    keys, subject = DeskKeys.from_qr(citizen.payload())
    reader = PcscChipReader(FILES)
    # The same chip on both taps: Chip Authentication runs again on the resumed tap, and a
    # re-issued card (other keys, another EF.SOD signature) would be another card.
    image = issuer.issue(citizen, ChipOptions())
    link = _insert(pcscd, citizen, drop_after=25, image=image)
    try:
        with pytest.raises(TagLost):
            reader.read(pcscd.readers[0], keys, lambda f: None, threading.Event())
    finally:
        link.remove()
    link = tap_again(pcscd, citizen, image=image)
    try:
        reading, got = reader.read(pcscd.readers[0], keys, lambda f: None, threading.Event())
    finally:
        link.remove()
    assert got == subject and reading.taps == 2
    assert reading.chip.files["DG2"] and reading.chip.dg13 is not None


def test_a_read_abandoned_by_the_service_stops_at_the_next_apdu(
        pcscd: PcscdTestbed, card: VpcdLink) -> None:
    keys, _ = DeskKeys.from_qr(generate(41).payload())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TagLost):
        PcscChipReader(FILES).read(pcscd.readers[0], keys, lambda f: None, cancel)
    assert card.apdu_count == 0


def test_a_card_sharing_the_last_nine_digits_of_the_qr_id_is_not_the_qr_card(
        pcscd: PcscdTestbed, citizen: Citizen) -> None:
    # Issue 18: the 9-digit document number is the last nine digits of the 12-digit ID, and
    # the CAN its last six, so a card of another province with the same nine digits (and
    # birth date) opens with this QR's keys. The cross-check compares all twelve digits.
    province = "001" if citizen.id_number[:3] != "001" else "079"
    twin = dataclasses.replace(citizen, id_number=province + citizen.id_number[3:])
    link = _insert(pcscd, twin)
    try:
        keys, subject = DeskKeys.from_qr(citizen.payload())
        reading, got = PcscChipReader(("COM", "DG1")).read(pcscd.readers[0], keys,
                                                           lambda f: None, threading.Event())
        assert reading.chip.mrz is not None
        assert reading.chip.mrz.document_number == citizen.id_number[3:]  # the same nine
        assert reading.chip.mrz.id_number == twin.id_number
        assert got != subject  # the session machine refuses it as the wrong card
        assert got == DeskKeys.from_qr(twin.payload())[1]
        assert got == DeskKeys.from_mrz(reading.chip.mrz)[1]  # camera MRZ ↔ chip agree
    finally:
        link.remove()


def test_subjects_compare_numbers_without_being_them() -> None:
    assert subject_of("012345678") == subject_of("012345678 ")
    assert subject_of("012345678") != subject_of("012345679")
    assert "012345678" not in subject_of("012345678")
    assert SPECS["bank"].require.name == "GENUINE"


class _Connection(Direct):
    def close(self) -> None:
        pass


def test_the_first_tap_reads_ef_card_access_once(citizen: Citizen) -> None:
    # establish() reads EF.CardAccess once and chooses PACE (with the QR's CAN) from it; the
    # desk does not read it first to choose the key.
    options = ChipOptions()
    links: list[_Connection] = []
    card = CccdChip(issuer.issue(citizen, options), options)

    def connect(slot: str) -> _Connection:
        links.append(_Connection(card))
        return links[-1]

    keys, _ = DeskKeys.from_qr(citizen.payload())
    reading, _ = PcscChipReader(FILES, connect=connect).read("virtual", keys, lambda f: None,
                                                            threading.Event())
    assert reading.detail.startswith("PACE")
    assert reading.card_access is not None and reading.card_access.raw is not None
    # Opened by short EF identifier (READ BINARY, P1 = 80 | 1C) or by SELECT of 011C.
    reads = [a for a in links[0].apdus
             if (a[1] == 0xB0 and a[2] == 0x9C) or (a[1] == 0xA4 and a[5:7] == b"\x01\x1c")]
    assert len(reads) == 1, [a.hex() for a in links[0].apdus[:6]]


def test_a_tap_parses_ef_card_access_once(citizen: Citizen, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The tap's parsed EF.CardAccess travels with the reading: the session (does the card have
    # EF.CardSecurity?) and the verifier (does it announce chip authentication? DG14 is left
    # out of EF.SOD so that only EF.CardAccess can say) use it instead of parsing it again.
    options = ChipOptions()
    image = issuer.issue(citizen, options, unlisted=frozenset({14}))
    raw = image.mf_files[EF_CARD_ACCESS]
    parses: list[bytes] = []
    original = secinfo.parse_security_infos

    def counting(data: bytes) -> secinfo.SecurityInfos:
        if bytes(data) == raw:
            parses.append(bytes(data))
        return original(data)

    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "").startswith("station.")
                and getattr(module, "parse_security_infos", None) is original):
            monkeypatch.setattr(module, "parse_security_infos", counting)
    card = CccdChip(image, options)
    keys, _ = DeskKeys.from_qr(citizen.payload())
    reading, _ = PcscChipReader(FILES, connect=lambda slot: _Connection(card)).read(
        "virtual", keys, lambda f: None, threading.Event())
    (tmp_path / "csca.der").write_bytes(issuer.test_pki().csca.der)
    TrustVerifier(TrustStoreRef(tmp_path)).verify(reading)
    assert len(parses) == 1
