"""DG13 of the Vietnamese CCCD: the citizen's details in Vietnamese, as issued cards carry them.

``6D { SEQUENCE { INTEGER 1, OID 1.0.10646.1.0.8 (UTF-8), field… } }`` where each field is
``SEQUENCE { INTEGER number, value… }`` (fields may also be grouped in a SET). Parsed by field
number with the BER parser — order and presence vary between card generations — never by byte
patterns. Text is normalised to Unicode NFC; a field with no value is empty; unknown numbers,
and known ones whose value cannot be read, are kept raw in ``unknown``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from station.errors import LdsFormatError
from station.nfc import tlv

UTF8_OID = bytes.fromhex("28D316010008")  # 1.0.10646.1.0.8

_NAMES = {
    1: "id_number", 2: "full_name", 3: "date_of_birth", 4: "sex", 5: "nationality",
    6: "ethnicity", 7: "religion", 8: "hometown", 9: "residence", 10: "identification_marks",
    11: "date_of_issue", 12: "date_of_expiry", 15: "old_id_number", 16: "identifier",
}
_STRING_TAGS = {0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1B, 0x1C, 0x1E}


@dataclass(frozen=True)
class Dg13:
    id_number: str = ""
    full_name: str = ""
    date_of_birth: str = ""
    sex: str = ""
    nationality: str = ""
    ethnicity: str = ""
    religion: str = ""
    hometown: str = ""
    residence: str = ""
    identification_marks: str = ""
    date_of_issue: str = ""
    date_of_expiry: str = ""
    """A date ``dd/mm/yyyy`` or ``Không thời hạn`` (no expiry)."""
    father: str = ""
    mother: str = ""
    spouse: str = ""
    old_id_number: str = ""
    identifier: str = ""
    """Field 16: a 16-character identifier of unknown meaning."""
    unknown: dict[int, bytes] = field(default_factory=dict)
    """Fields kept aside, never dropped: numbers this parser does not know, and known numbers
    whose value it cannot read (not a string type, two values where one is due, text invalid
    in its string type) — their raw DER value objects, so one odd field never costs the whole
    DG13. Its known field is then left empty."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "unknown"}
        out["unknown"] = {str(k): v.hex() for k, v in sorted(self.unknown.items())}
        return out


def _text(obj: tlv.Tlv) -> str:
    if obj.tag not in _STRING_TAGS:
        raise LdsFormatError(f"DG13: value of tag {obj.tag:02X} is not a string")
    enc = {0x1E: "utf-16-be", 0x1C: "utf-32-be", 0x14: "latin-1"}.get(obj.tag, "utf-8")
    try:
        s = obj.value.decode(enc)
    except UnicodeDecodeError:
        raise LdsFormatError("DG13: a text field is not valid in its string type") from None
    return unicodedata.normalize("NFC", s)


def _nested_text(obj: tlv.Tlv) -> str:
    """Parents/spouse values: SEQUENCE { string } (or a bare string on some cards)."""
    if obj.tag == 0x30:
        parts = obj.children()
        return " ".join(_text(p) for p in parts)
    return _text(obj)


def _fields(seq: tlv.Tlv) -> list[tlv.Tlv]:
    out: list[tlv.Tlv] = []
    for child in seq.children():
        if child.tag == 0x31:
            out.extend(c for c in child.children() if c.tag == 0x30)
        elif child.tag == 0x30:
            out.append(child)
    return out


def parse_dg13(data: bytes) -> Dg13:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x6D:
        raise LdsFormatError("DG13 does not start with tag 6D")
    top = root.children()
    seq = next((c for c in top if c.tag == 0x30), None)
    if seq is None:
        raise LdsFormatError("DG13 has no SEQUENCE")
    values: dict[str, Any] = {}
    unknown: dict[int, bytes] = {}
    for fld in _fields(seq):
        parts = fld.children()
        if not parts or parts[0].tag != 0x02 or not 1 <= len(parts[0].value) <= 4:
            raise LdsFormatError("DG13 field without a number")
        number = int.from_bytes(parts[0].value, "big", signed=True)
        rest = parts[1:]
        raw = b"".join(p.encode() for p in rest)
        try:
            # Issued CCCDs write an absent value as the field number alone (an unmarried
            # citizen's spouse: 30 03 02 01 0E): empty is a value, for every field.
            if number in _NAMES:
                if len(rest) > 1:
                    raise LdsFormatError(f"DG13 field {number} has {len(rest)} values")
                values[_NAMES[number]] = _text(rest[0]) if rest else ""
            elif number == 13:
                if len(rest) > 2:
                    raise LdsFormatError("DG13 field 13 has more than two values")
                values["father"] = _nested_text(rest[0]) if rest else ""
                values["mother"] = _nested_text(rest[1]) if len(rest) > 1 else ""
            elif number == 14:
                if len(rest) > 1:
                    raise LdsFormatError("DG13 field 14 has more than one value")
                values["spouse"] = _nested_text(rest[0]) if rest else ""
            else:
                unknown[number] = raw
        except LdsFormatError:
            for name in _FIELD_NAMES.get(number, ()):
                values.pop(name, None)
            unknown[number] = raw
    return Dg13(**values, unknown=unknown)


_FIELD_NAMES: dict[int, tuple[str, ...]] = {
    **{n: (name,) for n, name in _NAMES.items()}, 13: ("father", "mother"), 14: ("spouse",)}
