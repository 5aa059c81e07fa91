"""Records: what a station sends for one reading.

Walking-skeleton form: clear metadata and data-group hashes only (no citizen data at all), as
canonical JSON. The signed-records issue replaces the body with a signed envelope whose citizen
fields are sealed to the backend's key.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RECORD_VERSION = 0


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class Record:
    record_id: str
    station_id: str
    seq: int
    created_at: float
    profile: str
    protocol: str
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    """LDS file name → SHA-256 hex of the raw bytes read."""

    @classmethod
    def from_files(
        cls, station_id: str, seq: int, profile: str, protocol: str, files: Mapping[str, bytes]
    ) -> Record:
        hashes = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
        return cls(uuid7(), station_id, seq, time.time(), profile, protocol, hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "record_id": self.record_id,
            "station_id": self.station_id,
            "seq": self.seq,
            "created_at": round(self.created_at, 3),
            "profile": self.profile,
            "protocol": self.protocol,
            "file_hashes": dict(self.file_hashes),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Record:
        d = json.loads(payload)
        if d.get("v") != RECORD_VERSION:
            raise ValueError(f"unsupported record version {d.get('v')!r}")
        return cls(
            d["record_id"], d["station_id"], int(d["seq"]), float(d["created_at"]),
            d["profile"], d["protocol"], dict(d["file_hashes"]),
        )
