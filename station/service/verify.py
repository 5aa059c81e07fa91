"""The verifier the service drives (:class:`~station.service.ports.Verifier`): passive
authentication of a :class:`~station.service.chip.ChipReading` against the trust store
(:func:`station.trust.verification.verify`), folded into the machine's :class:`Outcome`.

The trust helper's outcomes map one to one: ``genuine`` → GENUINE; ``authentic-data-clone-
unchecked`` (PA passed, no chip/active authentication) → AUTHENTIC; ``unverified`` (no trust
store) → UNVERIFIED; ``not-genuine`` → INVALID. Chip/active authentication results are not
passed in yet (their terminal side is not on this tree), so no reading is GENUINE today — and a
profile that requires it (bank) refuses every card rather than over-state what was proved.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.service.chip import ChipReading
from station.service.machine import Outcome
from station.trust import verification as v
from station.trust.store import TrustStoreRef

OUTCOMES = {v.GENUINE: Outcome.GENUINE, v.CLONE_UNCHECKED: Outcome.AUTHENTIC,
            v.UNVERIFIED: Outcome.UNVERIFIED, v.NOT_GENUINE: Outcome.INVALID}


@dataclass(frozen=True, repr=False)
class VerifiedReading:
    reading: ChipReading
    verification: v.Verification

    def __repr__(self) -> str:
        return f"VerifiedReading({self.verification.outcome})"


class TrustVerifier:
    def __init__(self, store: TrustStoreRef | None) -> None:
        self.store = store

    def verify(self, reading: object) -> tuple[Outcome, object]:
        if not isinstance(reading, ChipReading):
            raise TypeError("TrustVerifier verifies ChipReading")
        result = v.verify(reading.chip, None if self.store is None else self.store.current,
                          chip_authentication=reading.chip_authentication,
                          active_authentication=reading.active_authentication)
        # Anything the mapping does not know is treated as a failed check, never as a pass.
        return OUTCOMES.get(result.outcome, Outcome.INVALID), VerifiedReading(reading, result)
