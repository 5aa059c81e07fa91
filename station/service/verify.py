"""The verifier the service drives (:class:`~station.service.ports.Verifier`): passive
authentication of a :class:`~station.service.readings.ChipReading` against the trust store
(:func:`station.trust.verification.verify`), as the record's
:class:`~station.trust.verdict.Outcome`.

The trust helper's outcomes map one to one (:attr:`~station.trust.verdict.Verification.verdict`):
``genuine`` → GENUINE; ``authentic-data-clone-unchecked`` (PA passed, the document advertises
no chip/active authentication) → AUTHENTIC; ``unverified`` (no trust store) → UNVERIFIED;
``not-genuine`` → INVALID — except, for a
document opened with the MRZ the camera read, a ``not-genuine`` whose only failure is an
untrusted CSCA or a chip without any EF.SOD, which is UNVERIFIED (the lodging desk may record
it as such); and an MRZ-only :class:`~station.service.readings.NoChip` is UNVERIFIED. The
chip/active authentication proofs of the tap and the EF.CardAccess read are passed in, so a
genuine chip reaches GENUINE and a clone failing or withholding them is INVALID.
"""

from __future__ import annotations

from station import reasons
from station.service.readings import (
    Checked,
    ChipReading,
    MrzOnlyReading,
    NoChip,
    Read,
    VerifiedReading,
    is_foreign,
)
from station.trust import verdict as v
from station.trust.store import TrustStoreRef
from station.trust.verdict import Outcome
from station.trust.verification import verify


def _anchor_missing(result: v.Verification) -> bool:
    """Only the trust anchor is missing: every check made passed (SOD signature, data-group
    hashes, DSC validity) except that the DSC's issuer is not a CSCA in the store."""
    failed = [c for c in result.checks if c.ok is False]
    return bool(failed) and all(c.reason == reasons.UNTRUSTED_CSCA for c in failed)


def _sod_absent(result: v.Verification, reading: ChipReading) -> bool:
    """The chip has no EF.SOD at all (vsmartcard's vicc ePass issues none) and nothing else
    failed: no signature and no hash could prove the data either way — the standing of an
    unanchored signer, not of a forgery. Any other failure (a hash, CA, AA) stays INVALID."""
    failed = [c for c in result.checks if c.ok is False]
    return ("SOD" not in reading.chip.files and len(failed) == 1 and failed[0].name == "sod"
            and failed[0].reason == reasons.MALFORMED_SOD)


class TrustVerifier:
    def __init__(self, store: TrustStoreRef | None, *,
                 revocation: v.Revocation = "prefer") -> None:
        self.store = store
        self.revocation: v.Revocation = revocation
        """The profile's ``revocation``: "require" refuses an unknown DSC status."""

    def verify(self, reading: Read) -> tuple[Outcome, Checked]:
        if isinstance(reading, NoChip):
            if reading.keys.document is None:
                raise TypeError("an MRZ-only record needs the MRZ the desk read")
            return Outcome.UNVERIFIED, MrzOnlyReading(reading.keys.document,
                                                      reading.chip_failure)
        result = verify(reading.chip, None if self.store is None else self.store.current,
                        chip_authentication=reading.chip_authentication,
                        active_authentication=reading.active_authentication,
                        card_access=reading.card_access, revocation=self.revocation)
        outcome = result.verdict
        if (outcome is Outcome.INVALID and is_foreign(reading.document)
                and (_anchor_missing(result) or _sod_absent(result, reading))):
            # A foreign guest's document whose state's CSCA the store lacks: its data matches
            # its SOD, but nothing anchors the signer — unverified, not forged. A hash or
            # signature failure (forged data, clone failing CA/AA) stays INVALID.
            outcome = Outcome.UNVERIFIED
        return outcome, VerifiedReading(reading, result)
