"""A record that calls a reading authentic carries only the data groups PA verified."""

from __future__ import annotations

from pathlib import Path

from station.config import ProfileSection
from station.nfc.lds.chip import ChipData
from station.pipeline.records import Reading
from station.service.chip import ChipReading
from station.service.machine import Outcome
from station.service.profiles import build
from station.service.records import reading_of
from station.service.verify import TrustVerifier
from station.sim import citizens, issuer
from station.sim.chip import EF_COM, EF_SOD
from station.trust.store import TrustStoreRef


def _reading(unlisted: frozenset[int]) -> ChipReading:
    image = issuer.issue(citizens.generate(7), unlisted=unlisted)
    files = {"COM": image.app_files[EF_COM], "SOD": image.app_files[EF_SOD]}
    files.update({f"DG{n}": image.app_files[0x0100 + n] for n in (1, 2, 13, 14, 15)})
    return ChipReading(ChipData.from_files("PACE", files), "PACE", 1, 30)


def _record(tmp_path: Path, unlisted: frozenset[int]) -> tuple[Outcome, Reading]:
    (tmp_path / "csca.der").write_bytes(issuer.test_pki().csca.der)
    outcome, verified = TrustVerifier(TrustStoreRef(tmp_path)).verify(_reading(unlisted))
    return outcome, reading_of(build("reception", ProfileSection()), verified, outcome)


def test_all_listed_data_groups_reach_the_record(tmp_path: Path) -> None:
    outcome, record = _record(tmp_path, frozenset())
    assert outcome is Outcome.AUTHENTIC
    assert {"id_number", "full_name", "date_of_birth"} <= record.citizen.keys()


def test_a_data_group_the_sod_does_not_list_stays_out_of_an_authentic_record(
        tmp_path: Path) -> None:
    # DG13 (the CCCD's personal data) on the chip but not in EF.SOD: DG1, DG2, DG14 and DG15
    # still verify, so the reading is authentic — but nothing vouches for DG13's fields.
    outcome, record = _record(tmp_path, frozenset({13}))
    assert outcome is Outcome.AUTHENTIC
    assert not {"id_number", "full_name", "date_of_birth"} & record.citizen.keys()
    assert ("dg-hashes", True, "") in [tuple(vars(c).values()) for c in record.checks]
    assert "DG13" in record.files  # kept for its hash, as every file read
