"""The verdict on one card read and the checks it rests on: the values passive authentication
(:mod:`station.trust.pa`) and :func:`station.trust.verification.verify` produce and the service
records. Outcome strings and check reasons (:mod:`station.reasons`) are stable: they go into
the JSON of ``station read --trust`` and, through the service, into records.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any, Literal

Revocation = Literal["require", "prefer"]

GENUINE = "genuine"
CLONE_UNCHECKED = "authentic-data-clone-unchecked"
NOT_GENUINE = "not-genuine"
UNVERIFIED = "unverified"


@functools.total_ordering
class Outcome(enum.Enum):
    """The verdict a record carries, ordered (a profile requires at least one of these); the
    values are the record's ``outcome`` strings. :attr:`Verification.verdict` is the one
    translation from the outcome strings of :func:`~station.trust.verification.verify`."""

    INVALID = "invalid"
    """A check failed: signature, hash, certificate chain, chip/active authentication."""
    UNVERIFIED = "unverified"
    """No check could be made (no trust anchor for this card)."""
    AUTHENTIC = "authentic"
    """Passive authentication passed: the data is what the issuer signed."""
    GENUINE = "genuine"
    """Passive plus chip or active authentication: the data and the chip are genuine."""

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        order = list(Outcome)
        return order.index(self) < order.index(other)


_VERDICTS = {GENUINE: Outcome.GENUINE, CLONE_UNCHECKED: Outcome.AUTHENTIC,
             UNVERIFIED: Outcome.UNVERIFIED, NOT_GENUINE: Outcome.INVALID}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None
    """True passed, False failed, None not performed."""
    reason: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "reason": self.reason,
                "detail": self.detail}


@dataclass(frozen=True)
class Verification:
    outcome: str
    checks: tuple[Check, ...]
    reason: str | None = None
    verified_data_groups: frozenset[int] = field(default_factory=frozenset)
    """Data groups whose hash matched a valid, trusted EF.SOD."""

    @property
    def ok(self) -> bool:
        return self.outcome in (GENUINE, CLONE_UNCHECKED)

    @property
    def verdict(self) -> Outcome:
        """The record's outcome; anything unknown is a failed check, never a pass."""
        return _VERDICTS.get(self.outcome, Outcome.INVALID)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks]}
