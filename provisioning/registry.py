"""The station registry the ingest backend checks records against: station id → the station's
Ed25519 signing public key (and its TLS certificate's serial and expiry, for audit).

One JSON file, written atomically::

    {"version": 1,
     "stations": {"hcm-q1-desk-01": {"signing_key": "-----BEGIN PUBLIC KEY-----...",
                                      "key_id": "3f2a…", "tls_serial": "5c…",
                                      "tls_not_after": "2027-05-01T00:00:00+00:00",
                                      "revoked_at": null}}}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from station import keys
from station.errors import KeyFormatError, ProvisioningError

VERSION = 1


@dataclass(frozen=True)
class RegistryEntry:
    signing_key: str
    key_id: str
    tls_serial: str
    tls_not_after: str
    revoked_at: str | None = None
    """When the operator revoked the station (``provisioning revoke``): its certificate is on
    the CA's CRL, the broker no longer lists it, ingest refuses its records."""

    def public_key(self) -> ed25519.Ed25519PublicKey:
        key = load_pem_public_key(self.signing_key.encode())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyFormatError("registry", "signing_key is not an Ed25519 public key")
        return key


def load(path: Path) -> dict[str, RegistryEntry]:
    if not path.exists():
        return {}
    try:
        data: Any = json.loads(path.read_text("utf-8"))
        if data.get("version") != VERSION:
            raise ProvisioningError(f"{path}: unsupported registry version {data.get('version')}")
        return {sid: RegistryEntry(**entry) for sid, entry in data["stations"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ProvisioningError(f"{path}: not a station registry") from None


def save(path: Path, entries: dict[str, RegistryEntry]) -> None:
    doc = {"version": VERSION,
           "stations": {sid: asdict(e) for sid, e in sorted(entries.items())}}
    keys.write_file(path, (json.dumps(doc, indent=2) + "\n").encode(), keys.PUBLIC_MODE)
