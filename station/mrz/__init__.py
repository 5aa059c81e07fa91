"""Machine-readable zones (ICAO 9303-3/4/5): check digits and the MRZ key used by BAC/PACE."""

from __future__ import annotations

_WEIGHTS = (7, 3, 1)


def _value(c: str) -> int:
    if c.isdigit():
        return ord(c) - ord("0")
    if "A" <= c <= "Z":
        return ord(c) - ord("A") + 10
    if c == "<":
        return 0
    raise ValueError(f"character {c!r} is not allowed in an MRZ")


def check_digit(field: str) -> str:
    """ICAO 9303-3 §4.9: weights 7,3,1 over the character values, modulo 10."""
    return str(sum(_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def mrz_information(document_number: str, birth: str, expiry: str) -> str:
    """The MRZ information that BAC and PACE-MRZ hash: document number (padded to 9 with '<')
    + its check digit, date of birth + check digit, date of expiry + check digit."""
    doc = document_number.upper().ljust(9, "<")
    return doc + check_digit(doc) + birth + check_digit(birth) + expiry + check_digit(expiry)
