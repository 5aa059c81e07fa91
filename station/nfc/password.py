"""The access secret the operator gives (CAN or MRZ key), in a module of its own: BAC, PACE and
the access-control choice (:mod:`station.nfc.access`) all import it, so it sits below all of
them (as gmrtd's ``password`` package does) and no import circle is needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from station.mrz import mrz_information


@dataclass(frozen=True, repr=False)
class AccessKey:
    """A PACE/BAC password. ``value`` is the CAN digits or the MRZ information; repr hides it
    (it is citizen data)."""

    kind: Literal["CAN", "MRZ"]
    value: str

    def __repr__(self) -> str:
        return f"AccessKey({self.kind})"

    @classmethod
    def can(cls, digits: str) -> AccessKey:
        if not (digits.isascii() and digits.isdigit() and len(digits) == 6):
            raise ValueError("a CAN is 6 digits")
        return cls("CAN", digits)

    @classmethod
    def mrz(cls, document_number: str, birth: str, expiry: str) -> AccessKey:
        """From the MRZ fields (YYMMDD dates; 991231 for a card without expiry)."""
        for name, d in (("date of birth", birth), ("date of expiry", expiry)):
            if not (d.isascii() and d.isdigit() and len(d) == 6):
                raise ValueError(f"{name} must be YYMMDD")
        doc = document_number.strip().upper()
        if not doc or len(doc) > 9 or not all(c.isalnum() or c == "<" for c in doc):
            raise ValueError("document number must be 1-9 letters or digits")
        return cls("MRZ", mrz_information(doc, birth, expiry))

    @classmethod
    def parse_mrz_key(cls, text: str) -> AccessKey:
        """``DOCNO,YYMMDD,YYMMDD`` as the CLI takes it."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3:
            raise ValueError("MRZ key must be DOCNO,YYMMDD,YYMMDD")
        return cls.mrz(*parts)
