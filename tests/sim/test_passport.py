"""Virtual foreign passports and ID cards (station.sim.passport): valid MRZs for every state and
kind, the chip contents each option gives, and end-to-end reads through real pcscd + vpcd by
ChipSession and by `station read` — BAC only and PACE-MRZ, TD3 and TD1, JPEG and JPEG 2000."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from station.drivers.reader.pcsc import PcscReader
from station.mrz.parse import parse_mrz
from station.nfc.lds.chip import ChipData
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import passport, pki
from station.sim.chip import EF_CARD_ACCESS, EF_SOD, CccdChip, ChipOptions
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed

PASSPORT_FILES = ("COM", "DG1", "DG2", "DG11", "DG12", "DG13", "DG14", "DG15", "SOD")


@pytest.mark.parametrize("kind", ["passport", "id"])
@pytest.mark.parametrize("state", sorted(passport.STATES))
def test_mrz_passes_every_check_digit(state: str, kind: passport.DocumentKind) -> None:
    for seed in range(5):
        t = passport.generate(seed, state=state, kind=kind)
        mrz = parse_mrz(t.mrz())
        assert mrz.format == ("TD3" if kind == "passport" else "TD1")
        assert mrz.issuer == state.ljust(3, "<") or mrz.issuer == state
        assert mrz.key_information() == t.mrz_information
        assert mrz.birth == t.birth_yymmdd and mrz.sex == t.sex
    assert passport.generate(1, state=state, kind=kind) == passport.generate(
        1, state=state, kind=kind)


def test_mrz_names_drop_accents() -> None:
    assert passport.mrz_text("LEFÈVRE") == "LEFEVRE"
    assert passport.mrz_text("ÉLODIE ANNE") == "ELODIE<ANNE"


def test_bac_only_passport_has_no_card_access_dg13_dg14() -> None:
    p = passport.issue(passport.generate(2, state="JPN"))
    assert p.image.mf_files == {}
    assert p.options.pace == () and p.options.ca_cipher is None
    assert p.data_groups == (1, 2, 11, 12)
    assert 0x010D not in p.image.app_files and 0x010E not in p.image.app_files


def test_options_shape_the_chip() -> None:
    opts = passport.PassportOptions(access="PACE-MRZ", dg11=False, dg12=False, aa="ecdsa",
                                    face_format="jpeg2000", com_extra=(12,), com_omit=(15,))
    p = passport.issue(passport.generate(3, state="KOR"), opts)
    assert EF_CARD_ACCESS in p.image.mf_files and p.options.pace
    assert p.data_groups == (1, 2, 15)
    data = ChipData.from_files("x", {"COM": p.image.app_files[0x011E]})
    assert data.com is not None and data.com.data_groups == (1, 2, 12)


def test_sod_signed_by_the_issuing_states_csca() -> None:
    """Passive-authentication ready: EF.SOD's DSC chains to a CSCA of the issuing state (not
    VN), and the hashes cover every data group."""
    p = passport.issue(passport.generate(4, state="FRA"))
    data = ChipData.from_files("x", {"SOD": p.image.app_files[EF_SOD]})
    assert data.sod is not None and sorted(data.sod.dg_hashes) == list(p.data_groups)
    for n in p.data_groups:
        assert data.sod.dg_hashes[n] == pki.digest("sha256", p.image.app_files[0x0100 + n])
    from asn1crypto import cms

    signed = cms.ContentInfo.load(data.sod.signed_data)["content"]
    dsc = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
    csca = p.csca.cert
    assert csca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "FR"
    assert dsc.issuer == csca.subject
    dsc.verify_directly_issued_by(csca)


@contextmanager
def _inserted(pcscd: PcscdTestbed, chip: CccdChip) -> Iterator[None]:
    link = VpcdLink(chip, pcscd.slot_port(0))
    link.insert()
    try:
        yield
    finally:
        link.remove()


def _read(pcscd: PcscdTestbed, p: passport.Passport, options: ChipOptions | None = None,
          files: tuple[str, ...] = PASSPORT_FILES) -> ChipData:
    with _inserted(pcscd, CccdChip(p.image, options or p.options)):
        conn = PcscReader(pcscd.readers[0]).wait_for_card(10)
        try:
            read = ChipSession(AccessKey.parse_mrz_key(p.traveller.mrz_key), files).read(conn)
        finally:
            conn.close()
    return ChipData.from_files(read.protocol, read.files, read.skipped)


@pytest.mark.parametrize("access, kind, face", [
    ("BAC", "passport", "jpeg"),
    ("PACE-MRZ", "passport", "jpeg2000"),
    ("BAC", "id", "jpeg2000"),
    ("PACE-MRZ", "id", "jpeg"),
])
def test_read_through_pcscd(pcscd: PcscdTestbed, access: str, kind: passport.DocumentKind,
                            face: str) -> None:
    t = passport.generate(11, state="D", kind=kind)
    p = passport.issue(t, passport.PassportOptions(access=access,  # type: ignore[arg-type]
                                                   face_format=face))  # type: ignore[arg-type]
    data = _read(pcscd, p)
    assert data.protocol == ("BAC" if access == "BAC" else "PACE")
    assert data.mrz is not None and data.mrz.format == ("TD3" if kind == "passport" else "TD1")
    assert data.mrz.key_information() == t.mrz_information
    assert data.dg13 is None and set(data.skipped) == {"DG13", "DG14", "DG15"}
    assert data.dg11 is not None and data.dg11.full_date_of_birth == t.birth.strftime("%Y%m%d")
    assert data.dg11.other_names == t.other_names
    assert data.dg12 is not None and data.dg12.date_of_issue == t.issued.strftime("%Y%m%d")
    assert data.face is not None and data.face.image_format == face
    assert data.face.image().size == (240, 320)
    assert data.sod is not None
    for n in p.data_groups:  # what was read is what EF.SOD signs
        assert data.files[f"DG{n}"] == p.image.app_files[0x0100 + n]
    assert data.com_mismatch == ()


def test_station_read_mrz_key_json(pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str]) -> None:
    from station.cli import main

    t = passport.generate(12, state="USA")
    p = passport.issue(t)
    with _inserted(pcscd, CccdChip(p.image, p.options)):
        code = main(["read", "--reader", pcscd.readers[0], "--mrz-key", t.mrz_key,
                     "--files", "COM,DG1,DG11,DG12,DG15,SOD", "--json", "--timeout", "10"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["protocol"] == "BAC" and out["mrz"]["format"] == "TD3"
    assert out["mrz"]["nationality"] == "USA" and out["dg13"] is None
    assert out["dg11"]["full_name"].startswith(t.surname + "<<")
    assert out["dg12"]["issuing_authority"] == "AUTHORITY OF USA"
    assert out["skipped"] == ["DG15"]


def test_station_read_verifies_sods_written_as_real_issuers_write_them(
        pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # `station read --trust` through pcscd + vpcd on a virtual passport whose EF.SOD has the
    # quirks of real ones (gmrtd's public test data): id-data eContentType (CN), the signer's
    # issuer RDNs in another order (MY), indefinite lengths (NZ), and a data group EF.SOD
    # does not list (DG4/DG15 on the BSI 2008 test passport; DG12 here).
    from station.cli import main

    t = passport.generate(13, state="AUS")
    p = passport.issue(t, passport.PassportOptions(
        sod_content_type="1.2.840.113549.1.7.1", sod_issuer_rdn_order=(2, 1, 0),
        sod_indefinite_length=True, sod_unlisted=(12,)))
    (tmp_path / "csca.der").write_bytes(p.csca.der)
    with _inserted(pcscd, CccdChip(p.image, p.options)):
        code = main(["read", "--reader", pcscd.readers[0], "--mrz-key", t.mrz_key,
                     "--files", "COM,DG1,DG2,DG11,DG12,SOD", "--json", "--timeout", "10",
                     "--trust", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    verification = out["verification"]
    assert verification["outcome"] == "authentic-data-clone-unchecked", verification
    checks = {c["name"]: c for c in verification["checks"]}
    assert checks["dg-hashes"]["ok"] is True and checks["dg-hashes"]["detail"] == "DG1, DG2, DG11"
    assert checks["dg-not-in-sod"]["ok"] is None
    assert checks["dg-not-in-sod"]["detail"] == "DG12 read but not listed in EF.SOD: unverified"
