"""DG1: the MRZ (ICAO 9303-10 §4.7.1), parsed and check-digit verified by ``station.mrz``."""

from __future__ import annotations

from station.errors import LdsFormatError, MrzError
from station.mrz.parse import Mrz, parse_mrz
from station.nfc import tlv

_LINE_LENGTHS = {90: 30, 72: 36, 88: 44}  # TD1, TD2, TD3


def parse_dg1(data: bytes) -> Mrz:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x61:
        raise LdsFormatError("DG1 does not start with tag 61")
    raw = root.require(0x5F1F).value
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise LdsFormatError("DG1 MRZ is not ASCII") from None
    width = _LINE_LENGTHS.get(len(text))
    if width is None:
        raise LdsFormatError(f"DG1 MRZ has {len(text)} characters (not TD1/TD2/TD3)")
    try:
        return parse_mrz("\n".join(text[i : i + width] for i in range(0, len(text), width)))
    except MrzError as exc:
        raise LdsFormatError(f"DG1: {exc}") from None
