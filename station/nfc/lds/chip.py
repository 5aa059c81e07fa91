"""What a chip read yields: :class:`ChipData`, parsed from the raw files of a read."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from station.errors import LdsFormatError
from station.mrz.parse import Mrz
from station.nfc.lds.com import EfCom, parse_com
from station.nfc.lds.dg1 import parse_dg1
from station.nfc.lds.dg2 import Face, parse_dg2
from station.nfc.lds.dg11 import Dg11, parse_dg11
from station.nfc.lds.dg12 import Dg12, parse_dg12
from station.nfc.lds.dg13 import Dg13, parse_dg13
from station.nfc.lds.security import Sod, parse_sod


@dataclass(frozen=True)
class ChipData:
    protocol: str
    files: Mapping[str, bytes]
    """Raw file bytes by name ("COM", "DG1", …, "SOD"), exactly as read."""
    com: EfCom | None = None
    mrz: Mrz | None = None
    dg13: Dg13 | None = None
    face: Face | None = None
    sod: Sod | None = None
    dg11: Dg11 | None = None
    dg12: Dg12 | None = None
    com_mismatch: tuple[str, ...] = ()
    """Where EF.COM's tag list disagrees with the card (``"unlisted:DG11"``: read although
    EF.COM does not list it; ``"absent:DG12"``: listed, but the card does not have it;
    ``"malformed:COM"``: EF.COM could not be parsed). Real
    chips do this; the read follows what the caller asked, and EF.SOD is what is verified."""
    skipped: tuple[str, ...] = ()
    hashes: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 of every file (hex), for records and for comparing with EF.SOD."""

    @classmethod
    def from_files(cls, protocol: str, files: Mapping[str, bytes],
                   skipped: tuple[str, ...] = ()) -> ChipData:
        com: EfCom | None = None
        mismatch: tuple[str, ...] = ()
        if "COM" in files:
            try:
                com = parse_com(files["COM"])
            except LdsFormatError:
                # EF.COM is not covered by EF.SOD and decides nothing (the read follows what
                # the caller asked): a broken one is reported, its bytes kept, the read goes on.
                # vsmartcard's vicc ePass writes its tag list as ASCII "6175" under length 2.
                mismatch = ("malformed:COM",)
        if com is not None:
            mismatch = com_mismatch(com, files, skipped)
        return cls(
            protocol=protocol, files=dict(files),
            com=com,
            mrz=parse_dg1(files["DG1"]) if "DG1" in files else None,
            dg13=parse_dg13(files["DG13"]) if "DG13" in files else None,
            face=parse_dg2(files["DG2"]) if "DG2" in files else None,
            sod=parse_sod(files["SOD"]) if "SOD" in files else None,
            dg11=parse_dg11(files["DG11"]) if "DG11" in files else None,
            dg12=parse_dg12(files["DG12"]) if "DG12" in files else None,
            com_mismatch=mismatch,
            skipped=skipped,
            hashes={n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "mrz": self.mrz.to_json() if self.mrz else None,
            "dg13": self.dg13.to_json() if self.dg13 else None,
            "face": self.face.to_json() if self.face else None,
            "files": {n: {"bytes": len(b), "sha256": self.hashes[n]}
                      for n, b in self.files.items()},
            "dg11": self.dg11.to_json() if self.dg11 else None,
            "dg12": self.dg12.to_json() if self.dg12 else None,
            "com_mismatch": list(self.com_mismatch),
            "skipped": list(self.skipped),
            "sod": ({"hash": self.sod.hash_algorithm,
                     "data_groups": sorted(self.sod.dg_hashes)} if self.sod else None),
        }


# Files a terminal without Terminal Authentication is refused (6982): skipped, not missing.
_PROTECTED = frozenset({"DG3", "DG4"})


def com_mismatch(com: EfCom, files: Mapping[str, bytes],
                 skipped: tuple[str, ...]) -> tuple[str, ...]:
    """Data groups read although EF.COM does not list them, and listed ones the card lacked."""
    listed = {f"DG{n}" for n in com.data_groups}
    read = {n for n in files if n.startswith("DG")}
    out = [f"unlisted:{n}" for n in sorted(read - listed, key=_dg_order)]
    out += [f"absent:{n}" for n in sorted(listed & set(skipped) - _PROTECTED, key=_dg_order)]
    return tuple(out)


def _dg_order(name: str) -> int:
    return int(name[2:])
