"""The verdict on one card read and the checks it rests on: the values passive authentication
(:mod:`station.trust.pa`) and :func:`station.trust.verification.verify` produce and the service
records. Outcome strings and check reasons (:mod:`station.reasons`) are stable: they go into
the JSON of ``station read --trust`` and, through the service, into records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Revocation = Literal["require", "prefer"]

GENUINE = "genuine"
CLONE_UNCHECKED = "authentic-data-clone-unchecked"
NOT_GENUINE = "not-genuine"
UNVERIFIED = "unverified"


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

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks]}
