"""The values that pass between the desk's stages, each in one place below them all: the keys
that open a card (:class:`DeskKeys`), what the chip reader hands the verifier
(:class:`ChipReading`, or :class:`NoChip` when an MRZ-keyed document's chip could not be read),
and what the verifier hands on to be recorded (:class:`VerifiedReading`, or
:class:`MrzOnlyReading`). The state machine (:mod:`station.service.machine`) carries them
untouched; the ports (:mod:`station.service.ports`) are typed with them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from station.mrz.parse import Mrz
from station.nfc.lds.chip import ChipData
from station.nfc.lds.secinfo import CardAccess
from station.nfc.password import AccessKey, AccessKeys
from station.nfc.proof import ChipProof
from station.qr.cccd import is_cccd_mrz
from station.trust.verdict import Verification

# Per process: subjects only need to compare within one run, and must not be a stable pseudonym.
_SUBJECT_KEY = os.urandom(32)


def subject_of(identifier: str) -> str:
    """The opaque token the session machine compares (never the number)."""
    return hmac.new(_SUBJECT_KEY, identifier.strip().upper().encode(),
                    hashlib.sha256).hexdigest()[:32]


def document_subject(document: Mrz) -> str:
    """The subject of an MRZ or DG1: a CCCD by its 12-digit personal ID, any other document by
    its document number.

    The QR's first field is the 12-digit ID, and issued CCCDs carry it in the TD1 optional
    data (``ID(12) << C``), of which the document number is only the last nine digits: two
    cards of two provinces can share those nine digits (and the CAN, the last six), so the
    QR↔card cross-check compares all twelve. A CCCD whose MRZ lacks the 12-digit ID cannot be
    matched to a QR and reads as the wrong card."""
    return subject_of(document.id_number or document.document_number)


@dataclass(frozen=True, repr=False)
class DeskKeys:
    """What opens a card at the desk: the CAN (PACE) and, from a QR, the MRZ key (BAC); or,
    from a document's MRZ read by the camera, the MRZ key (BAC or PACE-MRZ) and that MRZ
    (``document``: what a foreign guest's record rests on when the chip cannot be read)."""

    can: AccessKey | None
    mrz: AccessKey | None = None
    document: Mrz | None = None
    cccd: bool = False
    """The QR or MRZ says CCCD: the chip has PACE and is read with it, never by BAC."""

    def __post_init__(self) -> None:
        if self.can is None and self.mrz is None:
            raise ValueError("no access key")

    @classmethod
    def from_qr(cls, payload: Any) -> tuple[DeskKeys, str]:
        """From a :class:`station.qr.cccd.CccdPayload`: the keys and the subject."""
        k = payload.chip_keys()
        return (cls(AccessKey.can(k.can), AccessKey.mrz(k.document_number, k.birth, k.expiry),
                    cccd=True),
                subject_of(payload.id_number))

    @classmethod
    def from_mrz(cls, document: Mrz) -> tuple[DeskKeys, str]:
        """From an MRZ that passed every check digit (:func:`station.mrz.ocr.read_mrz`)."""
        key = AccessKey("MRZ", document.key_information())
        return (cls(None, key, document, cccd=is_cccd_mrz(document)),
                document_subject(document))

    @classmethod
    def typed_can(cls, digits: str) -> DeskKeys:
        return cls(AccessKey.can(digits))

    @property
    def access(self) -> AccessKeys:
        """The passwords for :func:`station.nfc.access.establish`, which runs PACE whenever
        EF.CardAccess offers it (with the CAN, else the MRZ key) and BAC otherwise (MRZ key
        only) — except for a CCCD, read with ``require_pace=cccd`` (ICAO 9303-11 §4.4: a chip
        with PACE is read with PACE; a missing EF.CardAccess is an attack, not a quirk)."""
        return AccessKeys(self.can, self.mrz)

    def __repr__(self) -> str:
        return "DeskKeys(<redacted>)"


@dataclass(frozen=True, repr=False)
class ChipReading:
    """One card's reading as the verifier receives it: the parsed files and how they were read.

    Chip and Active Authentication run during the read (the chip's private key is only usable
    while the card is on the reader); their proofs travel here to the verifier, which accepts
    them only for a DG14/DG15 that passive authentication verified.
    """

    chip: ChipData
    detail: str
    taps: int
    apdus: int
    chip_authentication: ChipProof | None = None
    active_authentication: ChipProof | None = None
    document: Mrz | None = None
    """The MRZ the camera read, when the chip was opened with it (:meth:`DeskKeys.from_mrz`)."""
    card_access: CardAccess | None = None
    """EF.CardAccess as the tap read and parsed it: what it announces (CA, PACE-CAM) the
    verifier requires."""

    def __repr__(self) -> str:
        return f"ChipReading({self.detail}, files={sorted(self.chip.files)})"


@dataclass(frozen=True)
class NoChip:
    """The "result" verified and stored when an MRZ-keyed document's chip could not be read:
    the keys (which hold the MRZ) and why, for a record that says it rests on the MRZ alone."""

    keys: DeskKeys
    chip_failure: str


@dataclass(frozen=True, repr=False)
class VerifiedReading:
    reading: ChipReading
    verification: Verification

    def __repr__(self) -> str:
        return f"VerifiedReading({self.verification.outcome})"


@dataclass(frozen=True, repr=False)
class RefusedReading:
    """A verified reading the desk refused as not genuine, recorded only when the profile asks
    (``record_refusals``): the record carries its outcome and checks, no citizen field and no
    file (:func:`station.service.records.reading_of`)."""

    reading: ChipReading
    verification: Verification

    def __repr__(self) -> str:
        return f"RefusedReading({self.verification.outcome})"


@dataclass(frozen=True, repr=False)
class MrzOnlyReading:
    """A document recorded from its MRZ alone: nothing was verified, and the record says so
    (outcome ``unverified``, ``source: mrz`` with the chip failure)."""

    document: Mrz
    chip_failure: str

    def __repr__(self) -> str:
        return f"MrzOnlyReading({self.chip_failure})"


def is_foreign(document: Mrz | None) -> bool:
    """A document read by its MRZ that a foreign state issued (a CCCD's issuer is VNM)."""
    return document is not None and document.issuer.strip("<") != "VNM"


Read = ChipReading | NoChip
"""What a tap gives the verifier."""
Checked = VerifiedReading | MrzOnlyReading | RefusedReading
"""What the verifier gives the record (a refusal: what the machine makes of a refused
VerifiedReading)."""
