"""What chip or active authentication proved during a read: the value the reader hands to
passive authentication (:func:`station.trust.verification.verify`), which accepts a proof only
for a DG14 / DG15 that EF.SOD vouches for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChipProof:
    """The result of chip authentication ("CA") or active authentication ("AA") as run by the
    reader (:mod:`station.nfc.ca` / :mod:`station.nfc.aa`) during the read; ``reason`` is a
    :mod:`station.reasons` code when it failed."""

    kind: str
    ok: bool
    reason: str | None = None
    detail: str = ""
