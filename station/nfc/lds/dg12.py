"""DG12: additional document details (ICAO 9303-10 §4.7.12).

``6C { 5C tag list, 5F19 issuing authority, 5F26 date of issue (YYYYMMDD), A0 { 02 count,
5F1A name of other person… }, 5F1B endorsements and observations, 5F1C tax/exit requirements,
5F1D image of the front, 5F1E image of the rear, 5F55 date and time of personalization
(YYYYMMDDhhmmss), 5F56 serial number of the personalization system }`` — every field optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from station.nfc.lds.details import date, split, text

_TEXT_TAGS = {
    0x5F19: "issuing_authority", 0x5F1B: "endorsements", 0x5F1C: "tax_exit_requirements",
    0x5F56: "personalization_device",
}
_IMAGE_TAGS = {0x5F1D: "image_front", 0x5F1E: "image_rear"}
DATE_OF_ISSUE = 0x5F26
PERSONALIZATION_TIME = 0x5F55
OTHER_PERSON = 0x5F1A


@dataclass(frozen=True, repr=False)
class Dg12:
    issuing_authority: str = ""
    date_of_issue: str = ""
    """YYYYMMDD."""
    other_persons: tuple[str, ...] = ()
    endorsements: str = ""
    tax_exit_requirements: str = ""
    image_front: bytes = b""
    image_rear: bytes = b""
    personalization_time: str = ""
    """YYYYMMDDhhmmss."""
    personalization_device: str = ""
    """Serial number of the personalization system."""
    tag_list_mismatch: tuple[str, ...] = ()
    unknown: dict[int, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "Dg12(…)"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items()
                               if k not in ("unknown", *_IMAGE_TAGS.values())}
        out["other_persons"] = list(self.other_persons)
        out["tag_list_mismatch"] = list(self.tag_list_mismatch)
        for name in _IMAGE_TAGS.values():
            out[name] = len(getattr(self, name))
        out["unknown"] = {f"{k:X}": v.hex() for k, v in sorted(self.unknown.items())}
        return out


def parse_dg12(data: bytes) -> Dg12:
    f = split(data, file_tag=0x6C, name="DG12", multi_tag=OTHER_PERSON)
    values: dict[str, Any] = {}
    unknown: dict[int, bytes] = {}
    for tag, raw in f.values.items():
        if tag in _TEXT_TAGS:
            values[_TEXT_TAGS[tag]] = text(raw)
        elif tag in _IMAGE_TAGS:
            values[_IMAGE_TAGS[tag]] = raw
        elif tag == DATE_OF_ISSUE:
            values["date_of_issue"] = date(raw, "DG12 date of issue")
        elif tag == PERSONALIZATION_TIME:
            values["personalization_time"] = date(raw, "DG12 personalization time", 14)
        else:
            unknown[tag] = raw
    return Dg12(**values, other_persons=tuple(text(v) for v in f.multi),
                tag_list_mismatch=f.tag_list_mismatch, unknown=unknown)
