"""A record that calls a reading authentic carries only the data groups PA verified."""

from __future__ import annotations

import threading
from pathlib import Path

from station.config import ProfileSection
from station.nfc.lds.chip import ChipData
from station.nfc.proof import ChipProof
from station.pipeline.records import Check, Reading
from station.service.chip import PcscChipReader
from station.service.profiles import build
from station.service.readings import ChipReading, DeskKeys, VerifiedReading
from station.service.records import reading_of
from station.service.verify import TrustVerifier
from station.sim import citizens, issuer
from station.sim.chip import EF_COM, EF_SOD, CccdChip, ChipOptions
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from station.trust.store import TrustStoreRef
from station.trust.verdict import Outcome


def _reading(unlisted: frozenset[int]) -> ChipReading:
    image = issuer.issue(citizens.generate(7), unlisted=unlisted)
    files = {"COM": image.app_files[EF_COM], "SOD": image.app_files[EF_SOD]}
    files.update({f"DG{n}": image.app_files[0x0100 + n] for n in (1, 2, 13, 14, 15)})
    # The CCCD advertises CA and AA (EF.SOD lists DG14 and DG15): the tap's proofs go along.
    return ChipReading(ChipData.from_files("PACE", files), "PACE", 1, 30,
                       ChipProof("CA", True), ChipProof("AA", True))


def _record(tmp_path: Path, unlisted: frozenset[int]) -> tuple[Outcome, Reading]:
    (tmp_path / "csca.der").write_bytes(issuer.test_pki().csca.der)
    outcome, verified = TrustVerifier(TrustStoreRef(tmp_path)).verify(_reading(unlisted))
    return outcome, reading_of(build("reception", ProfileSection()), verified, outcome)


def test_all_listed_data_groups_reach_the_record(tmp_path: Path) -> None:
    outcome, record = _record(tmp_path, frozenset())
    assert outcome is Outcome.GENUINE
    assert {"id_number", "full_name", "date_of_birth"} <= record.citizen.keys()


def test_a_data_group_the_sod_does_not_list_stays_out_of_an_authentic_record(
        tmp_path: Path) -> None:
    # DG13 (the CCCD's personal data) on the chip but not in EF.SOD: DG1, DG2, DG14 and DG15
    # still verify, so the reading is genuine — but nothing vouches for DG13's fields.
    outcome, record = _record(tmp_path, frozenset({13}))
    assert outcome is Outcome.GENUINE
    assert not {"id_number", "full_name", "date_of_birth"} & record.citizen.keys()
    assert ("dg-hashes", True, "") in [tuple(vars(c).values()) for c in record.checks]
    assert "DG13" in record.files  # kept for its hash, as every file read


def test_through_pcsc_an_unlisted_dg13_leaves_a_genuine_reading_without_its_fields(
        pcscd: PcscdTestbed, tmp_path: Path) -> None:
    # The virtual CCCD read through pcscd + vpcd, as the desk reads it: chip authentication
    # over the listed DG14 makes it genuine; DG13, not in EF.SOD, is reported unverified and
    # gives the record nothing.
    citizen = citizens.generate(43)
    options = ChipOptions()
    link = VpcdLink(CccdChip(issuer.issue(citizen, options, unlisted=frozenset({13})), options),
                    pcscd.slot_port(0))
    link.insert()
    try:
        keys, _subject = DeskKeys.from_qr(citizen.payload())
        reading, _got = PcscChipReader(build("bank", ProfileSection()).files).read(
            pcscd.readers[0], keys, lambda _f: None, threading.Event())
    finally:
        link.remove()
    assert "DG13" in reading.chip.files
    (tmp_path / "csca.der").write_bytes(issuer.test_pki().csca.der)
    outcome, verified = TrustVerifier(TrustStoreRef(tmp_path)).verify(reading)
    assert outcome is Outcome.GENUINE
    assert isinstance(verified, VerifiedReading)
    note = verified.verification.check("dg-not-in-sod")
    assert note is not None and note.detail == "DG13 read but not listed in EF.SOD: unverified"
    assert 13 not in verified.verification.verified_data_groups
    record = reading_of(build("bank", ProfileSection()), verified, outcome)
    assert not {"id_number", "full_name", "date_of_birth"} & record.citizen.keys()


def test_the_record_names_the_data_groups_it_left_out(tmp_path: Path) -> None:
    _outcome, record = _record(tmp_path, frozenset({13}))
    assert Check("dg-not-in-sod", False, "DG13") in record.checks
    _outcome, whole = _record(tmp_path, frozenset())
    assert not [c for c in whole.checks if c.name == "dg-not-in-sod"]
