"""The issuer's LDS files, parsed back by the station's own LDS parsers (``station.nfc.lds``)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from station.nfc.lds.com import parse_com
from station.nfc.lds.dg1 import parse_dg1
from station.nfc.lds.dg2 import parse_dg2
from station.nfc.lds.dg13 import parse_dg13
from station.nfc.lds.secinfo import parse_security_infos
from station.nfc.lds.security import parse_dg14, parse_dg15, parse_sod
from station.sim import issuer, lds
from station.sim.chip import ChipOptions
from station.sim.citizens import generate


def _married_and_single() -> tuple[int, int]:
    married = next(s for s in range(100) if generate(s).spouse)
    single = next(s for s in range(100) if generate(s).spouse is None)
    return married, single


@pytest.mark.parametrize("which", [0, 1])
def test_dg13_all_fields_parse_back(which: int) -> None:
    c = generate(_married_and_single()[which])
    image = issuer.issue(c, ChipOptions(aa=None))
    d = parse_dg13(image.app_files[0x010D])
    assert (d.id_number, d.full_name, d.sex, d.nationality, d.ethnicity, d.religion) == (
        c.id_number, c.full_name, c.sex, "Việt Nam", c.ethnicity, c.religion)
    assert d.date_of_birth == c.birth.strftime("%d/%m/%Y")
    assert (d.hometown, d.residence, d.identification_marks) == (
        c.hometown, c.residence, c.identification_marks)
    assert d.date_of_issue == c.issued.strftime("%d/%m/%Y")
    assert d.date_of_expiry == c.expiry_text()
    assert (d.father, d.mother) == (c.father, c.mother)
    assert d.spouse == (c.spouse or "")
    assert (d.old_id_number, d.identifier) == (c.old_id, c.card_identifier)
    assert not d.unknown


def test_dg13_spouse_field_is_empty_when_unmarried() -> None:
    c = generate(_married_and_single()[1])
    raw = lds.dg13(id_number=c.id_number, full_name=c.full_name, birth="01/01/1990", sex="Nam",
                   nationality="Việt Nam", ethnicity="Kinh", religion="Không", hometown="x",
                   residence="y", identification_marks="z", issued="01/01/2022",
                   expiry="Không thời hạn", father="A", mother="B", spouse=None, old_id="",
                   identifier="0" * 16)
    assert bytes.fromhex("3003020114") + b"\x30" not in raw  # field 14: INTEGER 14 alone
    assert bytes.fromhex("300302010E") in raw


def test_dg1_com_and_security_files() -> None:
    c = generate(21)
    image = issuer.issue(c)
    files = image.app_files
    assert parse_dg1(files[0x0101]).key_information() == c.mrz_information
    assert parse_com(files[0x011E]).data_groups == (1, 2, 3, 13, 14, 15)
    infos = parse_dg14(files[0x010E])
    ca_key = infos.chip_authentication_keys[0].public_key
    assert image.ca_key is not None and image.aa_key is not None
    assert ca_key == image.ca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert infos.chip_authentication[0].cipher == "AES"
    assert parse_dg15(files[0x010F]) == image.aa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    access = parse_security_infos(image.mf_files[0x011C])
    assert access.best_pace() is not None and access.terminal_authentication


def test_sod_holds_the_hash_of_every_data_group() -> None:
    image = issuer.issue(generate(22))
    sod = parse_sod(image.app_files[0x011D])
    assert sod.hash_algorithm == "sha256"
    assert sorted(sod.dg_hashes) == [1, 2, 3, 13, 14, 15]
    for n, h in sod.dg_hashes.items():
        assert hashlib.sha256(image.app_files[0x0100 + n]).digest() == h


def test_corrupt_dg_after_signing_breaks_only_that_hash() -> None:
    image = issuer.issue(generate(22), corrupt_dg=13)
    sod = parse_sod(image.app_files[0x011D])
    bad = [n for n, h in sod.dg_hashes.items()
           if hashlib.sha256(image.app_files[0x0100 + n]).digest() != h]
    assert bad == [13]


@pytest.mark.parametrize("fmt", ["jpeg", "jpeg2000"])
def test_dg2_face_decodes(fmt: lds.ImageFormat) -> None:
    c = generate(23)
    image = issuer.issue(c, ChipOptions(face_format=fmt, aa=None))
    face = parse_dg2(image.app_files[0x0102])
    assert face.image_format == fmt
    img = face.image()
    assert img.size == (240, 320)
    # The same seed draws the same face.
    assert lds.face_image(23, fmt) == lds.face_image(23, fmt)
    assert lds.face_image(23) != lds.face_image(24)
