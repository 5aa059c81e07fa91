"""Synthetic citizens and the LDS files of their cards. Never real people.

The walking skeleton needs only a TD1 MRZ; the card-issuer issue grows this into the full
generator (names with diacritics, DG13, faces, QR payloads).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from station.mrz import check_digit

_SURNAMES = ("NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "VU", "DANG", "BUI", "DO", "HO")
_GIVEN = ("VAN AN", "THI BINH", "MINH CHAU", "QUOC DUNG", "THU HA", "DUC HUY", "NGOC LAN")


@dataclass(frozen=True)
class SkeletonCitizen:
    id_number: str
    surname: str
    given_names: str
    birth: str  # YYMMDD
    sex: str  # M / F
    expiry: str  # YYMMDD, 991231 = no expiry


def skeleton_citizen(seed: int) -> SkeletonCitizen:
    rng = random.Random(seed)
    year = rng.randint(1950, 2005)
    sex = rng.choice("MF")
    century_sex = (0 if year < 2000 else 2) + (1 if sex == "F" else 0)
    province = rng.randint(1, 96)
    id_number = f"{province:03d}{century_sex}{year % 100:02d}{rng.randrange(10**6):06d}"
    birth = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return SkeletonCitizen(
        id_number, rng.choice(_SURNAMES), rng.choice(_GIVEN), birth, sex, "991231"
    )


def td1_mrz(c: SkeletonCitizen) -> str:
    """TD1 MRZ as on the CCCD: document number = last 9 digits of the ID; the optional data
    carries the full 12-digit ID (ICAO 9303-5)."""
    doc = c.id_number[-9:]
    opt1 = c.id_number.ljust(15, "<")
    line1 = "IDVNM" + doc + check_digit(doc) + opt1
    line2a = c.birth + check_digit(c.birth) + c.sex + c.expiry + check_digit(c.expiry) + "VNM"
    line2 = line2a + "<" * 11
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += check_digit(composite)
    name = (c.surname + "<<" + c.given_names.replace(" ", "<"))[:30].ljust(30, "<")
    return line1 + line2 + name


def _tlv(tag: bytes, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n < 0x100:
        length = bytes((0x81, n))
    else:
        length = bytes((0x82,)) + n.to_bytes(2, "big")
    return tag + length + value


def ef_com(tags: bytes) -> bytes:
    return _tlv(b"\x60", _tlv(b"\x5f\x01", b"0107") + _tlv(b"\x5f\x36", b"040000")
                + _tlv(b"\x5c", tags))


def dg1(mrz: str) -> bytes:
    return _tlv(b"\x61", _tlv(b"\x5f\x1f", mrz.encode("ascii")))


def skeleton_files(seed: int) -> dict[int, bytes]:
    """EF.COM (FID 011E) and DG1 (FID 0101) of a synthetic citizen."""
    return {0x011E: ef_com(b"\x61"), 0x0101: dg1(td1_mrz(skeleton_citizen(seed)))}
