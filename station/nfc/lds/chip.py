"""What a chip read yields: :class:`ChipData`, parsed from the raw files of a read."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from station.mrz.parse import Mrz
from station.nfc.lds.com import EfCom, parse_com
from station.nfc.lds.dg1 import parse_dg1
from station.nfc.lds.dg2 import Face, parse_dg2
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
    skipped: tuple[str, ...] = ()
    hashes: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 of every file (hex), for records and for comparing with EF.SOD."""

    @classmethod
    def from_files(cls, protocol: str, files: Mapping[str, bytes],
                   skipped: tuple[str, ...] = ()) -> ChipData:
        return cls(
            protocol=protocol, files=dict(files),
            com=parse_com(files["COM"]) if "COM" in files else None,
            mrz=parse_dg1(files["DG1"]) if "DG1" in files else None,
            dg13=parse_dg13(files["DG13"]) if "DG13" in files else None,
            face=parse_dg2(files["DG2"]) if "DG2" in files else None,
            sod=parse_sod(files["SOD"]) if "SOD" in files else None,
            skipped=skipped,
            hashes={n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "mrz": self.mrz.to_json() if self.mrz else None,
            "dg13": self.dg13.to_json() if self.dg13 else None,
            "face": ({"format": self.face.image_format, "bytes": len(self.face.data)}
                     if self.face else None),
            "files": {n: {"bytes": len(b), "sha256": self.hashes[n]}
                      for n, b in self.files.items()},
            "skipped": list(self.skipped),
            "sod": ({"hash": self.sod.hash_algorithm,
                     "data_groups": sorted(self.sod.dg_hashes)} if self.sod else None),
        }
