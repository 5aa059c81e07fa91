"""DG11: additional personal details (ICAO 9303-10 §4.7.11).

``6B { 5C tag list, 5F0E full name, A0 { 02 count, 5F0F other name… }, 5F10 personal number,
5F2B full date of birth (YYYYMMDD), 5F11 place of birth, 5F42 address, 5F12 telephone,
5F13 profession, 5F14 title, 5F15 personal summary, 5F16 proof of citizenship (an image),
5F17 other valid travel document numbers, 5F18 custody information }`` — every field optional.
Names keep the MRZ-like ``<`` separators the specification prescribes (``PRIMARY<<SECONDARY``,
address parts ``<``-separated); :meth:`Dg11.parts` splits them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from station.nfc.lds.details import date, split, text

_TEXT_TAGS = {
    0x5F0E: "full_name", 0x5F10: "personal_number", 0x5F11: "place_of_birth",
    0x5F42: "address", 0x5F12: "telephone", 0x5F13: "profession", 0x5F14: "title",
    0x5F15: "personal_summary", 0x5F17: "other_td_numbers", 0x5F18: "custody_information",
}
FULL_DATE_OF_BIRTH = 0x5F2B
PROOF_OF_CITIZENSHIP = 0x5F16
OTHER_NAME = 0x5F0F


@dataclass(frozen=True, repr=False)
class Dg11:
    full_name: str = ""
    other_names: tuple[str, ...] = ()
    personal_number: str = ""
    full_date_of_birth: str = ""
    """YYYYMMDD (zeros where the issuer does not know the month or day)."""
    place_of_birth: str = ""
    address: str = ""
    telephone: str = ""
    profession: str = ""
    title: str = ""
    personal_summary: str = ""
    proof_of_citizenship: bytes = b""
    """An image (ISO/IEC 10918 JPEG) when present."""
    other_td_numbers: str = ""
    custody_information: str = ""
    tag_list_mismatch: tuple[str, ...] = ()
    unknown: dict[int, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:  # citizen data: never in logs or tracebacks
        return "Dg11(…)"

    @staticmethod
    def parts(value: str) -> list[str]:
        """``PRIMARY<<SECONDARY`` → ["PRIMARY", "SECONDARY"]; ``A<B<C`` → ["A", "B", "C"]."""
        sep = "<<" if "<<" in value else "<"
        return [p.replace("<", " ").strip() for p in value.split(sep) if p.strip("<")]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items()
                               if k not in ("unknown", "proof_of_citizenship")}
        out["other_names"] = list(self.other_names)
        out["tag_list_mismatch"] = list(self.tag_list_mismatch)
        out["proof_of_citizenship"] = len(self.proof_of_citizenship)
        out["unknown"] = {f"{k:X}": v.hex() for k, v in sorted(self.unknown.items())}
        return out


def parse_dg11(data: bytes) -> Dg11:
    f = split(data, file_tag=0x6B, name="DG11", multi_tag=OTHER_NAME)
    values: dict[str, Any] = {}
    unknown: dict[int, bytes] = {}
    for tag, raw in f.values.items():
        if tag in _TEXT_TAGS:
            values[_TEXT_TAGS[tag]] = text(raw)
        elif tag == FULL_DATE_OF_BIRTH:
            values["full_date_of_birth"] = date(raw, "DG11 full date of birth")
        elif tag == PROOF_OF_CITIZENSHIP:
            values["proof_of_citizenship"] = raw
        else:
            unknown[tag] = raw
    return Dg11(**values, other_names=tuple(text(v) for v in f.multi),
                tag_list_mismatch=f.tag_list_mismatch, unknown=unknown)
