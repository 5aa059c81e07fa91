"""EF.COM (ICAO 9303-10 §4.6.1): LDS version, Unicode version and the list of present DGs."""

from __future__ import annotations

from dataclasses import dataclass

from station.errors import LdsFormatError
from station.nfc import tlv

# Data-group tags (9303-10 table 34) → DG numbers.
DG_TAGS = {0x61: 1, 0x75: 2, 0x63: 3, 0x76: 4, 0x65: 5, 0x66: 6, 0x67: 7, 0x68: 8, 0x69: 9,
           0x6A: 10, 0x6B: 11, 0x6C: 12, 0x6D: 13, 0x6E: 14, 0x6F: 15, 0x70: 16}


@dataclass(frozen=True)
class EfCom:
    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def parse_com(data: bytes) -> EfCom:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x60:
        raise LdsFormatError("EF.COM does not start with tag 60")
    lds = root.find(0x5F01)
    uni = root.find(0x5F36)
    tags = root.require(0x5C).value
    unknown = [t for t in tags if t not in DG_TAGS]
    if unknown:
        raise LdsFormatError(f"EF.COM lists unknown data-group tag {unknown[0]:02X}")
    return EfCom(_ascii(lds), _ascii(uni), tuple(DG_TAGS[t] for t in tags))


def _ascii(obj: tlv.Tlv | None) -> str:
    if obj is None:
        return ""
    try:
        return obj.value.decode("ascii")
    except UnicodeDecodeError:
        raise LdsFormatError("EF.COM version is not ASCII") from None
