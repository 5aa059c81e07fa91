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

    def pace_key(self) -> AccessKey:
        """The password PACE runs with: this one (PACE takes a CAN or the MRZ key)."""
        return self

    def bac_key(self) -> AccessKey | None:
        """The password BAC runs with: this one if it is the MRZ key (BAC has no CAN)."""
        return self if self.kind == "MRZ" else None


@dataclass(frozen=True, repr=False)
class AccessKeys:
    """Every password the operator has for one card (a QR gives the CAN and the MRZ key);
    :func:`station.nfc.access.establish`, which chooses PACE or BAC, takes the one the chosen
    protocol runs with."""

    can: AccessKey | None = None
    mrz: AccessKey | None = None

    def __post_init__(self) -> None:
        if self.can is None and self.mrz is None:
            raise ValueError("no access key")

    def pace_key(self) -> AccessKey:
        """The CAN when there is one, else the MRZ key (PACE-MRZ)."""
        if self.can is not None:
            return self.can
        if self.mrz is not None:
            return self.mrz
        raise ValueError("no access key")

    def bac_key(self) -> AccessKey | None:
        return self.mrz

    def __repr__(self) -> str:
        return "AccessKeys(<redacted>)"


Passwords = AccessKey | AccessKeys
"""What :func:`station.nfc.access.establish` and a :class:`station.nfc.session.ChipSession`
take: one password, or every password for the card."""
