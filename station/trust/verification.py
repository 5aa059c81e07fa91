"""The verdict on one card read, with every check it rests on.

Outcomes (ICAO 9303-11 §5–§6):

- ``genuine`` — passive authentication passed, and chip or active authentication proved the
  chip holds the key of a PA-verified DG14 / DG15;
- ``authentic-data-clone-unchecked`` — PA passed, but no CA/AA was available: the data is what
  the issuer signed, the chip may be a copy;
- ``not-genuine`` — a check failed (``reason`` says which: DG hash mismatch, bad signature,
  untrusted CSCA, revoked DSC, CA/AA failed, malformed SOD…);
- ``unverified`` — no trust store configured, nothing could be verified.

:func:`verify` never raises: anything unexpected is ``not-genuine`` with reason
``verification-error`` — never ``genuine``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from station.trust import errors as E
from station.trust.store import TrustStore

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
class ChipProof:
    """The result of chip authentication ("CA") or active authentication ("AA") as run by the
    reader (station.nfc.ca / station.nfc.aa) during the read."""

    kind: str
    ok: bool
    reason: str | None = None
    detail: str = ""


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


class HasFiles(Protocol):
    @property
    def files(self) -> Mapping[str, bytes]: ...


def verify(chip_data: HasFiles | Mapping[str, bytes], store: TrustStore | None, *,
           chip_authentication: ChipProof | None = None,
           active_authentication: ChipProof | None = None,
           now: dt.datetime | None = None) -> Verification:
    """Verify a card read: PA over the files read (``chip_data.files``: "SOD", "DG1"…), then
    fold in the CA/AA results. Never raises."""
    try:
        files = chip_data if isinstance(chip_data, Mapping) else chip_data.files
        return _verify(files, store, chip_authentication, active_authentication,
                       now or dt.datetime.now(dt.UTC))
    except Exception as exc:  # the service loop must never see an exception from here
        return Verification(NOT_GENUINE, (Check("verification", False, "verification-error",
                                                type(exc).__name__),),
                            "verification-error")


def _verify(files: Mapping[str, bytes], store: TrustStore | None, ca: ChipProof | None,
            aa: ChipProof | None, now: dt.datetime) -> Verification:
    from station.trust.pa import passive_authentication

    pa = passive_authentication(files, store, now)
    checks = list(pa.checks)
    if store is None:
        failed = next((c for c in checks if c.ok is False), None)
        if failed is not None:
            return Verification(NOT_GENUINE, tuple(checks), failed.reason)
        return Verification(UNVERIFIED, tuple(checks), E.NO_TRUST_STORE)
    for proof, dg, name in ((ca, 14, "chip-authentication"),
                            (aa, 15, "active-authentication")):
        if proof is None:
            checks.append(Check(name, None, E.NOT_PERFORMED))
        elif not proof.ok:
            code = E.CA_FAILED if proof.kind == "CA" else E.AA_FAILED
            checks.append(Check(name, False, proof.reason or code, proof.detail))
        elif dg not in pa.verified_data_groups:
            # A key the issuer did not sign proves nothing (ICAO 9303-11 §6.2: DG14 must be
            # PA-verified before its key is trusted).
            checks.append(Check(name, False, E.DG_NOT_VERIFIED,
                                f"DG{dg} was not verified by passive authentication"))
        else:
            checks.append(Check(name, True, None, proof.detail))
    failed = next((c for c in checks if c.ok is False), None)
    if failed is not None:
        return Verification(NOT_GENUINE, tuple(checks), failed.reason, pa.verified_data_groups)
    proved = any(c.ok for c in checks
                 if c.name in ("chip-authentication", "active-authentication"))
    return Verification(GENUINE if proved else CLONE_UNCHECKED, tuple(checks), None,
                        pa.verified_data_groups)

